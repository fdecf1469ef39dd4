"""Happy-path resources per rule, and the one-property changes that must violate it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SECURE = {"Bool": {"aws:SecureTransport": "false"}}
TLS_DENY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": "*",
    "Condition": SECURE,
}
KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"
CONTAINER = {
    "name": "app",
    "image": "x:1",
    "readonlyRootFilesystem": True,
    "logConfiguration": {"logDriver": "awslogs", "options": {}},
}
TAGS = {"Project": "p", "Environment": "e", "ManagedBy": "pulumi", "Owner": "o", "CostCenter": "c"}


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


@dataclass(frozen=True)
class Case:
    """A rule, the type it checks, a resource that passes, and (changed props, expected words)."""

    rule: str
    type: str
    good: dict[str, Any]
    bad: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    protect: bool = False  # the resource's `protect` option


BLOCK = {
    f: True
    for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
}
ALB = {
    "loadBalancerType": "application",
    "dropInvalidHeaderFields": True,
    "accessLogs": {"enabled": True, "bucket": "b"},
    "enableDeletionProtection": True,
}
HTTPS = {
    "protocol": "HTTPS",
    "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "defaultActions": [{"type": "forward"}],
}
SERVICE = {
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "networkConfiguration": {"assignPublicIp": False, "subnets": ["s"]},
}
TASK = {"containerDefinitions": json.dumps([CONTAINER])}
CLUSTER = {
    "storageEncrypted": True,
    "kmsKeyId": KEY,
    "backupRetentionPeriod": 30,
    "iamDatabaseAuthenticationEnabled": True,
    "manageMasterUserPassword": True,
    "deletionProtection": True,
    "skipFinalSnapshot": False,
}
# The aws.eks.Cluster pulumi_eks creates (the component itself reaches the rules empty).
EKS = {
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["s"]},
    "encryptionConfig": {"provider": {"keyArn": KEY}, "resources": ["secrets"]},
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    "version": "1.35",
    "upgradePolicy": {"supportType": "STANDARD"},
}
OPEN_EKS = {"endpointPrivateAccess": True, "endpointPublicAccess": True}
JOB = {
    "containerProperties": json.dumps({"networkConfiguration": {"assignPublicIp": "DISABLED"}}),
    "retryStrategy": {"attempts": 3},
    "timeout": {"attemptDurationSeconds": 3600},
}
DISTRIBUTION = {
    "defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"},
    "orderedCacheBehaviors": [{"pathPattern": "/api/*", "viewerProtocolPolicy": "https-only"}],
    "viewerCertificate": {"acmCertificateArn": "arn:cert", "minimumProtocolVersion": "TLSv1.2_2021"},
    "origins": [{"originId": "site", "domainName": "b.s3.eu-west-1.amazonaws.com", "originAccessControlId": "oac"}],
    "webAclId": "arn:waf",
    "loggingConfig": {"bucket": "logs.s3.amazonaws.com"},
}  # fmt: skip

CASES = [
    Case("s3-public-access-fully-blocked", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", BLOCK,
         [(with_(BLOCK, restrictPublicBuckets=False), "leaves restrictPublicBuckets off")]),
    Case("s3-encryption-algorithm", "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
         {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}]},
         [({"rules": [{"applyServerSideEncryptionByDefault": {}}]}, "without a server-side encryption algorithm")]),
    Case("s3-tls-only", "aws:s3/bucketPolicy:BucketPolicy", {"policy": doc(TLS_DENY)},
         [({"policy": doc({"Effect": "Allow", "Principal": {"Service": "x"}, "Action": "s3:GetObject", "Resource": "*"})}, "does not deny requests made without TLS")]),
    Case("s3-no-public-principal", "aws:s3/bucketPolicy:BucketPolicy", {"policy": doc(TLS_DENY)},
         [({"policy": "not json"}, "has a policy document that is not valid JSON")]),
    Case("s3-no-public-principal", "aws:s3/bucketPolicy:BucketPolicy", {"policy": doc(TLS_DENY)},
         [({"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"})}, "allows Principal '*' without a condition"),
          ({"policy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"})}, "allows Principal '*'")]),
    Case("s3-no-public-acl", "aws:s3/bucket:Bucket", {"acl": "private"}, [({"acl": "public-read"}, "has the public ACL public-read")]),
    Case("no-open-ingress", "aws:ec2/securityGroup:SecurityGroup",
         {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}, {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}]},
         [({"ingress": [{"fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]}, "admits 0.0.0.0/0 on ports 22-22"),
          ({"ingress": [{"fromPort": 0, "toPort": 65535, "ipv6CidrBlocks": ["::/0"]}]}, "admits ::/0 on ports 0-65535")],
         config={"loadBalancerGroupPatterns": ["res"]}),
    Case("no-open-ingress", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
         {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0"},
         [({"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "0.0.0.0/0"}, "admits 0.0.0.0/0 on ports 5432-5432")],
         config={"loadBalancerGroupPatterns": ["res"]}),
    # Legacy aws.ec2.SecurityGroupRule: its CIDRs arrive as a list proxy under the engine.
    Case("no-open-ingress", "aws:ec2/securityGroupRule:SecurityGroupRule",
         {"type": "ingress", "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
         [({"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}, "admits 0.0.0.0/0 on ports 22-22")],
         config={"loadBalancerGroupPatterns": ["res"]}),
    Case("default-security-group-closed", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", {"ingress": [], "egress": []},
         [({"egress": [{"fromPort": 0, "toPort": 0, "protocol": "-1"}]}, "keeps rules")]),
    Case("alb-drop-invalid-headers", "aws:lb/loadBalancer:LoadBalancer", ALB,
         [(with_(ALB, dropInvalidHeaderFields=False), "passes invalid HTTP header fields")]),
    Case("alb-http-redirects-to-https", "aws:lb/listener:Listener",
         {"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS"}}]},
         [({"protocol": "HTTP", "defaultActions": [{"type": "forward"}]}, "serves plain HTTP")]),
    Case("alb-https-tls-policy", "aws:lb/listener:Listener", HTTPS,
         [(with_(HTTPS, sslPolicy="ELBSecurityPolicy-2016-08"), "uses TLS policy 'ELBSecurityPolicy-2016-08'")]),
    Case("alb-access-logs", "aws:lb/loadBalancer:LoadBalancer", ALB, [(with_(ALB, accessLogs={"enabled": False}), "writes no access logs")]),
    Case("alb-deletion-protection", "aws:lb/loadBalancer:LoadBalancer", ALB,
         [(with_(ALB, enableDeletionProtection=False), "can be deleted by a single mistaken change")]),
    Case("ecs-circuit-breaker-rollback", "aws:ecs/service:Service", SERVICE,
         [(with_(SERVICE, deploymentCircuitBreaker={"enable": True, "rollback": False}), "without a circuit breaker that rolls back")]),
    Case("ecs-no-public-ip", "aws:ecs/service:Service", SERVICE,
         [(with_(SERVICE, networkConfiguration={"assignPublicIp": True}), "gives its tasks public IP addresses")]),
    Case("ecs-not-privileged", "aws:ecs/taskDefinition:TaskDefinition", TASK,
         [({"containerDefinitions": json.dumps([{**CONTAINER, "privileged": True}])}, "runs container app privileged")]),
    Case("ecs-container-logging", "aws:ecs/taskDefinition:TaskDefinition", TASK,
         [({"containerDefinitions": json.dumps([{"name": "app"}])}, "without a log configuration")]),
    Case("ecs-read-only-root", "aws:ecs/taskDefinition:TaskDefinition", TASK,
         [({"containerDefinitions": json.dumps([{**CONTAINER, "readonlyRootFilesystem": False}])}, "write its root file system")]),
    Case("ecr-scan-on-push", "aws:ecr/repository:Repository", {"imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "IMMUTABLE"},
         [({"imageScanningConfiguration": {"scanOnPush": False}}, "does not scan images on push")]),
    Case("ecr-immutable-tags", "aws:ecr/repository:Repository", {"imageTagMutability": "IMMUTABLE"},
         [({"imageTagMutability": "MUTABLE"}, "lets a tag be moved")]),
    Case("rds-encrypted-with-cmk", "aws:rds/cluster:Cluster", CLUSTER,
         [(with_(CLUSTER, storageEncrypted=False), "stores data unencrypted"), (with_(CLUSTER, kmsKeyId=None), "AWS-managed key")]),
    Case("rds-not-public", "aws:rds/clusterInstance:ClusterInstance", {"publiclyAccessible": False},
         [({"publiclyAccessible": True}, "is reachable from the internet")]),
    Case("rds-backup-retention", "aws:rds/cluster:Cluster", CLUSTER,
         [(with_(CLUSTER, backupRetentionPeriod=3), "keeps backups 3 days, fewer than 7.")]),
    Case("rds-iam-authentication", "aws:rds/cluster:Cluster", CLUSTER,
         [(with_(CLUSTER, iamDatabaseAuthenticationEnabled=False), "does not accept IAM authentication")]),
    Case("rds-managed-master-password", "aws:rds/cluster:Cluster", CLUSTER,
         [(with_(CLUSTER, masterPassword="hunter2", manageMasterUserPassword=None), "takes its master password from the program"),
          (with_(CLUSTER, manageMasterUserPassword=False), "does not let RDS manage the master password")]),
    Case("rds-performance-insights", "aws:rds/clusterInstance:ClusterInstance", {"performanceInsightsEnabled": True},
         [({"performanceInsightsEnabled": False}, "has Performance Insights off")]),
    Case("eks-endpoint-restricted", "aws:eks/cluster:Cluster", EKS,
         [(with_(EKS, vpcConfig=OPEN_EKS), "exposes its API endpoint to the whole internet"),
          (with_(EKS, vpcConfig={**OPEN_EKS, "publicAccessCidrs": ["0.0.0.0/0"]}), "whole internet"),
          (with_(EKS, vpcConfig={}), "whole internet")]),
    Case("eks-endpoint-restricted", "aws:eks/cluster:Cluster", {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}},
         [({"vpcConfig": {"endpointPublicAccess": True}}, "whole internet")]),
    Case("eks-secrets-encryption", "aws:eks/cluster:Cluster", EKS,
         [(with_(EKS, encryptionConfig=None), "without envelope encryption"),
          (with_(EKS, encryptionConfig={"resources": ["secrets"]}), "without envelope encryption")]),
    Case("eks-control-plane-logging", "aws:eks/cluster:Cluster", EKS,
         [(with_(EKS, enabledClusterLogTypes=["api"]), "does not log audit, authenticator, controllerManager, scheduler")]),
    Case("eks-supported-version", "aws:eks/cluster:Cluster", EKS, [(with_(EKS, version="1.29"), "runs Kubernetes 1.29, outside standard support")]),
    Case("eks-standard-support", "aws:eks/cluster:Cluster", EKS,
         [(with_(EKS, upgradePolicy=None), "leaves its upgrade policy to the EXTENDED default"),
          (with_(EKS, upgradePolicy={"supportType": "EXTENDED"}), "EXTENDED default")]),
    Case("ec2-imdsv2-required", "aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "required"}},
         [({"metadataOptions": {"httpTokens": "optional"}}, "lets instances use IMDSv1"), ({}, "IMDSv1")]),
    Case("ec2-imdsv2-required", "aws:ec2/instance:Instance", {"metadataOptions": {"httpTokens": "required"}},
         [({}, "lets instances use IMDSv1")]),
    Case("ec2-volumes-encrypted", "aws:ec2/launchTemplate:LaunchTemplate",
         {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]},
         [({"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50}}]}, "leaves volume /dev/xvda unencrypted")]),
    Case("batch-compute-private", "aws:batch/computeEnvironment:ComputeEnvironment",
         {"computeResources": {"subnets": ["s"], "securityGroupIds": ["sg"]}},
         [({"computeResources": {"subnets": ["s"]}}, "names no subnets and security groups")]),
    Case("batch-jobs-no-public-ip", "aws:batch/jobDefinition:JobDefinition", JOB,
         [(with_(JOB, containerProperties=json.dumps({"networkConfiguration": {"assignPublicIp": "ENABLED"}})), "public IP")]),
    Case("batch-job-retry-and-timeout", "aws:batch/jobDefinition:JobDefinition", JOB,
         [(with_(JOB, retryStrategy=None), "never retries"), (with_(JOB, timeout=None), "lets an attempt run forever")]),
    Case("sfn-logging-and-tracing", "aws:sfn/stateMachine:StateMachine",
         {"loggingConfiguration": {"level": "ERROR"}, "tracingConfiguration": {"enabled": True}},
         [({"loggingConfiguration": {"level": "OFF"}, "tracingConfiguration": {"enabled": True}}, "writes no execution logs"),
          ({"loggingConfiguration": {"level": "ALL"}}, "X-Ray tracing off")]),
    Case("cloudfront-https-only", "aws:cloudfront/distribution:Distribution", DISTRIBUTION,
         [(with_(DISTRIBUTION, orderedCacheBehaviors=[{"pathPattern": "/api/*", "viewerProtocolPolicy": "allow-all"}]), "serves /api/* over plain HTTP"),
          (with_(DISTRIBUTION, defaultCacheBehavior={"viewerProtocolPolicy": "allow-all"}), "serves the default path over plain HTTP")]),
    Case("cloudfront-minimum-tls", "aws:cloudfront/distribution:Distribution", DISTRIBUTION,
         [(with_(DISTRIBUTION, viewerCertificate={"acmCertificateArn": "arn:cert", "minimumProtocolVersion": "TLSv1"}), "accepts viewers on TLSv1")]),
    Case("cloudfront-s3-origin-access-control", "aws:cloudfront/distribution:Distribution", DISTRIBUTION,
         [(with_(DISTRIBUTION, origins=[{"originId": "site", "domainName": "b.s3.eu-west-1.amazonaws.com"}]), "without origin access control")]),
    Case("cloudfront-waf", "aws:cloudfront/distribution:Distribution", DISTRIBUTION, [(with_(DISTRIBUTION, webAclId=None), "has no WAF web ACL")]),
    Case("cloudfront-access-logging", "aws:cloudfront/distribution:Distribution", DISTRIBUTION,
         [(with_(DISTRIBUTION, loggingConfig=None), "writes no access logs")]),
    Case("kms-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": True}, [({"enableKeyRotation": False}, "never rotates")]),
    Case("log-group-retention-and-encryption", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 30, "kmsKeyId": KEY},
         [({"kmsKeyId": KEY}, "keeps logs forever"), ({"retentionInDays": 30}, "not encrypted with a customer KMS key")]),
    Case("secrets-customer-key", "aws:secretsmanager/secret:Secret", {"kmsKeyId": KEY}, [({}, "AWS-managed key")]),
    Case("iam-no-star-on-star", "aws:iam/rolePolicy:RolePolicy", {"policy": doc({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]})},
         [({"policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"})}, "allows every action on every resource"),
          ({"policy": '{"Statement": [{"Effect": "Allow", '}, "has a policy document that is not valid JSON")]),
    Case("iam-no-star-on-star", "aws:iam/role:Role", {"inlinePolicies": []},
         [({"inlinePolicies": [{"name": "x", "policy": doc({"Effect": "Allow", "Action": ["*"], "Resource": "*"})}]}, "every action")]),
    Case("sns-encrypted", "aws:sns/topic:Topic", {"kmsMasterKeyId": KEY}, [({}, "AWS-managed key")]),
    Case("sqs-encrypted", "aws:sqs/queue:Queue", {"sqsManagedSseEnabled": True}, [({}, "stores messages unencrypted")]),
    Case("required-tags", "aws:s3/bucket:Bucket", {"tags": {}, "tagsAll": TAGS},
         [({"tags": {"Project": "p"}}, "lacks the tags Environment, ManagedBy, Owner, CostCenter")]),
    Case("allowed-instance-sizes", "aws:rds/clusterInstance:ClusterInstance", {"instanceClass": "db.serverless"},
         [({"instanceClass": "db.r7g.16xlarge"}, "uses size db.r7g.16xlarge, not allowed")],
         config={"allowedPatterns": ["db.serverless", "db.t4g.*"]}),
    Case("allowed-instance-sizes", "eks:index:ManagedNodeGroup", {"instanceTypes": ["t3.medium"]},
         [({"instanceTypes": ["t3.medium", "p5.48xlarge"]}, "uses size p5.48xlarge")], config={"allowedPatterns": ["t3.*"]}),
    # --- issue 18: false negatives and false positives of the rules above --------------------
    Case("iam-no-star-on-star", "aws:iam/rolePolicy:RolePolicy", {"policy": doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/app"})},
         [({"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}, "allows everything but the actions it names (NotAction)"),
          ({"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/*"})}, "allows its actions on everything but the resources it names (NotResource)"),
          ({"policy": doc({"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*"})}, "lets its holder pass any role (iam:PassRole on *)"),
          ({"policy": doc({"Effect": "Allow", "Action": "iam:Pass*", "Resource": ["*"]})}, "iam:PassRole on *")]),
    Case("iam-no-star-on-star", "aws:iam/role:Role",
         {"managedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
          "assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"})},
         [({"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})}, "lets any AWS principal assume it"),
          ({"assumeRolePolicy": doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}, "lets any AWS principal assume it")]),
    # A permissions boundary only caps: its Allow * grants nothing (iam-boundary-policy-not-attached
    # keeps a policy tagged so from being attached as a grant).
    Case("iam-no-star-on-star", "aws:iam/policy:Policy",
         {"policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}),
          "tags": {"PolicyUse": "permissions-boundary"}},
         [({"policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"}), "tags": {}}, "allows every action on every resource")]),
    # One rule for every admin-equivalent AWS managed policy, so a stack can accept one on purpose.
    Case("iam-no-admin-equivalent-policies", "aws:iam/role:Role", {"managedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
         [({"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}, "grants the admin-equivalent AWS managed policy AdministratorAccess")]),
    Case("iam-no-admin-equivalent-policies", "aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
         [({"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "admin-equivalent AWS managed policy AdministratorAccess"),
          ({"role": "r", "policyArn": "arn:aws-us-gov:iam::aws:policy/IAMFullAccess"}, "admin-equivalent AWS managed policy IAMFullAccess")]),
    Case("iam-no-admin-equivalent-policies", "aws:iam/userPolicyAttachment:UserPolicyAttachment", {"user": "u", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
         [({"user": "u", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "admin-equivalent AWS managed policy AdministratorAccess")]),
    Case("iam-no-admin-equivalent-policies", "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", {"group": "g", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
         [({"group": "g", "policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"}, "admin-equivalent AWS managed policy IAMFullAccess")]),
    Case("iam-no-admin-equivalent-policies", "aws:iam/policyAttachment:PolicyAttachment", {"roles": ["r"], "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
         [({"roles": ["r"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "admin-equivalent AWS managed policy AdministratorAccess")]),
    Case("s3-no-public-principal", "aws:s3/bucketPolicy:BucketPolicy",
         {"policy": doc(TLS_DENY, {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "*",
                                   "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}})},
         [({"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}, "allows Principal '*'"),
          ({"policy": doc({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "s3:GetObject", "Resource": "*"})}, "allows everyone but the principals it names (NotPrincipal)"),
          # A pin that matches anything, or that absent keys pass (...IfExists), pins nobody.
          ({"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringLike": {"aws:SourceArn": "*"}}})}, "allows Principal '*'"),
          ({"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}})}, "allows Principal '*'")]),
    Case("s3-tls-only", "aws:s3/bucketPolicy:BucketPolicy",
         {"policy": doc({**TLS_DENY, "Principal": {"AWS": "*"}, "Action": ["s3:*"], "Condition": {"BoolIfExists": {"aws:SecureTransport": ["false"]}}})},
         [({"policy": doc({**TLS_DENY, "Action": "s3:GetObject"})}, "does not deny requests made without TLS"),
          ({"policy": doc({**TLS_DENY, "Principal": {"Service": "logging.s3.amazonaws.com"}})}, "does not deny requests made without TLS")]),
    Case("s3-tls-only", "aws:s3/bucketPolicy:BucketPolicy", {"policy": doc({**TLS_DENY, "Action": "*", "Condition": {"Bool": {"aws:SecureTransport": False}}})}),
    Case("no-open-ingress", "aws:ec2/securityGroup:SecurityGroup",
         {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}]},
         [({"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]}, "admits 0.0.0.0/0 on ports 443-443"),
          ({"ingress": [{"protocol": "-1", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]}, "admits 0.0.0.0/0 on every protocol and port"),
          ({"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"]}]}, "admits 0.0.0.0/1, 128.0.0.0/1 on ports 22-22"),
          ({"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/4"]}]}, "admits 0.0.0.0/4 on ports 22-22"),
          ({"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/0"]}]}, "admits 10.0.0.0/0 on ports 22-22"),
          ({"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["::0/0"]}]}, "admits ::0/0 on ports 22-22")]),
    Case("no-open-ingress", "aws:ec2/securityGroup:SecurityGroup",
         {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]},
         [({"ingress": [{"protocol": "all", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]}, "every protocol and port")],
         config={"loadBalancerGroupPatterns": ["res"]}),
    Case("no-open-ingress", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
         {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "10.1.0.0/16"},
         [({"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}, "admits 0.0.0.0/0 on every protocol and port"),
          ({"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"}, "admits 0.0.0.0/0 on ports 443-443")]),
    Case("no-open-ingress", "aws:ec2/securityGroupRule:SecurityGroupRule",
         {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]},
         [({"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}, "every protocol and port")]),
    Case("alb-http-redirects-to-https", "aws:alb/listener:Listener",
         {"defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "host": "#{host}"}}]},
         [({"defaultActions": [{"type": "forward"}]}, "serves plain HTTP"),
          ({"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTP", "port": "8080"}}]}, "redirects to HTTP"),
          ({"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"port": "8080"}}]}, "redirects to HTTP"),
          ({"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "host": "evil.example.com"}}]}, "redirects to another host (evil.example.com)")]),
    Case("alb-http-redirects-to-https", "aws:lb/listenerRule:ListenerRule",
         {"actions": [{"type": "redirect", "redirect": {"protocol": "HTTPS"}}]},
         [({"actions": [{"type": "redirect", "redirect": {"protocol": "HTTP"}}]}, "redirects to HTTP"),
          ({"actions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "host": "x.example.org"}}]}, "redirects to another host")]),
    Case("alb-http-redirects-to-https", "aws:alb/listenerRule:ListenerRule", {"actions": [{"type": "forward"}]},
         [({"actions": [{"type": "redirect", "redirect": {"protocol": "HTTP"}}]}, "redirects to HTTP")]),
    Case("alb-https-tls-policy", "aws:lb/listener:Listener", {"protocol": "TLS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"},
         [({"protocol": "TLS", "sslPolicy": "ELBSecurityPolicy-2016-08"}, "uses TLS policy 'ELBSecurityPolicy-2016-08'"),
          ({"protocol": "TLS"}, "uses TLS policy None")]),
    Case("alb-drop-invalid-headers", "aws:alb/loadBalancer:LoadBalancer", ALB,
         [(with_(ALB, dropInvalidHeaderFields=False), "passes invalid HTTP header fields")]),
    Case("rds-managed-master-password", "aws:rds/instance:Instance", {"manageMasterUserPassword": True},
         [({"password": "hunter2"}, "takes its master password from the program"),
          ({"passwordWo": "hunter2"}, "takes its master password from the program"),
          ({}, "does not let RDS manage the master password")]),
    # A read replica takes its credentials from its source.
    Case("rds-managed-master-password", "aws:rds/instance:Instance", {"replicateSourceDb": "arn:aws:rds:eu-west-1:123456789012:db:src"}),
    Case("rds-managed-master-password", "aws:rds/cluster:Cluster", {"replicationSourceIdentifier": "arn:aws:rds:eu-west-1:123456789012:cluster:src"},
         [({"replicationSourceIdentifier": "arn:aws:rds:eu-west-1:123456789012:cluster:src", "masterPassword": "x"}, "takes its master password")]),
    Case("rds-deletion-protection", "aws:rds/cluster:Cluster", CLUSTER,
         [(with_(CLUSTER, deletionProtection=False), "has deletion protection off"),
          (with_(CLUSTER, skipFinalSnapshot=True), "skips its final snapshot")], protect=True),
    Case("rds-deletion-protection", "aws:rds/instance:Instance", {"deletionProtection": True, "skipFinalSnapshot": False},
         [({"deletionProtection": False}, "has deletion protection off")], protect=True),
    Case("log-group-retention-and-encryption", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 30, "kmsKeyId": KEY},
         [({"retentionInDays": 14, "kmsKeyId": KEY}, "keeps logs 14 days, fewer than 30"),
          ({"retentionInDays": 0, "kmsKeyId": KEY}, "keeps logs forever")], config={"minDays": 30}),
    Case("ec2-volumes-encrypted", "aws:ec2/launchTemplate:LaunchTemplate",
         {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]},
         [({}, "names no block devices"), ({"blockDeviceMappings": []}, "names no block devices")]),
    Case("ec2-volumes-encrypted", "aws:ec2/instance:Instance",
         {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": True}]},
         [({"ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": True}]}, "leaves volume root unencrypted"),
          ({"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"deviceName": "/dev/sdf"}]}, "leaves volume /dev/sdf unencrypted")]),
    Case("ec2-volumes-encrypted", "aws:ebs/volume:Volume", {"encrypted": True}, [({}, "is an unencrypted volume")]),
    Case("ec2-volumes-encrypted", "aws:ec2/launchConfiguration:LaunchConfiguration", {"rootBlockDevice": {"encrypted": True}},
         [({"rootBlockDevice": {}}, "leaves volume root unencrypted")]),
    Case("cloudfront-origin-https", "aws:cloudfront/distribution:Distribution",
         with_(DISTRIBUTION, origins=[{"originId": "api", "domainName": "alb.example.com", "customOriginConfig": {"originProtocolPolicy": "https-only", "httpPort": 80, "httpsPort": 443}}]),
         [(with_(DISTRIBUTION, origins=[{"originId": "api", "domainName": "alb.example.com", "customOriginConfig": {"originProtocolPolicy": "http-only"}}]), "connects to origin api over plain HTTP"),
          (with_(DISTRIBUTION, defaultCacheBehavior={"viewerProtocolPolicy": "allow-all"}, origins=[{"originId": "api", "domainName": "a.example.com", "customOriginConfig": {"originProtocolPolicy": "match-viewer"}}]), "over plain HTTP")]),
    Case("cloudfront-s3-origin-access-control", "aws:cloudfront/distribution:Distribution", DISTRIBUTION,
         [(with_(DISTRIBUTION, origins=[{"originId": "web", "domainName": "b.s3-website-eu-west-1.amazonaws.com", "customOriginConfig": {"originProtocolPolicy": "http-only"}}]), "reads S3 website endpoint web"),
          (with_(DISTRIBUTION, origins=[{"originId": "web", "domainName": "b.s3-website.eu-west-1.amazonaws.com"}]), "S3 website endpoint")]),
    Case("ecs-not-privileged", "aws:batch/jobDefinition:JobDefinition", JOB,
         [(with_(JOB, containerProperties=json.dumps({"privileged": True})), "runs its container privileged")]),
    Case("kms-key-policy-not-public", "aws:kms/key:Key",
         {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
                        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
                         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}})},
         [({"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"})}, "allows Principal '*'"),
          ({"policy": doc({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}, "allows Principal '*'")]),
]  # fmt: skip

# Built on Case and doc above, hence imported here (importing it first would be circular).
from tests.policy.cases_access import ACCESS_CASES  # noqa: E402
from tests.policy.cases_baseline import BASELINE_CASES  # noqa: E402
from tests.policy.cases_controls import CONTROL_CASES  # noqa: E402
from tests.policy.cases_database_access import DATABASE_ACCESS_CASES  # noqa: E402
from tests.policy.cases_irsa import IRSA_CASES  # noqa: E402
from tests.policy.cases_release import RELEASE_CASES  # noqa: E402
from tests.policy.cases_tiers import TIER_CASES  # noqa: E402

CASES = [
    *CASES,
    *ACCESS_CASES,
    *CONTROL_CASES,
    *TIER_CASES,
    *BASELINE_CASES,
    *DATABASE_ACCESS_CASES,
    *IRSA_CASES,
    *RELEASE_CASES,
]
