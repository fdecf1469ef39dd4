"""Settings: every key validated, every problem reported at once, with the key, value and rule."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
import yaml
from pydantic import BaseModel

from components.examples import example_values
from components.settings import (
    AWS_REGIONS,
    NatMode,
    SettingsError,
    StackConfig,
    defaults_of,
    parse_settings,
)
from tests.conftest import STACKS, settings_for
from tooling.offline import ProgramError, run_stack, stack_config


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
    # Maps (platform:services) cannot be declared: the project file has no object type; nor can
    # a key without a default (platform:release): the CLI would require a value in every stack.
    scalars = {
        k: v
        for k, v in defaults_of(StackConfig).items()
        if not isinstance(v, BaseModel | dict) and v is not None
    }
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


# --- values AWS or Kubernetes would reject (issue 17, item 12) -------------------------------------


def schedule(**values: object) -> dict[str, object]:
    return {"schedule": {"expression": "cron(0 3 * * ? *)", "command": ["true"], **values}}


def test_unknown_time_zone_is_reported() -> None:
    message = errors_of("dev", service=schedule(timezone="Europe/Berln"))
    assert "platform:service.schedule.timezone = 'Europe/Berln': not an IANA time zone" in message


def test_iana_time_zone_is_accepted() -> None:
    raw = {"service": schedule(timezone="America/New_York")}
    settings = parse_settings(project="platform", stack="dev", region="eu-west-1", raw=raw)
    assert settings.config.service.schedule is not None
    assert settings.config.service.schedule.timezone == "America/New_York"


def test_region_that_does_not_exist_is_reported() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(project="platform", stack="dev", region="eu-west-9", raw={})
    assert "aws:region = 'eu-west-9': not an AWS commercial region" in str(caught.value)


def test_backup_copy_region_that_does_not_exist_is_reported() -> None:
    message = errors_of("prod", database={"backupCopyRegion": "eu-central-9"})
    assert "platform:database.backupCopyRegion = 'eu-central-9': not an AWS commercial region" in (
        message
    )


def test_region_list_is_the_providers_commercial_regions() -> None:
    # pulumi_aws.Region lists every partition's regions; the commercial ones carry no partition
    # marker in their name.
    other_partitions = ("cn-", "us-gov-", "us-iso", "eu-iso", "eusc-")
    provider = {r.value for r in aws.Region if not r.value.startswith(other_partitions)}
    assert set(AWS_REGIONS) == provider


@pytest.mark.parametrize(
    "labels, bad",
    [
        ({"-team": "a"}, "'-team'"),
        ({"t" * 64: "a"}, f"'{'t' * 64}'"),
        ({"Acme.IO/team": "a"}, "'Acme.IO/team'"),
        ({"acme.io/": "a"}, "'acme.io/'"),
        ({"team": "v" * 64}, f"'{'v' * 64}'"),
        ({"team": "two words"}, "'two words'"),
    ],
)
def test_kubernetes_label_keys_and_values_follow_the_kubernetes_syntax(
    labels: dict[str, str], bad: str
) -> None:
    message = errors_of("prod", kubernetes={"nodeGroups": {"general": {"labels": labels}}})
    assert "platform:kubernetes.nodeGroups.general.labels" in message
    assert bad in message


def test_valid_kubernetes_labels_are_accepted() -> None:
    labels = {"acme.io/team": "platform", "tier": "", "app.kubernetes.io/part-of": "a_b.c-1"}
    raw = {"kubernetes": {"nodeGroups": {"general": {"labels": labels}}}}
    settings = parse_settings(project="platform", stack="prod", region="eu-west-1", raw=raw)
    assert settings.config.kubernetes.node_groups["general"].labels == labels


@pytest.mark.parametrize(
    "key, value, why",
    [
        ("owner", "o" * 257, "257 characters; a tag value holds at most 256"),
        ("costCenter", "aws:billing", "'aws:' is reserved"),
        ("owner", "team#1", "'#' is not allowed in a tag value"),
    ],
)
def test_tag_values_follow_the_aws_tagging_rules(key: str, value: str, why: str) -> None:
    message = errors_of("prod", **{key: value})
    assert f"platform:{key} = {value!r}: " in message
    assert why in message


def test_tag_value_with_letters_digits_spaces_and_allowed_symbols_is_accepted() -> None:
    owner = "Équipe plateforme 2 +-=._:/@"
    settings = parse_settings(
        project="platform", stack="x", region="eu-west-1", raw={"owner": owner}
    )
    assert settings.config.owner == owner


@pytest.mark.parametrize("cidr", ["8.8.0.0/16", "172.32.0.0/16", "192.0.0.0/16"])
def test_vpc_block_outside_the_private_ranges_is_reported(cidr: str) -> None:
    message = errors_of("prod", network=network(cidr=cidr))
    assert f"platform:network.cidr = '{cidr}': not in a private range" in message


@pytest.mark.parametrize(
    "cidr", ["10.30.0.0/16", "172.16.0.0/16", "192.168.0.0/16", "100.64.0.0/16"]
)
def test_vpc_block_in_a_private_range_is_accepted(cidr: str) -> None:
    raw = {"network": network(cidr=cidr)}
    settings = parse_settings(project="platform", stack="prod", region="eu-west-1", raw=raw)
    assert settings.config.network.cidr == cidr


def test_several_problems_of_one_section_are_each_reported() -> None:
    # A field error used to hide the section's own consistency rules.
    message = errors_of(
        "prod", staticSite={"priceClass": "PriceClass_999", "domainName": "www.acme.io"}
    )
    assert "(2 problems)" in message
    assert "platform:staticSite.priceClass = 'PriceClass_999'" in message
    assert "platform:staticSite: domainName needs hostedZoneId" in message


def test_several_cross_section_problems_are_each_reported() -> None:
    message = errors_of(
        "prod",
        service={"originOnly": True},
        staticSite={"enabled": False},
        kubernetes={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
    )
    assert "(2 problems)" in message
    assert "platform:service.originOnly: the load balancer would admit only CloudFront" in message
    assert "platform:kubernetes.publicAccessCidrs: 0.0.0.0/0 opens the cluster API" in message


def test_cross_section_problem_is_reported_beside_a_section_error() -> None:
    message = errors_of(
        "prod",
        network=network(cidr="10.0.0.0/8"),
        service={"originOnly": True},
        staticSite={"enabled": False},
    )
    assert "(2 problems)" in message
    assert "platform:network.cidr = '10.0.0.0/8'" in message
    assert "platform:service.originOnly: the load balancer would admit only CloudFront" in message


def test_no_rule_is_reported_from_a_default_that_stands_in_for_an_invalid_value() -> None:
    # cpu is invalid; the memory rule must not be judged against the default cpu 1024.
    message = errors_of("prod", service={"cpu": "lots", "memory": 512})
    assert "(1 problem)" in message
    assert "platform:service.cpu = 'lots'" in message


def test_secret_reference_that_is_no_arn_is_reported_without_its_value() -> None:
    message = errors_of("prod", service={"secrets": {"DB_PASSWORD": "hunter2-Very-Secret"}})
    assert "platform:service.secrets" in message
    assert "DB_PASSWORD" in message
    assert "hunter2" not in message


def test_value_of_a_pulumi_secret_key_never_appears_in_an_error() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            project="platform",
            stack="prod",
            region="eu-west-1",
            raw={"observability": {"alarmEmails": ["s3cr3t-token"]}},
            secret_keys=frozenset({"observability"}),
        )
    message = str(caught.value)
    assert "platform:observability.alarmEmails" in message
    assert "s3cr3t-token" not in message
    assert "[secret]" in message


# --- example values (issue 17, item 13) ------------------------------------------------------------


# Without EKS, no deployer access is needed: each test below sees only the values it sets.
NO_EKS = {"kubernetes": {"enabled": False}}


def examples_in(**raw: object) -> list[tuple[str, str]]:
    settings = parse_settings(
        project="platform", stack="prod", region="eu-west-1", raw={**NO_EKS, **raw}
    )
    return [(found.key, found.value) for found in example_values(settings)]


@pytest.mark.parametrize(
    "domain", ["example.com", "app.example.com", "www.staging.example.org", "EXAMPLE.NET"]
)
def test_example_domains_are_detected(domain: str) -> None:
    found = examples_in(
        service={"domainName": domain.lower(), "hostedZoneId": "Z0123456789ABCDEFGHIJ"}
    )
    assert found == [("platform:service.domainName", domain.lower())]


def test_example_domain_inside_a_longer_value_is_detected() -> None:
    csp = "default-src 'self'; connect-src 'self' https://api.example.com"
    found = examples_in(staticSite={"contentSecurityPolicy": csp})
    assert found == [("platform:staticSite.contentSecurityPolicy", csp)]


def test_example_email_is_detected() -> None:
    found = examples_in(observability={"alarmEmails": ["ops@acme.io", "alerts@team.example.org"]})
    assert found == [("platform:observability.alarmEmails[1]", "alerts@team.example.org")]


def test_example_hosted_zone_id_is_detected() -> None:
    found = examples_in(
        staticSite={"domainName": "www.acme.io", "hostedZoneId": "Z0000000000EXAMPLE"}
    )
    assert found == [("platform:staticSite.hostedZoneId", "Z0000000000EXAMPLE")]


@pytest.mark.parametrize("cidr", ["192.0.2.0/24", "198.51.100.0/25", "203.0.113.7/32"])
def test_documentation_address_ranges_are_detected(cidr: str) -> None:
    found = examples_in(
        kubernetes={"endpointPublicAccess": True, "publicAccessCidrs": ["10.1.0.0/16", cidr]}
    )
    assert found == [("platform:kubernetes.publicAccessCidrs[1]", cidr)]


def test_documentation_account_is_detected() -> None:
    arn = "arn:aws:iam::123456789012:role/admin"
    found = examples_in(
        kubernetes={"adminRoleArns": [arn], "apiAccessCidrs": {"vpn": "10.99.0.0/16"}}
    )
    assert found == [("platform:kubernetes.adminRoleArns[0]", arn)]


def test_real_values_are_not_example_values() -> None:
    found = examples_in(
        service={"domainName": "myexample.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"},
        staticSite={"domainName": "example.company.io", "hostedZoneId": "Z0123456789ABCDEFGHIJ"},
        kubernetes={
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["192.0.3.0/24", "198.51.0.0/16"],
            "adminRoleArns": ["arn:aws:iam::210987654321:role/admin"],
        },
    )
    assert found == []


def test_stack_file_example_values_are_listed_by_key_and_value() -> None:
    found = [(f.key, f.value) for f in example_values(settings_for("prod"))]
    assert found == [
        ("platform:kubernetes.apiAccessSecurityGroups", "{}"),
        ("platform:observability.alarmEmails[0]", "platform-alerts@example.com"),
        ("platform:service.domainName", "app.example.com"),
        ("platform:service.hostedZoneId", "Z0000000000EXAMPLE"),
        ("platform:staticSite.domainName", "www.example.com"),
        ("platform:staticSite.hostedZoneId", "Z0000000000EXAMPLE"),
    ]


def test_example_value_under_a_pulumi_secret_key_is_not_shown() -> None:
    settings = parse_settings(
        project="platform",
        stack="prod",
        region="eu-west-1",
        raw={**NO_EKS, "observability": {"alarmEmails": ["private@example.com"]}},
        secret_keys=frozenset({"observability"}),
    )
    [found] = example_values(settings)
    assert found.key == "platform:observability.alarmEmails[0]"
    assert "private" not in found.describe()


def without_example_values(stack: str) -> dict[str, str]:
    """Overrides that replace every example value of the stack file with a real-looking one."""
    config = stack_config(stack)
    replaced: dict[str, str] = {}
    for key, text in config.items():
        if key.startswith("platform:") and text[:1] == "{":
            replaced[key] = (
                text.replace("example.com", "acme.io")
                .replace("Z0000000000EXAMPLE", "Z0123456789ABCDEFGHIJ")
                .replace("203.0.113.0/24", "81.2.69.0/24")
            )
    if config.get("platform:kubernetes", "").find('"endpointPublicAccess": false') >= 0:
        kubernetes = json.loads(replaced["platform:kubernetes"])
        kubernetes["apiAccessCidrs"] = {"runner": "10.99.0.0/16"}
        replaced["platform:kubernetes"] = json.dumps(kubernetes)
    return replaced


def test_the_placeholder_ci_repository_is_an_example_value_once_ci_access_is_on() -> None:
    def found(ci: dict[str, object]) -> list[tuple[str, str]]:
        settings = parse_settings(
            project="platform", stack="dev", region="eu-west-1", raw={**NO_EKS, "ciAccess": ci}
        )
        return [(f.key, f.value) for f in example_values(settings)]

    # The deploy role would trust whoever owns the placeholder GitHub organisation.
    assert found({"enabled": True}) == [("platform:ciAccess.repository", "example-org/platform")]
    assert found({"enabled": False}) == []
    assert found({"enabled": True, "repository": "acme/platform"}) == []


def private_api(access: dict[str, object]) -> list[tuple[str, str]]:
    settings = parse_settings(
        project="platform",
        stack="prod",
        region="eu-west-1",
        raw={"kubernetes": {"endpointPublicAccess": False, **access}},
    )
    return [(f.key, f.kind) for f in example_values(settings)]


def test_a_private_api_nobody_is_admitted_to_must_be_filled_in_before_an_update() -> None:
    # The Helm releases would time out on the first `up`: whoever runs it cannot reach the API.
    [(key, kind)] = private_api({})
    assert key == "platform:kubernetes.apiAccessSecurityGroups"
    assert "nobody is admitted to the private API" in kind
    assert private_api({"apiAccessSecurityGroups": {"runner": "sg-0123456789abcdef0"}}) == []
    assert private_api({"apiAccessCidrs": {"vpn": "10.99.0.0/16"}}) == []


def test_update_refuses_a_stack_with_example_values() -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("prod", accept_example_values=False)
    message = str(caught.value)
    assert "stack 'prod': example values must be replaced before `pulumi up` (6)" in message
    assert "nobody is admitted to the private API" in message
    assert "platform:service.hostedZoneId = 'Z0000000000EXAMPLE'" in message
    assert "platform:observability.alarmEmails[0] = 'platform-alerts@example.com'" in message
    assert caught.value.run.resources == []


def test_preview_only_warns_about_example_values(caplog: pytest.LogCaptureFixture) -> None:
    run = run_stack("prod", preview=True, accept_example_values=False)
    assert run.of_type("aws:rds/cluster:Cluster") != []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    [warning] = [w for w in warnings if "example values" in w]
    assert "platform:staticSite.domainName = 'www.example.com'" in warning
    assert "`pulumi up` refuses" in warning


def test_update_of_a_stack_without_example_values_is_not_refused() -> None:
    run = run_stack("prod", overrides=without_example_values("prod"), accept_example_values=False)
    assert run.one("aws:rds/cluster:Cluster").protect is True


# --- optional tiers (issue 20, item 5) -------------------------------------------------------------

TIER_SECTIONS = (
    "service",
    "pipeline",
    "database",
    "kubernetes",
    "staticSite",
    "messaging",
    "cache",
)


def tier_switches(config: StackConfig) -> list[bool]:
    sections = (config.service, config.pipeline, config.database, config.kubernetes)
    return [s.enabled for s in (*sections, config.static_site, config.messaging, config.cache)]


def test_every_tier_can_be_turned_off_at_once() -> None:
    raw = {section: {"enabled": False} for section in TIER_SECTIONS}
    config = parse_settings(project="platform", stack="prod", region="eu-west-1", raw=raw).config
    assert tier_switches(config) == [False] * len(TIER_SECTIONS)


def test_every_tier_is_on_by_default() -> None:
    config = parse_settings(project="platform", stack="prod", region="eu-west-1", raw={}).config
    assert all(tier_switches(config))


def test_the_sites_api_origin_without_the_service_names_both_keys() -> None:
    message = errors_of("prod", service={"enabled": False})
    assert "(1 problem)" in message
    assert (
        "platform:staticSite.apiOrigin: with staticSite.enabled, the site sends /api/* to the "
        "service's load balancer, but service.enabled is false; set staticSite.apiOrigin false, "
        "or service.enabled true"
    ) in message


@pytest.mark.parametrize(
    "site", [{"apiOrigin": False}, {"enabled": False}, {"enabled": False, "apiOrigin": True}]
)
def test_the_service_may_be_off_when_the_site_routes_nothing_to_it(site: dict[str, bool]) -> None:
    raw = {"service": {"enabled": False}, "staticSite": site}
    assert parse_settings(project="platform", stack="prod", region="eu-west-1", raw=raw)


def test_a_tier_that_is_off_keeps_its_keys_unused_and_valid() -> None:
    # Turning a tier off is one key; its own settings (originOnly included) and the thresholds of
    # its alarms stay, unused, so turning it back on is one key too.
    raw = {
        "service": {"enabled": False, "originOnly": True, "minTasks": 2},
        "staticSite": {"enabled": False},
        "database": {"enabled": False, "backupCopyRegion": "eu-central-1"},
        "observability": {"dbCpuPercent": 70},
    }
    settings = parse_settings(project="platform", stack="prod", region="eu-west-1", raw=raw)
    assert settings.config.database.backup_copy_region == "eu-central-1"


def test_a_refused_tier_combination_is_reported_beside_a_section_error() -> None:
    message = errors_of("prod", service={"enabled": False, "minTasks": 0})
    assert "(2 problems)" in message
    assert "platform:service.minTasks = 0: 0 is not between 1 and 100" in message
    assert "platform:staticSite.apiOrigin: with staticSite.enabled" in message


def test_example_values_of_a_tier_that_is_off_are_not_listed() -> None:
    # A tier that is off deploys nothing, so its placeholders need no replacing.
    def keys(raw: dict[str, object]) -> list[str]:
        settings = parse_settings(project="platform", stack="prod", region="eu-west-1", raw=raw)
        return [found.key for found in example_values(settings)]

    service = {"domainName": "app.example.com", "hostedZoneId": "Z0000000000EXAMPLE"}
    site = {"enabled": False}
    assert keys({**NO_EKS, "service": service, "staticSite": site}) == [
        "platform:service.domainName",
        "platform:service.hostedZoneId",
    ]
    assert keys({**NO_EKS, "service": {**service, "enabled": False}, "staticSite": site}) == []
