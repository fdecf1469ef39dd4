"""Delivery: the workflows parse, pin every action by commit, hold no credentials they do not
need, and keep deploys, previews and drift checks apart."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci.workflows import (
    CREDENTIALS_ACTION,
    WORKFLOWS_DIR,
    job_runs,
    load,
    triggers,
    workflow_paths,
)

WORKFLOWS = workflow_paths()
# owner/repo@<40-hex commit> # vX.Y.Z: a tag can be moved, a commit cannot; the comment is the
# version Dependabot reads and updates with the pin.
PINNED = re.compile(r"^\s*-?\s*uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
ZIZMOR = Path(sys.executable).with_name("zizmor")


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    return load(path)["jobs"]


def steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in jobs(path).values() for step in job.get("steps", [])]


def workflow(name: str) -> dict[Any, Any]:
    return load(WORKFLOWS_DIR / name)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_actions_yaml(path: Path) -> None:
    loaded = load(path)
    assert loaded["name"] and loaded["jobs"] and triggers(loaded)
    for name, job in loaded["jobs"].items():
        assert "runs-on" in job or "uses" in job, name
        for step in job.get("steps", []):
            assert ("uses" in step) != ("run" in step), (name, step)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*-?\s*uses: ", line)]
    remote = [line for line in lines if "uses: ./" not in line]
    assert remote, path.name
    assert [line for line in remote if not PINNED.match(line)] == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_keep_no_credentials(path: Path) -> None:
    for step in steps(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path) -> None:
    # A reusable workflow's caller takes none: the called job's own timeout applies.
    missing = [
        n for n, job in jobs(path).items() if "uses" not in job and "timeout-minutes" not in job
    ]
    assert missing == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_secrets_reach_the_jobs(path: Path) -> None:
    # State and secrets live behind the OIDC roles (S3 backend, awskms:// provider): no job needs
    # a stored secret, and none inherits the repository's.
    text = path.read_text()
    assert "secrets:" not in text and "secrets." not in text, path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_default_permissions_are_read_only(path: Path) -> None:
    assert load(path)["permissions"] == {"contents": "read"}


def test_only_jobs_that_run_no_repository_code_may_write() -> None:
    writers = {
        (path.name, name): job
        for path in WORKFLOWS
        for name, job in jobs(path).items()
        if any(v == "write" and k != "id-token" for k, v in (job.get("permissions") or {}).items())
    }
    assert set(writers) == {
        ("pull-request.yml", "comment"),
        ("drift.yml", "report"),
        ("release.yml", "request"),
    }
    for job in writers.values():
        assert all(
            "run" in s or s["uses"].startswith("actions/download-artifact@") for s in job["steps"]
        )
        assert "id-token" not in job["permissions"]


def test_deployments_never_overlap_on_a_stack() -> None:
    job = workflow("up.yml")["jobs"]["up"]
    assert job["concurrency"] == {
        "group": "pulumi-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }
    assert job["environment"] == "${{ inputs.stack }}"


def test_drift_checks_never_wait_for_or_cancel_a_deploy() -> None:
    job = workflow("drift.yml")["jobs"]["drift"]
    assert job["concurrency"] == {"group": "drift-${{ matrix.stack }}", "cancel-in-progress": False}
    assert job["environment"] == "${{ matrix.stack }}-drift"


def test_superseded_pull_request_runs_are_cancelled() -> None:
    assert workflow("pull-request.yml")["concurrency"] == {
        "group": "pull-request-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }


def test_pull_requests_never_use_pull_request_target() -> None:
    assert all("pull_request_target" not in triggers(load(path)) for path in WORKFLOWS)


def test_deploys_start_on_main_or_by_hand_and_not_for_documentation() -> None:
    on = triggers(workflow("deploy.yml"))
    assert on["push"]["branches"] == ["main"]
    assert "**/*.md" in on["push"]["paths-ignore"]
    assert "workflow_dispatch" in on


@pytest.mark.parametrize(
    "path, job, stack, label",
    [
        ("up.yml", "up", "inputs.stack", "RUNNER_"),
        ("drift.yml", "drift", "matrix.stack", "RUNNER_PREVIEW_"),
        ("pull-request.yml", "preview", "matrix.stack", "RUNNER_PREVIEW_"),
        ("pull-request.yml", "preview-protected", "matrix.stack", "RUNNER_PREVIEW_"),
    ],
)
def test_jobs_reaching_the_cluster_api_run_on_the_stacks_runner(
    path: str, job: str, stack: str, label: str
) -> None:
    # prod's EKS endpoint is private: its jobs need a runner inside or connected to the VPC;
    # deploys on their own runner (README, CI/CD: "Runners").
    runs_on = workflow(path)["jobs"][job]["runs-on"]
    assert runs_on == f"${{{{ vars[format('{label}{{0}}', {stack})] || 'ubuntu-latest' }}}}"


def test_no_pull_request_or_drift_job_can_land_on_a_deploy_runner() -> None:
    # The pull request's code must never run where prod's deploy credentials are later held.
    deploy_label = re.compile(r"RUNNER_(?!PREVIEW_)")
    found = [
        (run.workflow, run.job, run.definition.get("runs-on"))
        for run in job_runs()
        if run.event in ("pull_request", "schedule")
        and deploy_label.search(json.dumps(run.definition.get("runs-on")))
    ]
    assert found == []
    assert deploy_label.search(workflow("up.yml")["jobs"]["up"]["runs-on"])


def test_the_comment_is_rendered_by_the_base_branchs_script() -> None:
    # The head's plans are data; the renderer is the base's code (pull request code runs only in
    # jobs that hold nothing).
    report = workflow("pull-request.yml")["jobs"]["report"]
    [checkout] = [s for s in report["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"


@pytest.mark.parametrize("job", ["preview", "preview-protected", "comment"])
def test_dependabot_pull_requests_skip_the_jobs_that_need_a_token(job: str) -> None:
    # GitHub docs, "Troubleshooting Dependabot on GitHub Actions": runs Dependabot starts
    # (github.actor, which a re-run keeps) get a read-only token and no secrets, like a fork's.
    condition = workflow("pull-request.yml")["jobs"][job]["if"]
    assert "github.actor != 'dependabot[bot]'" in condition
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition


def test_drift_issues_only_for_checks_of_main() -> None:
    # A manual run on another branch fails in <stack>-drift's branch rule: not drift.
    report = workflow("drift.yml")["jobs"]["report"]
    assert report["if"] == "failure() && github.ref == 'refs/heads/main'"


def test_the_deploy_job_installs_before_it_holds_credentials() -> None:
    found = workflow("up.yml")["jobs"]["up"]["steps"]
    install = next(i for i, s in enumerate(found) if s.get("run") == "make install")
    assume = next(
        i for i, s in enumerate(found) if s.get("uses", "").startswith(CREDENTIALS_ACTION)
    )
    assert install < assume


def test_zizmor_is_pinned_to_one_release() -> None:
    requirements = (WORKFLOWS_DIR.parents[1] / "requirements.txt").read_text()
    assert re.search(r"^zizmor==\d+\.\d+\.\d+$", requirements, re.MULTILINE)


def test_main_deploys_dev_then_staging_then_prod() -> None:
    found = workflow("deploy.yml")["jobs"]
    assert [found[s]["needs"] for s in ("dev", "staging", "prod")] == ["test", "dev", "staging"]
    assert all(found[s]["with"] == {"stack": s} for s in ("dev", "staging", "prod"))


def test_policy_pack_runs_with_every_preview_and_up() -> None:
    [up] = [s for s in steps(WORKFLOWS_DIR / "up.yml") if "with" in s and s["with"].get("command")]
    assert up["with"]["policyPacks"] == "policy"
    assert up["with"]["policyPackConfigs"] == "policy/config.${{ inputs.stack }}.json"
    for job in ("preview", "preview-protected"):
        preview = workflow("pull-request.yml")["jobs"][job]
        [run] = [s["run"] for s in preview["steps"] if "pulumi preview" in s.get("run", "")]
        assert '--policy-pack policy --policy-pack-config "policy/config.$STACK.json"' in run


def test_drift_compares_the_cloud_with_the_deployed_state_only() -> None:
    [run] = [
        s["run"] for s in steps(WORKFLOWS_DIR / "drift.yml") if "pulumi refresh" in s.get("run", "")
    ]
    assert "--preview-only --expect-no-changes" in run


def test_zizmor_finds_nothing_at_medium_or_above() -> None:
    result = subprocess.run(
        [str(ZIZMOR if ZIZMOR.exists() else shutil.which("zizmor")), "--offline",
         "--min-severity", "medium", "--no-progress", ".github"],
        capture_output=True, text=True, check=False, cwd=WORKFLOWS_DIR.parents[1],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
