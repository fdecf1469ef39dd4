"""The workflows as GitHub runs them: which jobs run for which event, in which environment, and
the OIDC subject each job's token carries (GitHub docs, "OpenID Connect reference", Example
subject claims; "Using OpenID Connect with reusable workflows")."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / ".github" / "workflows"
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@"
# Any ref: a workflow_dispatch can be started on any branch or tag.
ANY_REF = "*"


def load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def workflow_paths() -> list[Path]:
    return sorted(WORKFLOWS_DIR.glob("*.yml"))


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` block as a mapping (YAML 1.1 reads the bare key `on` as True)."""
    found = workflow.get("on", workflow.get(True))
    if isinstance(found, str):
        return {found: None}
    if isinstance(found, list):
        return dict.fromkeys(found)
    assert isinstance(found, dict)
    return found


@dataclass(frozen=True)
class JobRun:
    """One job as it runs for one event and one matrix/input value."""

    workflow: str
    job: str
    event: str
    refs: tuple[str, ...]  # the refs the event runs on, refs/heads/... or refs/tags/... (ANY_REF)
    values: dict[str, str]  # `matrix.stack` / `inputs.stack` -> value
    definition: dict[str, Any]

    def substitute(self, text: str) -> str:
        """`text` with `${{ matrix.X }}` / `${{ inputs.X }}` replaced by this run's values."""
        for key, value in self.values.items():
            text = re.sub(r"\$\{\{\s*" + re.escape(key) + r"\s*\}\}", value, text)
        return text

    @property
    def environment(self) -> str | None:
        env = self.definition.get("environment")
        if isinstance(env, dict):
            env = env.get("name")
        return None if env is None else self.substitute(str(env))

    def subjects(self, repository: str) -> list[str]:
        """The `sub` claims the job's tokens carry: the environment when the job names one
        (whatever the event), else `pull_request` for pull request events, else the ref (a
        branch's refs/heads/..., a tag push's refs/tags/...)."""
        prefix = f"repo:{repository}"
        if self.environment is not None:
            return [f"{prefix}:environment:{self.environment}"]
        if self.event == "pull_request":
            return [f"{prefix}:pull_request"]
        return [f"{prefix}:ref:{ref}" for ref in self.refs]

    def credential_steps(self) -> list[dict[str, Any]]:
        return [
            step
            for step in self.definition.get("steps", [])
            if str(step.get("uses", "")).startswith(CREDENTIALS_ACTION)
        ]


def _refs(event: str, config: Any) -> tuple[str, ...]:
    if event == "push":
        filters = config or {}
        refs = [f"refs/heads/{b}" for b in filters.get("branches") or []]
        refs += [f"refs/tags/{t}" for t in filters.get("tags") or []]
        return tuple(refs) or (ANY_REF,)
    if event == "schedule":
        return ("refs/heads/main",)  # scheduled runs use the default branch's workflow
    return (ANY_REF,)


def _matrix_values(job: dict[str, Any]) -> list[dict[str, str]]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    keys = [k for k in matrix if k not in ("include", "exclude")]
    combos = itertools.product(*(matrix[k] for k in keys))
    return [{f"matrix.{k}": str(v) for k, v in zip(keys, combo, strict=True)} for combo in combos]


def _called(job: dict[str, Any]) -> str | None:
    uses = str(job.get("uses", ""))
    return uses.removeprefix("./.github/workflows/") if uses.startswith("./") else None


# Conditions a job's `if:` pins (joined by &&): the event, the ref.
_EVENT_IS = re.compile(r"github\.event_name\s*==\s*'([^']+)'")
_REF_IS = re.compile(r"github\.ref\s*==\s*'([^']+)'")


def _both(refs: tuple[str, ...], others: tuple[str, ...]) -> tuple[str, ...]:
    """The refs in both (ANY_REF: every ref)."""
    if ANY_REF in refs:
        return others
    if ANY_REF in others:
        return refs
    return tuple(r for r in refs if r in others)


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _reached(jobs: dict[str, Any], event: str, refs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """job -> the refs it runs on for `event`, for the jobs that run at all: a job whose `if:`
    pins another event never runs; one that pins a ref runs on that ref only; a job runs on no
    more refs than the jobs it needs (a skipped need skips it, unless its `if:` says always())."""
    reached: dict[str, tuple[str, ...]] = {}
    pending = list(jobs)
    while pending:
        name = next(n for n in pending if all(need not in pending for need in _needs(jobs[n])))
        pending.remove(name)
        job = jobs[name]
        condition = str(job.get("if", ""))
        # Only conjunctions are read: an `||` around an event or ref test would need a real parser.
        assert "||" not in condition or not (_EVENT_IS.search(condition) or _REF_IS.search(condition)), condition  # fmt: skip
        mine = refs
        if (event_is := _EVENT_IS.search(condition)) and event_is.group(1) != event:
            continue
        if ref_is := _REF_IS.search(condition):
            mine = _both(mine, (ref_is.group(1),))
        if "always()" not in condition:
            for need in _needs(job):
                mine = _both(mine, reached.get(need, ()))
        if mine:
            reached[name] = mine
    return reached


def job_runs() -> Iterator[JobRun]:
    """Every job of every workflow under every event that starts it, on the refs it can run on;
    a reusable workflow's jobs under each caller's events and inputs (its token carries the
    caller's context)."""
    workflows = {path.name: load(path) for path in workflow_paths()}
    for name, workflow in workflows.items():
        for event, config in triggers(workflow).items():
            if event == "workflow_call":
                continue
            for job_name, refs in _reached(workflow["jobs"], event, _refs(event, config)).items():
                job = workflow["jobs"][job_name]
                for values in _matrix_values(job) or [{}]:
                    called = _called(job)
                    if called is None:
                        yield JobRun(name, job_name, event, refs, values, job)
                        continue
                    inputs = {
                        f"inputs.{k}": JobRun(name, job_name, event, (), values, job).substitute(
                            str(v)
                        )
                        for k, v in (job.get("with") or {}).items()
                    }
                    inner_jobs = workflows[called]["jobs"]
                    for inner_name, inner_refs in _reached(inner_jobs, event, refs).items():
                        yield JobRun(
                            f"{name} -> {called}",
                            f"{job_name}/{inner_name}",
                            event,
                            inner_refs,
                            inputs,
                            inner_jobs[inner_name],
                        )
