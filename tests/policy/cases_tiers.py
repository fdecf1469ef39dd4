"""Cases of the messaging (Amazon MQ) and cache (ElastiCache) rules: a resource that passes and
the one-property changes that must fail."""

from __future__ import annotations

from tests.policy.cases import KEY, Case, with_

BROKER_TYPE = "aws:mq/broker:Broker"
GROUP_TYPE = "aws:elasticache/replicationGroup:ReplicationGroup"
BROKER = {
    "engineType": "RabbitMQ",
    "publiclyAccessible": False,
    "deploymentMode": "CLUSTER_MULTI_AZ",
    "autoMinorVersionUpgrade": True,
    "logs": {"general": True},
}
ACTIVEMQ = with_(
    BROKER,
    engineType="ActiveMQ",
    deploymentMode="ACTIVE_STANDBY_MULTI_AZ",
    encryptionOptions={"useAwsOwnedKey": False, "kmsKeyId": KEY},
)
LOGS = [
    {"destination": "/aws/elasticache/c/slow-log", "destinationType": "cloudwatch-logs", "logFormat": "json", "logType": "slow-log"},
    {"destination": "/aws/elasticache/c/engine-log", "destinationType": "cloudwatch-logs", "logFormat": "json", "logType": "engine-log"},
]  # fmt: skip
GROUP = {
    "engine": "valkey",
    "atRestEncryptionEnabled": True,
    "kmsKeyId": KEY,
    "transitEncryptionEnabled": True,
    "transitEncryptionMode": "required",
    "authToken": "a-generated-token-0123456789",
    "numCacheClusters": 3,
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "autoMinorVersionUpgrade": True,
    "logDeliveryConfigurations": LOGS,
    "snapshotRetentionLimit": 7,
}
NO_TOKEN = {k: v for k, v in GROUP.items() if k != "authToken"}

TIER_CASES = [
    Case("mq-not-public", BROKER_TYPE, BROKER,
         [(with_(BROKER, publiclyAccessible=True), "is reachable from the internet")]),
    # RabbitMQ takes no customer key (AWS owned only): nothing more can be asked of it.
    Case("mq-encrypted-with-cmk", BROKER_TYPE, BROKER),
    Case("mq-encrypted-with-cmk", BROKER_TYPE, ACTIVEMQ,
         [(with_(ACTIVEMQ, encryptionOptions={"useAwsOwnedKey": True}), "AWS owned key"),
          ({k: v for k, v in ACTIVEMQ.items() if k != "encryptionOptions"}, "AWS owned key")]),
    Case("mq-multi-az", BROKER_TYPE, BROKER,
         [(with_(BROKER, deploymentMode="SINGLE_INSTANCE"), "runs as SINGLE_INSTANCE"),
          ({k: v for k, v in BROKER.items() if k != "deploymentMode"}, "use CLUSTER_MULTI_AZ")]),
    Case("mq-multi-az", BROKER_TYPE, ACTIVEMQ,
         [(with_(ACTIVEMQ, deploymentMode="SINGLE_INSTANCE"), "use ACTIVE_STANDBY_MULTI_AZ")]),
    Case("mq-auto-minor-upgrade", BROKER_TYPE, BROKER,
         [(with_(BROKER, autoMinorVersionUpgrade=False), "minor version upgrades"),
          ({k: v for k, v in BROKER.items() if k != "autoMinorVersionUpgrade"}, "minor version upgrades")]),
    Case("mq-general-logs", BROKER_TYPE, BROKER,
         [(with_(BROKER, logs={"general": False}), "general logs"),
          ({k: v for k, v in BROKER.items() if k != "logs"}, "general logs")]),
    Case("elasticache-encrypted-with-cmk", GROUP_TYPE, GROUP,
         [(with_(GROUP, atRestEncryptionEnabled=False), "unencrypted"),
          (with_(GROUP, kmsKeyId=None), "AWS-managed key")]),
    Case("elasticache-tls-required", GROUP_TYPE, GROUP,
         [(with_(GROUP, transitEncryptionEnabled=False), "without TLS"),
          (with_(GROUP, transitEncryptionMode="preferred"), "transitEncryptionMode preferred")]),
    Case("elasticache-authenticated", GROUP_TYPE, GROUP,
         [(NO_TOKEN, "without an AUTH token or RBAC user group")]),
    Case("elasticache-authenticated", GROUP_TYPE, with_(NO_TOKEN, userGroupIds=["platform-users"])),
    Case("elasticache-multi-az", GROUP_TYPE, GROUP,
         [(with_(GROUP, numCacheClusters=1), "has 1 node"),
          (with_(GROUP, multiAzEnabled=False), "does not fail over"),
          (with_(GROUP, automaticFailoverEnabled=False), "does not fail over")]),
    Case("elasticache-auto-minor-upgrade", GROUP_TYPE, GROUP,
         [(with_(GROUP, autoMinorVersionUpgrade=False), "minor version upgrades")]),
    Case("elasticache-logs", GROUP_TYPE, GROUP,
         [(with_(GROUP, logDeliveryConfigurations=LOGS[:1]), "engine-log to CloudWatch Logs"),
          (with_(GROUP, logDeliveryConfigurations=[]), "slow-log and engine-log")]),
    Case("elasticache-snapshot-retention", GROUP_TYPE, GROUP,
         [(with_(GROUP, snapshotRetentionLimit=0), "keeps snapshots 0 days, fewer than 7"),
          (with_(GROUP, snapshotRetentionLimit=3), "fewer than 7")]),
    Case("elasticache-snapshot-retention", GROUP_TYPE, with_(GROUP, snapshotRetentionLimit=1),
         config={"minDays": 1}),
]  # fmt: skip
