"""What the GitHub repository must hold for the workflows: environments and their variables.

The one table the README, the bootstrap program's `githubVariables` output and the workflow/trust
test (tests/ci) share: a workflow names a role only through these variables, so the test can tell
from a job's environment which role a `role-to-assume` expression reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from components.ci_access import (
    RELEASE_ENVIRONMENT,
    RoleKind,
    drift_environment,
    preview_environment,
)

REPOSITORY = "repository"  # the scope of repository-level variables
DEPLOY_ROLE = "AWS_DEPLOY_ROLE"  # in environment <stack> only: its reviewers guard the deploy role
# In environments <stack>-drift and, for a protected stack, <stack>-preview: the preview role.
PREVIEW_ROLE = "AWS_PREVIEW_ROLE"
# Repository variable: the role sessions' length, for role-duration-seconds.
SESSION_SECONDS = "AWS_SESSION_SECONDS"


def release_role_variable(stack: str) -> str:
    """The variable of environment `release` that holds `stack`'s app-release role: in that
    environment only, so only the publish jobs (its deployment rule: main only) read it,
    and the job's subject is the one the role trusts."""
    return f"AWS_RELEASE_ROLE_{stack}"


def preview_role_variable(stack: str) -> str:
    """The repository variable pull request previews of an unprotected `stack` read (no
    environment: the job's subject stays `pull_request`)."""
    return f"AWS_PREVIEW_ROLE_{stack}"


@dataclass(frozen=True)
class RoleRef:
    """Which role of which stack a variable holds."""

    kind: RoleKind
    stack: str


def role_variables(stacks: list[str], protected: list[str]) -> dict[str, dict[str, RoleRef]]:
    """Scope (an environment's name, or REPOSITORY) -> variable -> the role it holds. A
    `protected` stack's preview role is only in its reviewed environments, never a repository
    variable."""
    scopes: dict[str, dict[str, RoleRef]] = {REPOSITORY: {}, RELEASE_ENVIRONMENT: {}}
    for stack in stacks:
        scopes[RELEASE_ENVIRONMENT][release_role_variable(stack)] = RoleRef(RoleKind.RELEASE, stack)
        preview = RoleRef(RoleKind.PREVIEW, stack)
        scopes[stack] = {DEPLOY_ROLE: RoleRef(RoleKind.DEPLOY, stack)}
        scopes[drift_environment(stack)] = {PREVIEW_ROLE: preview}
        if stack in protected:
            scopes[preview_environment(stack)] = {PREVIEW_ROLE: preview}
        else:
            scopes[REPOSITORY][preview_role_variable(stack)] = preview
    return scopes


Value = TypeVar("Value")


def github_variables(
    role_arns: Mapping[RoleRef, Value], shared: Mapping[str, Value], protected: list[str]
) -> dict[str, dict[str, Value]]:
    """The values to set: each scope's role variables from `role_arns`, and the repository's
    `shared` variables (backend URL, region, session length)."""
    stacks = sorted({ref.stack for ref in role_arns})
    scopes = role_variables(stacks, protected)
    values = {
        scope: {name: role_arns[ref] for name, ref in variables.items()}
        for scope, variables in scopes.items()
    }
    values[REPOSITORY].update(shared)
    return values
