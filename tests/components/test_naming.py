"""Names: `<project>-<stack>-<component>[-<part>]`, trimmed deterministically to AWS limits."""

from __future__ import annotations

from components.naming import Limit, Naming, child, trim


def test_component_names_follow_the_pattern() -> None:
    assert Naming("platform", "prod").component("network") == "platform-prod-network"
    assert child("platform-prod-service", "alb") == "platform-prod-service-alb"


def test_short_names_are_kept_whole() -> None:
    assert trim("platform-dev-service-alb", Limit.ALB) == "platform-dev-service-alb"


def test_long_names_are_trimmed_to_the_limit_with_a_stable_hash() -> None:
    name = "platform-staging-service-target-group-blue"
    trimmed = trim(name, Limit.TARGET_GROUP)
    assert len(trimmed) == Limit.TARGET_GROUP
    assert trimmed == trim(name, Limit.TARGET_GROUP)
    assert trimmed.startswith("platform-staging-service-")
    assert trimmed != trim(name + "x", Limit.TARGET_GROUP)


def test_trimmed_names_never_end_the_head_with_a_dash() -> None:
    trimmed = trim("a" * 23 + "-" + "b" * 20, 32)
    assert "--" not in trimmed
