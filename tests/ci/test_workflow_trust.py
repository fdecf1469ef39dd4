"""Every job that assumes an AWS role names a role whose trust accepts exactly the subject
GitHub sends for that job, and only a job in a stack's own (protected) environment reaches that
stack's deploy role."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from components.ci_access import RoleKind, preview_environment, trusted_subjects
from components.settings import SESSION_HOURS, CiRoleSettings
from tests.ci.workflows import JobRun, job_runs
from tooling.bootstrap.github import REPOSITORY, SESSION_SECONDS, RoleRef, role_variables
from tooling.bootstrap.settings import BootstrapConfig

STACKS = ["dev", "staging", "prod"]
# The bootstrap's default: the stacks whose stack files set protectData (test_bootstrap).
PROTECTED = BootstrapConfig.model_validate({}).protected_stacks
SETTINGS = CiRoleSettings.model_validate({"repository": "acme/platform"})
IMMUTABLE = CiRoleSettings.model_validate({"repository": "acme@123456/platform@456789"})
VARIABLE = re.compile(r"^\$\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
# `vars[format('NAME_{0}', matrix.stack)]`: a variable named after the run's stack.
FORMATTED = re.compile(
    r"^\$\{\{\s*vars\[format\('([A-Za-z_][A-Za-z0-9_]*)\{0\}',\s*([a-z]+\.[a-z]+)\)\]\s*\}\}$"
)


def variable_name(run: JobRun, expression: str) -> str | None:
    """The variable a `role-to-assume` expression reads, for this run's values."""
    if match := VARIABLE.match(expression):
        return match.group(1)
    if (match := FORMATTED.match(expression)) and match.group(2) in run.values:
        return match.group(1) + run.values[match.group(2)]
    return None


def assumed_roles() -> list[tuple[JobRun, RoleRef | str, dict[str, object]]]:
    """(job run, the role its credentials step reaches or why none, the step's inputs)."""
    scopes = role_variables(STACKS, PROTECTED)
    found: list[tuple[JobRun, RoleRef | str, dict[str, object]]] = []
    for run in job_runs():
        for step in run.credential_steps():
            inputs: dict[str, object] = step.get("with") or {}
            expression = run.substitute(str(inputs.get("role-to-assume", "")))
            name = variable_name(run, expression)
            if name is None:
                found.append((run, f"role-to-assume {expression!r} names no variable", inputs))
                continue
            # GitHub resolves vars.NAME from the job's environment first, then the repository.
            env_vars = scopes.get(run.environment or "", {})
            role = env_vars.get(name) or scopes[REPOSITORY].get(name)
            where = f"environment {run.environment!r} or the repository"
            found.append((run, role or f"no role variable {name} in {where}", inputs))
    return found


def label(run: JobRun) -> str:
    return f"{run.workflow}:{run.job} on {run.event} {run.values}"


def test_some_jobs_assume_roles() -> None:
    kinds = {role.kind for _, role, _ in assumed_roles() if isinstance(role, RoleRef)}
    assert kinds == {RoleKind.PREVIEW, RoleKind.DEPLOY, RoleKind.RELEASE}


def test_every_role_variable_resolves_to_a_role() -> None:
    problems = [
        f"{label(run)}: {role}" for run, role, _ in assumed_roles() if isinstance(role, str)
    ]
    assert problems == []


def trusted(settings: CiRoleSettings, role: RoleRef) -> list[str]:
    return trusted_subjects(settings, role.stack, protected=role.stack in PROTECTED)[role.kind]


@pytest.mark.parametrize(
    "settings, sent",
    [
        (SETTINGS, ["acme/platform"]),
        # GitHub may send either form of a repository given with its IDs (rename, transfer,
        # opt-in switch it): both are trusted.
        (IMMUTABLE, ["acme/platform", "acme@123456/platform@456789"]),
    ],
    ids=["names", "immutable"],
)
def test_each_job_is_trusted_by_the_role_it_names(
    settings: CiRoleSettings, sent: list[str]
) -> None:
    problems = []
    for run, role, _ in assumed_roles():
        if isinstance(role, RoleRef):
            problems += [
                f"{label(run)}: {role.kind} role of {role.stack} does not trust {subject}"
                for form in sent
                for subject in run.subjects(form)
                if subject not in trusted(settings, role)
            ]
    assert problems == []


def test_a_protected_stacks_state_is_read_only_after_a_reviewers_approval() -> None:
    # A pull request job reaches a protected stack's preview role only from the reviewed
    # environment <stack>-preview, and that role trusts no pull_request subject.
    problems = [
        f"{label(run)} reaches {role.stack}'s {role.kind} role from {run.environment}"
        for run, role, _ in assumed_roles()
        if isinstance(role, RoleRef)
        and run.event == "pull_request"
        and role.stack in PROTECTED
        and run.environment != preview_environment(role.stack)
    ]
    assert problems == []
    for stack in PROTECTED:
        preview = trusted(SETTINGS, RoleRef(RoleKind.PREVIEW, stack))
        assert not any(s.endswith(":pull_request") for s in preview), stack


def test_each_role_trusts_only_subjects_its_jobs_send() -> None:
    used: dict[RoleRef, set[str]] = defaultdict(set)
    for run, role, _ in assumed_roles():
        if isinstance(role, RoleRef):
            used[role].update(run.subjects(SETTINGS.repository))
    for stack in STACKS:
        for kind in RoleKind:
            assert used[RoleRef(kind, stack)] == set(trusted(SETTINGS, RoleRef(kind, stack))), (
                kind,
                stack,
            )


def test_only_a_stacks_own_environment_reaches_its_deploy_role() -> None:
    problems = [
        f"{label(run)} reaches the deploy role of {role.stack} from environment {run.environment}"
        for run, role, _ in assumed_roles()
        if isinstance(role, RoleRef)
        and role.kind is RoleKind.DEPLOY
        and run.environment != role.stack
    ]
    assert problems == []


def test_sessions_ask_for_the_roles_session_length() -> None:
    # configure-aws-credentials asks for one hour unless told (action.yml, role-duration-seconds);
    # the roles allow sessionHours, which the bootstrap exports as AWS_SESSION_SECONDS.
    durations = {
        label(run): inputs.get("role-duration-seconds") for run, _, inputs in assumed_roles()
    }
    assert set(durations.values()) == {f"${{{{ vars.{SESSION_SECONDS} }}}}"}, durations


def test_jobs_with_credentials_end_before_the_shortest_session() -> None:
    timeouts = {label(run): run.definition["timeout-minutes"] for run, _, _ in assumed_roles()}
    assert all(m < SESSION_HOURS[0] * 60 for m in timeouts.values()), timeouts


def test_jobs_that_assume_roles_may_request_a_token() -> None:
    missing = [
        label(run)
        for run, _, _ in assumed_roles()
        if (run.definition.get("permissions") or {}).get("id-token") != "write"
    ]
    assert missing == []


def test_subjects_follow_githubs_precedence() -> None:
    # GitHub docs, "OpenID Connect reference": the environment wins over the event; pull_request
    # only without an environment; the branch only without either.
    def run(event: str, job: dict[str, object]) -> list[str]:
        return JobRun("w", "j", event, ("refs/heads/main",), {"matrix.stack": "dev"}, job).subjects(
            "o/r"
        )

    assert run("pull_request", {"environment": "${{ matrix.stack }}"}) == [
        "repo:o/r:environment:dev"
    ]
    assert run("pull_request", {}) == ["repo:o/r:pull_request"]
    assert run("push", {}) == ["repo:o/r:ref:refs/heads/main"]
    assert run("push", {"environment": {"name": "prod"}}) == ["repo:o/r:environment:prod"]
