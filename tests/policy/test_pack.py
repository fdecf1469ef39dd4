"""The whole program, for every stack, through every rule with that stack's policy config."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from components.kubernetes import LOG_TYPES as PROGRAM_LOG_TYPES
from components.settings import KUBERNETES_VERSIONS
from policy.rules import POLICIES
from policy.rules.kubernetes import LOG_TYPES as PACK_LOG_TYPES
from tests.conftest import STACKS
from tooling.offline import OfflineRun, run_stack
from tooling.policy_eval import Verdict, evaluate, level_of, stack_policy_config

NAMES = {policy.name for policy in POLICIES}
LEVELS = {"advisory", "mandatory", "remediate", "disabled"}


@cache
def verdicts(stack: str) -> tuple[Verdict, ...]:
    return tuple(evaluate(run_stack(stack), stack_policy_config(stack)))


@pytest.mark.parametrize("stack", STACKS)
def test_no_mandatory_violation(stack: str) -> None:
    assert [v.message for v in verdicts(stack) if v.level == "mandatory"] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_advisory_is_explained_in_the_readme(stack: str) -> None:
    readme = Path("README.md").read_text()
    for verdict in verdicts(stack):
        assert f"`{verdict.policy}`" in readme, verdict


def test_dev_accepts_exactly_the_destroyable_http_only_and_no_waf_findings() -> None:
    assert {v.policy for v in verdicts("dev")} == {
        "alb-deletion-protection",
        "alb-http-redirects-to-https",
        "cloudfront-waf",
        "rds-deletion-protection",
    }
    assert verdicts("staging") == () and verdicts("prod") == ()


@pytest.mark.parametrize("stack", STACKS)
def test_config_files_name_only_known_rules_and_levels(stack: str) -> None:
    config = stack_policy_config(stack)
    assert set(config) - {"all"} <= NAMES
    for name, entry in config.items():
        level = entry["enforcementLevel"] if isinstance(entry, dict) else entry
        assert level in LEVELS, (name, level)


def test_prod_is_mandatory_and_dev_relaxes_only_non_security_rules() -> None:
    prod, dev = stack_policy_config("prod"), stack_policy_config("dev")
    assert {level_of(n, prod) for n in NAMES - {"ecs-read-only-root"}} == {"mandatory"}
    for name in (
        "s3-tls-only",
        "iam-no-star-on-star",
        "rds-encrypted-with-cmk",
        "no-open-ingress",
        "kms-key-rotation",
    ):
        assert level_of(name, dev) == "mandatory"
    assert level_of("allowed-instance-sizes", dev) == "advisory"


def seeded(stack: str, overrides: dict[str, str]) -> OfflineRun:
    return run_stack(stack, overrides=overrides)


def test_a_seeded_violation_is_reported_at_the_stack_level() -> None:
    # Turning data protection off in prod must trip the mandatory deletion protection rules.
    run = seeded("prod", {"platform:protectData": "false"})
    found = evaluate(run, stack_policy_config("prod"))
    mandatory = {v.policy for v in found if v.level == "mandatory"}
    assert {"rds-deletion-protection", "alb-deletion-protection"} <= mandatory


def test_thresholds_come_from_each_stack_file() -> None:
    run = run_stack("staging")  # keeps 7 days of backups
    strict = {
        **stack_policy_config("staging"),
        "rds-backup-retention": {"enforcementLevel": "mandatory", "minDays": 30},
    }
    found = [v for v in evaluate(run, strict) if v.policy == "rds-backup-retention"]
    assert found and "keeps backups 7 days, fewer than 30" in found[0].message
    assert [
        v
        for v in evaluate(run, stack_policy_config("staging"))
        if v.policy == "rds-backup-retention"
    ] == []


def test_disabled_rules_report_nothing() -> None:
    config = {**stack_policy_config("dev"), "alb-deletion-protection": "disabled"}
    assert "alb-deletion-protection" not in {v.policy for v in evaluate(run_stack("dev"), config)}


def test_policy_config_files_are_plain_json() -> None:
    for stack in STACKS:
        json.loads(Path(f"policy/config.{stack}.json").read_text())


def test_the_packs_eks_lists_match_what_the_program_accepts_and_sets() -> None:
    # The pack is published on its own, so it keeps its own copies of these lists.
    supported = next(p for p in POLICIES if p.name == "eks-supported-version").config_schema
    assert supported is not None
    assert supported.properties["supportedVersions"]["default"] == list(KUBERNETES_VERSIONS)
    assert PACK_LOG_TYPES == PROGRAM_LOG_TYPES
