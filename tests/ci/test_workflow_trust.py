"""Every job that assumes an AWS role names a role whose trust accepts exactly the subject
GitHub sends for that job, and only a job in a stack's own (protected) environment reaches that
stack's deploy role."""

from __future__ import annotations

import re
from collections import defaultdict

from components.ci_access import RoleKind, trusted_subjects
from components.settings import CiRoleSettings
from tests.ci.workflows import JobRun, job_runs
from tooling.bootstrap.github import REPOSITORY, RoleRef, role_variables

STACKS = ["dev", "staging", "prod"]
SETTINGS = CiRoleSettings.model_validate({"repository": "acme/platform"})
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
    scopes = role_variables(STACKS)
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
    assert kinds == {RoleKind.PREVIEW, RoleKind.DEPLOY}


def test_every_role_variable_resolves_to_a_role() -> None:
    problems = [
        f"{label(run)}: {role}" for run, role, _ in assumed_roles() if isinstance(role, str)
    ]
    assert problems == []


def test_each_job_is_trusted_by_the_role_it_names() -> None:
    problems = []
    for run, role, _ in assumed_roles():
        if isinstance(role, RoleRef):
            trusted = trusted_subjects(SETTINGS, role.stack)[role.kind]
            problems += [
                f"{label(run)}: {role.kind} role of {role.stack} does not trust {subject}"
                for subject in run.subjects(SETTINGS.repository)
                if subject not in trusted
            ]
    assert problems == []


def test_each_role_trusts_only_subjects_its_jobs_send() -> None:
    used: dict[RoleRef, set[str]] = defaultdict(set)
    for run, role, _ in assumed_roles():
        if isinstance(role, RoleRef):
            used[role].update(run.subjects(SETTINGS.repository))
    for stack in STACKS:
        for kind, trusted in trusted_subjects(SETTINGS, stack).items():
            assert used[RoleRef(kind, stack)] == set(trusted), (kind, stack)


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
    # the roles allow sessionHours (default 4), so a first prod deploy is not cut off.
    durations = {
        label(run): inputs.get("role-duration-seconds") for run, _, inputs in assumed_roles()
    }
    assert set(durations.values()) == {SETTINGS.session_hours * 3600}, durations


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
        return JobRun("w", "j", event, ("main",), {"matrix.stack": "dev"}, job).subjects("o/r")

    assert run("pull_request", {"environment": "${{ matrix.stack }}"}) == [
        "repo:o/r:environment:dev"
    ]
    assert run("pull_request", {}) == ["repo:o/r:pull_request"]
    assert run("push", {}) == ["repo:o/r:ref:refs/heads/main"]
    assert run("push", {"environment": {"name": "prod"}}) == ["repo:o/r:environment:prod"]
