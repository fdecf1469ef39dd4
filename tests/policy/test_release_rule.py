"""ecs-image-by-digest on the stacks: mandatory everywhere, and a released digest passes it in
an update and is deferred (unknown repository URL) in a first preview."""

from __future__ import annotations

import json

import pytest

from tests.conftest import STACKS, rules_of
from tooling.offline import run_stack
from tooling.policy_eval import evaluate, level_of, stack_policy_config

RULE = "ecs-image-by-digest"
DIGEST = "sha256:" + "03" * 32


@pytest.mark.parametrize("stack", STACKS)
def test_the_rule_is_mandatory_in_every_stack(stack: str) -> None:
    assert level_of(RULE, stack_policy_config(stack)) == "mandatory"


@pytest.mark.parametrize("preview", [False, True])
def test_a_released_digest_passes_and_a_preview_defers_what_is_unknown(preview: bool) -> None:
    release = {"stage": "serve", "images": {"app": DIGEST}}
    run = run_stack("dev", overrides={"platform:release": json.dumps(release)}, preview=preview)
    found = evaluate(run, rules_of("dev", RULE))
    assert [v for v in found if not v.deferred] == []
    # The released image is `<repository URL>@digest`: unknown until the repository exists.
    assert bool(found) is preview
