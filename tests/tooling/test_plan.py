"""Offline plan: inventory, policy verdicts with exit codes, prices from the table, diffs."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import shutil
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.common import StackContext
from components.database import Database, DatabaseArgs
from components.kubernetes import Kubernetes, KubernetesArgs
from components.network import Network, NetworkArgs
from components.settings import Settings
from tests.conftest import Offline, stack_run, stack_verdicts
from tooling import plan
from tooling.offline import OfflineRun, run_stack, stack_config
from tooling.plan import (
    STATEFUL,
    build_plan,
    check_example_values,
    costs_markdown,
    diff,
    estimate,
    inventory,
    load_prices,
    load_replacements,
    main,
)
from tooling.policy_eval import Verdict, evaluate, stack_policy_config

PRICES = load_prices()


def _shared_evaluate(run: OfflineRun, config: Mapping[str, Any]) -> list[Verdict]:
    shared = run is stack_run(run.stack, run.preview)
    if shared and config == stack_policy_config(run.stack):
        return list(stack_verdicts(run.stack, run.preview))
    return evaluate(run, config)


@pytest.fixture
def shared_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's own runs of unchanged stack files come from the session's shared runs, and
    their policy verdicts are evaluated once."""
    monkeypatch.setattr(plan, "run_stack", stack_run)
    monkeypatch.setattr(plan, "evaluate", _shared_evaluate)


DATABASE = "urn:pulumi:prod::platform::platform:database:Database$aws:rds/cluster:Cluster::platform-prod-database-cluster"
JOB_QUEUE = "urn:pulumi:prod::platform::platform:pipeline:Pipeline$aws:batch/jobQueue:JobQueue::platform-prod-pipeline-queue"

# One prod run per configuration, shared by the tests; the earlier plan of the diff tests is the
# plain prod plan, as `--json` writes it.


@cache
def prod_run(section: str = "", key: str = "", value: str | float = "") -> OfflineRun:
    """prod, with one key of one `platform:` section of its stack file changed (if given)."""
    if not section:
        return stack_run("prod")
    name = f"platform:{section}"
    values = {**json.loads(stack_config("prod")[name]), key: value}
    return stack_run("prod", overrides={name: json.dumps(values)})


@cache
def prod_plan_text() -> str:
    return json.dumps(build_plan("prod", prod_run(), [], PRICES), indent=2, sort_keys=True)


def prod_plan() -> dict[str, Any]:
    """A fresh copy of the earlier plan, safe to edit."""
    return json.loads(prod_plan_text())


@pytest.mark.parametrize(
    "stack, counts",
    [
        (
            "dev",
            {
                "aws:rds/clusterInstance:ClusterInstance": 1,
                "aws:ec2/vpcEndpoint:VpcEndpoint": 1,
                "aws:wafv2/webAcl:WebAcl": 0,
            },
        ),
        (
            "staging",
            {
                "aws:rds/clusterInstance:ClusterInstance": 2,
                "aws:ec2/vpcEndpoint:VpcEndpoint": 1,
                # regional (load balancer, EKS ingress) and CLOUDFRONT (static site)
                "aws:wafv2/webAcl:WebAcl": 3,
            },
        ),
        (
            "prod",
            {
                "aws:rds/clusterInstance:ClusterInstance": 3,
                "aws:ec2/vpcEndpoint:VpcEndpoint": 6,
                "aws:wafv2/webAcl:WebAcl": 3,
            },
        ),
    ],
)
def test_inventory_counts_per_stack(stack: str, counts: dict[str, int]) -> None:
    tree = inventory(stack_run(stack))
    totals = {kind: sum(c[kind] for c in tree.values()) for kind in counts}
    assert totals == counts
    assert {"network", "service", "database", "pipeline", "observability", "notifications"} <= set(
        tree
    )


@pytest.mark.usefixtures("shared_runs")
def test_clean_stack_exits_zero_and_prints_every_section(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["prod"]) == 0
    out = capsys.readouterr().out
    for heading in (
        "Resources:",
        "Policy: 0 mandatory violations",
        "Estimated monthly cost",
        "total",
        "Not priced",
    ):
        assert heading in out


def test_seeded_policy_violation_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    monkeypatch.setattr(
        plan,
        "run_stack",
        # The run tests/policy/test_pack.py's seeded violation reads too.
        lambda stack: stack_run(stack, overrides={"platform:protectData": "false"}),
    )
    assert main(["prod"]) == 1
    assert "[mandatory] rds-deletion-protection" in capsys.readouterr().out


def test_missing_stack_file_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qa"]) == 2
    assert "error: no stack file Pulumi.qa.yaml" in capsys.readouterr().err


def test_dev_cost_matches_the_price_table_by_hand() -> None:
    costs, _ = estimate(stack_run("dev"), PRICES)
    h, hourly, monthly = 730, PRICES["hourly"], PRICES["monthly"]
    by_item = {c.item: c.monthly for c in costs}
    assert by_item["NAT gateways x1"] == round(h * hourly["natGateway"], 2)
    # dev: one 0.25 vCPU / 0.5 GB task, all on Spot
    spot_task = (0.25 * hourly["fargateVcpu"] + 0.5 * hourly["fargateGb"]) * hourly[
        "fargateSpotFactor"
    ]
    assert by_item["Fargate tasks x1"] == round(spot_task * h, 2)
    # dev: Aurora at 0 ACU costs only its storage
    assert by_item["Aurora instance db.serverless"] == 0.0
    assert by_item["Aurora storage 10 GB"] == round(10 * monthly["auroraStorageGb"], 2)
    assert by_item["public IPv4 (ALB) x3"] == round(3 * hourly["publicIpv4"] * h, 2)


def test_staging_mixed_capacity_runs_the_base_on_demand() -> None:
    costs, _ = estimate(stack_run("staging"), PRICES)
    [fargate] = [c for c in costs if c.item.startswith("Fargate")]
    hourly = PRICES["hourly"]
    per_task = 0.5 * hourly["fargateVcpu"] + 1 * hourly["fargateGb"]
    # 2 tasks: base 1 on FARGATE, the other split 1:1 between FARGATE and FARGATE_SPOT
    expected = per_task * (1.5 + 0.5 * hourly["fargateSpotFactor"]) * 730
    assert fargate.monthly == round(expected, 2)


def test_unpriced_types_are_listed() -> None:
    _, unpriced = estimate(prod_run(), PRICES)
    assert "aws:s3/bucket:Bucket" in unpriced
    assert "aws:kms/key:Key" not in unpriced
    assert not any(t.startswith("pulumi:") for t in unpriced)


def test_diff_flags_a_renamed_database() -> None:
    earlier, now = prod_plan(), prod_plan()
    for resource in now["resources"]:
        if resource["type"] == "aws:rds/cluster:Cluster":
            resource["urn"] = resource["urn"].replace("database-cluster", "db-cluster")
    changes = diff(now, earlier)
    assert len(changes.added) == 1 and len(changes.removed) == 1
    assert changes.stateful == [
        "aws:rds/cluster:Cluster platform-prod-database-cluster would be RENAMED (replaced: its data is lost unless you add an alias)"
    ]


@pytest.mark.usefixtures("shared_runs")
def test_diff_against_itself_is_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--json"]) == 0
    earlier = tmp_path / "dev.json"
    earlier.write_text(capsys.readouterr().out)
    assert main(["dev", "--diff", str(earlier)]) == 0
    assert "Against the earlier plan: +0 -0 ~0" in capsys.readouterr().out


@pytest.mark.usefixtures("shared_runs")
def test_readme_cost_table_comes_from_the_plan() -> None:
    assert costs_markdown(["dev", "staging", "prod"]) in Path("README.md").read_text()


# --- diffs that know replacements -----------------------------------------------------------------


def diff_against_prod(
    run: OfflineRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    """`python -m tooling.plan prod --diff prod.json` for `run`; policies are not under test."""
    earlier = tmp_path / "prod.json"
    earlier.write_text(prod_plan_text())
    monkeypatch.setattr(plan, "run_stack", lambda stack: run)
    monkeypatch.setattr(plan, "evaluate", lambda run, config: [])
    code = main(["prod", "--diff", str(earlier)])
    return code, capsys.readouterr().out


def test_database_name_change_replaces_the_cluster_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = prod_run("database", "databaseName", "orders")
    code, out = diff_against_prod(run, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert (
        '!!! STATEFUL: aws:rds/cluster:Cluster platform-prod-database-cluster would be REPLACED (databaseName: "app" -> "orders"): a new, empty cluster'
        in out
    )
    assert f'  +- {DATABASE}: replaced by databaseName: "app" -> "orders"' in out


def test_vpc_cidr_change_replaces_the_vpc_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = prod_run("network", "cidr", "10.40.0.0/16")
    code, out = diff_against_prod(run, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert (
        '!!! STATEFUL: awsx:ec2:Vpc platform-prod-network-vpc would be REPLACED (cidrBlock: "10.30.0.0/16" -> "10.40.0.0/16")'
        in out
    )


def test_vpc_replacement_replaces_the_security_groups_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = prod_run("network", "cidr", "10.40.0.0/16")
    _, out = diff_against_prod(run, tmp_path, monkeypatch, capsys)
    replaced = re.findall(r"^  \+- \S+SecurityGroup::(\S+): replaced by vpcId comes from platform-prod-network-vpc", out, re.M)  # fmt: skip
    assert sorted(replaced) == [
        "platform-prod-cache-sg",
        "platform-prod-database-access-sg",
        "platform-prod-database-sg",
        "platform-prod-messaging-sg",
        "platform-prod-network-endpoints-sg",
        "platform-prod-pipeline-jobs-sg",
        "platform-prod-service-alb-sg",
        "platform-prod-service-tasks-sg",
    ]


def test_backup_retention_change_is_an_update_that_names_the_property(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = prod_run("database", "backupRetentionDays", 14)
    code, out = diff_against_prod(run, tmp_path, monkeypatch, capsys)
    assert code == 0
    assert "Against the earlier plan: +0 -0 ~1 +-0" in out
    assert f"  ~ {DATABASE}: backupRetentionPeriod: 30 -> 14" in out
    assert "STATEFUL" not in out


def test_replace_on_changes_replaces_a_resource_without_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The job queue lists computeEnvironmentOrders in replace_on_changes; a queue holds no data.
    run = prod_run("pipeline", "computeOrder", "spotFirst")
    code, out = diff_against_prod(run, tmp_path, monkeypatch, capsys)
    assert code == 0
    assert (
        f"  +- {JOB_QUEUE}: replaced by computeEnvironmentOrders[0].computeEnvironment (replace_on_changes)"
        in out
    )
    assert "STATEFUL" not in out


def test_replaced_key_replaces_the_cluster_it_encrypts() -> None:
    now = prod_plan()
    [key] = [r for r in now["resources"] if r["name"] == "platform-prod-database-key"]
    key["inputs"]["multiRegion"] = True
    changes = diff(now, prod_plan())
    assert (
        "aws:rds/cluster:Cluster platform-prod-database-cluster would be REPLACED (kmsKeyId comes from platform-prod-database-key, which is replaced): a new, empty cluster, so the data is lost unless you restore it from a snapshot"
        in changes.stateful
    )


@pytest.mark.parametrize(
    "key_arn, replaced",
    [(None, True), ("arn:aws:kms:eu-west-1:123456789012:key/another", False)],
    ids=["removed", "changed"],
)
def test_eks_envelope_encryption_replaces_the_cluster_only_when_removed(
    key_arn: str | None, replaced: bool
) -> None:
    now = prod_plan()
    [cluster] = [r for r in now["resources"] if r["type"] == "eks:index:Cluster"]
    cluster["inputs"].pop("encryptionConfigKeyArn")
    if key_arn is not None:
        cluster["inputs"]["encryptionConfigKeyArn"] = key_arn
    [change] = [c for c in diff(now, prod_plan()).changed if c.type == "eks:index:Cluster"]
    assert bool(change.replacement) is replaced


def test_missing_earlier_plan_is_a_one_line_error_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_run(stack: str) -> OfflineRun:
        raise AssertionError("the stack ran although the earlier plan is missing")

    monkeypatch.setattr(plan, "run_stack", no_run)
    missing = tmp_path / "nosuch.json"
    assert main(["prod", "--diff", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot read the earlier plan {missing}: No such file or directory\n"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "is not JSON (Expecting property name enclosed in double quotes"),
        ('["a", "list"]', "is not a plan (the top level is not an object)"),
        ('{"stack": "prod", "resources": [{"urn": "x"}]}', "is not a plan (resources[0] has no urn, type, name or inputs)"),
        ('{"stack": "dev", "resources": []}', "is the plan of stack 'dev', not 'prod'"),
        ('{"stack": "prod", "resources": [{"urn": "u", "type": "t", "name": "n", "inputs": {}, "dependsOn": {"vpcId": "u"}}]}', "is not a plan (resources[0] has a replaceOnChanges, dependsOn or aliases that is not names)"),
    ],
    ids=["not-json", "not-an-object", "not-a-resource", "other-stack", "bad-dependencies"],
)  # fmt: skip
def test_unusable_earlier_plan_is_a_one_line_error(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = tmp_path / "earlier.json"
    earlier.write_text(text)
    assert main(["prod", "--diff", str(earlier)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {earlier} {message}")
    assert err.count("\n") == 1


def test_plan_json_is_the_same_for_two_runs() -> None:
    # Registration order varies from run to run; the plan must not.
    again = build_plan("prod", run_stack("prod"), [], PRICES)
    assert json.dumps(again, indent=2, sort_keys=True) == prod_plan_text()


def _args_class(token: str) -> type:
    package, module, name = token.split(":")
    sdk = {"aws": "pulumi_aws", "eks": "pulumi_eks", "awsx": "pulumi_awsx"}[package]
    service = module.split("/")[0]
    found_in = importlib.import_module(sdk if service == "index" else f"{sdk}.{service}")
    # Where an input type has the same name (pulumi_aws.s3.BucketLoggingArgs is the Bucket's
    # inline `logging`), the SDK names the resource's own args class ...InitArgs.
    found = getattr(found_in, f"{name}InitArgs", None) or getattr(found_in, f"{name}Args")
    assert isinstance(found, type)
    return found


@pytest.mark.parametrize("token", sorted(load_replacements().types))
def test_replacement_inputs_are_inputs_of_the_sdk(token: str) -> None:
    rule = load_replacements().types[token]
    parameters = inspect.signature(_args_class(token).__init__).parameters
    paths = (*rule.replace_on, *rule.replace_on_removal, *rule.replace_on_set)
    top = {re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", p.split(".")[0]).lower() for p in paths}
    assert paths and rule.source
    assert top <= set(parameters), f"{token}: {sorted(top - set(parameters))} are not inputs"


def test_every_data_holding_type_of_prod_is_stateful() -> None:
    created = {r.type for r in prod_run().resources}
    holds_data = {
        "aws:rds/cluster:Cluster",
        "aws:rds/clusterInstance:ClusterInstance",
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "eks:index:Cluster",
        "awsx:ec2:Vpc",
        "aws:sqs/queue:Queue",
        "aws:backup/vault:Vault",
        "aws:cloudwatch/logGroup:LogGroup",
    }
    assert holds_data <= created
    assert holds_data <= STATEFUL


# --- issue 17: valid values the price table lacks, example values ---------------------------------


def dev_tier_with(section: str, **values: object) -> OfflineRun:
    """dev's network and the tier of `section` alone, with those values in its section: what the
    pricer reads of one tier is that tier's resources."""
    name = f"platform:{section}"
    overrides = {name: json.dumps({**json.loads(stack_config("dev")[name]), **values})}

    def build(settings: Settings, ctx: StackContext) -> object:
        network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
        if section == "kubernetes":
            args = KubernetesArgs(settings=settings.config.kubernetes, ctx=ctx, network=network)
            return Kubernetes("k8s", args)
        return Database(
            "db", DatabaseArgs(settings=settings.config.database, ctx=ctx, network=network)
        )

    return Offline().component(build, "dev", overrides)


def test_instance_type_missing_from_the_price_table_is_listed_unpriced() -> None:
    group = {"instanceTypes": ["m7i.xlarge"], "minSize": 1, "desiredSize": 1, "maxSize": 3}
    costs, unpriced = estimate(dev_tier_with("kubernetes", nodeGroups={"general": group}), PRICES)
    assert "aws:eks/nodeGroup:NodeGroup (m7i.xlarge: not in tooling/prices.json)" in unpriced
    assert [c.item for c in costs if c.item.startswith("EKS nodes")] == []


def test_instance_class_missing_from_the_price_table_is_listed_unpriced() -> None:
    run = dev_tier_with(
        "database", mode="provisioned", instanceClass="db.r7g.2xlarge", minCapacity=0.5
    )
    costs, unpriced = estimate(run, PRICES)
    assert (
        "aws:rds/clusterInstance:ClusterInstance (db.r7g.2xlarge: not in tooling/prices.json)"
        in unpriced
    )
    assert [c.item for c in costs if c.item.startswith("Aurora instance")] == []


@pytest.mark.usefixtures("shared_runs")
def test_plan_warns_about_each_example_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prod"]) == 0
    out = capsys.readouterr().out
    assert "Example values: `make up STACK=prod` refuses until they are replaced (6):" in out
    for line in (
        "platform:kubernetes.apiAccessSecurityGroups = '{}'",
        "platform:observability.alarmEmails[0] = 'platform-alerts@example.com'",
        "platform:service.domainName = 'app.example.com'",
        "platform:service.hostedZoneId = 'Z0000000000EXAMPLE'",
        "platform:staticSite.domainName = 'www.example.com'",
        "platform:staticSite.hostedZoneId = 'Z0000000000EXAMPLE'",
    ):
        assert f"  ! {line}: " in out


def test_example_value_check_refuses_a_stack_with_example_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dev", "--check-example-values"]) == 1
    err = capsys.readouterr().err
    assert "error: stack 'dev': example values must be replaced before `pulumi up` (1)" in err
    assert "platform:kubernetes.publicAccessCidrs[0] = '203.0.113.0/24'" in err


def test_example_value_check_passes_a_stack_without_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = stack_config("dev")
    real = config["platform:kubernetes"].replace("203.0.113.0/24", "81.2.69.0/24")
    monkeypatch.setattr(
        plan, "stack_config", lambda stack, root: {**config, "platform:kubernetes": real}
    )
    assert main(["dev", "--check-example-values"]) == 0
    assert capsys.readouterr().err == ""


def test_the_example_value_check_defers_to_the_program_on_an_encrypted_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `pulumi config set --secret` writes {secure: ...}; the CLI decrypts it for the program, this
    # check cannot. It must not refuse a stack for that: the update itself refuses example values.
    shutil.copy("Pulumi.yaml", tmp_path / "Pulumi.yaml")
    stack = yaml.safe_load(Path("Pulumi.dev.yaml").read_text())
    stack["config"]["platform:observability"] = {"alarmEmails": [{"secure": "v1:AAAA"}]}
    stack["config"]["platform:kubernetes"]["publicAccessCidrs"] = ["81.2.69.0/24"]
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    assert check_example_values("dev", root=tmp_path) == 0
    assert "encrypted" in capsys.readouterr().err
    assert stack_config("dev", root=tmp_path)["platform:observability"] == (
        '{"alarmEmails": ["[secret]"]}'
    )


def test_diff_reports_that_object_lock_replaces_the_results_bucket() -> None:
    # objectLockEnabled is ForceNew on a bucket: switching the option on for an existing stack
    # replaces the results bucket (which protect then refuses), and the diff says so first.
    section = json.loads(stack_config("prod")["platform:pipeline"])
    section["resultsObjectLock"] = {"mode": "governance", "days": 30}
    run = run_stack("prod", overrides={"platform:pipeline": json.dumps(section)})
    locked = build_plan("prod", run, [], PRICES)
    changes = diff(locked, prod_plan())
    # The bucket, and what takes its name as a replacement-forcing input (its logging).
    assert [c.name for c in changes.replaced] == [
        "platform-prod-pipeline-results",
        "platform-prod-pipeline-results-access-logging",
    ]
    assert any("platform-prod-pipeline-results would be REPLACED" in d for d in changes.stateful)


def test_a_resource_moved_under_an_alias_is_the_same_resource_to_the_diff() -> None:
    # The engine compares a resource registered under a new URN with the state of the URN its
    # alias names: no removal, no addition, no stateful loss.
    old = "urn:pulumi:prod::platform::platform:service:Service$aws:ecr/repository:Repository::r"
    new = "urn:pulumi:prod::platform::platform:service:EcsService$aws:ecr/repository:Repository::r"
    resource = {"type": "aws:ecr/repository:Repository", "name": "r", "inputs": {"a": 1}}
    earlier = {"stack": "prod", "resources": [{**resource, "urn": old}]}
    moved = {"stack": "prod", "resources": [{**resource, "urn": new, "aliases": [old]}]}
    changes = diff(moved, earlier)
    assert (changes.added, changes.removed, changes.changed, changes.losses) == ([], [], [], [])
    renamed = diff({"stack": "prod", "resources": [{**resource, "urn": new}]}, earlier)
    assert [loss.how for loss in renamed.losses] == ["renamed"]


def test_todays_plan_and_a_plan_after_the_services_map_differ_by_nothing_stateful() -> None:
    # prod's resources as recorded before the services map (tests/stacks/service_urns.json) are
    # all found in today's plan, directly or through an alias.
    before = json.loads(Path("tests/stacks/service_urns.json").read_text())["prod"]
    current = build_plan("prod", stack_run("prod"), [], load_prices())
    known = {r["urn"] for r in current["resources"]} | {
        alias for r in current["resources"] for alias in r["aliases"]
    }
    assert sorted(set(before) - known) == []
