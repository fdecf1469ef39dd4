"""The pull request comment, from base and head plans as `python -m tooling.plan --json` writes
them: prod's real plan as the base, and prod with a renamed database, more service tasks and a
stricter backup rule as the head. Every comment is also rendered by cmark-gfm (GitHub's Markdown
library) to check what a reviewer would see."""

from __future__ import annotations

import copy
import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from tests.conftest import rules_of, shared, stack_run
from tooling.offline import stack_config
from tooling.plan import build_plan, load_prices
from tooling.policy_eval import evaluate
from tooling.pr_comment import MAX_BODY, code, main, text

PRICES = load_prices()
MARKER = "<!-- platform-plan:prod -->"
DATABASE_SG = "platform-prod-database-sg"
BACKUPS = "rds-backup-retention"


def _prod_overrides(**changes: dict[str, object]) -> dict[str, str]:
    config = stack_config("prod")
    return {
        f"platform:{section}": json.dumps({**json.loads(config[f"platform:{section}"]), **values})
        for section, values in changes.items()
    }


@cache
def base_text() -> str:
    """prod's plan, with the verdicts of the backup rule at prod's own level and 30 days."""
    return shared(_base_text, "pr_comment", "base")


@cache
def head_text() -> str:
    """prod with another database name (replaces the cluster and its instances), five service
    tasks instead of three (costs more), and the backup rule raised to 35 days (one new
    mandatory violation); the database's security group gets a new description (replaced, holds
    no data, and sorts before the cluster)."""
    return shared(_head_text, "pr_comment", "head")


def _base_text() -> str:
    run = stack_run("prod")
    verdicts = evaluate(run, rules_of("prod", BACKUPS))
    return json.dumps(build_plan("prod", run, verdicts, PRICES), sort_keys=True)


def _head_text() -> str:
    overrides = _prod_overrides(
        database={"databaseName": "orders"}, service={"desiredTasks": 5, "maxTasks": 12}
    )
    run = stack_run("prod", overrides=overrides)
    verdicts = evaluate(run, rules_of("prod", BACKUPS, minDays=35))
    plan = build_plan("prod", run, verdicts, PRICES)
    [group] = [r for r in plan["resources"] if r["name"] == DATABASE_SG]
    group["inputs"]["description"] = "database clients"
    return json.dumps(plan, sort_keys=True)


def plan_of(source: str) -> dict[str, Any]:
    return json.loads(source)


def comment(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    head: dict[str, Any] | None = None,
    base: dict[str, Any] | str | None = None,
    *options: str,
) -> str:
    """The comment for `head` against `base` (defaults: the head and base above; a string is
    written as the base file's text); checks the exit code, the marker and the size."""
    base_file, head_file = tmp_path / "base.json", tmp_path / "head.json"
    base_file.write_text(
        base if isinstance(base, str) else json.dumps(base or plan_of(base_text()))
    )
    head_file.write_text(json.dumps(head or plan_of(head_text())))
    argv = ["--stack", "prod", "--base", str(base_file), "--head", str(head_file), *options]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == MARKER
    assert len(out) <= MAX_BODY
    return out


def rendered(markdown: str) -> str:
    """The HTML cmark-gfm makes of the comment, raw HTML kept (GitHub then sanitizes it)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def section(markdown: str, title: str) -> str:
    """The lines from `### title` to the next heading."""
    return markdown.split(f"### {title}", 1)[1].split("\n### ", 1)[0]


def test_stateful_replacement_is_called_out_and_listed_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = comment(tmp_path, capsys)
    caution = out.index("> [!CAUTION]")
    assert caution < out.index("### Resources")
    assert (
        "> - `aws:rds/cluster:Cluster` `platform-prod-database-cluster` would be **replaced**"
        in out
    )
    replaced = section(out, "Resources").split("**Replaced**", 1)[1].split("\n\n", 2)[1]
    names = re.findall(r"^- .*?`(platform-prod-[^`]+)`", replaced, re.M)
    # The security group's URN sorts before the cluster's; the stateful ones come first anyway.
    assert names == [
        "platform-prod-database-cluster",
        "platform-prod-database-1",
        "platform-prod-database-2",
        "platform-prod-database-3",
        DATABASE_SG,
    ]
    assert replaced.splitlines()[0].startswith("- ⚠️ **stateful** `aws:rds/cluster:Cluster`")
    assert "**Resources**: 0 added, 0 removed, 5 replaced (⚠️ 4 stateful" in out


def test_an_unacknowledged_major_upgrade_is_called_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The plan refuses it (exit 1 on --diff); the comment says so in the caution block.
    base = plan_of(base_text())
    head = copy.deepcopy(base)
    [cluster] = [r for r in head["resources"] if r["type"] == "aws:rds/cluster:Cluster"]
    cluster["inputs"]["engineVersion"] = "17"
    out = comment(tmp_path, capsys, head, base)
    assert out.splitlines()[1].startswith("## ❌")
    caution = out.split("> [!CAUTION]", 1)[1].split("\n\n", 1)[0]
    assert "major version 16" in caution
    assert "allowMajorVersionUpgrade" in caution


def test_cost_change_is_shown_per_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = plan_of(base_text()), plan_of(head_text())
    before, after = base["costByComponent"]["service"], head["costByComponent"]["service"]
    assert after > before
    out = comment(tmp_path, capsys)
    costs = section(out, "Monthly cost by component (USD)")
    assert f"| service | {before:,.2f} | {after:,.2f} | +{after - before:,.2f} |" in costs
    total = head["monthlyTotal"] - base["monthlyTotal"]
    assert f"| **total** | **{base['monthlyTotal']:,.2f}** | **{head['monthlyTotal']:,.2f}** | **+{total:,.2f}** |" in costs  # fmt: skip
    assert f"{len(base['costByComponent']) - 1} other components unchanged." in costs
    assert "| database |" not in costs


def test_new_mandatory_violation_comes_before_the_resources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = plan_of(head_text())
    [violation] = [v for v in head["verdicts"] if v["level"] == "mandatory"]
    out = comment(tmp_path, capsys)
    assert "- **Policy**: ❌ 1 mandatory violation (1 new, 0 resolved)" in out
    assert out.index("### Mandatory policy violations") < out.index("### Resources")
    entry = (
        f"- 🆕 `{BACKUPS}` on `platform-prod-database-cluster`: {text(violation['message'], 500)}"
    )
    assert entry in section(out, "Mandatory policy violations")
    assert out.splitlines()[1].startswith("## ❌")


def test_resolved_violation_is_listed_as_resolved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = comment(tmp_path, capsys, plan_of(base_text()), plan_of(head_text()))
    violations = section(out, "Mandatory policy violations")
    assert "None in the head." in violations
    assert f"- ✅ `{BACKUPS}` on `platform-prod-database-cluster`" in violations


def test_unchanged_plan_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = comment(tmp_path, capsys, plan_of(base_text()), plan_of(base_text()))
    assert out.splitlines()[1] == "## ✅ Plan for stack `prod`"
    assert "No resource is added, removed, replaced or updated." in out
    assert "No change: " in out
    assert "Mandatory policy violations" not in out and "CAUTION" not in out


def test_failed_preview_still_comments_with_the_end_of_its_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "preview.log"
    lines = [f"\x1b[1m step {i}\x1b[0m" for i in range(1000)]
    lines += ["\x1b[31merror:\x1b[0m ```` a fence that must not close the block", "@octocat"]
    log.write_text("\n".join(lines) + "\n")
    out = comment(
        tmp_path, capsys, None, None, "--preview-outcome", "failure", "--preview-log", str(log)
    )
    assert "- **Preview**: ❌ `pulumi preview` failed" in out
    assert "<summary>End of the preview log (120 lines)</summary>" in out
    assert "`````text\n step 882\n" in out
    assert "step 881\n" not in out and "\x1b" not in out
    assert "\nerror: ```` a fence that must not close the block\n@\u200boctocat\n`````\n" in out
    page = rendered(out)
    assert '<pre lang="text"><code> step 882\n' in page
    assert page.count("<details") == page.count("</details>")


def test_skipped_preview_and_unreadable_log_are_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nosuch.log"
    out = comment(
        tmp_path, capsys, None, None, "--preview-outcome", "skipped", "--preview-log", str(missing)
    )
    assert "- **Preview**: ⏭️ `pulumi preview` was skipped" in out
    assert f"The preview log could not be read: cannot read {text(missing)}" in out


@pytest.mark.parametrize(
    "base, problem",
    [(None, "No such file or directory"), ("", "is not JSON"), ('{"stack": "dev", "resources": []}', "is the plan of stack 'dev', not 'prod'")],
    ids=["missing", "empty", "other-stack"],
)  # fmt: skip
def test_unusable_base_shows_the_head_alone(
    base: str | None, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_file, head_file = tmp_path / "base.json", tmp_path / "head.json"
    if base is not None:
        base_file.write_text(base)
    head = plan_of(head_text())
    head_file.write_text(json.dumps(head))
    argv = ["--stack", "prod", "--base", str(base_file), "--head", str(head_file)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == MARKER
    assert "- **Base**: ⚠️ the base branch has no plan to compare with" in out
    assert text(problem) in out.split("The base plan could not be read: ", 1)[1].split("\n")[0]
    assert "- **Policy**: ❌ 1 mandatory violation; 0 advisories" in out
    assert f"- **Resources**: {len(head['resources'])} in the head" in out
    costs = section(out, "Estimated monthly cost by component (USD)")
    assert f"| service | {head['costByComponent']['service']:,.2f} |" in costs
    assert f"| **total** | **{head['monthlyTotal']:,.2f}** |" in costs
    assert "CAUTION" not in out


@pytest.mark.parametrize(
    "head, message",
    [
        (None, "cannot read the earlier plan"),
        ("{not json", "is not JSON"),
        ('{"stack": "prod", "resources": []}', "is not a plan (no 'verdicts' list"),
    ],
    ids=["missing", "not-json", "no-verdicts"],
)
def test_unreadable_head_is_a_one_line_error(
    head: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_file, head_file = tmp_path / "base.json", tmp_path / "head.json"
    base_file.write_text(base_text())
    if head is not None:
        head_file.write_text(head)
    argv = ["--stack", "prod", "--base", str(base_file), "--head", str(head_file)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: the head plan: ") and message in err
    assert err.count("\n") == 1


def test_a_stack_name_that_could_end_the_marker_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--stack", "x-->", "--base", str(tmp_path / "b"), "--head", str(tmp_path / "h")]
    assert main(argv) == 2
    assert (
        capsys.readouterr().err
        == "error: 'x-->' is not a stack name (letters, digits, '-', '_', '.')\n"
    )


def _with_added_bucket(plan: dict[str, Any], name: str, i: int = 0) -> dict[str, Any]:
    """A copy of prod's first bucket under another name, as the plan lists resources."""
    [bucket, *_] = [r for r in plan["resources"] if r["type"] == "aws:s3/bucket:Bucket"]
    added = copy.deepcopy(bucket)
    added["name"] = name
    added["urn"] = f"{bucket['urn'].rsplit('::', 1)[0]}::{name}-{i}"
    plan["resources"].append(added)
    return added


HOSTILE = "<img src=x onerror=alert(1)> [click](https://evil.example) @octocat #1 **bold** | ` $x$"


def test_values_from_the_pull_request_are_literal_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = plan_of(head_text())
    added = _with_added_bucket(head, HOSTILE)
    head["verdicts"].append({**head["verdicts"][0], "resource": added["urn"], "message": HOSTILE})
    head["costByComponent"][HOSTILE] = 1.0
    page = rendered(comment(tmp_path, capsys, head))
    assert "<img" not in page and "<a " not in page and "<strong>bold" not in page
    visible = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert not re.search(r"@[A-Za-z0-9]|#\d|https?://", visible)
    assert HOSTILE.replace("@", "@\u200b").replace("#", "#\u200b").replace("https:", "https:\u200b") in visible  # fmt: skip


@pytest.mark.parametrize(
    "value",
    ["plain", "a`b", "`edge`", "`` two ``", "``", "x|y", "</code><b>"],
)
def test_code_spans_hold_any_value_literally(value: str) -> None:
    page = rendered(f"- {code(value)}")
    assert page == f"<ul>\n<li><code>{html.escape(value, quote=False)}</code></li>\n</ul>\n"


def test_a_comment_too_long_for_github_is_shortened_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = plan_of(head_text())
    for i in range(1500):
        _with_added_bucket(head, f"platform-prod-bucket-{i:04d}-" + "x" * 60, i)
    log = tmp_path / "preview.log"
    log.write_text("\n".join("y" * 400 for _ in range(200)))
    out = comment(
        tmp_path, capsys, head, None, "--preview-outcome", "failure", "--preview-log", str(log)
    )
    assert "> Shortened to fit GitHub's 65,536-character comment limit:" in out
    assert re.search(r"\d+ list entries and the start of the preview log left out", out)
    assert "**Added** (1500)" in out and "- … and " in out
    # What matters most survives: the summary, the stateful replacement and the violation.
    assert "> - `aws:rds/cluster:Cluster` `platform-prod-database-cluster`" in out
    assert f"- 🆕 `{BACKUPS}`" in out
    page = rendered(out)
    assert page.count("<details") == page.count("</details>")
