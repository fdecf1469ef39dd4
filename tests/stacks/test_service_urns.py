"""Today's single service becomes the entry `app` of the services map without replacing anything:
every URN it had (recorded in service_urns.json from a run of the program before the map
existed) is still a resource's URN, or an alias of one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import STACKS, stack_run
from tooling.offline import OfflineRun, Resource

# The service's resources (and those of other components named after it: alarms, admits) as
# registered by the program at 23db29e, the last commit with a single service.
BEFORE = json.loads((Path(__file__).parent / "service_urns.json").read_text())
STACK_TYPE = "pulumi:pulumi:Stack"


def alias_urn(stack: str, resource: Resource, alias: str) -> str:
    """The URN the engine derives from an alias given as `name=... type=... parent=...`: the
    parent's type chain (the root stack's type is not part of it), the type, the name."""
    if alias.startswith("urn:"):
        return alias
    spec = dict(part.split("=", 1) for part in alias.split(" "))
    parent = spec.get("parent", resource.parent or "")
    chain = parent.split("::")[2].removeprefix(STACK_TYPE).removeprefix("$") if parent else ""
    type_ = spec.get("type", resource.type)
    qualified = f"{chain}${type_}" if chain else type_
    return f"urn:pulumi:{stack}::platform::{qualified}::{spec.get('name', resource.name)}"


def reachable(run: OfflineRun) -> set[str]:
    """Every URN a resource of the run answers to: its own and its aliases'."""
    return {r.urn for r in run.resources} | {
        alias_urn(run.stack, r, alias) for r in run.resources for alias in r.aliases
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_urn_of_the_single_service_still_resolves(stack: str) -> None:
    assert BEFORE[stack], "no URNs recorded"
    missing = sorted(set(BEFORE[stack]) - reachable(stack_run(stack)))
    assert missing == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_repository_and_log_groups_keep_their_physical_names(stack: str) -> None:
    run = stack_run(stack)
    repository = run.one("aws:ecr/repository:Repository", "service-repo")
    assert repository.protect is (stack != "dev")
    groups = {r.name: r.inputs["name"] for r in run.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert groups[f"platform-{stack}-service-logs"] == f"/platform/{stack}/service"
    assert groups[f"platform-{stack}-service-exec-logs"] == f"/platform/{stack}/service/exec"


def test_an_alias_resolves_as_the_engine_derives_it() -> None:
    run = stack_run("staging")
    repository = run.one("aws:ecr/repository:Repository", "service-repo")
    assert [alias_urn("staging", repository, a) for a in repository.aliases] == [
        "urn:pulumi:staging::platform::platform:service:Service"
        "$aws:ecr/repository:Repository::platform-staging-service-repo"
    ]
