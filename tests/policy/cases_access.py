"""Cases of the IAM, resource-policy and KMS rules (policy/rules/iam.py, resource_policies.py)."""

from __future__ import annotations

from typing import Any

from tests.policy.cases import Case, doc, with_

GITHUB = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{GITHUB}"
ACCOUNT = "arn:aws:iam::123456789012:root"
OTHER = "arn:aws:iam::210987654321:root"


def oidc(sub: Any, aud: Any = "sts.amazonaws.com", operator: str = "StringLike") -> dict[str, Any]:
    condition: dict[str, Any] = {"StringEquals": {f"{GITHUB}:aud": aud}}
    if sub is not None:
        condition[operator] = {**condition.get(operator, {}), f"{GITHUB}:sub": sub}
    return {
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }


def trust(*statements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"assumeRolePolicy": doc(*statements), **extra}


ENV = "repo:acme/platform:environment:prod"
DEPLOY = {"tags": {"CiRole": "deploy"}}
RELEASE = {"tags": {"CiRole": "release"}}
RELEASE_ENV = "repo:acme/platform:environment:release"
SERVICE = {
    "Effect": "Allow",
    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
    "Action": "sts:AssumeRole",
}
CROSS = {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "sts:AssumeRole"}
ORG = {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}
READ = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/k"
DECRYPT = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY_ARN]}
ADMIN_KEY = {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "kms:*", "Resource": "*"}
PUBLIC = {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
FROM_RULE = {"ArnEquals": {"aws:SourceArn": "arn:aws:events:eu-west-1:123456789012:rule/r"}}
SCOPED = with_(PUBLIC, Condition=FROM_RULE)
ENDPOINT = with_(
    PUBLIC,
    Action="s3:GetObject",
    Condition={"StringEquals": {"aws:PrincipalAccount": "123456789012"}},
)
POWER_USER = "arn:aws:iam::aws:policy/PowerUserAccess"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def public_cases(rule: str, type_: str, good: dict[str, Any]) -> Case:
    return Case(
        rule,
        type_,
        {"policy": doc(good)},
        [
            ({"policy": doc(PUBLIC)}, "allows Principal '*' without a condition"),
            ({"policy": doc(with_(PUBLIC, Principal={"AWS": ["*"]}))}, "allows Principal '*'"),
            (
                {"policy": doc(with_(PUBLIC, Condition={"StringLike": {"aws:SourceArn": "*"}}))},
                "Principal '*'",
            ),
            (
                {
                    "policy": doc(
                        with_(SCOPED, Condition={"ArnLikeIfExists": {"aws:SourceArn": "arn:x"}})
                    )
                },
                "Principal '*'",
            ),
            (
                {
                    "policy": doc(
                        {
                            "Effect": "Allow",
                            "NotPrincipal": {"AWS": ACCOUNT},
                            "Action": "*",
                            "Resource": "*",
                        }
                    )
                },
                "allows everyone outside its NotPrincipal list",
            ),
        ],
    )


ACCESS_CASES = [
    Case("iam-no-admin-equivalent-policies", ATTACH, {"policyArn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
         [({"policyArn": POWER_USER}, "grants the admin-equivalent AWS managed policy PowerUserAccess"),
          ({"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess-Amplify"}, "AdministratorAccess-Amplify")]),
    Case("iam-no-admin-equivalent-policies", "aws:iam/role:Role", {"managedPolicyArns": []},
         [({"managedPolicyArns": [POWER_USER]}, "PowerUserAccess")]),
    # A customer policy that happens to share the name is not the AWS managed one.
    Case("iam-no-admin-equivalent-policies", "aws:iam/userPolicyAttachment:UserPolicyAttachment",
         {"policyArn": "arn:aws:iam::123456789012:policy/PowerUserAccess"},
         [({"policyArn": "arn:aws:iam::aws:policy/AWSOrganizationsFullAccess"}, "AWSOrganizationsFullAccess")]),
    Case("iam-trust-conditioned", "aws:iam/role:Role", trust(SERVICE, with_(CROSS, Condition=ORG)),
         [(trust(CROSS), f"trusts {OTHER} without a condition"),
          (trust(with_(CROSS, Principal={"AWS": ["210987654321"]})), "trusts 210987654321 without"),
          (trust(with_(CROSS, Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})), "without a condition"),
          (trust({"Effect": "Allow", "NotPrincipal": {"AWS": OTHER}, "Action": "sts:AssumeRole"}), "NotPrincipal")]),
    Case("iam-trust-conditioned", "aws:iam/role:Role", trust(CROSS),
         [(trust(with_(CROSS, Principal={"AWS": "arn:aws:iam::999999999999:role/x"})), "trusts arn:aws:iam::999999999999:role/x")],
         config={"trustedAccounts": ["210987654321"]}),
    Case("iam-github-oidc-trust-pinned", "aws:iam/role:Role",
         trust(oidc(["repo:acme/platform:pull_request", "repo:acme/platform:ref:refs/heads/main"]), SERVICE),
         [(trust(oidc("repo:acme/*")), "accepts the GitHub subject repo:acme/*, not pinned to one repository"),
          (trust(oidc("*")), "not pinned to one repository"),
          (trust(oidc(None)), "accepts GitHub tokens of any repository"),
          (trust(oidc(ENV, aud="sigstore")), "aud is not StringEquals sts.amazonaws.com"),
          (trust(with_(oidc(ENV), Condition={"StringLike": {f"{GITHUB}:aud": "sts.amazonaws.com", f"{GITHUB}:sub": ENV}})),
           "aud is not StringEquals")]),
    Case("iam-github-oidc-trust-pinned", "aws:iam/role:Role", trust(oidc([ENV], operator="StringEquals"), **DEPLOY),
         [(trust(oidc([ENV, "repo:acme/platform:ref:refs/heads/main"]), **DEPLOY),
           "is a deploy role that accepts the GitHub subject repo:acme/platform:ref:refs/heads/main, not one environment"),
          (trust(oidc("repo:acme/platform:environment:*"), **DEPLOY), "not one environment")]),
    # Immutable subject claims (GitHub docs, "OpenID Connect reference"): owner@ID/name@ID.
    Case("iam-github-oidc-trust-pinned", "aws:iam/role:Role",
         trust(oidc(["repo:acme@12/platform@34:pull_request"], operator="StringEquals")),
         [(trust(oidc("repo:acme@*/platform@*:pull_request")), "not pinned to one repository"),
          (trust(oidc("repo:acme@12/*")), "not pinned to one repository")]),
    Case("iam-github-oidc-trust-pinned", "aws:iam/role:Role",
         trust(oidc(["repo:acme@12/platform@34:environment:prod"], operator="StringEquals"), **DEPLOY),
         [(trust(oidc("repo:acme@12/platform@34:pull_request"), **DEPLOY), "not one environment")]),
    # App-release roles (CiRole=release) accept the release environment's subject only.
    Case("iam-github-oidc-trust-pinned", "aws:iam/role:Role",
         trust(oidc([RELEASE_ENV, "repo:acme@12/platform@34:environment:release"], operator="StringEquals"), **RELEASE),
         [(trust(oidc([RELEASE_ENV, ENV], operator="StringEquals"), **RELEASE),
           f"is a release role that accepts the GitHub subject {ENV}, not the environment:release subject"),
          (trust(oidc("repo:acme/platform:ref:refs/tags/v1.0.0"), **RELEASE), "is a release role"),
          (trust(oidc("repo:acme/platform:environment:release*"), **RELEASE), "is a release role")]),
    Case("iam-no-service-wildcard", "aws:iam/rolePolicy:RolePolicy",
         {"policy": doc(READ, {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"})},
         [({"policy": doc({"Effect": "Allow", "Action": ["s3:GetObject", "s3:*"], "Resource": "*"})}, "allows s3:* on every resource"),
          ({"policy": doc({"Effect": "Allow", "Action": "EC2:*", "Resource": ["*"]})}, "allows EC2:* on every resource")]),
    Case("iam-no-service-wildcard", "aws:iam/role:Role", {"inlinePolicies": [{"name": "x", "policy": doc(READ)}]},
         [({"inlinePolicies": [{"name": "x", "policy": doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})}]}, "sqs:*")]),
    Case("iam-no-decrypt-on-all-keys", "aws:iam/policy:Policy",
         {"policy": doc(DECRYPT, {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"})},
         [({"policy": doc(with_(DECRYPT, Resource="*"))}, "allows kms:Decrypt or kms:ReEncryptFrom on every KMS key"),
          ({"policy": doc(with_(DECRYPT, Action="kms:*", Resource="*"))}, "on every KMS key"),
          ({"policy": doc(with_(DECRYPT, Action="kms:ReEncrypt*", Resource="arn:aws:kms:*:123456789012:key/*"))}, "on every KMS key"),
          ({"policy": doc(with_(DECRYPT, Action="KMS:Decrypt*", Resource=["*"]))}, "on every KMS key")]),
    public_cases("kms-key-policy-not-public", "aws:kms/key:Key", ADMIN_KEY),
    public_cases("kms-key-policy-not-public", "aws:kms/keyPolicy:KeyPolicy",
                 with_(ADMIN_KEY, Principal="*", Condition={"StringEquals": {"kms:CallerAccount": "123456789012"}})),
    public_cases("sns-topic-policy-not-public", "aws:sns/topicPolicy:TopicPolicy", SCOPED),
    public_cases("sns-topic-policy-not-public", "aws:sns/topic:Topic", {**ADMIN_KEY, "Action": "sns:Publish"}),
    public_cases("sqs-queue-policy-not-public", "aws:sqs/queuePolicy:QueuePolicy", SCOPED),
    public_cases("sqs-queue-policy-not-public", "aws:sqs/queue:Queue", SCOPED),
    public_cases("ecr-repository-policy-not-public", "aws:ecr/repositoryPolicy:RepositoryPolicy",
                 {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "ecr:BatchGetImage"}),
    public_cases("vpc-endpoint-policy-not-public", "aws:ec2/vpcEndpoint:VpcEndpoint", ENDPOINT),
    public_cases("vpc-endpoint-policy-not-public", "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy",
                 with_(ENDPOINT, Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}})),
    # Named resources reached through an endpoint limit it too: ECR's image layers come from an
    # AWS-owned bucket with presigned requests (Amazon ECR User Guide, "Amazon ECR interface VPC
    # endpoints": minimum S3 gateway endpoint policy); a wildcard bucket or "*" names nothing.
    Case("vpc-endpoint-policy-not-public", "aws:ec2/vpcEndpoint:VpcEndpoint",
         {"policy": doc(with_(PUBLIC, Action="s3:GetObject", Resource=["arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*"]),
                        with_(PUBLIC, Action="sts:AssumeRoleWithWebIdentity", Resource="arn:aws:iam::123456789012:role/*"))},
         [({"policy": doc(with_(PUBLIC, Action="s3:GetObject", Resource=["arn:aws:s3:::*/*"]))}, "allows Principal '*'"),
          ({"policy": doc(with_(PUBLIC, Action="s3:GetObject", Resource=["arn:aws:s3:::prod-*-starport-layer-bucket/*"]))}, "allows Principal '*'"),
          ({"policy": doc(with_(PUBLIC, Resource="arn:aws:iam::*:role/*"))}, "allows Principal '*'"),
          ({"policy": doc(with_(PUBLIC, Resource=["arn:aws:s3:::b/*", "*"]))}, "allows Principal '*'"),
          ({"policy": doc(with_(PUBLIC, NotResource="arn:aws:s3:::b/*"))}, "allows Principal '*'")]),
    # A data perimeter on the resources reached through the endpoint is a restriction too.
    public_cases("vpc-endpoint-policy-not-public", "aws:ec2/vpcEndpoint:VpcEndpoint",
                 with_(ENDPOINT, Condition={"StringEquals": {"aws:ResourceAccount": "123456789012"}})),
    Case("kms-no-policy-lockout-bypass", "aws:kms/key:Key", {"bypassPolicyLockoutSafetyCheck": False},
         [({"bypassPolicyLockoutSafetyCheck": True}, "bypasses the key policy lockout safety check")]),
    Case("kms-no-policy-lockout-bypass", "aws:kms/keyPolicy:KeyPolicy", {"keyId": "k"},
         [({"keyId": "k", "bypassPolicyLockoutSafetyCheck": True}, "bypasses the key policy lockout safety check")]),
]  # fmt: skip
