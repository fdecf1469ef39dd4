"""The one shared fixture: offline runs of the program, or of single components, under mocks."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from components.common import StackContext
from components.settings import Settings, decode_values, parse_settings
from tooling.offline import (
    ACCOUNT_ID,
    OfflineRun,
    Resource,
    run_offline,
    run_stack,
    stack_config,
)

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


@cache
def _resource_class(token: str) -> type | None:
    package, module, name = token.split(":")
    if package != "aws":
        return None
    python_module = module.split("/")[0]
    path = "pulumi_aws" if python_module == "index" else f"pulumi_aws.{python_module}"
    return getattr(importlib.import_module(path), name, None)


def is_taggable(resource: Resource) -> bool:
    """Whether the AWS resource type accepts tags (read from the SDK's own signature)."""
    cls = _resource_class(resource.type)
    if cls is None:
        return False
    return "tags" in inspect.signature(cls._internal_init).parameters


def statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of an IAM or key policy given as JSON text or a dict (parsed JSON: Any)."""
    parsed = json.loads(document) if isinstance(document, str) else document
    found = parsed["Statement"]
    assert isinstance(found, list)
    return found
