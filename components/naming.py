"""Resource names: `<project>-<stack>-<component>[-<part>]`, trimmed to each AWS length limit."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

_HASH_LENGTH = 7
# The provider auto-names a resource given no physical name `<logical name>-<7 random hex
# characters>` and refuses at preview when that exceeds the type's limit (pulumi-terraform-bridge
# AutoName; pulumi-aws provider/resource_overrides.go).
AUTONAME_SUFFIX = 8
# The longest project and stack names every physical name is proven to fit with
# (tests/stacks/test_names.py runs the program with names of exactly these lengths).
MAX_PROJECT_LENGTH = 12
MAX_STACK_LENGTH = 10


class Limit(enum.IntEnum):
    """AWS maximum name lengths for the resources whose physical names we set."""

    ALB = 32
    TARGET_GROUP = 32
    IAM_ROLE = 64
    BACKUP = 50
    # terraform-provider-aws internal/service/mq/broker.go ValidateBrokerName: 1-50 characters.
    MQ_BROKER = 50
    # ElastiCache CreateReplicationGroup ReplicationGroupId: 1-40 characters, lower case.
    REPLICATION_GROUP = 40
    # terraform-provider-aws internal/service/scheduler/schedule.go: 1-64 characters.
    SCHEDULE = 64
    S3_BUCKET = 63
    RDS_IDENTIFIER = 63
    ECS = 255
    LOG_GROUP = 512
    DEFAULT = 63


def trim(name: str, limit: int = Limit.DEFAULT) -> str:
    """`name` if it fits in `limit`, else its head plus a hash of the whole, so it stays unique."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LENGTH]
    head = name[: limit - _HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def autonamed(logical: str, limit: int) -> str:
    """A logical name short enough for the provider's auto-name of it to fit in `limit`."""
    return trim(logical, limit - AUTONAME_SUFFIX)


def child(parent: str, *parts: str, limit: int = Limit.DEFAULT) -> str:
    """Name of a resource inside a component: the component's name plus its parts."""
    return trim("-".join((parent, *parts)), limit)


@dataclass(frozen=True)
class Naming:
    """Builds the names of one stack's components."""

    project: str
    stack: str

    def component(self, component: str) -> str:
        """`<project>-<stack>-<component>`: a component's logical name and its children's prefix."""
        return child(self.project, self.stack, component)
