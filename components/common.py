"""Shared building blocks: stack context, KMS keys, log groups and IAM documents and roles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NewType

import pulumi
import pulumi_aws as aws

from components.naming import Limit, autonamed

# An IAM statement as plain data; values may be Outputs, serialised once by `policy_document`.
Statement = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class StackContext:
    """What every component needs to know about the account and stack it is built in."""

    project: str
    stack: str
    account_id: str
    partition: str
    region: str
    log_retention_days: int
    protect_data: bool

    def arn(self, service: str, resource: str, *, region: str | None = None) -> str:
        """An ARN in this account; `region=""` for global services such as IAM."""
        in_region = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{in_region}:{self.account_id}:{resource}"

    @property
    def account_root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"


def lookup_context(
    *, project: str, stack: str, log_retention_days: int, protect_data: bool, provider: aws.Provider
) -> StackContext:
    """Ask AWS once, at program start, which account and partition the provider deploys into."""
    invoke = pulumi.InvokeOptions(provider=provider)
    identity = aws.get_caller_identity(opts=invoke)
    partition = aws.get_partition(opts=invoke)
    region = aws.get_region(opts=invoke)
    return StackContext(
        project=project,
        stack=stack,
        account_id=identity.account_id,
        partition=partition.partition,
        region=region.region,
        log_retention_days=log_retention_days,
        protect_data=protect_data,
    )


# --- IAM documents --------------------------------------------------------------------------------


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """An IAM policy document from plain statements, serialised once."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(
    actions: Sequence[str], resources: Sequence[pulumi.Input[str]], **extra: Any
) -> Statement:
    """An Allow statement; `extra` adds keys such as Condition or Sid."""
    return {"Effect": "Allow", "Action": list(actions), "Resource": list(resources), **extra}


def ecr_pull(repository_arn: pulumi.Input[str]) -> list[Statement]:
    """What an ECS or Batch execution role needs to pull images from one ECR repository."""
    return [
        # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
        allow(["ecr:GetAuthorizationToken"], ["*"]),
        allow(
            ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            [repository_arn],
        ),
    ]


def service_trust(ctx: StackContext, service: str, *, source_arn: str | None = None) -> Statement:
    """Trust for an AWS service, limited to this account (and one source ARN pattern if given)
    so the service cannot be used as a confused deputy by another account."""
    condition: dict[str, dict[str, str]] = {"StringEquals": {"aws:SourceAccount": ctx.account_id}}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return {
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }


def unconditioned_service_trust(service: str) -> Statement:
    """Trust for an AWS service exactly as AWS documents it for that role, without the
    aws:SourceAccount condition of service_trust. Only for roles whose AWS page shows no condition
    and where no AWS page says the service sends aws:SourceAccount on AssumeRole: a condition the
    service does not satisfy leaves the role unusable. Each caller says which page it follows."""
    return {
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


def instance_trust() -> Statement:
    """Trust for EC2 instances (an instance profile's role), as AWS documents it: the
    aws:SourceAccount condition is not documented for instance profiles and could leave instances
    without credentials."""
    return unconditioned_service_trust("ec2")


def fitted(
    logical: str, limit: int, opts: pulumi.ResourceOptions
) -> tuple[str, pulumi.ResourceOptions]:
    """The logical name and options of an auto-named resource whose physical name must fit in
    `limit`: a longer name is trimmed (with a hash) and keeps its old URN through an alias, so
    nothing created under the old name is replaced (the provider reuses its earlier auto-name)."""
    name = autonamed(logical, limit)
    if name == logical:
        return name, opts
    alias = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=logical)])
    return name, pulumi.ResourceOptions.merge(opts, alias)


def role(
    name: str,
    *,
    trust: Sequence[Statement] | pulumi.Output[str],
    statements: Sequence[Statement],
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    description: str,
) -> aws.iam.Role:
    """A role with its trust policy (statements, or a document already built from outputs) and
    one inline policy holding exactly `statements`."""
    logical, opts = fitted(name, Limit.IAM_ROLE, pulumi.ResourceOptions(parent=parent))
    created = aws.iam.Role(
        logical,
        description=description,
        assume_role_policy=trust if isinstance(trust, pulumi.Output) else policy_document(trust),
        tags=dict(tags),
        opts=opts,
    )
    if statements:
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=created.id,
            policy=policy_document(statements),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return created


def attach_managed(
    name: str, *, role: aws.iam.Role, policy: str, ctx: StackContext, parent: pulumi.Resource
) -> aws.iam.RolePolicyAttachment:
    """Attach an AWS managed policy, named by its path after `policy/` ("service-role/X")."""
    return aws.iam.RolePolicyAttachment(
        name,
        role=role.name,
        policy_arn=f"arn:{ctx.partition}:iam::aws:policy/{policy}",
        opts=pulumi.ResourceOptions(parent=parent),
    )


# --- KMS ------------------------------------------------------------------------------------------


def _key_document(ctx: StackContext, statements: Sequence[Statement]) -> pulumi.Output[str]:
    """A key policy: the account administers the key through IAM, `statements` add services."""
    admin = {
        "Sid": "AccountAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.account_root},
        "Action": "kms:*",
        "Resource": "*",
    }
    return policy_document([admin, *statements])


def kms_key(
    name: str,
    *,
    ctx: StackContext,
    description: str,
    statements: Sequence[Statement] | None,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    provider: aws.Provider | None = None,
) -> aws.kms.Key:
    """A customer-managed key with yearly rotation. The account keeps administration through IAM;
    `statements` grant the AWS services that must use the key. `statements=None` leaves the
    policy to a later `key_policy` (for grants that name resources created after the key).
    `provider` for another region."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30 if ctx.protect_data else 7,
        policy=None if statements is None else _key_document(ctx, statements),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=ctx.protect_data, provider=provider),
    )
    aws.kms.Alias(
        f"{name}-alias",
        name=f"alias/{name}",
        target_key_id=key.key_id,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    return key


def key_policy(
    name: str,
    *,
    key: aws.kms.Key,
    ctx: StackContext,
    statements: Sequence[Statement],
    parent: pulumi.Resource,
) -> aws.kms.KeyPolicy:
    """The policy of a key created with `statements=None`: administration plus `statements`."""
    return aws.kms.KeyPolicy(
        name,
        key_id=key.key_id,
        policy=_key_document(ctx, statements),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def service_key_statement(ctx: StackContext, service: str, sid: str) -> Statement:
    """Lets an AWS service encrypt and decrypt with a key, on behalf of this account only."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
    }


def events_key_statement(sid: str, service: str = "events") -> Statement:
    """Lets EventBridge (or another event source: `events.rds` for RDS event notifications)
    encrypt for a rule target (SNS topic, SQS queue) with a key.

    No `aws:SourceAccount` / `aws:SourceArn` condition: AWS documents this grant without one for
    encrypted targets (EventBridge User Guide, getting started limitations: "If you create a rule
    with an encrypted Amazon SQS queue as a target..."; SNS Developer Guide, sns-key-management
    "Enable compatibility between event sources from AWS services and encrypted topics"; Amazon
    Q Developer in chat applications admin guide, troubleshooting "The Amazon SNS topic has
    server-side encryption turned on"), and documents no source key on those KMS requests (the
    source conditions it documents belong to event buses encrypted with a customer key,
    eb-encryption-key-policy). A condition the request does not carry denies every delivery
    silently. The target's own policy (topic or queue policy) is what limits who may send."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }


def logs_key_statement(ctx: StackContext) -> Statement:
    """Lets CloudWatch Logs use a key, only for this account's log groups in this region."""
    return {
        "Sid": "CloudWatchLogs",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
        "Action": [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        ],
        "Resource": "*",
        "Condition": {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": ctx.arn("logs", "log-group:*")}
        },
    }


# --- secrets --------------------------------------------------------------------------------------

# Marks a secret whose value the stack's CI preview role may read: set only by `generated_secret`
# (the preview role has no tagging permission). The role's own policy denies GetSecretValue on
# every secret without it (components/ci_access.py), so the RDS-managed master secret stays denied.
PREVIEW_READABLE_TAG = "PreviewReadable"

# A key that encrypts program-generated secrets: built only by `secret_key`, so it always admits
# the preview role's decryption through Secrets Manager (`generated_secret` takes no other key).
SecretKey = NewType("SecretKey", aws.kms.Key)


def preview_role_pattern(ctx: StackContext) -> str:
    """ARN pattern of this stack's CI preview role, as the bootstrap builds it (components/
    ci_access.py): CiAccess `<project>-<stack>-ci-access` names the auto-named role
    `<that>-preview`, which the provider suffixes with "-" and 7 characters (`fitted`). A role
    session's aws:PrincipalArn is the role's ARN (IAM User Guide, "AWS global condition context
    keys", aws:PrincipalArn)."""
    logical = autonamed(f"{ctx.project}-{ctx.stack}-ci-access-preview", Limit.IAM_ROLE)
    return ctx.arn("iam", f"role/{logical}-*", region="")


def _preview_caller(ctx: StackContext) -> dict[str, dict[str, str]]:
    """Conditions that admit only this account's preview role of this stack."""
    return {
        "ArnLike": {"aws:PrincipalArn": preview_role_pattern(ctx)},
        "StringEquals": {"aws:PrincipalAccount": ctx.account_id},
    }


def preview_decrypt_statement(ctx: StackContext) -> Statement:
    """Lets the stack's preview role decrypt with a key only through Secrets Manager in this
    region, for `pulumi preview --refresh` (a SecretVersion is read with GetSecretValue, which
    needs kms:Decrypt on a customer key: Secrets Manager API Reference, GetSecretValue). A key
    policy statement admitting a principal grants by itself, no IAM policy needed (AWS KMS
    Developer Guide, "Key policies in AWS KMS"); `Principal: *` pinned by aws:PrincipalArn,
    because a key policy refuses a principal that does not exist yet or a wildcard in its ARN.
    kms:ViaService and kms:CallerAccount as in the policy of the AWS managed aws/secretsmanager
    key (AWS KMS Developer Guide, condition keys kms:ViaService, kms:CallerAccount)."""
    caller = _preview_caller(ctx)
    caller["StringEquals"] |= {
        "kms:CallerAccount": ctx.account_id,
        "kms:ViaService": f"secretsmanager.{ctx.region}.amazonaws.com",
    }
    return {
        "Sid": "PreviewRefreshOfSecrets",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": caller,
    }


def secret_key(
    name: str,
    *,
    ctx: StackContext,
    description: str,
    statements: Sequence[Statement],
    parent: pulumi.Resource,
    tags: Mapping[str, str],
) -> SecretKey:
    """A `kms_key` for generated secrets (and whatever `statements` admit besides): its policy
    also lets the preview role decrypt those secrets through Secrets Manager."""
    return SecretKey(
        kms_key(
            name,
            ctx=ctx,
            description=description,
            statements=[*statements, preview_decrypt_statement(ctx)],
            parent=parent,
            tags=tags,
        )
    )


def generated_secret(
    name: str,
    *,
    description: str,
    fields: Mapping[str, pulumi.Input[str]],
    ctx: StackContext,
    key: SecretKey,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
) -> aws.secretsmanager.Secret:
    """A Secrets Manager secret under a customer key holding `fields` as one JSON object, secret
    in state and in outputs; protected (with a recovery window) when the stack keeps its data,
    deleted at once where the stack is destroyable.

    The value is program-generated and already in the stack's state, which the CI preview role
    decrypts anyway: its resource policy and tag let that role read it (a refresh reads a
    SecretVersion with GetSecretValue: terraform-provider-aws secretsmanager/secret_version.go),
    which exposes nothing new."""
    secret = aws.secretsmanager.Secret(
        name,
        description=description,
        kms_key_id=key.arn,
        recovery_window_in_days=30 if ctx.protect_data else 0,
        tags={**tags, PREVIEW_READABLE_TAG: "true"},
        opts=pulumi.ResourceOptions(parent=parent, protect=ctx.protect_data),
    )
    aws.secretsmanager.SecretPolicy(
        f"{name}-policy",
        secret_arn=secret.arn,
        # Within one account an Allow in the resource policy suffices unless a permissions
        # boundary or session policy limits the role (IAM User Guide, "Policy evaluation for
        # requests within a single account"); the preview role has neither.
        policy=policy_document(
            [
                {
                    "Sid": "PreviewRefresh",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                    "Condition": _preview_caller(ctx),
                }
            ]
        ),
        # Secrets Manager refuses a policy that would admit anyone outside the account (Secrets
        # Manager API Reference, PutResourcePolicy BlockPublicPolicy).
        block_public_policy=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.secretsmanager.SecretVersion(
        f"{name}-value",
        secret_id=secret.id,
        secret_string=pulumi.Output.secret(pulumi.Output.json_dumps(dict(fields))),
        opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=["secretString"]),
    )
    return secret


# --- logs -----------------------------------------------------------------------------------------


def log_group(
    name: str,
    *,
    path: str,
    ctx: StackContext,
    key: aws.kms.Key,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
) -> aws.cloudwatch.LogGroup:
    """A KMS-encrypted log group with the stack's retention."""
    return aws.cloudwatch.LogGroup(
        name,
        name=path,
        retention_in_days=ctx.log_retention_days,
        kms_key_id=key.arn,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


# --- S3 -------------------------------------------------------------------------------------------


def private_bucket(
    name: str,
    *,
    ctx: StackContext,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    key: aws.kms.Key | None,
    versioned: bool,
    object_ownership: str = "BucketOwnerEnforced",
    object_lock: bool = False,
) -> aws.s3.Bucket:
    """A bucket no one outside the account can read: see `private_bucket_with_controls`."""
    return private_bucket_with_controls(
        name,
        ctx=ctx,
        parent=parent,
        tags=tags,
        key=key,
        versioned=versioned,
        object_ownership=object_ownership,
        object_lock=object_lock,
    )[0]


def private_bucket_with_controls(
    name: str,
    *,
    ctx: StackContext,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    key: aws.kms.Key | None,
    versioned: bool,
    object_ownership: str = "BucketOwnerEnforced",
    object_lock: bool = False,
) -> tuple[aws.s3.Bucket, aws.s3.BucketOwnershipControls]:
    """A bucket no one outside the account can read: public access blocked, ACLs disabled (unless
    a log service needs them: `object_ownership`), encrypted with `key` (or SSE-S3 where a service,
    such as ALB or CloudFront log delivery, cannot use KMS). Protected and kept unless the stack
    is destroyable. Also returns the ownership controls, for a log service that checks at
    creation that the bucket accepts ACLs (CloudFront). `object_lock` creates the bucket with
    S3 Object Lock, which only a new bucket can get (objectLockEnabled forces a replacement)."""
    bucket = aws.s3.Bucket(
        name,
        force_destroy=not ctx.protect_data,
        object_lock_enabled=True if object_lock else None,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=ctx.protect_data),
    )
    child = pulumi.ResourceOptions(parent=parent)
    aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership=object_ownership),
        opts=child,
    )
    default = (
        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=key.arn
        )
        if key
        else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="AES256"
        )
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=default, bucket_key_enabled=key is not None
            )
        ],
        opts=child,
    )
    if versioned:
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
    return bucket, ownership


# Days after which S3 aborts an unfinished multipart upload, whose parts are billed but invisible.
ABORT_MULTIPART_DAYS = 7


def expiry_rule(
    rule_id: str,
    *,
    current_days: int | None = None,
    noncurrent_days: int | None = None,
    abort_multipart_days: int = ABORT_MULTIPART_DAYS,
) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """A lifecycle rule over the whole bucket that expires current objects and noncurrent versions
    after the given days (None: that part is kept) and always aborts incomplete multipart
    uploads (after a week unless told)."""
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=current_days)
        if current_days
        else None,
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=noncurrent_days
        )
        if noncurrent_days
        else None,
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=abort_multipart_days
        ),
    )


def alb_log_writes(
    elb_account_arn: pulumi.Input[str],
    objects: pulumi.Output[str] | Sequence[pulumi.Input[str]],
) -> list[Statement]:
    """Bucket policy statements that let ALB access logs be delivered to `objects` (one pattern,
    or several). Regions from before August 2022 deliver as the regional ELB account, newer ones
    as the log delivery service (Elastic Load Balancing User Guide, "Enable access logs", step
    2): both, so a stack works in any region."""
    resource = objects if isinstance(objects, pulumi.Output) else list(objects)
    return [
        {
            "Sid": "ElbAccountWrites",
            "Effect": "Allow",
            "Principal": {"AWS": elb_account_arn},
            "Action": "s3:PutObject",
            "Resource": resource,
        },
        {
            "Sid": "LogDeliveryWrites",
            "Effect": "Allow",
            "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": resource,
        },
    ]


def bucket_policy(
    name: str,
    *,
    bucket: aws.s3.Bucket,
    statements: Sequence[Statement],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> aws.s3.BucketPolicy:
    """The bucket's one policy: `statements` plus a deny of every request not made over TLS."""
    deny_insecure = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket.arn, bucket.arn.apply(lambda arn: f"{arn}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return aws.s3.BucketPolicy(
        name,
        bucket=bucket.id,
        policy=policy_document([*statements, deny_insecure]),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


# --- DNS and certificates -------------------------------------------------------------------------


def dns_certificate(
    name: str,
    *,
    domain: str,
    zone_id: str,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    provider: pulumi.ProviderResource | None = None,
) -> aws.acm.CertificateValidation:
    """An ACM certificate validated through a record in the domain's Route53 zone. `provider`
    for another region (CloudFront takes certificates from us-east-1 only)."""
    in_region = pulumi.ResourceOptions(parent=parent, provider=provider)
    certificate = aws.acm.Certificate(
        f"{name}-cert",
        domain_name=domain,
        validation_method="DNS",
        key_algorithm="EC_prime256v1",
        tags=dict(tags),
        opts=in_region,
    )
    option = certificate.domain_validation_options[0]
    record = aws.route53.Record(
        f"{name}-cert-validation",
        zone_id=zone_id,
        name=option.resource_record_name,
        type=option.resource_record_type,
        records=[option.resource_record_value],
        ttl=60,
        allow_overwrite=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return aws.acm.CertificateValidation(
        f"{name}-cert-validation",
        certificate_arn=certificate.arn,
        validation_record_fqdns=[record.fqdn],
        opts=in_region,
    )


# --- WAF ------------------------------------------------------------------------------------------

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)


def _visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


# Request headers that carry credentials, kept out of WAF logs (WAF lower-cases header names).
WAF_REDACTED_HEADERS = ("authorization", "cookie")


def web_acl(
    name: str,
    *,
    scope: str,
    rate_limit: int,
    ctx: StackContext,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    log_key: aws.kms.Key | None = None,
    provider: aws.Provider | None = None,
) -> aws.wafv2.WebAcl:
    """A WAF web ACL: AWS managed rule groups, then a per-IP rate limit, logging every request
    (credential headers redacted) to a KMS-encrypted log group with the stack's retention.
    `scope` is REGIONAL (load balancers) or CLOUDFRONT (which AWS only accepts in us-east-1: pass
    that provider). `log_key` encrypts the logs (its policy must admit CloudWatch Logs of the
    ACL's region); without one the ACL gets its own key there."""
    managed = [
        aws.wafv2.WebAclRuleArgs(
            name=group,
            priority=priority,
            override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
            ),
            statement=aws.wafv2.WebAclRuleStatementArgs(
                managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                    vendor_name="AWS", name=group
                )
            ),
            visibility_config=_visibility(group),
        )
        for priority, group in enumerate(MANAGED_RULE_GROUPS)
    ]
    rate = aws.wafv2.WebAclRuleArgs(
        name="RateLimitPerIp",
        priority=len(managed),
        action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                limit=rate_limit, aggregate_key_type="IP"
            )
        ),
        visibility_config=_visibility("RateLimitPerIp"),
    )
    acl = aws.wafv2.WebAcl(
        name,
        scope=scope,
        default_action=aws.wafv2.WebAclDefaultActionArgs(
            allow=aws.wafv2.WebAclDefaultActionAllowArgs()
        ),
        rules=[*managed, rate],
        visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
            cloudwatch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
        ),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    # CloudFront-scope ACLs, and so their log groups, live in us-east-1 (AWS WAF Developer Guide,
    # "Sending web ACL traffic logs to an Amazon CloudWatch Logs log group": the log group
    # must be in the ACL's Region, us-east-1 for CloudFront).
    region = "us-east-1" if scope == "CLOUDFRONT" else ctx.region
    key = log_key or kms_key(
        f"{name}-logs-key",
        ctx=ctx,
        description=f"{name}: WAF request logs",
        statements=[logs_key_statement(replace(ctx, region=region))],
        parent=parent,
        tags=tags,
        provider=provider,
    )
    # WAF accepts only destinations named aws-waf-logs-* (AWS WAF API Reference,
    # LoggingConfiguration: "The name that you give the destination must start with
    # aws-waf-logs-").
    group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name=f"aws-waf-logs-{name}",
        retention_in_days=ctx.log_retention_days,
        kms_key_id=key.arn,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    aws.wafv2.WebAclLoggingConfiguration(
        f"{name}-logging",
        resource_arn=acl.arn,
        log_destination_configs=[group.arn],
        redacted_fields=[
            aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                    name=header
                )
            )
            for header in WAF_REDACTED_HEADERS
        ],
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    return acl


# --- network rules and scaling --------------------------------------------------------------------


def tcp_rule(
    name: str,
    *,
    direction: str,
    group_id: pulumi.Input[str],
    ports: tuple[int, int],
    description: str,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    cidr_ipv4: str | None = None,
    cidr_ipv6: str | None = None,
    peer_group_id: pulumi.Input[str] | None = None,
    prefix_list_id: pulumi.Input[str] | None = None,
) -> None:
    """One TCP security group rule (`direction` "in" or "out") as its own resource, so groups can
    reference each other without a dependency cycle."""
    rule = (
        aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
    )
    rule(
        name,
        security_group_id=group_id,
        description=description,
        ip_protocol="tcp",
        from_port=ports[0],
        to_port=ports[1],
        cidr_ipv4=cidr_ipv4,
        cidr_ipv6=cidr_ipv6,
        referenced_security_group_id=peer_group_id,
        prefix_list_id=prefix_list_id,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def target_tracking(
    name: str,
    *,
    target: aws.appautoscaling.Target,
    metric: str,
    value: float,
    parent: pulumi.Resource,
    label: pulumi.Input[str] | None = None,
    cooldowns: tuple[int, int] = (300, 60),
) -> aws.appautoscaling.Policy:
    """A target-tracking policy on a predefined metric; cooldowns are (scale in, scale out)."""
    config = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs
    metric_spec = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs
    return aws.appautoscaling.Policy(
        name,
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration=config(
            target_value=value,
            predefined_metric_specification=metric_spec(
                predefined_metric_type=metric, resource_label=label
            ),
            scale_in_cooldown=cooldowns[0],
            scale_out_cooldown=cooldowns[1],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
