"""Cases of the network, edge, compute, data and hardening controls (exposure, workloads and
hardening rules): a resource that passes and the one-property changes that must fail."""

from __future__ import annotations

import json
from typing import Any

from tests.policy.cases import KEY, Case, doc, with_

ALL_OUT = {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}
HTTPS_OUT = {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}
GROUP = {"name": "app-sg-1234567", "egress": [HTTPS_OUT]}
ORIGIN = {
    "originId": "api",
    "domainName": "alb.example.com",
    "customOriginConfig": {"httpPort": 80, "httpsPort": 443, "originProtocolPolicy": "https-only", "originSslProtocols": ["TLSv1.2"]},
}  # fmt: skip
CDN = {"origins": [ORIGIN, {"originId": "site", "domainName": "b.s3.eu-west-1.amazonaws.com"}]}
ALB = {"loadBalancerType": "application", "desyncMitigationMode": "defensive"}
CONTAINER = {
    "name": "app",
    "image": "x:1",
    "environment": [{"name": "DB_HOST", "value": "db"}, {"name": "TOKEN_URL", "value": ""}],
    "secrets": [
        {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}
    ],
}
TASK = {
    "networkMode": "awsvpc",
    "containerDefinitions": json.dumps([CONTAINER]),
    "taskRoleArn": "arn:aws:iam::1:role/task",
    "executionRoleArn": "arn:aws:iam::1:role/execution",
}


def task_with(**variables: str) -> dict[str, Any]:
    env = [*CONTAINER["environment"], *({"name": k, "value": v} for k, v in variables.items())]
    return with_(TASK, containerDefinitions=json.dumps([{**CONTAINER, "environment": env}]))


NODES = {"instanceTypes": ["m7i.large"], "remoteAccess": {"ec2SshKey": "k", "sourceSecurityGroupIds": ["sg-1"]}}  # fmt: skip
DB = {
    "copyTagsToSnapshot": True,
    "enabledCloudwatchLogsExports": ["postgresql"],
    "autoMinorVersionUpgrade": True,
    "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": KEY,
}
PARAMS = {"family": "aurora-postgresql16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]}
REPO = {"encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY}]}
QUEUE = {"name": "jobs-1234567", "redrivePolicy": json.dumps({"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:dlq", "maxReceiveCount": 5})}  # fmt: skip
WAF_RULE = {"name": "bad", "priority": 1, "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": "AWSManagedRulesKnownBadInputsRuleSet"}}}  # fmt: skip
ACL = {"scope": "REGIONAL", "rules": [WAF_RULE]}
LIFECYCLE = {"bucket": "b", "rules": [{"id": "x", "status": "Enabled", "filter": {"prefix": ""}, "expiration": {"days": 30}, "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}]}  # fmt: skip
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:t"
OWN = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
TOPIC_POLICY = {
    "arn": TOPIC_ARN,
    "policy": doc(
        {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sns:Publish", "Resource": TOPIC_ARN},
        {"Sid": "Alarms", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish", "Resource": TOPIC_ARN, "Condition": OWN},
    ),
}  # fmt: skip
MACHINE = {"loggingConfiguration": {"level": "ALL", "includeExecutionData": True, "logDestination": "arn:aws:logs:eu-west-1:1:log-group:x:*"}}  # fmt: skip

CONTROL_CASES = [
    Case("sg-no-open-egress", "aws:ec2/securityGroup:SecurityGroup", GROUP,
         [(with_(GROUP, egress=[ALL_OUT]), "lets everything out to 0.0.0.0/0 on every protocol and port"),
          (with_(GROUP, egress=[{**ALL_OUT, "protocol": "all", "cidrBlocks": [], "ipv6CidrBlocks": ["::/0"]}]), "to ::/0")]),
    Case("sg-no-open-egress", "aws:ec2/securityGroup:SecurityGroup", with_(GROUP, name="proxy-sg-1", egress=[ALL_OUT]),
         [(with_(GROUP, name="app-sg-1", egress=[ALL_OUT]), "every protocol and port")], config={"exemptGroupPatterns": ["proxy-*"]}),
    Case("sg-no-open-egress", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
         {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
         [({"securityGroupId": "sg-1", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}, "every protocol and port")]),
    Case("sg-no-open-egress", "aws:ec2/securityGroupRule:SecurityGroupRule",
         {"type": "egress", "securityGroupId": "sg-1", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["10.0.0.0/16"]},
         [({"type": "egress", "securityGroupId": "sg-1", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}, "every protocol")]),
    Case("subnet-public-ip-only-in-public-tier", "aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True, "tags": {"Name": "vpc-public-1"}},
         [({"mapPublicIpOnLaunch": True, "tags": {"Name": "vpc-private-1"}}, "gives its instances public IP addresses but is not in the public tier"),
          ({"mapPublicIpOnLaunch": True}, "not in the public tier")]),
    Case("subnet-public-ip-only-in-public-tier", "aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": False, "tags": {"Name": "vpc-app-1"}},
         [({"mapPublicIpOnLaunch": True, "tags": {"Name": "vpc-public-1"}}, "not in the public tier")], config={"publicTierPattern": "*-dmz-*"}),
    Case("launch-template-no-public-ip", "aws:ec2/launchTemplate:LaunchTemplate",
         {"networkInterfaces": [{"associatePublicIpAddress": "false"}]},
         [({"networkInterfaces": [{"associatePublicIpAddress": "true"}]}, "gives its instances public IP addresses")]),
    Case("cloudfront-origin-tls", "aws:cloudfront/distribution:Distribution", CDN,
         [(with_(CDN, origins=[{**ORIGIN, "customOriginConfig": {**ORIGIN["customOriginConfig"], "originSslProtocols": ["TLSv1", "TLSv1.2"]}}]), "offers origin api TLSv1")]),
    Case("waf-logging-destination-name", "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
         {"resourceArn": "arn:waf", "logDestinationConfigs": ["arn:aws:logs:eu-west-1:1:log-group:aws-waf-logs-app"]},
         [({"resourceArn": "arn:waf", "logDestinationConfigs": ["arn:aws:logs:eu-west-1:1:log-group:/platform/waf"]}, "whose name does not start with aws-waf-logs-")]),
    # A log group name may hold "/" (terraform-provider-aws#25296: aws-waf-logs-regional/dev).
    Case("waf-logging-destination-name", "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
         {"resourceArn": "arn:waf", "logDestinationConfigs": ["arn:aws:logs:eu-west-1:1:log-group:aws-waf-logs-regional/dev"]},
         [({"resourceArn": "arn:waf", "logDestinationConfigs": ["arn:aws:firehose:eu-west-1:1:deliverystream/app-logs"]}, "whose name does not start with aws-waf-logs-")]),
    Case("alb-desync-mitigation", "aws:lb/loadBalancer:LoadBalancer", ALB,
         [(with_(ALB, desyncMitigationMode="monitor"), "mitigates HTTP desync only in monitor mode")]),
    Case("ecs-no-host-namespaces", "aws:ecs/taskDefinition:TaskDefinition", TASK,
         [(with_(TASK, networkMode="host"), "network namespace"), (with_(TASK, pidMode="host"), "process namespace")]),
    Case("ecs-no-secrets-in-environment", "aws:ecs/taskDefinition:TaskDefinition", TASK,
         [(task_with(DB_PASSWORD="hunter2"), "passes DB_PASSWORD to container app as a plain environment variable"),
          (task_with(stripe_api_key="sk_live"), "passes stripe_api_key"),
          (task_with(GITHUB_TOKEN="ghp_x"), "passes GITHUB_TOKEN"),
          (task_with(SIGNING_KEY="k"), "passes SIGNING_KEY"),
          (task_with(AWS_ACCESS_KEY_ID="AKIA"), "passes AWS_ACCESS_KEY_ID")]),
    # Names that merely contain KEY are not secrets; an empty value is no secret either.
    Case("ecs-no-secrets-in-environment", "aws:ecs/taskDefinition:TaskDefinition", task_with(MONKEY_MODE="on", CACHE_KEY_PREFIX="c:", API_TOKEN=""),
         [(task_with(MONKEY_MODE="on", API_TOKEN="t"), "passes API_TOKEN")]),
    Case("ecs-task-role-not-execution-role", "aws:ecs/taskDefinition:TaskDefinition", TASK,
         [(with_(TASK, taskRoleArn=TASK["executionRoleArn"]), "execution role")]),
    Case("eks-node-group-no-open-ssh", "aws:eks/nodeGroup:NodeGroup", NODES,
         [(with_(NODES, remoteAccess={"ec2SshKey": "k"}), "admits SSH to its nodes from anywhere")]),
    Case("rds-copy-tags-to-snapshots", "aws:rds/cluster:Cluster", DB, [(with_(DB, copyTagsToSnapshot=False), "does not copy its tags")]),
    Case("rds-copy-tags-to-snapshots", "aws:rds/instance:Instance", DB, [(with_(DB, copyTagsToSnapshot=None), "does not copy its tags")]),
    Case("rds-log-exports", "aws:rds/cluster:Cluster", DB, [(with_(DB, enabledCloudwatchLogsExports=[]), "exports no database logs")]),
    Case("rds-auto-minor-version-upgrade", "aws:rds/clusterInstance:ClusterInstance", DB,
         [(with_(DB, autoMinorVersionUpgrade=False), "never applies minor version upgrades")]),
    Case("rds-performance-insights-cmk", "aws:rds/clusterInstance:ClusterInstance", DB,
         [(with_(DB, performanceInsightsKmsKeyId=None), "AWS-managed key")]),
    Case("rds-force-ssl", "aws:rds/clusterParameterGroup:ClusterParameterGroup", PARAMS,
         [(with_(PARAMS, parameters=[{"name": "rds.force_ssl", "value": "0"}]), "rds.force_ssl is 0"),
          (with_(PARAMS, parameters=[]), "leaves rds.force_ssl at its default 0 for aurora-postgresql16"),
          (with_(PARAMS, family="aurora-postgresql17", parameters=[]), "default 0")]),
    # RDS for PostgreSQL 15 and later defaults rds.force_ssl to 1: unset is fine there, 0 is not.
    Case("rds-force-ssl", "aws:rds/parameterGroup:ParameterGroup", {"family": "postgres16", "parameters": []},
         [({"family": "postgres14", "parameters": []}, "leaves rds.force_ssl at its default 0 for postgres14"),
          ({"family": "postgres16", "parameters": [{"name": "rds.force_ssl", "value": "0"}]}, "rds.force_ssl is 0")]),
    Case("rds-force-ssl", "aws:rds/parameterGroup:ParameterGroup", {"family": "postgres15", "parameters": [{"name": "rds.force_ssl", "value": 1.0}]},
         [({"family": "postgres9.6", "parameters": []}, "default 0 for postgres9.6")]),
    Case("rds-force-ssl", "aws:rds/parameterGroup:ParameterGroup", {"family": "mysql8.0", "parameters": []}, []),
    Case("ecr-customer-key", "aws:ecr/repository:Repository", REPO,
         [({"encryptionConfigurations": [{"encryptionType": "AES256"}]}, "without a customer KMS key"), ({}, "without a customer KMS key")]),
    Case("sqs-dead-letter-queue", "aws:sqs/queue:Queue", QUEUE,
         [(with_(QUEUE, redrivePolicy=None), "has no dead-letter queue")]),
    Case("sqs-dead-letter-queue", "aws:sqs/queue:Queue", {"name": "jobs-dlq-1234567"},
         [({"name": "jobs-1234567"}, "has no dead-letter queue")]),
    Case("waf-known-bad-inputs", "aws:wafv2/webAcl:WebAcl", ACL,
         [(with_(ACL, rules=[]), "lacks the managed rule group AWS:AWSManagedRulesKnownBadInputsRuleSet")]),
    Case("scheduler-customer-key", "aws:scheduler/schedule:Schedule", {"kmsKeyArn": KEY, "scheduleExpression": "rate(1 hour)"},
         [({"scheduleExpression": "rate(1 hour)"}, "AWS-owned key")]),
    Case("s3-lifecycle-aborts-multipart", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", LIFECYCLE,
         [({"bucket": "b", "rules": [{"id": "x", "status": "Enabled", "filter": {"prefix": ""}, "expiration": {"days": 30}}]}, "never aborts incomplete multipart uploads"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"prefix": "tmp/"}}]}, "across the whole bucket"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "status": "Disabled"}]}, "never aborts"),
          # A size filter or a prefix inside `and` covers part of the bucket only.
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"objectSizeGreaterThan": 1024}}]}, "across the whole bucket"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"objectSizeLessThan": 1024}}]}, "across the whole bucket"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"and": {"prefix": "tmp/"}}}]}, "across the whole bucket"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"and": {"objectSizeGreaterThan": 1}}}]}, "across the whole bucket"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"tag": {"key": "k", "value": "v"}}}]}, "across the whole bucket"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "prefix": "logs/", "filter": None}]}, "across the whole bucket")]),
    # No filter at all, or an empty `and`, covers every object.
    Case("s3-lifecycle-aborts-multipart", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
         {"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": None}, {**LIFECYCLE["rules"][0], "id": "y", "filter": {"and": {}}}]},
         [({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"and": {"tags": {"k": "v"}}}}]}, "across the whole bucket")]),
    Case("sns-topic-policy-own-account", "aws:sns/topicPolicy:TopicPolicy", TOPIC_POLICY,
         [(with_(TOPIC_POLICY, policy=doc({"Sid": "Alarms", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish", "Resource": TOPIC_ARN})), "for any account in Alarms"),
          (with_(TOPIC_POLICY, policy=doc({"Sid": "All", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": TOPIC_ARN})), "lets any AWS account use the topic in All"),
          (with_(TOPIC_POLICY, policy=doc({"Sid": "All", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC_ARN})), "any AWS account"),
          (with_(TOPIC_POLICY, policy=doc({"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sns:Publish", "Resource": TOPIC_ARN})), "outside this account, in Other")],
         config={"accountIds": ["123456789012"]}),
    Case("sfn-log-all-execution-data", "aws:sfn/stateMachine:StateMachine", MACHINE,
         [({"loggingConfiguration": {"level": "ERROR", "includeExecutionData": False}}, "logs only ERROR events"),
          ({"loggingConfiguration": {"level": "ALL", "includeExecutionData": False}}, "without their input and output"),
          ({}, "logs only OFF events")]),
]  # fmt: skip
