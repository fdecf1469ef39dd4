"""The release workflow (release.yml, release-stack.yml): a tag only requests a release; the
release runs on main (main's program, main's environments), builds the image from the tag's
commit, publishes to each stack just before that stack deploys, and deploys only what publish
gated; only the publish job reaches the app-release roles; each stack is released in order, in
its own environment and concurrency group, through the policy pack."""

from __future__ import annotations

import re
from typing import Any

from components.ci_access import RELEASE_ENVIRONMENT, RoleKind
from tests.ci.test_workflow_trust import assumed_roles, label
from tests.ci.workflows import CREDENTIALS_ACTION, WORKFLOWS_DIR, JobRun, job_runs, load, triggers
from tooling.bootstrap.github import RoleRef
from tooling.release import ALARM_WAIT_MAX, MIGRATION_BUDGET

RELEASE = load(WORKFLOWS_DIR / "release.yml")
STACK = load(WORKFLOWS_DIR / "release-stack.yml")
UP = load(WORKFLOWS_DIR / "up.yml")
STACKS = ["dev", "staging", "prod"]
PULUMI_ACTION = "pulumi/actions@"
MAIN = ("refs/heads/main",)


def release_roles() -> list[tuple[JobRun, RoleRef]]:
    return [
        (run, role)
        for run, role, _ in assumed_roles()
        if isinstance(role, RoleRef) and role.kind is RoleKind.RELEASE
    ]


def stack_steps() -> list[dict[str, Any]]:
    return STACK["jobs"]["deploy"]["steps"]


def step(name: str) -> dict[str, Any]:
    [found] = [s for s in stack_steps() if s.get("name") == name]
    return found


def ups() -> dict[str, dict[str, Any]]:
    """The deploy job's `pulumi up` steps by name."""
    return {
        s["name"]: s
        for s in stack_steps()
        if str(s.get("uses", "")).startswith(PULUMI_ACTION) and s.get("with", {}).get("command")
    }


def test_a_tag_requests_a_release_on_main_and_a_dispatch_names_the_tag() -> None:
    found = triggers(RELEASE)
    assert found["push"] == {"tags": ["v*"]}
    assert found["workflow_dispatch"]["inputs"]["tag"]["required"] is True
    assert found["workflow_dispatch"]["inputs"]["accept-unsupported-images"]["type"] == "boolean"
    assert list(triggers(STACK)) == ["workflow_call"]
    # A tag push runs the request job only; it starts release.yml on main with the tag as an
    # input, through the environment (never ${{ }} in the shell).
    assert {(r.job, r.event) for r in job_runs() if r.workflow == "release.yml" and r.event == "push"} == {("request", "push")}  # fmt: skip
    request = RELEASE["jobs"]["request"]
    assert request["permissions"] == {"actions": "write"}
    [run] = request["steps"]
    assert run["run"] == 'gh workflow run release.yml --ref main -f tag="$TAG"'
    assert run["env"]["TAG"] == "${{ github.ref_name }}"


def test_every_job_of_a_release_with_an_environment_runs_on_main_only() -> None:
    # So no environment needs a rule admitting tags: the program that deploys is main's.
    runs = [r for r in job_runs() if r.workflow.startswith("release.yml") and r.environment]
    assert runs and {r.refs for r in runs} == {MAIN}, [(label(r), r.refs) for r in runs]


def test_the_image_is_built_from_the_tags_commit_checked_to_be_on_main() -> None:
    plan = RELEASE["jobs"]["plan"]
    assert (
        plan["if"] == "github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main'"
    )
    [checkout] = [s for s in plan["steps"] if "actions/checkout@" in str(s.get("uses"))]
    assert checkout["with"]["fetch-depth"] == 0
    [check] = [s for s in plan["steps"] if s.get("id") == "plan"]
    assert '--tag "$TAG" --main "$GITHUB_SHA"' in check["run"]
    assert check["env"]["TAG"] == "${{ inputs.tag }}"
    build = RELEASE["jobs"]["build"]
    [_, source] = [s for s in build["steps"] if "actions/checkout@" in str(s.get("uses"))]
    assert source["with"]["ref"] == "${{ needs.plan.outputs.commit }}"
    assert source["with"]["path"] == "release-source"
    [builder] = [s for s in build["steps"] if "build-push-action" in str(s.get("uses"))]
    assert builder["with"]["context"] == "release-source/${{ matrix.source }}"


def test_the_build_is_reproducible_and_holds_no_credentials() -> None:
    build = RELEASE["jobs"]["build"]
    assert "permissions" not in build and "environment" not in build
    assert not [s for s in build["steps"] if str(s.get("uses", "")).startswith(CREDENTIALS_ACTION)]
    [builder] = [s for s in build["steps"] if "build-push-action" in str(s.get("uses"))]
    # An OCI archive, never a registry push: the archive's digest is the digest published.
    assert builder["with"]["push"] is False
    outputs = builder["with"]["outputs"]
    assert outputs.startswith("type=oci,dest=") and outputs.endswith(",rewrite-timestamp=true")
    assert builder["env"]["SOURCE_DATE_EPOCH"] == "${{ steps.time.outputs.epoch }}"
    # Provenance carries the build's times: the index would change on every build.
    assert builder["with"]["provenance"] is False and builder["with"]["sbom"] is False
    [time] = [s for s in build["steps"] if s.get("id") == "time"]
    assert "log -1 --pretty=%ct" in time["run"]


def test_releases_run_one_at_a_time_on_main() -> None:
    assert RELEASE["concurrency"] == {
        "group": "${{ github.event_name == 'workflow_dispatch' && 'release' || format('release-request-{0}', github.ref) }}",
        "cancel-in-progress": False,
    }  # fmt: skip


def test_only_the_publish_job_reaches_the_release_roles_from_the_release_environment() -> None:
    found = release_roles()
    assert {(run.workflow, run.job.split("/")[1]) for run, _ in found} == {
        ("release.yml -> release-stack.yml", "publish")
    }
    assert {run.environment for run, _ in found} == {RELEASE_ENVIRONMENT}
    # Each stack's publish reaches its own stack's role, only in the run on main.
    assert sorted((run.event, run.values["inputs.stack"], role.stack) for run, role in found) == sorted(
        ("workflow_dispatch", stack, stack) for stack in STACKS
    )  # fmt: skip


def test_no_pull_request_job_reaches_a_release_or_deploy_role() -> None:
    reached = [
        label(run)
        for run, role, _ in assumed_roles()
        if run.event == "pull_request"
        and isinstance(role, RoleRef)
        and role.kind in (RoleKind.RELEASE, RoleKind.DEPLOY)
    ]
    assert reached == []


def test_each_stack_publishes_then_deploys_in_order() -> None:
    jobs = RELEASE["jobs"]
    previous = "build"
    for stack in STACKS:
        job = jobs[stack]
        assert job["uses"] == "./.github/workflows/release-stack.yml"
        assert job["with"]["stack"] == stack and job["needs"] == [previous]
        previous = stack
    deploy = STACK["jobs"]["deploy"]
    assert deploy["needs"] == "publish"
    # The digests publish pushed and gated, never the build job's file.
    assert deploy["env"]["IMAGES"] == "${{ needs.publish.outputs.images }}"
    assert STACK["jobs"]["publish"]["outputs"] == {"images": "${{ steps.publish.outputs.images }}"}


def test_a_stacks_release_and_deploys_share_its_environment_group_and_runner() -> None:
    release, up = STACK["jobs"]["deploy"], UP["jobs"]["up"]
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
    for up, stage in zip(found.values(), ("migrate", "serve", "rollback"), strict=True):
        given = dict(up["with"])
        assert given.pop("config-map") == f"${{{{ steps.config.outputs.{stage} }}}}"
        assert given == plain["with"]


def test_the_rollback_runs_on_failure_or_cancellation_once_the_serve_update_started() -> None:
    rollback = ups()["roll back to the previous digests"]
    condition = " ".join(rollback["if"].split())
    assert condition.startswith("(failure() || cancelled()) && ")
    for outcome in ("success", "failure", "cancelled"):
        assert f"steps.serve.outcome == '{outcome}'" in condition
    assert "skipped" not in condition
    names = [s.get("name") for s in stack_steps()]
    assert names.index("alarms before the switch") < names.index("up (stage serve)")
    assert names.index("smoke test") < names.index("roll back to the previous digests")
    summary = step("summary")
    assert summary["if"] == "always()" and "$GITHUB_STEP_SUMMARY" in summary["run"]
    assert "not switched" in summary["run"]


def test_the_steps_limits_leave_the_rollback_its_time_within_the_job() -> None:
    deploy = STACK["jobs"]["deploy"]
    limited = sum(int(s.get("timeout-minutes", 0)) for s in stack_steps())
    # Setup (checkout, install, CLI, the config) takes minutes: 20 are left for it.
    assert limited + 20 <= deploy["timeout-minutes"]
    for name in ("up (stage migrate)", "migrations", "up (stage serve)", "smoke test"):
        assert "timeout-minutes" in step(name), name


def test_the_migrations_budget_fits_the_steps_limit() -> None:
    # tooling.release refuses migrations whose timeouts add up to more than its budget.
    assert step("migrations")["timeout-minutes"] > MIGRATION_BUDGET


def test_the_smoke_test_compares_with_the_alarms_before_the_switch() -> None:
    smoke = step("smoke test")
    assert smoke["env"]["ALARMS_BEFORE"] == "${{ steps.alarms.outputs.before }}"
    assert '--alarms-before "$ALARMS_BEFORE" --alarm-wait "$ALARM_WAIT"' in smoke["run"]
    # 15 minutes of deployment and health, one window of alarms, within the step's limit.
    assert "--timeout 900" in smoke["run"]
    assert smoke["timeout-minutes"] * 60 > 900 + ALARM_WAIT_MAX


def test_the_config_step_writes_every_output_the_ups_read() -> None:
    text = (WORKFLOWS_DIR / "release-stack.yml").read_text()
    read = set(re.findall(r"steps\.config\.outputs\.(\w+)", text))
    assert read == {"migrate", "serve", "rollback", "previous"}
    # tooling.release release-config prints exactly these keys (tests/tooling/test_release.py).


def test_jobs_install_before_they_hold_credentials() -> None:
    for steps in (STACK["jobs"]["publish"]["steps"], stack_steps()):
        install = next(i for i, s in enumerate(steps) if s.get("run") == "make install")
        assume = next(
            i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith(CREDENTIALS_ACTION)
        )
        assert install < assume


def test_the_release_summary_reports_every_stack_whatever_happened() -> None:
    summary = RELEASE["jobs"]["summary"]
    assert summary["if"].startswith("always()")
    # Every job whose failure leaves the stacks unreached, so the summary can say which.
    assert summary["needs"] == ["plan", "test", "build", "dev", "staging", "prod"]
    step = summary["steps"][0]
    assert step["env"]["TEST"] == "${{ needs.test.result }}"
    run = step["run"]
    assert '"$TEST" = failure' in run
    for result in ("released", "rolled*back", "not*switched", "nothing*to*release", "not reached"):
        assert result in run
    assert "rejected" in run
    result = triggers(STACK)["workflow_call"]["outputs"]["result"]["value"]
    assert "jobs.deploy.outputs.result" in result
    assert "jobs.publish.outputs.images == '{}' && 'nothing to release'" in result


def test_a_stack_that_runs_none_of_the_built_services_is_not_deployed() -> None:
    # publish writes images={} then: no `up` to run and no prod approval to ask for.
    deploy = STACK["jobs"]["deploy"]
    assert deploy["needs"] == "publish"
    assert deploy["if"] == "needs.publish.outputs.images != '{}'"


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


def test_the_plan_says_who_started_the_release_for_prods_reviewers() -> None:
    # A run the request job dispatches with the GITHUB_TOKEN has github-actions[bot] as its
    # actor: prevent self-review cannot see the tag's pusher (README, "Who approves prod").
    [plan] = [s for s in RELEASE["jobs"]["plan"]["steps"] if s.get("id") == "plan"]
    assert plan["env"]["ACTOR"] == "${{ github.triggering_actor }}"
    assert '"$ACTOR"' in plan["run"] and "$GITHUB_STEP_SUMMARY" in plan["run"]
    assert "github-actions[bot]" in plan["run"]
