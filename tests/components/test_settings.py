"""Settings: every key validated, every problem reported at once, with the key, value and rule."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
import yaml
from pydantic import BaseModel

from components.settings import NatMode, SettingsError, StackConfig, defaults_of, parse_settings
from tests.conftest import STACKS, settings_for


def errors_of(stack: str, **raw: object) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(project="platform", stack=stack, region="eu-west-1", raw=raw)
    return str(caught.value)


def network(**values: object) -> dict[str, object]:
    return {"cidr": "10.10.0.0/16", **values}


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack: str) -> None:
    settings = settings_for(stack)
    assert settings.stack == stack
    assert settings.region == "eu-west-1"


def test_stack_sizing_follows_the_architecture() -> None:
    cidrs = {stack: settings_for(stack).config.network.cidr for stack in STACKS}
    assert cidrs == {"dev": "10.10.0.0/16", "staging": "10.20.0.0/16", "prod": "10.30.0.0/16"}
    nat = {stack: settings_for(stack).config.network.nat_mode for stack in STACKS}
    assert nat == {"dev": NatMode.SINGLE, "staging": NatMode.SINGLE, "prod": NatMode.PER_AZ}
    retention = {stack: settings_for(stack).config.log_retention_days for stack in STACKS}
    assert retention == {"dev": 7, "staging": 30, "prod": 365}
    protected = {stack: settings_for(stack).config.protect_data for stack in STACKS}
    assert protected == {"dev": False, "staging": True, "prod": True}


def test_defaults_apply_when_a_stack_file_omits_a_section() -> None:
    settings = parse_settings(project="platform", stack="x", region="eu-west-1", raw={})
    assert settings.config.network.zones == 3
    assert settings.config.network.nat_mode is NatMode.PER_AZ
    assert settings.config.protect_data is True


def test_settings_are_immutable() -> None:
    settings = settings_for("dev")
    with pytest.raises(ValueError):
        setattr(settings.config.network, "zones", 2)  # noqa: B010 (the assignment must fail)


def test_malformed_cidr_is_reported() -> None:
    message = errors_of("prod", network=network(cidr="10.300.0.0/16"))
    assert "stack 'prod'" in message
    assert "platform:network.cidr = '10.300.0.0/16': not a valid IPv4 CIDR block" in message


def test_cidr_with_host_bits_is_reported() -> None:
    assert "has host bits set" in errors_of("prod", network=network(cidr="10.30.0.1/16"))


@pytest.mark.parametrize("cidr, prefix", [("10.0.0.0/8", 8), ("10.30.0.0/24", 24)])
def test_cidr_prefix_outside_16_to_20_is_reported(cidr: str, prefix: int) -> None:
    message = errors_of("prod", network=network(cidr=cidr))
    assert (
        f"platform:network.cidr = '{cidr}': prefix /{prefix} is outside the allowed /16 to /20"
        in message
    )


@pytest.mark.parametrize("zones", [1, 4])
def test_zones_outside_2_to_3_are_reported(zones: int) -> None:
    message = errors_of("prod", network=network(zones=zones))
    assert f"platform:network.zones = {zones}: {zones} is not between 2 and 3" in message


def test_unknown_nat_mode_lists_the_allowed_modes() -> None:
    message = errors_of("prod", network=network(natMode="double"))
    assert "platform:network.natMode = 'double'" in message
    assert "'single', 'perAz' or 'none'" in message


def test_unknown_top_level_key_suggests_the_closest() -> None:
    message = errors_of("dev", netwrok={"cidr": "10.10.0.0/16"})
    assert "platform:netwrok: unknown key; did you mean 'platform:network'?" in message


def test_unknown_nested_key_suggests_the_closest() -> None:
    message = errors_of("dev", network=network(natMod="single"))
    assert (
        "platform:network.natMod: unknown key; did you mean 'platform:network.natMode'?" in message
    )


def test_log_retention_must_be_a_cloudwatch_value() -> None:
    message = errors_of("dev", logRetentionDays="8")
    assert "platform:logRetentionDays = '8': 8 is not one of 1, 3, 5, 7, 14" in message


def test_wrong_type_is_reported() -> None:
    message = errors_of("dev", network=network(zones="three"))
    assert "platform:network.zones = 'three'" in message
    assert "valid integer" in message


def test_all_problems_are_reported_in_one_error() -> None:
    message = errors_of(
        "prod", network=network(cidr="10.0.0.0/8", zones=5), netwrok={}, logRetentionDays="2"
    )
    assert "(4 problems)" in message
    for key in ("network.cidr", "network.zones", "netwrok", "logRetentionDays"):
        assert f"platform:{key}" in message


def test_missing_region_is_reported_with_the_fix() -> None:
    with pytest.raises(
        SettingsError, match="aws:region: not set; run `pulumi config set aws:region"
    ):
        parse_settings(project="platform", stack="dev", region=None, raw={})


def test_malformed_region_is_reported() -> None:
    with pytest.raises(SettingsError, match="aws:region = 'europe': not an AWS region name"):
        parse_settings(project="platform", stack="dev", region="europe", raw={})


def test_settings_error_prints_without_a_traceback() -> None:
    assert issubclass(SettingsError, pulumi.RunError)


def sections() -> list[type[BaseModel]]:
    nested = [f.annotation for f in StackConfig.model_fields.values()]
    return [StackConfig, *(m for m in nested if isinstance(m, type) and issubclass(m, BaseModel))]


def test_project_file_defaults_match_the_settings_defaults() -> None:
    project = yaml.safe_load(Path("Pulumi.yaml").read_text())
    declared = {
        key.removeprefix("platform:"): spec["default"] for key, spec in project["config"].items()
    }
    scalars = {k: v for k, v in defaults_of(StackConfig).items() if not isinstance(v, BaseModel)}
    assert declared == scalars


def test_every_setting_is_documented() -> None:
    undocumented = [
        f"{section.__name__}.{name}"
        for section in sections()
        for name, field in section.model_fields.items()
        if not field.description
    ]
    assert undocumented == []


def test_stack_files_hold_only_known_keys() -> None:
    for stack in STACKS:
        raw = yaml.safe_load(Path(f"Pulumi.{stack}.yaml").read_text())["config"]
        namespaces = {key.split(":")[0] for key in raw}
        assert namespaces <= {"aws", "platform"}, (stack, namespaces)
        json.dumps(raw)  # plain data only
