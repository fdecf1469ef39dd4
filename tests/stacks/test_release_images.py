"""Which image runs (RELEASE_CONTRACT.md): the stack reads its own `releasedImages` back through a
stack reference, a release's stage decides what changes, and the outputs say what runs now."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from components.release import migration_digest, running_digest
from components.settings import ReleaseSettings
from tests.conftest import STACKS, stack_run
from tooling.offline import ACCOUNT_ID, OfflineRun, Resource, run_stack

OLD = "sha256:" + "01" * 32
NEW = "sha256:" + "02" * 32
REPOSITORY = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/"
DEFAULT_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:stable-alpine"


def release(stage: str, **images: str | None) -> ReleaseSettings:
    return ReleaseSettings.model_validate({"stage": stage, "images": images})


@pytest.mark.parametrize(
    ("given", "deployed", "running"),
    [
        (None, {}, None),
        (None, {"app": OLD}, OLD),
        (release("migrate", app=NEW), {"app": OLD}, OLD),
        (release("serve", app=NEW), {"app": OLD}, NEW),
        (release("serve", app=NEW), {}, NEW),
        (release("serve", app=None), {"app": OLD}, None),
        (release("serve", other=NEW), {"app": OLD}, OLD),
    ],
)
def test_the_running_digest_follows_the_contract(
    given: ReleaseSettings | None, deployed: dict[str, str], running: str | None
) -> None:
    assert running_digest("app", given, deployed) == running


@pytest.mark.parametrize(
    ("given", "digest"),
    [
        (None, None),
        (release("migrate", app=NEW), NEW),
        (release("serve", app=NEW), NEW),
        (release("serve", app=None), None),
        (release("migrate", other=NEW), None),
    ],
)
def test_the_migration_digest_is_the_releases_in_either_stage(
    given: ReleaseSettings | None, digest: str | None
) -> None:
    assert migration_digest("app", given) == digest


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_reads_its_own_outputs_back_as_the_engine_would(stack: str) -> None:
    [read] = stack_run(stack).reads
    assert read.type == "pulumi:pulumi:StackReference"
    assert read.inputs == {"name": f"organization/platform/{stack}"}
    assert read.id == f"organization/platform/{stack}"
    # First update: the stack has no outputs yet.
    assert read.outputs == {
        "name": f"organization/platform/{stack}",
        "outputs": {},
        "secretOutputNames": [],
    }


def test_a_stack_reference_is_read_in_a_preview_too() -> None:
    """Read steps run during previews (pulumi pkg/resource/deploy/step.go, ReadStep.Apply)."""
    [read] = stack_run("dev", preview=True).reads
    assert read.outputs["outputs"] == {}


@cache
def released_run(stage: str | None) -> OfflineRun:
    """dev after a release of OLD, updated plainly (None) or with a release of NEW."""
    overrides = (
        {"platform:release": json.dumps({"stage": stage, "images": {"app": NEW}})} if stage else {}
    )
    return run_stack(
        "dev",
        overrides=overrides,
        stack_outputs={"organization/platform/dev": {"releasedImages": {"app": OLD}}},
    )


def image_of(task_definition: Resource) -> str:
    [container] = json.loads(task_definition.inputs["containerDefinitions"])
    return str(container["image"])


def service_image(run: OfflineRun) -> str:
    return image_of(run.one("aws:ecs/taskDefinition:TaskDefinition", "service-task"))


def migration_image(run: OfflineRun) -> str:
    return image_of(run.one("aws:ecs/taskDefinition:TaskDefinition", "service-migration"))


def repository_image(run: OfflineRun, digest: str) -> str:
    name = run.physical_name("aws:ecr/repository:Repository", "service-repo")
    return f"{REPOSITORY}{name}@{digest}"


def test_without_a_release_the_configured_image_runs_and_none_is_released() -> None:
    run = stack_run("dev")
    assert service_image(run) == DEFAULT_IMAGE
    assert migration_image(run) == DEFAULT_IMAGE
    assert run.outputs["releasedImages"] == {}
    assert run.outputs["services"]["app"]["image"] == DEFAULT_IMAGE


def test_a_plain_update_keeps_the_released_digest() -> None:
    run = released_run(None)
    assert service_image(run) == repository_image(run, OLD)
    assert migration_image(run) == repository_image(run, OLD)
    assert run.outputs["releasedImages"] == {"app": OLD}


def test_stage_migrate_changes_only_the_migration() -> None:
    run = released_run("migrate")
    assert service_image(run) == repository_image(run, OLD)
    assert migration_image(run) == repository_image(run, NEW)
    assert run.outputs["releasedImages"] == {"app": OLD}


def test_stage_serve_switches_the_service() -> None:
    run = released_run("serve")
    assert service_image(run) == repository_image(run, NEW)
    assert migration_image(run) == repository_image(run, NEW)
    assert run.outputs["releasedImages"] == {"app": NEW}
    services: dict[str, Any] = run.outputs["services"]
    assert services["app"]["image"] == repository_image(run, NEW)


# --- several services: only the released one runs a digest, only one with `migration` migrates ---

TWO_SERVICES = {
    "web": {"default": True, "cpu": 256, "memory": 512, "minTasks": 1, "desiredTasks": 1,
            "maxTasks": 2, "healthCheckPath": "/healthz"},
    "reports": {"pathPatterns": ["/reports/*"], "priority": 20, "cpu": 256, "memory": 512,
                "minTasks": 1, "desiredTasks": 1, "maxTasks": 2, "cpuArchitecture": "ARM64",
                "healthCheckPath": "/reports/health",
                "migration": {"command": ["reports", "migrate"], "timeoutMinutes": 30}},
}  # fmt: skip


@cache
def two_services() -> OfflineRun:
    return run_stack(
        "staging",
        overrides={
            "platform:services": json.dumps(TWO_SERVICES),
            "platform:service": json.dumps(
                {
                    "waf": True,
                    "domainName": "app.staging.example.com",
                    "hostedZoneId": "Z0000000000EXAMPLE",
                }
            ),
            "platform:release": json.dumps({"stage": "serve", "images": {"reports": NEW}}),
        },
    )


def test_only_the_released_service_runs_a_digest() -> None:
    run = two_services()
    assert run.outputs["releasedImages"] == {"reports": NEW}
    services = run.outputs["services"]
    assert services["web"]["image"] == DEFAULT_IMAGE
    name = run.physical_name("aws:ecr/repository:Repository", "service-reports-repo")
    assert services["reports"]["image"] == f"{REPOSITORY}{name}@{NEW}"


def test_only_a_service_with_migration_gets_a_migration_task() -> None:
    run = two_services()
    services = run.outputs["services"]
    assert services["web"]["migration"] is None
    migration = run.one("aws:ecs/taskDefinition:TaskDefinition", "service-reports-migration")
    assert migration.inputs["family"] == "platform-staging-service-reports-migration"
    assert migration.inputs["runtimePlatform"]["cpuArchitecture"] == "ARM64"
    assert services["reports"]["migration"]["timeoutMinutes"] == 30
    assert services["reports"]["migration"]["logGroupName"] == "/platform/staging/services/reports"
    assert [r.name for r in run.of_type("aws:iam/role:Role") if "migration" in r.name] == [
        "platform-staging-service-reports-migration"
    ]
    assert run.name_problems() == []


def test_each_service_answers_its_health_path_through_its_route() -> None:
    services = two_services().outputs["services"]
    assert services["web"]["healthUrl"] == "https://app.staging.example.com/healthz"
    assert services["reports"]["healthUrl"] == "https://app.staging.example.com/reports/health"
