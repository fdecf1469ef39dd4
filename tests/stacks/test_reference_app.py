"""The reference application (reference-app/) against the program: it reads exactly the
environment the program can inject into a service's tasks, and listens where a service's defaults
send the load balancer's traffic and health checks."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import LOCAL_DATABASE_URL, Settings
from components.settings import EcsServiceRuntime
from tests.conftest import STACKS, settings_for, stack_run

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
# Set by ECS itself in every task, not by the program (Amazon ECS Developer Guide, "Amazon ECS
# environment variables": AWS_REGION, the Region where the task runs).
SET_BY_ECS = {"AWS_REGION"}


class Recording(Mapping[str, str]):
    """An environment that remembers every name read from it, set or not."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def injected() -> dict[str, str]:
    """Every variable (plain or secret reference) the program gives any ECS task in any stack,
    less the ones a stack file sets itself (`environment`, `secrets`), with a value in its form."""
    own = {
        name
        for stack in STACKS
        for service in settings_for(stack).config.ecs_services().values()
        for name in (*service.environment, *service.secrets)
    }
    names: dict[str, str] = {}
    for stack in STACKS:
        for task in stack_run(stack).of_type(TASK_DEFINITION):
            for container in json.loads(task.inputs["containerDefinitions"]):
                names |= {e["name"]: e["value"] for e in container["environment"]}
                names |= {s["name"]: "from-the-secret" for s in container["secrets"]}
    return {name: value for name, value in names.items() if name not in own}


def test_the_app_reads_exactly_what_the_program_injects_and_ecs_sets() -> None:
    program = injected()
    # A task with every tier on, with the values the program gives (settings refuse bad ones),
    # and a task with none: a name read only when another is missing shows in the second.
    every_tier = Recording({**program, **dict.fromkeys(SET_BY_ECS, "eu-west-1")})
    no_tier = Recording({})
    assert Settings.from_environ(every_tier).configured() == [
        "database",
        "uploads",
        "broker",
        "cache",
    ]
    assert Settings.from_environ(no_tier).configured() == []
    read = every_tier.read | no_tier.read
    assert read - {LOCAL_DATABASE_URL} == set(program) | SET_BY_ECS


def test_the_local_database_url_is_never_injected() -> None:
    assert LOCAL_DATABASE_URL not in injected()


def test_the_app_answers_a_services_default_health_path_without_a_database() -> None:
    path = EcsServiceRuntime.model_fields["health_check_path"].default
    with TestClient(create_app(Settings())) as client:
        assert client.get(path).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_the_image_listens_on_a_services_default_container_port() -> None:
    dockerfile = (Path(__file__).parents[2] / "reference-app" / "Dockerfile").read_text()
    port = EcsServiceRuntime.model_fields["container_port"].default
    assert f"EXPOSE {port}\n" in dockerfile
    assert f'"--port", "{port}"]' in dockerfile
