"""Offline plan: inventory, policy verdicts with exit codes, prices from the table, diffs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tooling import plan
from tooling.offline import run_stack
from tooling.plan import build_plan, costs_markdown, diff, estimate, inventory, load_prices, main

PRICES = load_prices()


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
                # regional (load balancer) and CLOUDFRONT (static site)
                "aws:wafv2/webAcl:WebAcl": 2,
            },
        ),
        (
            "prod",
            {
                "aws:rds/clusterInstance:ClusterInstance": 3,
                "aws:ec2/vpcEndpoint:VpcEndpoint": 6,
                "aws:wafv2/webAcl:WebAcl": 2,
            },
        ),
    ],
)
def test_inventory_counts_per_stack(stack: str, counts: dict[str, int]) -> None:
    tree = inventory(run_stack(stack))
    totals = {kind: sum(c[kind] for c in tree.values()) for kind in counts}
    assert totals == counts
    assert {"network", "service", "database", "pipeline", "observability", "notifications"} <= set(
        tree
    )


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
        lambda stack: run_stack(stack, overrides={"platform:protectData": "false"}),
    )
    assert main(["prod"]) == 1
    assert "[mandatory] rds-deletion-protection" in capsys.readouterr().out


def test_missing_stack_file_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qa"]) == 2
    assert "error: no stack file Pulumi.qa.yaml" in capsys.readouterr().err


def test_dev_cost_matches_the_price_table_by_hand() -> None:
    costs, _ = estimate(run_stack("dev"), PRICES)
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
    costs, _ = estimate(run_stack("staging"), PRICES)
    [fargate] = [c for c in costs if c.item.startswith("Fargate")]
    hourly = PRICES["hourly"]
    per_task = 0.5 * hourly["fargateVcpu"] + 1 * hourly["fargateGb"]
    # 2 tasks: base 1 on FARGATE, the other split 1:1 between FARGATE and FARGATE_SPOT
    expected = per_task * (1.5 + 0.5 * hourly["fargateSpotFactor"]) * 730
    assert fargate.monthly == round(expected, 2)


def test_unpriced_types_are_listed() -> None:
    _, unpriced = estimate(run_stack("prod"), PRICES)
    assert "aws:s3/bucket:Bucket" in unpriced
    assert "aws:kms/key:Key" not in unpriced
    assert not any(t.startswith("pulumi:") for t in unpriced)


def test_diff_flags_a_renamed_database() -> None:
    run = run_stack("prod")
    earlier = build_plan("prod", run, [], PRICES)
    now = json.loads(json.dumps(earlier, default=str))
    for resource in now["resources"]:
        if resource["type"] == "aws:rds/cluster:Cluster":
            resource["urn"] = resource["urn"].replace("database-cluster", "db-cluster")
    changes = diff(now, earlier)
    assert len(changes["added"]) == 1 and len(changes["removed"]) == 1
    assert changes["stateful"] == [
        "aws:rds/cluster:Cluster platform-prod-database-cluster would be RENAMED (replaced: its data is lost unless you add an alias)"
    ]


def test_diff_against_itself_is_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--json"]) == 0
    earlier = tmp_path / "dev.json"
    earlier.write_text(capsys.readouterr().out)
    assert main(["dev", "--diff", str(earlier)]) == 0
    assert "Against the earlier plan: +0 -0 ~0" in capsys.readouterr().out


def test_readme_cost_table_comes_from_the_plan() -> None:
    assert costs_markdown(["dev", "staging", "prod"]) in Path("README.md").read_text()
