"""Release settings: the per-service `migration` and `source`, digests as `image`, and the
runner-only `platform:release` (issue #22, RELEASE_CONTRACT.md)."""

from __future__ import annotations

import json

import pytest
import yaml

from components.settings import SettingsError, StackConfig, decode_values, parse_settings
from tests.conftest import STACKS
from tooling.offline import PROJECT_ROOT

DIGEST = "sha256:" + "ab" * 32


def parsed(**raw: object) -> StackConfig:
    return parse_settings(project="platform", stack="dev", region="eu-west-1", raw=raw).config


def errors_of(**raw: object) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(project="platform", stack="dev", region="eu-west-1", raw=raw)
    return str(caught.value)


def test_migration_takes_a_command_and_a_timeout_of_15_minutes_by_default() -> None:
    config = parsed(service={"migration": {"command": ["alembic", "upgrade", "head"]}})
    migration = config.service.as_app().migration
    assert migration is not None
    assert migration.command == ["alembic", "upgrade", "head"]
    assert migration.timeout_minutes == 15


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        ({"command": []}, "platform:service.migration.command"),
        ({"command": ["x"], "timeoutMinutes": 0}, "0 is not between 1 and 120"),
        ({"command": ["x"], "timeoutMinutes": 121}, "121 is not between 1 and 120"),
        ({"command": ["x"], "timeout": 5}, "platform:service.migration.timeout: unknown key"),
    ],
)
def test_bad_migration_is_refused(migration: dict[str, object], expected: str) -> None:
    assert expected in errors_of(service={"migration": migration})


def test_source_defaults_to_the_reference_app_and_may_be_null() -> None:
    assert parsed().service.source == "reference-app"
    assert parsed(service={"source": None}).service.source is None
    assert parsed(service={"source": "apps/api"}).service.source == "apps/api"


@pytest.mark.parametrize("source", ["/abs", "../outside", "apps/../..", "a b", ""])
def test_source_outside_the_repository_is_refused(source: str) -> None:
    message = errors_of(service={"source": source})
    assert f"platform:service.source = {source!r}: not a relative folder" in message


def test_image_may_be_a_digest_of_the_services_own_repository() -> None:
    assert parsed(service={"image": DIGEST}).service.image == DIGEST


@pytest.mark.parametrize("image", ["v1.2.3", "latest"])
def test_a_bare_tag_is_refused_naming_the_release_path(image: str) -> None:
    message = errors_of(service={"image": image})
    assert f"platform:service.image = {image!r}: a bare tag" in message
    assert "platform:release" in message
    assert "sha256:<64 hex>" in message


def test_a_tag_in_a_private_ecr_registry_is_refused() -> None:
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1"
    message = errors_of(service={"image": image})
    assert f"platform:service.image = {image!r}: an image of a private ECR registry" in message


@pytest.mark.parametrize(
    "image",
    [
        "public.ecr.aws/nginx/nginx-unprivileged:stable-alpine",
        "ghcr.io/org/app:1.0",
        f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@{DIGEST}",
    ],
)
def test_full_references_stay_accepted(image: str) -> None:
    assert parsed(service={"image": image}).service.image == image


def test_release_is_read_from_a_json_string_or_an_object() -> None:
    value = {"stage": "serve", "images": {"app": DIGEST}}
    for raw in (value, json.dumps(value)):
        release = parsed(release=raw).release
        assert release is not None
        assert release.stage == "serve"
        assert release.images == {"app": DIGEST}


def test_release_may_forget_a_digest_with_null() -> None:
    release = parsed(release={"stage": "serve", "images": {"app": None}}).release
    assert release is not None
    assert release.images == {"app": None}


def test_no_release_by_default() -> None:
    assert parsed().release is None


def test_every_release_problem_is_reported_at_once() -> None:
    message = errors_of(
        release={"stage": "ship", "images": {"app": "sha256:12", "nope": DIGEST}},
        network={"zones": 9},
    )
    assert "platform:release.stage" in message
    assert "platform:release.images.app = 'sha256:12': not a digest sha256:<64 hex>" in message
    assert "platform:network.zones" in message


def test_a_release_of_an_unknown_service_is_refused() -> None:
    message = errors_of(release={"stage": "migrate", "images": {"nope": DIGEST}})
    assert (
        "platform:release.images: 'nope' is not a service of this stack (services: app)" in message
    )


def test_a_release_that_is_not_json_is_refused() -> None:
    message = errors_of(release="{stage: serve")
    assert "platform:release = '{stage: serve': not a JSON object" in message


@pytest.mark.parametrize("stack", STACKS)
def test_no_stack_file_sets_a_release(stack: str) -> None:
    """platform:release is set only on the runner, for one `up` (RELEASE_CONTRACT.md)."""
    values = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert "platform:release" not in values


def test_a_value_that_only_looks_like_json_is_reported_with_its_key() -> None:
    """Config values reach the program as text; one that starts like JSON but is not stays text,
    so its key's validation reports it with every other problem instead of a traceback."""
    raw = decode_values({"network": "{cidr: 10.10.0.0/16", "release": '{"stage": "serve"}'})
    assert raw == {"network": "{cidr: 10.10.0.0/16", "release": {"stage": "serve"}}
    assert "platform:network = '{cidr: 10.10.0.0/16'" in errors_of(**raw)


def test_a_migration_of_a_service_without_a_database_identity_is_refused() -> None:
    services = {
        "web": {"default": True, "migration": {"command": ["migrate"]}},
        "api": {"pathPatterns": ["/api/*"], "priority": 1, "migration": {"command": ["x"]}},
    }
    message = errors_of(services=services, database={"identities": {"api": {}}})
    assert message.startswith("stack 'dev'")
    assert "services.web.migration: needs database.identities.web" in message
    assert "services.api.migration" not in message


def test_a_migration_without_the_database_is_refused() -> None:
    # The migration runs against the database as its service's identity: off, it has neither.
    migration = {"command": ["alembic", "upgrade", "head"]}
    message = errors_of(service={"migration": migration}, database={"enabled": False})
    assert message.startswith("stack 'dev'")
    assert "service.migration: needs the database" in message
    services = {"web": {"default": True, "migration": migration}}
    message = errors_of(services=services, database={"enabled": False})
    assert "services.web.migration: needs the database" in message


def test_a_migration_of_a_service_that_is_off_stays_valid_and_unused() -> None:
    migration = {"command": ["alembic", "upgrade", "head"]}
    config = parsed(
        service={"enabled": False, "migration": migration},
        database={"enabled": False},
        staticSite={"apiOrigin": False},
    )
    assert config.ecs_services() == {}


def test_a_migration_with_its_identity_is_accepted() -> None:
    services = {"web": {"default": True, "migration": {"command": ["migrate"]}}}
    config = parsed(services=services, database={"identities": {"web": {}}})
    assert config.services["web"].migration is not None
