"""Example values in a stack file: placeholders that must be replaced before a real deploy.

The stack files ship with values from documentation (example.com domains, a made-up hosted zone,
RFC 5737 address ranges, the AWS documentation account) so that every stack validates and plans
offline. Deployed, they would fail late (a certificate for a domain nobody owns never validates)
or quietly do the wrong thing (alarm mail to nobody, an API admitting a range nobody uses).
`example_values()` lists them; the settings loader refuses them when `pulumi up` updates a stack
and warns in a preview, and `make plan` prints them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from components.settings import Settings

# RFC 2606 section 3 reserves example.com, example.net and example.org for documentation.
_EXAMPLE_DOMAIN = r"(?:[a-z0-9-]+\.)*example\.(?:com|net|org)(?![a-z0-9-])"
_EMAIL = re.compile(rf"[^@\s/:]+@{_EXAMPLE_DOMAIN}", re.IGNORECASE)
_DOMAIN = re.compile(rf"(?<![a-z0-9.-]){_EXAMPLE_DOMAIN}", re.IGNORECASE)
# Route53's documentation writes hosted zone ids such as Z0000000000EXAMPLE or Z3M3LMPEXAMPLE.
_ZONE_ID = re.compile(r"^Z[A-Z0-9]*EXAMPLE[A-Z0-9]*$")
# The account id of AWS's documentation and examples (ARNs such as arn:aws:iam::123456789012:...).
_ACCOUNT = re.compile(r"(?<!\d)123456789012(?!\d)")
# RFC 5737 section 3: TEST-NET-1, -2 and -3, for documentation only.
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.IPv4Network(block) for block in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)

SECRET_SHOWN_AS = "[secret]"


@dataclass(frozen=True)
class ExampleValue:
    """One example value: the config key it is under, the value, and what makes it an example."""

    key: str
    value: str
    kind: str

    def describe(self) -> str:
        return f"{self.key} = {self.value!r}: {self.kind}"


def example_kind(value: str) -> str | None:
    """What kind of example `value` is, or None when it is not one."""
    if _EMAIL.search(value):
        return "an e-mail address at a documentation domain (RFC 2606); nobody receives it"
    if _DOMAIN.search(value):
        return "a documentation domain (example.com/.net/.org, RFC 2606); you cannot own it"
    if _ZONE_ID.match(value):
        return "an example Route53 hosted zone id from the documentation"
    if _ACCOUNT.search(value):
        return "the AWS documentation account 123456789012"
    if _in_documentation_range(value):
        return "a documentation address range (RFC 5737); no real client has these addresses"
    return None


def _in_documentation_range(value: str) -> bool:
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return False
    return any(network.subnet_of(block) for block in DOCUMENTATION_NETWORKS)


def example_values(settings: Settings, namespace: str = "platform") -> list[ExampleValue]:
    """Every example value of the stack's settings, by key, and every value a deploy cannot do
    without that the stack leaves to a default. Values under a key that Pulumi holds as a secret
    are shown as [secret]."""
    found = list(_walk(settings.config, (), settings.secret_keys))
    return sorted(
        [
            *(ExampleValue(f"{namespace}:{_path(loc)}", value, kind) for loc, value, kind in found),
            *_unfilled(settings, namespace),
        ],
        key=lambda value: (value.key, value.value),
    )


# ciAccess.repository's default: whoever owns this GitHub organisation could deploy.
PLACEHOLDER_OWNER = "example-org/"


def _unfilled(settings: Settings, namespace: str) -> list[ExampleValue]:
    config, found = settings.config, list[ExampleValue]()
    ci = config.ci_access
    if ci.enabled and ci.repository.startswith(PLACEHOLDER_OWNER):
        found.append(
            ExampleValue(
                f"{namespace}:ciAccess.repository",
                ci.repository,
                "the placeholder repository: the deploy role would trust whoever owns the "
                "GitHub organisation example-org",
            )
        )
    eks = config.kubernetes
    if (
        eks.enabled
        and not eks.endpoint_public_access
        and not (eks.api_access_security_groups or eks.api_access_cidrs)
    ):
        found.append(
            ExampleValue(
                f"{namespace}:kubernetes.apiAccessSecurityGroups",
                "{}",
                "nobody is admitted to the private API, so the Helm releases of the first "
                "`pulumi up` time out; admit the deployer's runner (apiAccessSecurityGroups or "
                "apiAccessCidrs, README: Troubleshooting the first deploy)",
            )
        )
    return found


def _walk(
    node: object, loc: tuple[str | int, ...], secret_keys: frozenset[str]
) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    if isinstance(node, BaseModel):
        if getattr(node, "enabled", True) is False:
            return  # a tier that is off deploys nothing, its placeholders included
        for name, field in type(node).model_fields.items():
            yield from _walk(getattr(node, name), (*loc, field.alias or name), secret_keys)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, (*loc, str(key)), secret_keys)
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _walk(value, (*loc, index), secret_keys)
    elif isinstance(node, str) and (kind := example_kind(node)):
        shown = SECRET_SHOWN_AS if loc and loc[0] in secret_keys else node
        yield loc, shown, kind


def _path(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).removeprefix(".")


def refusal(stack: str, found: list[ExampleValue]) -> str:
    """The error an update of a stack with example values stops with."""
    lines = "\n".join(f"  - {value.describe()}" for value in found)
    return (
        f"stack {stack!r}: example values must be replaced before `pulumi up` ({len(found)}):\n"
        f"{lines}\nSet real ones with `pulumi config set -s {stack} --path '<key>' <value>` "
        "(or edit the stack file)."
    )


def warning(stack: str, found: list[ExampleValue]) -> str:
    """The warning a preview of a stack with example values shows."""
    lines = "\n".join(f"  - {value.describe()}" for value in found)
    return (
        f"stack {stack!r} holds example values; `pulumi up` refuses to update it until they are "
        f"replaced ({len(found)}):\n{lines}"
    )


# The offline harness (tooling/offline.py) runs the program as `pulumi up` would, to record what
# an update creates; it never deploys anything. It sets this flag inside its own run, so a test or
# the offline plan can run the stack files as they are, example values and all. The real engine
# has no way to set it: no config key, environment variable or file turns the refusal off.
_OFFLINE_HARNESS_ACCEPTS: ContextVar[bool] = ContextVar(
    "offline_harness_accepts_example_values", default=False
)


@contextmanager
def offline_harness_accepts_example_values() -> Iterator[None]:
    """Only for tooling/offline.py: let an update-mode offline run go on despite example values."""
    token = _OFFLINE_HARNESS_ACCEPTS.set(True)
    try:
        yield
    finally:
        _OFFLINE_HARNESS_ACCEPTS.reset(token)


def accepted_by_offline_harness() -> bool:
    return _OFFLINE_HARNESS_ACCEPTS.get()
