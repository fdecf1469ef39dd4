"""The bootstrap program's settings (`bootstrap:` keys of its stack), validated in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

import pulumi
import pulumi.runtime.config as runtime_config
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from components.examples import PLACEHOLDER_OWNER
from components.settings import (
    AWS_REGIONS,
    CiRoleSettings,
    Section,
    SettingsError,
    decode_values,
    tag_value,
)

NAMESPACE = "bootstrap"
_STACK = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class BootstrapConfig(Section):
    """Every `bootstrap:` key."""

    owner: Annotated[str, Field(min_length=1), AfterValidator(tag_value)] = Field(
        "platform-team", description="Owner tag on every resource."
    )
    cost_center: Annotated[str, Field(min_length=1), AfterValidator(tag_value)] = Field(
        "unassigned", description="CostCenter tag on every resource."
    )
    platform_project: str = Field(
        "platform", pattern=_STACK.pattern, description="The platform's Pulumi project name."
    )
    stacks: list[str] = Field(
        default_factory=lambda: ["dev", "staging", "prod"],
        min_length=1,
        description="The platform stacks deployed into this account: each gets a secrets key, a "
        "preview role and a deploy role.",
    )
    protected_stacks: list[str] = Field(
        default_factory=lambda: ["staging", "prod"],
        description="The stacks whose pull request previews run in the reviewed GitHub "
        "environment <stack>-preview instead of trusting every pull request: the stacks whose "
        "Pulumi.<stack>.yaml sets platform:protectData true.",
    )
    ci_access: CiRoleSettings = Field(
        default_factory=lambda: CiRoleSettings.model_validate({}),
        description="The roles' settings (repository, session, deploy permissions).",
    )

    @field_validator("stacks")
    @classmethod
    def _stack_names(cls, stacks: list[str]) -> list[str]:
        bad = [s for s in stacks if not _STACK.match(s) or len(s) > 10]
        if bad:
            raise ValueError(
                f"not stack names (lower-case letters, digits, hyphens, at most 10): {bad}"
            )
        if len(set(stacks)) != len(stacks):
            raise ValueError("a stack is listed twice")
        return stacks

    @model_validator(mode="after")
    def _protected_are_stacks(self) -> BootstrapConfig:
        if unknown := [s for s in self.protected_stacks if s not in self.stacks]:
            raise ValueError(f"protectedStacks {unknown} are not in stacks {self.stacks}")
        return self


def parse(stack: str, region: str | None, raw: Mapping[str, object]) -> BootstrapConfig:
    """Validate the raw values (camelCase keys without namespace); one SettingsError naming the
    stack, each key and value, and what is allowed."""
    problems: list[str] = []
    if region not in AWS_REGIONS:
        problems.append(f"aws:region = {region!r}: not an AWS commercial region")
    config: BootstrapConfig | None = None
    try:
        config = BootstrapConfig.model_validate(dict(raw))
    except ValidationError as error:
        for detail in error.errors():
            key = ".".join(str(part) for part in detail["loc"])
            message = detail["msg"].removeprefix("Value error, ")
            where = f"{NAMESPACE}:{key}" if key else f"{NAMESPACE}:"
            value = detail.get("input")
            shown = "" if isinstance(value, dict) or not key else f" = {value!r}"
            problems.extend(f"{where}{shown}: {line}" for line in message.splitlines())
    repository = config.ci_access.repository if config else ""
    # The placeholder repository: whoever owns that GitHub organisation could deploy.
    if repository.split("/")[0].split("@")[0] + "/" == PLACEHOLDER_OWNER:
        problems.append(
            f"{NAMESPACE}:ciAccess.repository = {repository!r}: the placeholder; "
            "set your GitHub owner/name (or owner@ID/name@ID)"
        )
    if problems or config is None:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise SettingsError(f"stack {stack!r}: invalid bootstrap configuration:\n{lines}")
    return config


def load() -> BootstrapConfig:
    """The current stack's bootstrap settings."""
    # pulumi.Config cannot list keys: the names come from the runtime's config map, so a
    # misspelt key is reported rather than ignored.
    prefix, config = f"{NAMESPACE}:", pulumi.Config(NAMESPACE)
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    names = [key.removeprefix(prefix) for key in keys if key.startswith(prefix)]
    raw = decode_values({name: config.get(name) for name in names})
    return parse(pulumi.get_stack(), pulumi.Config("aws").get("region"), raw)
