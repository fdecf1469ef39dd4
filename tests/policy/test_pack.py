"""The whole program, for every stack, through every rule with that stack's policy config."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from pulumi_policy import StackValidationPolicy

from components.kubernetes import LOG_TYPES as PROGRAM_LOG_TYPES
from components.settings import KUBERNETES_VERSIONS
from policy.rules import POLICIES
from policy.rules.kubernetes import LOG_TYPES as PACK_LOG_TYPES
from tests.conftest import STACKS, rules_of, stack_run, stack_verdicts
from tooling import policy_eval
from tooling.offline import OfflineRun
from tooling.policy_eval import (
    PolicyConfigError,
    Verdict,
    evaluate,
    level_of,
    stack_policy_config,
)

NAMES = {policy.name for policy in POLICIES}
LEVELS = {"advisory", "mandatory", "remediate", "disabled"}


MODES = ("preview", "update")


def verdicts(stack: str, mode: str = "update") -> tuple[Verdict, ...]:
    """The stack's diagnostics as the engine reports them: in a first `pulumi preview` (every new
    resource's computed outputs unknown) or in `pulumi up` (everything known)."""
    return stack_verdicts(stack, preview=mode == "preview")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stack", STACKS)
def test_no_mandatory_violation(stack: str, mode: str) -> None:
    assert [v.message for v in verdicts(stack, mode) if v.level == "mandatory"] == []


@pytest.mark.parametrize("stack", STACKS)
def test_a_preview_registers_the_same_resources_as_an_update(stack: str) -> None:
    preview, update = stack_run(stack, preview=True), stack_run(stack)
    assert sorted(r.urn for r in preview.resources) == sorted(r.urn for r in update.resources)


@pytest.mark.parametrize("stack", STACKS)
def test_a_preview_defers_only_what_is_unknown_and_finds_what_an_update_finds(stack: str) -> None:
    # Rules that read a value computed by another new resource cannot run until the update; the
    # engine reports each as an advisory. Everything else must give the update's verdicts.
    deferred = {v.policy for v in verdicts(stack, "preview") if v.deferred}
    assert all(v.level == "advisory" for v in verdicts(stack, "preview") if v.deferred)
    found = {(v.policy, v.resource) for v in verdicts(stack, "preview") if not v.deferred}
    expected = {(v.policy, v.resource) for v in verdicts(stack) if v.policy not in deferred}
    assert found == expected


@pytest.mark.parametrize("stack", STACKS)
def test_every_advisory_is_explained_in_the_readme(stack: str) -> None:
    readme = Path("README.md").read_text()
    for verdict in verdicts(stack):
        assert f"`{verdict.policy}`" in readme, verdict


def test_dev_accepts_exactly_the_destroyable_http_only_and_no_waf_findings() -> None:
    assert {v.policy for v in verdicts("dev")} == {
        "alb-deletion-protection",
        "alb-http-redirects-to-https",
        "alb-waf",
        "cloudfront-origin-https",
        "cloudfront-waf",
        "rds-deletion-protection",
        "s3-access-logging",
        "mq-multi-az",
        "elasticache-multi-az",
        "elasticache-snapshot-retention",
    }
    assert verdicts("staging") == () and verdicts("prod") == ()


def readme_policy_rows() -> dict[str, list[str]]:
    """The README's policy table: the cells of each rule's row, by rule name."""
    rows: dict[str, list[str]] = {}
    for line in Path("README.md").read_text().splitlines():
        found = re.fullmatch(r"\| `([a-z0-9-]+)` \| (.*) \|", line)
        if found and found.group(1) in NAMES:
            assert found.group(1) not in rows, f"two rows for {found.group(1)}"
            rows[found.group(1)] = [c.strip() for c in found.group(2).split(" | ")]
    return rows


# A control cell: FSBP control IDs of one service family, CIS items, both, or "—" (with a note).
CONTROL_CELL = re.compile(
    r"—( \(.+\))?|(FSBP [A-Za-z0-9]+\.\d+(, [A-Za-z0-9]+\.\d+)*)?(; )?(CIS v\d\.\d\.\d \d+(\.\d+)*)?"
)


def test_the_readme_table_has_one_row_per_rule_with_kind_severity_levels_and_control() -> None:
    rows = readme_policy_rows()
    assert set(rows) == NAMES
    configs = {stack: stack_policy_config(stack) for stack in ("dev", "staging", "prod")}
    for policy in POLICIES:
        kind, severity, dev, staging, prod, control, text = rows[policy.name]
        expected_kind = "stack" if isinstance(policy, StackValidationPolicy) else "resource"
        assert policy.severity is not None, policy.name
        assert (kind, severity) == (expected_kind, policy.severity.value), policy.name
        assert [dev, staging, prod] == [level_of(policy.name, configs[s]) for s in configs]
        assert control and CONTROL_CELL.fullmatch(control), (policy.name, control)
        assert text.endswith("."), policy.name


def test_the_readme_states_the_number_of_rules_the_pack_holds() -> None:
    counts = re.findall(r"CrossGuard pack \((\d+) rules", Path("README.md").read_text())
    assert counts == [str(len(POLICIES))]


def test_the_readme_lists_exactly_the_advisories_dev_accepts() -> None:
    readme = Path("README.md").read_text()
    section = readme.split("Advisory findings accepted today", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^- (.+?):", section, re.M))
    named = {name for entry in listed for name in re.findall(r"`([a-z0-9-]+)`", entry)}
    assert named == {v.policy for v in verdicts("dev")}


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
    # Shared: tests/tooling/test_plan.py's seeded violation is the same run of prod.
    return stack_run(stack, overrides=overrides)


def test_a_seeded_violation_is_reported_at_the_stack_level() -> None:
    # Turning data protection off in prod must trip the mandatory deletion protection rules.
    run = seeded("prod", {"platform:protectData": "false"})
    found = evaluate(run, rules_of("prod", "rds-deletion-protection", "alb-deletion-protection"))
    mandatory = {v.policy for v in found if v.level == "mandatory"}
    assert all(v.resource.startswith("urn:pulumi:prod::platform::") for v in found)
    assert {"rds-deletion-protection", "alb-deletion-protection"} <= mandatory


def test_thresholds_come_from_each_stack_file() -> None:
    run = stack_run("staging")  # keeps 7 days of backups
    strict = rules_of("staging", "rds-backup-retention", minDays=30)
    found = [v for v in evaluate(run, strict) if v.policy == "rds-backup-retention"]
    assert found and "keeps backups 7 days, fewer than 30" in found[0].message
    assert evaluate(run, rules_of("staging", "rds-backup-retention")) == []


def test_disabled_rules_report_nothing() -> None:
    config = {**stack_policy_config("dev"), "alb-deletion-protection": "disabled"}
    assert "alb-deletion-protection" not in {v.policy for v in evaluate(stack_run("dev"), config)}


def test_policy_config_files_are_plain_json() -> None:
    for stack in STACKS:
        json.loads(Path(f"policy/config.{stack}.json").read_text())


def test_the_packs_eks_lists_match_what_the_program_accepts_and_sets() -> None:
    # The pack is published on its own, so it keeps its own copies of these lists.
    supported = next(p for p in POLICIES if p.name == "eks-supported-version").config_schema
    assert supported is not None
    assert supported.properties["supportedVersions"]["default"] == list(KUBERNETES_VERSIONS)
    assert PACK_LOG_TYPES == PROGRAM_LOG_TYPES


def test_the_pack_starts_where_make_install_ran() -> None:
    # Pulumi's Python policy launcher refuses to start unless the virtualenv named in
    # PulumiPolicy.yaml exists (relative to the pack) with the pack's requirements installed.
    runtime = yaml.safe_load(Path("policy/PulumiPolicy.yaml").read_text())["runtime"]
    venv = Path("policy") / runtime["options"]["virtualenv"]
    assert (venv / "pyvenv.cfg").is_file(), f"{venv} is not a virtualenv; run make install"
    wanted = [
        re.split(r"[<>=~!\[ ]", line, maxsplit=1)[0].replace("-", "_")
        for line in Path("policy/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    imports = "; ".join(f"import {name}" for name in wanted)
    subprocess.run([str(venv / "bin" / "python"), "-c", imports], check=True)


def test_a_policy_config_value_of_the_wrong_type_is_refused_as_the_cli_refuses_it() -> None:
    config = {
        **stack_policy_config("staging"),
        "rds-backup-retention": {"enforcementLevel": "mandatory", "minDays": "7"},
        "allowed-instance-sizes": {"allowedPatterns": ["t3.*", 5]},
    }
    with pytest.raises(PolicyConfigError) as error:
        evaluate(stack_run("staging"), config)
    assert "rds-backup-retention.minDays: '7' is not of type integer" in str(error.value)
    assert "allowed-instance-sizes.allowedPatterns[1]: 5 is not of type string" in str(error.value)


def test_leaving_out_rules_of_other_types_changes_no_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The evaluator sends each resource only to the rules whose type list covers it; every rule
    # still sees exactly what the engine sends. With nothing left out, the verdicts are the same.
    fast = stack_verdicts("dev", preview=True)
    monkeypatch.setattr(policy_eval, "APPLIES_TO", {})
    assert tuple(evaluate(stack_run("dev", preview=True), stack_policy_config("dev"))) == fast
