"""Cases of the network, edge, compute, data and hardening controls (exposure, workloads and
hardening rules): a resource that passes and the one-property changes that must fail."""

from __future__ import annotations

import json
from typing import Any

from tests.policy.cases import KEY, Case, doc, with_

ALL_OUT = {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}
HTTPS_OUT = {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}
GROUP = {"name": "app-sg-1234567", "egress": [HTTPS_OUT]}
NACL = {
    "ingress": [
        {"protocol": "tcp", "ruleNo": 100, "action": "allow", "cidrBlock": "0.0.0.0/0", "fromPort": 443, "toPort": 443},
        {"protocol": "tcp", "ruleNo": 110, "action": "allow", "cidrBlock": "10.0.0.0/16", "fromPort": 22, "toPort": 22},
        {"protocol": "tcp", "ruleNo": 120, "action": "deny", "cidrBlock": "0.0.0.0/0", "fromPort": 22, "toPort": 22},
    ]
}  # fmt: skip
NACL_RULE = {"ruleAction": "allow", "egress": False, "protocol": "tcp", "cidrBlock": "0.0.0.0/0", "fromPort": 443, "toPort": 443}  # fmt: skip
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
EXEC = {"executeCommandConfiguration": {"kmsKeyId": KEY, "logging": "OVERRIDE", "logConfiguration": {"cloudWatchLogGroupName": "/p/exec", "cloudWatchEncryptionEnabled": True}}}  # fmt: skip
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
    Case("nacl-no-open-admin-ports", "aws:ec2/networkAcl:NetworkAcl", NACL,
         [({"ingress": [{"protocol": "tcp", "action": "allow", "cidrBlock": "0.0.0.0/0", "fromPort": 0, "toPort": 65535}]}, "admits 0.0.0.0/0 on admin port 22"),
          ({"ingress": [{"protocol": "-1", "action": "allow", "ipv6CidrBlock": "::/0", "fromPort": 0, "toPort": 0}]}, "admits ::/0 on admin port 3389")]),
    Case("nacl-no-open-admin-ports", "aws:ec2/networkAclRule:NetworkAclRule", NACL_RULE,
         [(with_(NACL_RULE, fromPort=3389, toPort=3389), "admits 0.0.0.0/0 on admin port 3389")]),
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
         [(with_(PARAMS, parameters=[{"name": "rds.force_ssl", "value": "0"}]), "rds.force_ssl is not 1"),
          (with_(PARAMS, parameters=[]), "without TLS")]),
    Case("ecr-customer-key", "aws:ecr/repository:Repository", REPO,
         [({"encryptionConfigurations": [{"encryptionType": "AES256"}]}, "without a customer KMS key"), ({}, "without a customer KMS key")]),
    Case("sqs-dead-letter-queue", "aws:sqs/queue:Queue", QUEUE,
         [(with_(QUEUE, redrivePolicy=None), "has no dead-letter queue")]),
    Case("sqs-dead-letter-queue", "aws:sqs/queue:Queue", {"name": "jobs-dlq-1234567"},
         [({"name": "jobs-1234567"}, "has no dead-letter queue")]),
    Case("waf-known-bad-inputs", "aws:wafv2/webAcl:WebAcl", ACL,
         [(with_(ACL, rules=[]), "lacks the managed rule group AWS:AWSManagedRulesKnownBadInputsRuleSet")]),
    Case("ecs-exec-session-logging", "aws:ecs/cluster:Cluster", {"configuration": EXEC},
         [({"configuration": {"executeCommandConfiguration": {"kmsKeyId": KEY, "logging": "DEFAULT"}}}, "at DEFAULT"),
          ({}, "at DEFAULT"),
          ({"configuration": {"executeCommandConfiguration": {"logging": "OVERRIDE", "logConfiguration": {"cloudWatchLogGroupName": "/p/exec"}}}}, "without encryption"),
          ({"configuration": {"executeCommandConfiguration": {"logging": "OVERRIDE", "logConfiguration": {"s3BucketName": "b"}}}}, "to no CloudWatch log group")]),
    Case("scheduler-customer-key", "aws:scheduler/schedule:Schedule", {"kmsKeyArn": KEY, "scheduleExpression": "rate(1 hour)"},
         [({"scheduleExpression": "rate(1 hour)"}, "AWS-owned key")]),
    Case("s3-lifecycle-aborts-multipart", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", LIFECYCLE,
         [({"bucket": "b", "rules": [{"id": "x", "status": "Enabled", "filter": {"prefix": ""}, "expiration": {"days": 30}}]}, "never aborts incomplete multipart uploads"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "filter": {"prefix": "tmp/"}}]}, "across the whole bucket"),
          ({"bucket": "b", "rules": [{**LIFECYCLE["rules"][0], "status": "Disabled"}]}, "never aborts")]),
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
