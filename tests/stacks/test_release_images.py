"""Which image runs (RELEASE_CONTRACT.md): the stack reads its own `releasedImages` back through a
stack reference, a release's stage decides what changes, and the outputs say what runs now."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pulumi
import pytest

from components.release import digests_of, migration_digest, placeholder_warning, running_digest
from components.settings import EcsServiceSettings, ReleaseSettings
from tests.conftest import STACKS, settings_for, stack_run
from tooling.offline import (
    ACCOUNT_ID,
    OfflineRun,
    ProgramError,
    Resource,
    run_offline,
    run_stack,
    stack_config,
)

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


def released_run(stage: str | None) -> OfflineRun:
    """dev after a release of OLD, updated plainly (None) or with a release of NEW (shared)."""
    overrides = (
        {"platform:release": json.dumps({"stage": stage, "images": {"app": NEW}})} if stage else {}
    )
    return stack_run(
        "dev",
        overrides=overrides,
        stack_outputs={"organization/platform/dev": {"releasedImages": {"app": OLD}}},
    )


def image_of(task_definition: Resource) -> str:
    [container, _init] = json.loads(task_definition.inputs["containerDefinitions"])
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


def two_services() -> OfflineRun:
    return stack_run(
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
            # A migration logs in as its service's database identity (settings require it).
            "platform:database": json.dumps(
                {
                    **json.loads(stack_config("staging")["platform:database"]),
                    "identities": {"reports": {}},
                }
            ),
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
    assert sorted(r.name for r in run.of_type("aws:iam/role:Role") if "migration" in r.name) == [
        "platform-staging-service-reports-migration",
        "platform-staging-service-reports-migration-execution",
    ]
    assert run.name_problems() == []


def test_each_service_answers_its_health_path_through_its_route() -> None:
    services = two_services().outputs["services"]
    assert services["web"]["healthUrl"] == "https://app.staging.example.com/healthz"
    assert services["reports"]["healthUrl"] == "https://app.staging.example.com/reports/health"


# --- what the stack says about digests it cannot use and services on the placeholder -------------


def test_a_service_built_by_releases_without_a_digest_is_reported() -> None:
    settings = settings_for("dev").config.ecs_services()["app"]
    warning = placeholder_warning("dev", "app", settings, None)
    assert warning is not None
    assert warning.startswith("stack dev: service app is built from 'reference-app'")
    assert DEFAULT_IMAGE in warning
    assert placeholder_warning("dev", "app", settings, OLD) is None


@pytest.mark.parametrize(
    "given", [{"source": None}, {"image": OLD}], ids=["external image", "digest as image"]
)
def test_a_service_that_releases_do_not_build_is_not_reported(given: dict[str, object]) -> None:
    settings = EcsServiceSettings.model_validate({"default": True, **given})
    assert placeholder_warning("dev", "app", settings, None) is None


@pytest.mark.parametrize(
    ("read", "kept", "warned"),
    [
        (None, {}, []),
        ({"app": OLD}, {"app": OLD}, []),
        ({"app": "latest", "web": OLD}, {"web": OLD}, ["releasedImages.app = 'latest'"]),
        ({"app": "sha256:" + "AB" * 32}, {}, ["releasedImages.app = 'sha256:ABAB"]),
        ({"app": None}, {}, ["releasedImages.app = None"]),
        (["app"], {}, ["is not an object (list)"]),
    ],
)
def test_only_digests_are_read_back(
    monkeypatch: pytest.MonkeyPatch, read: object, kept: dict[str, str], warned: list[str]
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", warnings.append)
    assert digests_of(read, "dev") == kept
    assert len(warnings) == len(warned)
    for message, expected in zip(warnings, warned, strict=True):
        assert message.startswith("stack dev: ")
        assert expected in message


def test_an_update_warns_of_a_bad_digest_and_of_the_placeholder_it_then_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        run = run_stack(
            "dev", stack_outputs={"organization/platform/dev": {"releasedImages": {"app": "v1"}}}
        )
    assert service_image(run) == DEFAULT_IMAGE
    assert run.outputs["releasedImages"] == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if "releasedImages.app = 'v1'" in w] != []
    assert [w for w in warnings if w.startswith("stack dev: service app is built from")] != []


# --- the offline stack reference refuses a stack that does not exist, as the engine does ----------


def read_back(name: str, **given: Mapping[str, Any]) -> OfflineRun:
    def program() -> None:
        pulumi.export("read", pulumi.StackReference("ref", stack_name=name).outputs)

    return run_offline(program, stack="dev", config={}, stack_outputs=given)


def test_a_stack_reads_its_own_outputs_offline() -> None:
    assert read_back("organization/platform/dev").outputs["read"] == {}


@pytest.mark.parametrize(
    "name", ["dev", "platform/dev", "organization/other/dev", "organization/platform/prod"]
)
def test_a_reference_to_a_stack_that_does_not_exist_fails_offline(name: str) -> None:
    with pytest.raises(ProgramError, match=f"stack reference '{name}': no such stack"):
        read_back(name)


def test_a_stack_a_test_gives_outputs_for_exists() -> None:
    outputs = {"releasedImages": {"app": OLD}}
    run = read_back("organization/other/dev", **{"organization/other/dev": outputs})
    assert run.outputs["read"] == outputs
