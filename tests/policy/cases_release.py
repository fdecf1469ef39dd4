"""Cases of the release rule: ECS images of a private ECR registry run by digest only."""

from __future__ import annotations

import json

from tests.policy.cases import CONTAINER, Case

TASK_TYPE = "aws:ecs/taskDefinition:TaskDefinition"
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/platform-prod-service-repo"
DIGEST = "sha256:" + "0f" * 32


def task(image: str) -> dict[str, str]:
    return {"containerDefinitions": json.dumps([{**CONTAINER, "image": image}])}


RELEASE_CASES = [
    Case("ecs-image-by-digest", TASK_TYPE, task(f"{ECR}@{DIGEST}"),
         [(task(f"{ECR}:v1.2.3"), f"from {ECR}:v1.2.3, an ECR image not pinned by digest"),
          (task(ECR), "an ECR image not pinned by digest"),
          (task("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app:v1"), "not pinned by digest")]),
    # Other registries are not this rule's business.
    Case("ecs-image-by-digest", TASK_TYPE, task("public.ecr.aws/nginx/nginx-unprivileged:stable-alpine")),
    Case("ecs-image-by-digest", TASK_TYPE, task("ghcr.io/org/app:1.0")),
]  # fmt: skip
