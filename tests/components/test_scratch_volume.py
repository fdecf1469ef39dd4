"""The writable /tmp of every ECS task under a read-only root (components/ecs_service.py).

Fargate mounts an empty bind volume owned by root with mode 0755 unless the image declares the
same path with VOLUME (ECS Developer Guide, bind-mounts.html). The default image,
nginx-unprivileged, declares none, runs as uid 101 and writes /tmp/nginx.pid and its temp files
there (nginx/docker-nginx-unprivileged, stable/alpine-slim/Dockerfile): without the init
container it could never start. The init container runs the task's own image (already pulled,
pinned like the app), so it needs no third-party image, registry or NAT gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import STACKS, stack_run
from tooling.offline import stack_config

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def containers(inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(inputs["containerDefinitions"])}


@pytest.mark.parametrize("stack", STACKS)
def test_every_task_opens_its_tmp_volume_to_the_apps_user_before_the_app_starts(
    stack: str,
) -> None:
    tasks = stack_run(stack).of_type(TASK_DEFINITION)
    assert {t.name.rsplit("-", 1)[1] for t in tasks} == {"task", "job", "migration"}
    for task in tasks:
        found = containers(task.inputs)
        app, init = found.pop("app"), found.pop("tmp-permissions")
        assert found == {}, task.name
        tmp = {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}
        assert app["readonlyRootFilesystem"] is True
        assert tmp in app["mountPoints"]
        # The app waits for the init container to exit 0 (ContainerDependency SUCCESS).
        assert app["dependsOn"] == [{"containerName": "tmp-permissions", "condition": "SUCCESS"}]
        assert init == {
            "name": "tmp-permissions",
            "image": app["image"],
            "essential": False,
            "user": "0",
            # entryPoint replaces the image's ENTRYPOINT, so the image's own one never runs.
            "entryPoint": ["chmod"],
            "command": ["1777", "/tmp"],
            "readonlyRootFilesystem": True,
            "mountPoints": [tmp],
            "environment": [],
            "secrets": [],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    **app["logConfiguration"]["options"],
                    "awslogs-stream-prefix": "tmp-permissions",
                },
            },
        }
        # A bind mount on the task's ephemeral storage: no host path, no EFS (Fargate).
        [volume] = [v for v in task.inputs["volumes"] if v["name"] == "tmp"]
        assert volume == {"name": "tmp"}, task.name


def test_tmp_permissions_off_leaves_the_tmp_volume_to_the_image() -> None:
    # An image that declares VOLUME /tmp, or has no chmod (distroless), turns the init off.
    service = {**json.loads(stack_config("prod")["platform:service"]), "tmpPermissions": False}
    run = stack_run("prod", overrides={"platform:service": json.dumps(service)})
    tasks = run.of_type(TASK_DEFINITION)
    assert len(tasks) == 3
    for task in tasks:
        [app] = containers(task.inputs).values()
        assert "dependsOn" not in app
        assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in app[
            "mountPoints"
        ]


def test_without_a_nat_gateway_every_task_still_opens_its_tmp() -> None:
    # The init container runs the task's own image: it needs no NAT gateway.
    network = {**json.loads(stack_config("prod")["platform:network"]), "natMode": "none"}
    run = stack_run("prod", overrides={"platform:network": json.dumps(network)})
    for task in run.of_type(TASK_DEFINITION):
        assert set(containers(task.inputs)) == {"app", "tmp-permissions"}, task.name
