"""The writable /tmp of every ECS task under a read-only root (components/ecs_service.py).

Fargate mounts an empty bind volume owned by root with mode 0755 unless the image declares the
same path with VOLUME (ECS Developer Guide, bind-mounts.html). The default image,
nginx-unprivileged, declares none, runs as uid 101 and writes /tmp/nginx.pid and its temp files
there (nginx/docker-nginx-unprivileged, stable/alpine-slim/Dockerfile): without the init
container it could never start."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.ecs_service import SCRATCH_INIT_IMAGE
from tests.conftest import STACKS, stack_run
from tooling.offline import run_stack, stack_config

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
            "image": SCRATCH_INIT_IMAGE,
            "essential": False,
            "user": "0",
            "command": ["chmod", "1777", "/tmp"],
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


def test_the_init_image_is_public_and_pinned() -> None:
    # ECR Public's mirror of Docker's official busybox, a fixed release (not latest).
    assert SCRATCH_INIT_IMAGE.startswith("public.ecr.aws/docker/library/busybox:1.")


def test_without_a_nat_gateway_no_task_waits_for_an_image_it_cannot_pull() -> None:
    # ECR Public has no VPC endpoint: with natMode none the image must own /tmp (VOLUME).
    network = {**json.loads(stack_config("prod")["platform:network"]), "natMode": "none"}
    run = run_stack("prod", overrides={"platform:network": json.dumps(network)})
    tasks = run.of_type(TASK_DEFINITION)
    assert len(tasks) == 3
    for task in tasks:
        [app] = containers(task.inputs).values()
        assert "dependsOn" not in app
        assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in app[
            "mountPoints"
        ]
