"""The release workflow (release.yml, release-stack.yml): started by a tag or by hand, never by a
pull request; only the publish job reaches the app-release roles; each stack is released in
order, in its own environment and concurrency group, through the policy pack."""

from __future__ import annotations

import re
from typing import Any

from components.ci_access import RELEASE_ENVIRONMENT, RoleKind
from tests.ci.test_workflow_trust import assumed_roles, label
from tests.ci.workflows import CREDENTIALS_ACTION, WORKFLOWS_DIR, JobRun, load, triggers
from tooling.bootstrap.github import RoleRef

RELEASE = load(WORKFLOWS_DIR / "release.yml")
STACK = load(WORKFLOWS_DIR / "release-stack.yml")
UP = load(WORKFLOWS_DIR / "up.yml")
STACKS = ["dev", "staging", "prod"]
PULUMI_ACTION = "pulumi/actions@"


def release_roles() -> list[tuple[JobRun, RoleRef]]:
    return [
        (run, role)
        for run, role, _ in assumed_roles()
        if isinstance(role, RoleRef) and role.kind is RoleKind.RELEASE
    ]


def stack_steps() -> list[dict[str, Any]]:
    return STACK["jobs"]["release"]["steps"]


def ups() -> dict[str, dict[str, Any]]:
    """The release job's `pulumi up` steps by name."""
    return {
        s["name"]: s
        for s in stack_steps()
        if str(s.get("uses", "")).startswith(PULUMI_ACTION) and s.get("with", {}).get("command")
    }


def test_a_release_starts_from_a_tag_or_by_hand_only() -> None:
    assert triggers(RELEASE) == {"push": {"tags": ["v*"]}, "workflow_dispatch": {}}
    assert list(triggers(STACK)) == ["workflow_call"]


def test_releases_run_one_at_a_time() -> None:
    assert RELEASE["concurrency"] == {"group": "release", "cancel-in-progress": False}


def test_only_the_publish_job_reaches_the_release_roles_from_the_release_environment() -> None:
    found = release_roles()
    assert {(run.workflow, run.job) for run, _ in found} == {("release.yml", "publish")}
    assert {run.environment for run, _ in found} == {RELEASE_ENVIRONMENT}
    # Each matrix run reaches its own stack's role, on every event that starts the workflow.
    assert sorted(
        (run.event, run.values["matrix.stack"], role.stack) for run, role in found
    ) == sorted(
        (event, stack, stack) for event in ("push", "workflow_dispatch") for stack in STACKS
    )


def test_no_pull_request_job_reaches_a_release_or_deploy_role() -> None:
    reached = [
        label(run)
        for run, role, _ in assumed_roles()
        if run.event == "pull_request"
        and isinstance(role, RoleRef)
        and role.kind in (RoleKind.RELEASE, RoleKind.DEPLOY)
    ]
    assert reached == []


def test_the_build_holds_no_credentials() -> None:
    build = RELEASE["jobs"]["build"]
    assert "permissions" not in build and "environment" not in build
    assert not [s for s in build["steps"] if str(s.get("uses", "")).startswith(CREDENTIALS_ACTION)]
    [builder] = [s for s in build["steps"] if "build-push-action" in str(s.get("uses"))]
    # An OCI archive, never a registry push: the archive's digest is the digest published.
    assert builder["with"]["push"] is False
    assert builder["with"]["outputs"].startswith("type=oci,dest=")


def test_stacks_are_released_in_order_after_the_images_are_published() -> None:
    jobs = RELEASE["jobs"]
    assert jobs["images"]["needs"] == "publish"
    previous = "images"
    for stack in STACKS:
        job = jobs[stack]
        assert job["uses"] == "./.github/workflows/release-stack.yml"
        assert job["with"]["stack"] == stack and previous in job["needs"]
        assert job["with"]["images"] == "${{ needs.images.outputs.images }}"
        previous = stack


def test_a_stacks_release_and_deploys_share_its_environment_group_and_runner() -> None:
    release, up = STACK["jobs"]["release"], UP["jobs"]["up"]
    for key in ("environment", "concurrency", "runs-on"):
        assert release[key] == up[key], key
    assert release["concurrency"] == {
        "group": "pulumi-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }


def test_every_up_runs_the_policy_pack_and_sets_the_release_config() -> None:
    [plain] = [s for s in UP["jobs"]["up"]["steps"] if s.get("with", {}).get("command")]
    found = ups()
    assert list(found) == [
        "up (stage migrate)",
        "up (stage serve)",
        "roll back to the previous digests",
    ]
    for step, stage in zip(found.values(), ("migrate", "serve", "rollback"), strict=True):
        given = dict(step["with"])
        assert given.pop("config-map") == f"${{{{ steps.config.outputs.{stage} }}}}"
        assert given == plain["with"]


def test_the_rollback_runs_on_any_failure_once_the_previous_digests_are_known() -> None:
    rollback = ups()["roll back to the previous digests"]
    assert rollback["if"] == "failure() && steps.config.outcome == 'success'"
    names = [s.get("name") for s in stack_steps()]
    assert names.index("smoke test") < names.index("roll back to the previous digests")
    [summary] = [s for s in stack_steps() if s.get("name") == "summary"]
    assert summary["if"] == "always()" and "$GITHUB_STEP_SUMMARY" in summary["run"]


def test_the_config_step_writes_every_output_the_ups_read() -> None:
    text = (WORKFLOWS_DIR / "release-stack.yml").read_text()
    read = set(re.findall(r"steps\.config\.outputs\.(\w+)", text))
    assert read == {"migrate", "serve", "rollback", "previous"}
    # tooling.release release-config prints exactly these keys (tests/tooling/test_release.py).


def test_jobs_install_before_they_hold_credentials() -> None:
    for steps in (RELEASE["jobs"]["publish"]["steps"], stack_steps()):
        install = next(i for i, s in enumerate(steps) if s.get("run") == "make install")
        assume = next(
            i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith(CREDENTIALS_ACTION)
        )
        assert install < assume


def test_shared_actions_use_the_pins_of_the_other_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS_DIR.glob("*.yml"):
        for action, commit in re.findall(
            r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})", path.read_text()
        ):
            pins.setdefault(action, set()).add(commit)
    assert {action: commits for action, commits in pins.items() if len(commits) > 1} == {}


def test_a_tag_push_without_environment_would_carry_the_tag_subject() -> None:
    # GitHub docs, "OpenID Connect reference": a job on a tag push without an environment sends
    # repo:R:ref:refs/tags/<tag>; the release roles trust none, only environment:release.
    run = JobRun("w", "j", "push", ("refs/tags/v*",), {}, {})
    assert run.subjects("o/r") == ["repo:o/r:ref:refs/tags/v*"]
