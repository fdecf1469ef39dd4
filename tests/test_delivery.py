"""Delivery: the workflows parse, pin every action, and keep permissions and concurrency tight."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = sorted(Path(".github/workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@([0-9a-f]{40}|v\d+\.\d+\.\d+)$")


def load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_actions_yaml(path: Path) -> None:
    workflow = load(path)
    assert workflow["name"] and workflow["jobs"]
    assert True in workflow or "on" in workflow  # YAML reads the bare key `on` as True
    for name, job in workflow["jobs"].items():
        assert "runs-on" in job or "uses" in job, name
        for step in job.get("steps", []):
            assert ("uses" in step) != ("run" in step), (name, step)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_an_exact_version(path: Path) -> None:
    for step in steps(load(path)):
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_default_permissions_are_read_only(path: Path) -> None:
    assert load(path)["permissions"] == {"contents": "read"}


def test_deployments_never_overlap_on_a_stack() -> None:
    job = load(Path(".github/workflows/up.yml"))["jobs"]["up"]
    assert job["concurrency"] == {
        "group": "pulumi-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }
    assert job["environment"] == "${{ inputs.stack }}"


@pytest.mark.parametrize(
    "path, job, stack",
    [
        ("up.yml", "up", "inputs.stack"),
        ("drift.yml", "drift", "matrix.stack"),
        ("pull-request.yml", "preview", "matrix.stack"),
    ],
)
def test_jobs_reaching_the_cluster_api_run_on_the_stacks_runner(
    path: str, job: str, stack: str
) -> None:
    # prod's EKS endpoint is private: its jobs need a runner inside or connected to the VPC.
    runs_on = load(Path(".github/workflows") / path)["jobs"][job]["runs-on"]
    assert runs_on == f"${{{{ vars[format('RUNNER_{{0}}', {stack})] || 'ubuntu-latest' }}}}"


def test_main_deploys_dev_then_staging_then_prod() -> None:
    jobs = load(Path(".github/workflows/deploy.yml"))["jobs"]
    assert [jobs[s]["needs"] for s in ("dev", "staging", "prod")] == ["test", "dev", "staging"]
    assert all(jobs[s]["with"] == {"stack": s} for s in ("dev", "staging", "prod"))


def test_policy_pack_runs_with_every_preview_and_up() -> None:
    for name in ("pull-request.yml", "up.yml"):
        pulumi = [
            s
            for s in steps(load(Path(".github/workflows", name)))
            if s.get("uses", "").startswith("pulumi/actions@")
        ]
        assert pulumi, name
        for step in pulumi:
            assert step["with"]["policyPacks"] == "policy"
            assert step["with"]["policyPackConfigs"].startswith("policy/config.")


def test_drift_check_refreshes_and_expects_no_changes() -> None:
    [pulumi] = [
        s
        for s in steps(load(Path(".github/workflows/drift.yml")))
        if s.get("uses", "").startswith("pulumi/actions@")
    ]
    assert pulumi["with"]["refresh"] is True and pulumi["with"]["expect-no-changes"] is True
