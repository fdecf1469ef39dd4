"""Today's single service becomes the entry `app` of the services map without replacing anything:
every URN it had (recorded in service_urns.json from a run of the program before the map
existed) is still a resource's URN, or an alias of one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import STACKS, stack_run
from tooling.offline import OfflineRun

# The service's resources (and those of other components named after it: alarms, admits) as
# registered by the program at 23db29e, the last commit with a single service.
BEFORE = json.loads((Path(__file__).parent / "service_urns.json").read_text())


def reachable(run: OfflineRun) -> set[str]:
    """Every URN a resource of the run answers to: its own and those of its aliases."""
    return {r.urn for r in run.resources} | {u for r in run.resources for u in run.alias_urns(r)}


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
    assert run.alias_urns(repository) == [
        "urn:pulumi:staging::platform::platform:service:Service"
        "$aws:ecr/repository:Repository::platform-staging-service-repo"
    ]
