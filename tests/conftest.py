"""The one shared fixture: offline runs of the program, or of single components, under mocks."""

from __future__ import annotations

import fcntl
import hashlib
import json
import pickle
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from components.common import StackContext
from components.settings import Settings, decode_values, parse_settings
from tooling import provider_check
from tooling.offline import (
    ACCOUNT_ID,
    OfflineRun,
    Resource,
    run_offline,
    run_stack,
    stack_config,
)
from tooling.policy_eval import Verdict, evaluate, level_of, rule_config, stack_policy_config

if TYPE_CHECKING:
    from xdist.workermanage import WorkerController

STACKS = ("dev", "staging", "prod")


def settings_for(stack: str, overrides: Mapping[str, str] | None = None) -> Settings:
    """A stack's real settings, with `platform:` overrides (string values, objects as JSON)."""
    config = {**stack_config(stack), **(overrides or {})}
    platform = {
        k.removeprefix("platform:"): v for k, v in config.items() if k.startswith("platform:")
    }
    return parse_settings(
        project="platform",
        stack=stack,
        region=config.get("aws:region"),
        raw=decode_values(platform),
    )


def context_for(settings: Settings) -> StackContext:
    return StackContext(
        project=settings.project,
        stack=settings.stack,
        account_id=ACCOUNT_ID,
        partition="aws",
        region=settings.region,
        log_retention_days=settings.config.log_retention_days,
        protect_data=settings.config.protect_data,
    )


@dataclass(frozen=True)
class Offline:
    """Runs the program or a component in a fresh mocked Pulumi runtime each time."""

    def stack(self, name: str, overrides: Mapping[str, str] | None = None) -> OfflineRun:
        return run_stack(name, overrides=overrides)

    def component(
        self,
        build: Callable[[Settings, StackContext], object],
        stack: str = "prod",
        overrides: Mapping[str, str] | None = None,
    ) -> OfflineRun:
        settings = settings_for(stack, overrides)
        config = {**stack_config(stack), **(overrides or {})}
        return run_offline(
            lambda: build(settings, context_for(settings)), stack=stack, config=config
        )


@pytest.fixture
def offline() -> Offline:
    return Offline()


# --- runs shared by the whole session, across pytest-xdist workers --------------------------------
# `make unit` runs the tests in two worker processes. A shared run is computed once per session:
# the first worker that needs it pickles it into a directory the controller made, and the other
# loads it (under a lock per run, so it waits rather than computing the same run again).
T = TypeVar("T")
_SHARED_DIR: dict[str, Path] = {}


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, str] | None = getattr(config, "workerinput", None)
    if workerinput and "shared_runs" in workerinput:
        _SHARED_DIR["workers"] = Path(workerinput["shared_runs"])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: WorkerController) -> None:
    """pytest-xdist's controller hands each worker the session's directory of shared runs."""
    if "controller" not in _SHARED_DIR:
        _SHARED_DIR["controller"] = Path(tempfile.mkdtemp(prefix="shared-runs-"))
    node.workerinput["shared_runs"] = str(_SHARED_DIR["controller"])


def pytest_unconfigure(config: pytest.Config) -> None:
    if "controller" in _SHARED_DIR:
        shutil.rmtree(_SHARED_DIR.pop("controller"), ignore_errors=True)


def shared(compute: Callable[[], T], *key: object) -> T:
    """`compute()`, once per session for `key` (plain values) whichever worker asks first; the
    caller caches it in its own process."""
    directory = _SHARED_DIR.get("workers")
    if directory is None:
        return compute()
    path = directory / hashlib.sha256(repr(key).encode()).hexdigest()
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            loaded: T = pickle.loads(path.read_bytes())
            return loaded
        value = compute()
        path.write_bytes(pickle.dumps(value))
        return value


def stack_run(
    stack: str,
    preview: bool = False,
    overrides: Mapping[str, str] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> OfflineRun:
    """One run of the whole program per stack file, mode, `platform:` overrides and outputs its
    stack references read (`run_stack`'s `stack_outputs`), shared by the read-only tests of the
    whole session (each run has its own runtime; nothing may change what it returns)."""
    # functools.cache keys on the arguments as passed: stack_run("dev"), stack_run("dev", False)
    # and stack_run("dev", preview=False) would be three runs.
    outputs = json.dumps(stack_outputs or {}, sort_keys=True)
    return _stack_run(stack, preview, tuple(sorted((overrides or {}).items())), outputs)


@cache
def _stack_run(
    stack: str, preview: bool, overrides: tuple[tuple[str, str], ...], outputs: str
) -> OfflineRun:
    return shared(
        lambda: run_stack(
            stack, overrides=dict(overrides), preview=preview, stack_outputs=json.loads(outputs)
        ),
        "stack_run",
        stack,
        preview,
        overrides,
        outputs,
    )


def component_run(
    build: Callable[[Settings, StackContext], object],
    stack: str,
    overrides: Mapping[str, str] | None = None,
) -> OfflineRun:
    """One run of a test module's component `build` (a module-level function) per stack and
    overrides, shared by the read-only tests of the whole session like `stack_run`."""
    return _component_run(build, stack, tuple(sorted((overrides or {}).items())))


@cache
def _component_run(
    build: Callable[[Settings, StackContext], object],
    stack: str,
    overrides: tuple[tuple[str, str], ...],
) -> OfflineRun:
    return shared(
        lambda: Offline().component(build, stack, dict(overrides)),
        "component_run",
        build.__module__,
        build.__qualname__,
        stack,
        overrides,
    )


# The optional tiers: config section -> component (the `<project>-<stack>-<component>` prefix of
# its resources). Network, notifications and observability always exist.
TIERS = {
    "service": "service",
    "pipeline": "pipeline",
    "database": "database",
    "kubernetes": "kubernetes",
    "staticSite": "static-site",
    "messaging": "messaging",
    "cache": "cache",
}


def tiers_off(stack: str, *tiers: str) -> dict[str, str]:
    """Overrides of the stack's own file that turn `tiers` off. The site stops routing /api/*
    when the service is off, and the EKS workloads go when the pipeline or the database does, the
    service's migration when the database does (settings refuse them otherwise)."""
    config = stack_config(stack)
    sections: dict[str, dict[str, object]] = {tier: {"enabled": False} for tier in tiers}
    if "service" in tiers and "staticSite" not in tiers:
        sections["staticSite"] = {"apiOrigin": False}
    # Workloads reach the pipeline and the database (settings refuse them when those are off).
    if {"pipeline", "database"} & set(tiers) and "kubernetes" not in tiers:
        sections["kubernetes"] = {"workloads": {}}
    # A migration needs the database (settings refuse it otherwise).
    if "database" in tiers and "service" not in tiers:
        sections["service"] = {"migration": None}
    return {
        f"platform:{key}": json.dumps({**json.loads(config.get(f"platform:{key}", "{}")), **values})
        for key, values in sections.items()
    }


def tiers_off_run(stack: str, tiers: tuple[str, ...], preview: bool = False) -> OfflineRun:
    """One shared run of a stack with `tiers` off (like `stack_run`, read-only)."""
    return stack_run(stack, preview, tiers_off(stack, *tiers))


def stack_verdicts(stack: str, preview: bool = False) -> tuple[Verdict, ...]:
    """The policy pack's verdicts on a shared stack run with the stack's own policy config."""
    return _stack_verdicts(stack, preview)


@cache
def _stack_verdicts(stack: str, preview: bool) -> tuple[Verdict, ...]:
    return shared(
        lambda: tuple(evaluate(stack_run(stack, preview), stack_policy_config(stack))),
        "stack_verdicts",
        stack,
        preview,
    )


def rules_of(stack: str, *rules: str, **settings: object) -> dict[str, object]:
    """The stack's policy config with every rule but `rules` off (each at the stack's level and
    with its settings, `settings` overriding them): the same verdicts for those rules, faster."""
    config = stack_policy_config(stack)
    kept: dict[str, object] = {"all": "disabled"}
    for rule in rules:
        entry = {"enforcementLevel": level_of(rule, config), **rule_config(rule, config)}
        kept[rule] = {**entry, **settings}
    return kept


def is_taggable(resource: Resource) -> bool:
    """Whether the AWS resource type carries tags (pulumi-aws computes its tagsAll)."""
    return provider_check.is_taggable(resource.type)


def statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of an IAM or key policy given as JSON text or a dict (parsed JSON: Any)."""
    parsed = json.loads(document) if isinstance(document, str) else document
    found = parsed["Statement"]
    assert isinstance(found, list)
    return found
