"""Cases of the database access rules: a task that passes and the changes that must fail."""

from __future__ import annotations

import json

from tests.policy.cases import Case

TASK_TYPE = "aws:ecs/taskDefinition:TaskDefinition"
JOB_TYPE = "aws:batch/jobDefinition:JobDefinition"
MASTER = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1757a281-AbCdEf"
OWN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:platform-prod-cache-auth-AbCdEf"
ENVIRONMENT = [{"name": "DB_USERNAME", "value": "app"}, {"name": "DB_IAM_AUTH", "value": "1"}]


def task(*secrets: dict[str, str]) -> dict[str, str]:
    container = {"name": "app", "environment": ENVIRONMENT, "secrets": list(secrets)}
    return {"containerDefinitions": json.dumps([container])}


def job(*secrets: dict[str, str]) -> dict[str, str]:
    return {"containerProperties": json.dumps({"image": "i", "secrets": list(secrets)})}


TOKEN = {"name": "CACHE_AUTH_TOKEN", "valueFrom": f"{OWN}:authToken::"}

DATABASE_ACCESS_CASES = [
    Case("no-master-secret-in-tasks", TASK_TYPE, task(TOKEN),
         [(task(TOKEN, {"name": "DB_PASSWORD", "valueFrom": f"{MASTER}:password::"}),
           "gives container app the RDS-managed master secret as DB_PASSWORD"),
          (task({"name": "DB", "valueFrom": MASTER}), "master secret as DB"),
          # A secret of the same account may be named instead of given by ARN.
          (task({"name": "DB", "valueFrom": "rds!db-0a1b2c3d"}), "master secret as DB")]),
    Case("no-master-secret-in-tasks", JOB_TYPE, job(TOKEN),
         [(job({"name": "DB_PASSWORD", "valueFrom": f"{MASTER}:password::"}),
           "gives its container the RDS-managed master secret as DB_PASSWORD")]),
]  # fmt: skip
