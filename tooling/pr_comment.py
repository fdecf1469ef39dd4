"""The pull request comment: what a change does to one stack, read from two offline plans.

    python -m tooling.pr_comment --stack STACK --base BASE.json --head HEAD.json
        [--preview-outcome success|failure|skipped] [--preview-log FILE]

BASE.json and HEAD.json are `python -m tooling.plan STACK --json` of the base branch and of the
pull request. Prints Markdown whose first line is the hidden marker `<!-- platform-plan:STACK -->`
(CI finds the comment to update by it): resources added, removed and replaced, stateful ones first
(tooling/plan.py's replacement-aware diff), the monthly cost per component, the policy verdicts,
and the outcome of `pulumi preview`, with the end of its log. A missing or unreadable base plan
(the base branch does not plan) is said, and the head is shown alone; an unreadable head plan is an
error: exit 2 with one line.

Everything in a plan comes from the pull request's code, so every value is written as literal
text: it can add no markup, HTML, link, mention or issue reference to the comment.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.plan import Change, PlanDiff, PlanFileError, diff, load_replacements, read_plan

# GitHub refuses a longer comment body: "Body is too long (maximum is 65536 characters)" (REST
# API, 422 on create/update an issue comment). Reports differ on whether it counts characters or
# UTF-8 bytes / 4 (dead-claudia/github-limits PR 13); 65536 characters satisfies both.
MAX_BODY = 65536
# Pulumi stack names: letters, digits, `-`, `_` and `.` (the marker must stay one HTML comment).
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_LOG_BYTES = 64 * 1024
_LOG_LINES = 120
# Renderings from the whole comment down to the summary: list entries shown per list, and
# characters of the preview log.
_BUDGETS: tuple[tuple[int | None, int], ...] = (
    (None, 12_000),
    (200, 8_000),
    (50, 4_000),
    (10, 2_000),
    (3, 0),
)


class CommentError(Exception):
    """The comment cannot be written (a bad stack name or head plan): one line saying why."""


# --- literal text -----------------------------------------------------------------------------

_ZWSP = "\u200b"
# After `@` (mentions, e-mail autolinks), `#` (issue references), the `:` of `://` and `www`
# (autolinked URLs), a zero-width space keeps GitHub from linking: its reference and mention
# filters and the autolink extension need these characters adjacent (Renovate's sanitizeMarkdown
# does the same for `@` and `#`).
_LINKABLE = re.compile(r"[@#]|:(?=//)|(?<![A-Za-z0-9])www(?=\.)", re.IGNORECASE)
# Every ASCII punctuation character may be backslash-escaped (CommonMark 0.31, "Backslash
# escapes"), which makes it literal: no emphasis, link, HTML, entity, table cell or math.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _clean(value: object, limit: int) -> str:
    """One line of at most `limit` characters: control and format characters (newlines,
    bidirectional overrides, zero-width ones) become spaces."""
    raw = str(value)[: limit * 2]
    flat = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} else ch for ch in raw
    )
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"


def _defuse(text: str) -> str:
    return _LINKABLE.sub(lambda m: m.group(0) + _ZWSP, text)


def text(value: object, limit: int = 300) -> str:
    """`value` as literal Markdown text on one line."""
    return _PUNCTUATION.sub(r"\\\1", _defuse(_clean(value, limit)))


def _longest_backticks(content: str) -> int:
    return max((len(run) for run in re.findall(r"`+", content)), default=0)


def code(value: object, limit: int = 200) -> str:
    """`value` as an inline code span: literal, whatever backticks it holds (the fence is longer
    than any run of them; CommonMark strips the one padding space on each side)."""
    content = _defuse(_clean(value, limit))
    fence = "`" * (_longest_backticks(content) + 1)
    if content.startswith("`") or content.endswith("`"):
        content = f" {content} "
    return f"{fence}{content}{fence}"


def code_block(content: str) -> list[str]:
    """A fenced block no line of `content` can close (its fence is longer than any run of
    backticks in it)."""
    fence = "`" * max(3, _longest_backticks(content) + 1)
    return [f"{fence}text", *_defuse(content).splitlines(), fence]


# --- what the comment reads from a plan -------------------------------------------------------


@dataclass(frozen=True)
class PlanVerdict:
    policy: str
    level: str
    resource: str
    message: str

    @property
    def mandatory(self) -> bool:
        return self.level == "mandatory"


@dataclass(frozen=True)
class StackPlan:
    """A plan written by `tooling.plan --json`, as the comment reads it."""

    document: Mapping[str, Any]
    verdicts: tuple[PlanVerdict, ...]
    costs: Mapping[str, float]
    total: float
    currency: str
    unpriced: frozenset[str]

    @property
    def resources(self) -> dict[str, Mapping[str, Any]]:
        return {r["urn"]: r for r in self.document["resources"]}


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _verdicts(value: object) -> tuple[PlanVerdict, ...] | None:
    keys = ("policy", "level", "resource", "message")
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and all(isinstance(v.get(k), str) for k in keys) for v in value
    ):
        return None
    return tuple(PlanVerdict(*(v[k] for k in keys)) for v in value)


def load_plan(path: Path, stack: str) -> StackPlan:
    """The plan of `stack` in `path`, or PlanFileError saying in one line why it cannot be used."""
    document = read_plan(path, stack)
    verdicts = _verdicts(document.get("verdicts"))
    costs = document.get("costByComponent")
    prices = document.get("prices")
    unpriced = document.get("unpriced")
    if verdicts is None:
        problem = "no 'verdicts' list of policy, level, resource and message"
    elif not isinstance(costs, dict) or not all(_finite(v) for v in costs.values()):
        problem = "no 'costByComponent' of numbers"
    elif not _finite(document.get("monthlyTotal")):
        problem = "no 'monthlyTotal' number"
    elif not isinstance(prices, dict) or not isinstance(prices.get("currency"), str):
        problem = "no 'prices' with a currency"
    elif not isinstance(unpriced, list) or not all(isinstance(t, str) for t in unpriced):
        problem = "no 'unpriced' list"
    else:
        return StackPlan(
            document=document,
            verdicts=verdicts,
            costs={str(k): float(v) for k, v in costs.items()},
            total=float(document["monthlyTotal"]),
            currency=prices["currency"],
            unpriced=frozenset(unpriced),
        )
    raise PlanFileError(f"{path} is not a plan ({problem})")


@dataclass(frozen=True)
class Preview:
    """How `pulumi preview` ended (None: not reported) and the end of its log, or why the log
    could not be read."""

    outcome: str | None = None
    log: str | None = None
    log_problem: str | None = None


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def read_log_tail(path: Path, lines: int = _LOG_LINES) -> str:
    """The last `lines` lines of a log (of its last 64 KiB), without colours or control
    characters."""
    with path.open("rb") as log:
        log.seek(0, 2)
        log.seek(max(0, log.tell() - _LOG_BYTES))
        raw = log.read().decode("utf-8", errors="replace")
    plain = _ANSI.sub("", raw.replace("\r\n", "\n"))
    kept = [
        "".join(ch for ch in line if ch == "\t" or unicodedata.category(ch) not in {"Cc", "Cf"})
        for line in plain.split("\n")
    ]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept[-lines:])


# --- the comment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    stack: str
    head: StackPlan
    base: StackPlan | None
    base_problem: str | None
    preview: Preview


@dataclass
class _Budget:
    """How many entries of each list and how much of the log one rendering shows, and what it
    left out."""

    items: int | None
    log_chars: int
    omitted: int = 0
    log_cut: bool = False

    def cap(self, entries: list[str], prefix: str = "") -> list[str]:
        if self.items is None or len(entries) <= self.items:
            return entries
        left = len(entries) - self.items
        self.omitted += left
        return [*entries[: self.items], f"{prefix}- … and {left} more"]


def _short_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] or urn


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def _delta(amount: float) -> str:
    return f"{'+' if amount >= 0 else '-'}{abs(amount):,.2f}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class _Verdicts:
    """The head's verdicts, and against the base which are new and which are resolved."""

    head: tuple[PlanVerdict, ...]
    new: frozenset[PlanVerdict]
    resolved: tuple[PlanVerdict, ...]

    @classmethod
    def of(cls, head: StackPlan, base: StackPlan | None) -> _Verdicts:
        if base is None:
            return cls(head.verdicts, frozenset(), ())
        before, after = set(base.verdicts), set(head.verdicts)
        resolved = tuple(v for v in base.verdicts if v not in after)
        return cls(head.verdicts, frozenset(after - before), resolved)

    def of_level(self, mandatory: bool) -> tuple[list[PlanVerdict], list[PlanVerdict]]:
        current = [v for v in self.head if v.mandatory is mandatory]
        return current, [v for v in self.resolved if v.mandatory is mandatory]


def _verdict_line(verdict: PlanVerdict, mark: str = "") -> str:
    return f"- {mark}{code(verdict.policy, 80)} on {code(_short_name(verdict.resource))}: {text(verdict.message, 500)}"


@dataclass
class _Comment:
    inputs: Inputs
    budget: _Budget
    changes: PlanDiff | None = field(init=False)
    verdicts: _Verdicts = field(init=False)

    def __post_init__(self) -> None:
        base = self.inputs.base
        head = self.inputs.head
        self.changes = diff(head.document, base.document) if base else None
        self.verdicts = _Verdicts.of(head, base)

    # The summary alone must fit in any case: it holds numbers and fixed words only.
    def summary(self) -> list[str]:
        inputs = self.inputs
        mandatory, resolved_mandatory = self.verdicts.of_level(True)
        advisory, resolved_advisory = self.verdicts.of_level(False)
        new_mandatory = sum(v in self.verdicts.new for v in mandatory)
        new_advisory = sum(v in self.verdicts.new for v in advisory)
        losses = len(self.changes.stateful) if self.changes else 0
        blocked = bool(mandatory) or losses > 0 or inputs.preview.outcome == "failure"
        lines = [
            f"<!-- platform-plan:{inputs.stack} -->",
            f"## {'❌' if blocked else '✅'} Plan for stack `{inputs.stack}`",
            "",
        ]
        if inputs.base is None:
            lines.append(
                "- **Base**: ⚠️ the base branch has no plan to compare with, so the head is shown alone."
            )
        policy = f"{'❌ ' if mandatory else ''}{_count(len(mandatory), 'mandatory violation')}"
        advisories = _count(len(advisory), "advisory", "advisories")
        if inputs.base is not None:
            policy += f" ({new_mandatory} new, {len(resolved_mandatory)} resolved)"
            advisories += f" ({new_advisory} new, {len(resolved_advisory)} resolved)"
        lines.append(f"- **Policy**: {policy}; {advisories}")
        lines.append(f"- **Resources**: {self._resource_counts()}")
        lines.append(f"- **Monthly cost**: {self._cost_summary()}")
        if inputs.preview.outcome is not None or inputs.preview.log is not None:
            lines.append(f"- **Preview**: {self._preview_summary()}")
        return lines

    def _resource_counts(self) -> str:
        head = len(self.inputs.head.document["resources"])
        if self.changes is None:
            return f"{head} in the head"
        c = self.changes
        replaced = f"{len(c.replaced)} replaced"
        if c.losses:
            replaced += f" (⚠️ {len(c.losses)} stateful removed or replaced)"
        return f"{len(c.added)} added, {len(c.removed)} removed, {replaced}, {len(c.updated)} updated in place"

    def _cost_summary(self) -> str:
        head, base = self.inputs.head, self.inputs.base
        currency = text(head.currency, 10)
        if base is None:
            return f"{_money(head.total)} {currency} (estimate)"
        return f"{_money(base.total)} → {_money(head.total)} {currency} ({_delta(head.total - base.total)})"

    def _preview_summary(self) -> str:
        outcome = self.inputs.preview.outcome
        said = {
            "success": "✅ `pulumi preview` succeeded",
            "failure": "❌ `pulumi preview` failed: its log ends below",
            "skipped": "⏭️ `pulumi preview` was skipped: this comment rests on the offline plans only",
            None: "`pulumi preview` reported no outcome",
        }
        return said.get(outcome, said[None])

    # --- sections ---------------------------------------------------------------------------

    def sections(self) -> list[list[str]]:
        found = [
            self._base_problem(),
            self._stateful_losses(),
            self._mandatory(),
            self._resources(),
            self._costs(),
            self._advisories(),
            self._log(),
            self._footer(),
        ]
        return [section for section in found if section]

    def _base_problem(self) -> list[str]:
        problem = self.inputs.base_problem
        if self.inputs.base is not None or problem is None:
            return []
        return [f"The base plan could not be read: {text(problem, 400)}"]

    def _stateful_losses(self) -> list[str]:
        if not self.changes or not self.changes.stateful:
            return []
        entries = [
            f"> - {code(loss.type, 80)} {code(loss.name)} would be **{loss.how}**"
            + (f" ({text('; '.join(loss.reasons))})" if loss.reasons else "")
            + f": {text(loss.why)}"
            for loss in self.changes.losses
        ]
        entries += [f"> - {text(refusal)}" for refusal in self.changes.refused]
        return [
            "> [!CAUTION]",
            "> **Data at risk**: these stateful resources would be removed, replaced or changed"
            " without the acknowledgement the plan requires.",
            ">",
            *self.budget.cap(entries, "> "),
        ]

    def _mandatory(self) -> list[str]:
        current, resolved = self.verdicts.of_level(True)
        if not current and not resolved:
            return []
        lines = ["### Mandatory policy violations", ""]
        if current:
            entries = sorted(current, key=lambda v: v not in self.verdicts.new)
            lines += self.budget.cap(
                [_verdict_line(v, "🆕 " if v in self.verdicts.new else "") for v in entries]
            )
        else:
            lines.append("None in the head.")
        if resolved:
            lines += ["", "Resolved by this change:", ""]
            lines += self.budget.cap([_verdict_line(v, "✅ ") for v in resolved])
        return lines

    def _stateful_first(self, urns: Sequence[str], plan: StackPlan) -> list[str]:
        resources = plan.resources
        rules = load_replacements()
        return sorted(urns, key=lambda u: (rules.stateful_reason(resources[u]["type"]) is None, u))

    def _resource_line(self, resource: Mapping[str, Any], why: str = "") -> str:
        stateful = load_replacements().stateful_reason(resource["type"])
        mark = "⚠️ **stateful** " if stateful else ""
        component = resource.get("component")
        where = f" in {text(component, 60)}" if isinstance(component, str) else ""
        return f"- {mark}{code(resource['type'], 80)} {code(resource['name'])}{where}{why}"

    def _resources(self) -> list[str]:
        if self.changes is None:
            return self._head_inventory()
        base, head = self.inputs.base, self.inputs.head
        assert base is not None
        before, now = base.resources, head.resources
        replaced = {c.urn: c for c in self.changes.replaced}
        lines: list[str] = ["### Resources", ""]
        groups: list[tuple[str, list[str]]] = [
            (
                "Replaced",
                [
                    self._resource_line(now[u], f": {text(replaced[u].summary(), 500)}")
                    for u in self._stateful_first(list(replaced), head)
                ],
            ),
            (
                "Removed",
                [
                    self._resource_line(before[u])
                    for u in self._stateful_first(self.changes.removed, base)
                ],
            ),
            (
                "Added",
                [
                    self._resource_line(now[u])
                    for u in self._stateful_first(self.changes.added, head)
                ],
            ),
        ]
        for title, entries in groups:
            if entries:
                lines += [f"**{title}** ({len(entries)})", "", *self.budget.cap(entries), ""]
        updated = self._updated(self.changes.updated, now)
        if updated:
            lines += updated
        if len(lines) == 2:
            lines.append("No resource is added, removed, replaced or updated.")
        return lines

    def _updated(
        self, changes: Sequence[Change], now: Mapping[str, Mapping[str, Any]]
    ) -> list[str]:
        if not changes:
            return []
        entries = [self._resource_line(now[c.urn], f": {text(c.summary(), 500)}") for c in changes]
        return _folded(f"Updated in place ({len(changes)})", self.budget.cap(entries))

    def _head_inventory(self) -> list[str]:
        resources = self.inputs.head.document["resources"]
        counts = Counter(
            r["component"] if isinstance(r.get("component"), str) else "?" for r in resources
        )
        entries = [f"- {text(c, 60)}: {n}" for c, n in sorted(counts.items())]
        return ["### Resources in the head, by component", "", *self.budget.cap(entries)]

    def _costs(self) -> list[str]:
        head, base = self.inputs.head, self.inputs.base
        currency = text(head.currency, 10)
        if base is None:
            rows = [f"| {text(c, 60)} | {_money(v)} |" for c, v in sorted(head.costs.items())]
            return [
                f"### Estimated monthly cost by component ({currency})",
                "",
                "| component | head |",
                "|---|---:|",
                *self.budget.cap(rows),
                f"| **total** | **{_money(head.total)}** |",
            ]
        components = sorted(set(head.costs) | set(base.costs))
        changed = [
            c for c in components if round(head.costs.get(c, 0) - base.costs.get(c, 0), 2) != 0
        ]
        lines = [f"### Monthly cost by component ({currency})", ""]
        if changed:
            rows = [
                f"| {text(c, 60)} | {_money(base.costs.get(c, 0))} | {_money(head.costs.get(c, 0))} "
                f"| {_delta(head.costs.get(c, 0) - base.costs.get(c, 0))} |"
                for c in changed
            ]
            lines += [
                "| component | base | head | change |",
                "|---|---:|---:|---:|",
                *self.budget.cap(rows),
                f"| **total** | **{_money(base.total)}** | **{_money(head.total)}** "
                f"| **{_delta(head.total - base.total)}** |",
            ]
            if unchanged := len(components) - len(changed):
                lines += ["", f"{_count(unchanged, 'other component')} unchanged."]
        else:
            lines.append(f"No change: {_money(head.total)} a month.")
        if newly := sorted(head.unpriced - base.unpriced):
            lines += [
                "",
                "Newly unpriced (free, charged by usage, or missing from the price table):",
                "",
            ]
            lines += self.budget.cap([f"- {code(t, 120)}" for t in newly])
        return lines

    def _advisories(self) -> list[str]:
        current, resolved = self.verdicts.of_level(False)
        if self.inputs.base is None:
            shown = [_verdict_line(v) for v in current]
            title = f"Advisories in the head ({len(current)})"
        else:
            shown = [_verdict_line(v, "🆕 ") for v in current if v in self.verdicts.new]
            shown += [_verdict_line(v, "✅ resolved: ") for v in resolved]
            title = f"Advisories: {len(shown)} new or resolved, {len(current)} in the head"
        if not shown:
            return []
        return _folded(title, self.budget.cap(shown))

    def _log(self) -> list[str]:
        preview = self.inputs.preview
        if preview.log_problem is not None:
            return [f"The preview log could not be read: {text(preview.log_problem, 300)}"]
        if not preview.log:
            return []
        tail = preview.log[-self.budget.log_chars :] if self.budget.log_chars else ""
        if len(tail) < len(preview.log):
            self.budget.log_cut = True
            tail = tail.partition("\n")[2] if "\n" in tail else tail
        if not tail:
            return ["The preview log is left out to fit GitHub's comment size limit."]
        shown = tail.count("\n") + 1
        title = f"End of the preview log ({_count(shown, 'line')})"
        return _folded(title, code_block(tail), unfolded=preview.outcome == "failure")

    def _footer(self) -> list[str]:
        stack = self.inputs.stack
        prices = self.inputs.head.document.get("prices") or {}
        date = prices.get("date") if isinstance(prices, dict) else None
        when = f" of {text(date, 20)}" if isinstance(date, str) else ""
        return [
            "---",
            f"<sub>Offline plans (nothing was sent to AWS; prices{when}); "
            f"`make plan STACK={stack}` shows the whole plan. `pulumi preview` is the last word "
            "before `up`.</sub>",
        ]


def _folded(title: str, lines: list[str], unfolded: bool = False) -> list[str]:
    """`lines` under a `<details>` summary (the blank lines let Markdown render inside it)."""
    opening = "<details open>" if unfolded else "<details>"
    return [opening, f"<summary>{title}</summary>", "", *lines, "", "</details>"]


def _truncation_note(budget: _Budget) -> list[str]:
    left = []
    if budget.omitted:
        left.append(_count(budget.omitted, "list entry", "list entries"))
    if budget.log_cut:
        left.append("the start of the preview log")
    return [
        "> [!NOTE]",
        f"> Shortened to fit GitHub's {MAX_BODY:,}-character comment limit: "
        f"{' and '.join(left)} left out.",
    ]


def render(inputs: Inputs) -> str:
    """The comment, shortened (fewer list entries, less log) until it fits GitHub's limit."""
    for items, log_chars in _BUDGETS:
        budget = _Budget(items, log_chars)
        comment = _Comment(inputs, budget)
        summary, sections = comment.summary(), comment.sections()
        note = _truncation_note(budget) if budget.omitted or budget.log_cut else []
        body = _join([summary, note, *sections])
        if len(body) <= MAX_BODY:
            return body
    summary = _Comment(inputs, _Budget(0, 0)).summary()
    return _join(
        [
            summary,
            [
                "> [!NOTE]",
                f"> The details do not fit GitHub's {MAX_BODY:,}-character comment limit: "
                f"run `make plan STACK={inputs.stack}`.",
            ],
        ]
    )


def _join(blocks: Sequence[Sequence[str]]) -> str:
    return "\n\n".join("\n".join(block) for block in blocks if block) + "\n"


# --- the command ------------------------------------------------------------------------------


def _reason(error: Exception, path: Path) -> str:
    if isinstance(error, OSError):
        return f"cannot read {path}: {error.strerror or error}"
    return str(error)


def gather(
    stack: str,
    base: Path,
    head: Path,
    *,
    outcome: str | None = None,
    log: Path | None = None,
) -> Inputs:
    """Read the plans and the log: CommentError when the stack name or the head is unusable."""
    if not _STACK_NAME.fullmatch(stack):
        raise CommentError(f"{stack!r} is not a stack name (letters, digits, '-', '_', '.')")
    try:
        head_plan = load_plan(head, stack)
    except PlanFileError as error:
        raise CommentError(f"the head plan: {error}") from None
    try:
        base_plan, base_problem = load_plan(base, stack), None
    except PlanFileError as error:
        base_plan, base_problem = None, str(error)
    preview = Preview(outcome=outcome)
    if log is not None:
        try:
            preview = Preview(outcome=outcome, log=read_log_tail(log))
        except OSError as error:
            preview = Preview(outcome=outcome, log_problem=_reason(error, log))
    return Inputs(stack, head_plan, base_plan, base_problem, preview)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.pr_comment",
        description="The pull request comment for one stack, from the base's and the head's plans.",
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--base", type=Path, required=True, help="the base branch's plan (--json)")
    parser.add_argument("--head", type=Path, required=True, help="the pull request's plan (--json)")
    parser.add_argument("--preview-outcome", choices=("success", "failure", "skipped"))
    parser.add_argument("--preview-log", type=Path, help="the output of `pulumi preview`")
    args = parser.parse_args(argv)
    try:
        inputs = gather(
            args.stack, args.base, args.head, outcome=args.preview_outcome, log=args.preview_log
        )
    except CommentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(render(inputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
