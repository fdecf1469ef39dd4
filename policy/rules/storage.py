"""S3: private, encrypted, TLS-only, versioned buckets; access logs for data; Object Lock on demand."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from .core import (
    Config,
    Props,
    depends_on,
    everyone,
    listed,
    mapping,
    number,
    resource_rule,
    stack_rule,
    statements,
    unattached,
)

BUCKET = "aws:s3/bucket:Bucket"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
LOGGING = "aws:s3/bucketLogging:BucketLogging"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LOG_BUCKET_SUFFIXES = ["-logs", "-alb-logs", "-access-logs"]
# The config option both the versioning and the access logging rule exempt log buckets by.
LOG_BUCKET_EXEMPTION = {
    "type": "array",
    "items": {"type": "string"},
    "default": LOG_BUCKET_SUFFIXES,
    "description": "Buckets whose logical name ends with one of these (log buckets) are exempt.",
}
DAYS_PER_YEAR = 365


def companions(args: StackValidationArgs, kind: str) -> Iterable[tuple[str, str | None]]:
    """Buckets with no resource of type `kind` attached to them through its `bucket` input (a
    companion that merely waits on a bucket, `depends_on`, is not attached to it)."""
    for bucket in unattached(args, [BUCKET], [kind], "bucket"):
        yield f"bucket {bucket.name} has no {kind.rsplit(':', 1)[1]}", bucket.urn


def _block(props: Props, _: Config) -> Iterable[str]:
    off = [flag for flag in BLOCK_FLAGS if props.get(flag) is not True]
    if off:
        yield f"leaves {', '.join(off)} off"


def _algorithm(props: Props, _: Config) -> Iterable[str]:
    for rule in listed(props.get("rules")):
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        if default.get("sseAlgorithm") not in ("aws:kms", "aws:kms:dsse", "AES256"):
            yield "has a rule without a server-side encryption algorithm"


def _insecure_transport(condition: Any) -> bool:
    """A Condition that matches requests made without TLS: Bool or BoolIfExists
    aws:SecureTransport false, written "false", false or ["false"]."""
    return any(
        str(value).lower() == "false"
        for operator in ("Bool", "BoolIfExists")
        for value in listed(mapping(mapping(condition).get(operator)).get("aws:SecureTransport"))
    )


def _covers_everyone(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    return principal == "*" or "*" in listed(mapping(principal).get("AWS"))


def _tls_only(props: Props, _: Config) -> Iterable[str]:
    denies = [
        s for s in statements(props.get("policy"))
        if s.get("Effect") == "Deny"
        and _covers_everyone(s)
        and any(a in ("*", "s3:*") for a in listed(s.get("Action")))
        and _insecure_transport(s.get("Condition"))
    ]  # fmt: skip
    if not denies:
        yield "does not deny requests made without TLS (aws:SecureTransport false, every action and principal)"


def _no_public_principal(props: Props, _: Config) -> Iterable[str]:
    for s in statements(props.get("policy")):
        if not everyone(s):
            continue
        if s.get("NotPrincipal") is not None:
            yield "allows everyone but the principals it names (NotPrincipal)"
        else:
            yield "allows Principal '*' without a condition that names the caller"


def _no_public_acl(props: Props, _: Config) -> Iterable[str]:
    if props.get("acl") in PUBLIC_ACLS:
        yield f"has the public ACL {props.get('acl')}"


def _versioned(args: StackValidationArgs, config: Config) -> Iterable[tuple[str, str | None]]:
    exempt = [str(suffix) for suffix in listed(config["exemptNameSuffixes"])]
    configs = [r for r in args.resources if r.resource_type == VERSIONING]
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        if bucket.name.endswith(tuple(exempt)):
            continue
        # Only a BucketVersioning decides: the bucket's own `versioning` is a computed output
        # (unknown at a first preview, where reading it would defer the whole rule) and its
        # inline form is deprecated in the AWS provider.
        if any(
            mapping(v.props.get("versioningConfiguration")).get("status") == "Enabled"
            for v in configs
            if depends_on(v, bucket, "bucket")
        ):
            continue
        yield f"bucket {bucket.name} is not versioned", bucket.urn


def _named(bucket: PolicyResource, patterns: Iterable[object]) -> bool:
    return any(fnmatch.fnmatchcase(bucket.name, str(p)) for p in patterns)


def _access_logged(args: StackValidationArgs, config: Config) -> Iterable[tuple[str, str | None]]:
    exempt = tuple(str(suffix) for suffix in listed(config["exemptNameSuffixes"]))
    loggings = [r for r in args.resources if r.resource_type == LOGGING]
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        if bucket.name.endswith(exempt) or not _named(bucket, listed(config["bucketPatterns"])):
            continue
        own = [g for g in loggings if depends_on(g, bucket, "bucket")]
        if not own:
            yield f"bucket {bucket.name} has no server access logging", bucket.urn
        elif any(depends_on(g, bucket, "targetBucket") for g in own):
            yield (
                f"bucket {bucket.name} logs its requests into itself (each log adds a request)",
                bucket.urn,
            )


def _retention_days(retention: Mapping[str, Any]) -> float:
    return float(retention.get("days") or 0) or float(retention.get("years") or 0) * DAYS_PER_YEAR


def _lock_problems(
    bucket: PolicyResource, locks: list[PolicyResource], config: Config
) -> Iterable[str]:
    if bucket.props.get("objectLockEnabled") is not True:
        yield "is not created with S3 Object Lock"
        return
    retentions = [
        mapping(mapping(lock.props.get("rule")).get("defaultRetention"))
        for lock in locks
        if depends_on(lock, bucket, "bucket")
    ]
    retention = next((r for r in retentions if r), None)
    if retention is None:
        yield "has no default Object Lock retention"
        return
    modes = [str(m).upper() for m in listed(config["modes"])]
    mode = str(retention.get("mode")).upper()
    if mode not in modes:
        yield f"locks objects in {mode} mode, not one of {', '.join(modes)}"
    days = _retention_days(retention)
    if days < config["minDays"]:
        yield f"locks objects for {number(days)} days, fewer than {number(config['minDays'])}"


def _object_lock(args: StackValidationArgs, config: Config) -> Iterable[tuple[str, str | None]]:
    locks = [r for r in args.resources if r.resource_type == OBJECT_LOCK]
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        if _named(bucket, listed(config["bucketPatterns"])):
            for problem in _lock_problems(bucket, locks, config):
                yield f"bucket {bucket.name} {problem}", bucket.urn


RULES = [
    resource_rule(
        "s3-public-access-fully-blocked",
        "S3 public access blocks turn on all four protections.",
        types=[BLOCK],
        check=_block,
        fix="Set blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets to true.",
    ),
    stack_rule(
        "s3-bucket-has-public-access-block",
        "Every S3 bucket has a public access block.",
        check=lambda args, _: companions(args, BLOCK),
        fix="Add an aws.s3.BucketPublicAccessBlock for the bucket with all four flags on.",
    ),
    stack_rule(
        "s3-bucket-encrypted",
        "Every S3 bucket has a server-side encryption configuration.",
        check=lambda args, _: companions(args, ENCRYPTION),
        fix="Add an aws.s3.BucketServerSideEncryptionConfiguration (aws:kms with a customer key).",
    ),
    resource_rule(
        "s3-encryption-algorithm",
        "S3 encryption rules name an algorithm (aws:kms or AES256).",
        types=[ENCRYPTION],
        check=_algorithm,
        fix="Set applyServerSideEncryptionByDefault.sseAlgorithm to aws:kms with a customer key.",
    ),
    resource_rule(
        "s3-tls-only",
        "S3 bucket policies deny every action to every principal made without TLS.",
        types=[POLICY],
        check=_tls_only,
        fix="Add a Deny statement for s3:* on the bucket and its objects when aws:SecureTransport is false.",
    ),
    resource_rule(
        "s3-no-public-principal",
        "S3 bucket policies never allow Principal '*' or NotPrincipal without a condition naming the caller.",
        types=[POLICY],
        check=_no_public_principal,
        severity=Severity.CRITICAL,
        fix="Name the principals (a service with an aws:SourceArn condition, or an account).",
    ),
    resource_rule(
        "s3-no-public-acl",
        "S3 buckets and bucket ACLs are never public.",
        types=[BUCKET, "aws:s3/bucketAcl:BucketAcl"],
        check=_no_public_acl,
        fix="Remove the ACL and enforce BucketOwnerEnforced object ownership instead.",
    ),
    stack_rule(
        "s3-versioning",
        "S3 buckets, except log buckets, keep object versions.",
        check=_versioned,
        fix="Add an aws.s3.BucketVersioning with status Enabled, or name the bucket as a log bucket.",
        schema={"exemptNameSuffixes": LOG_BUCKET_EXEMPTION},
    ),
    stack_rule(
        "s3-access-logging",
        "Data buckets log every request to a log bucket (server access logging).",
        check=_access_logged,
        severity=Severity.MEDIUM,
        fix="Add an aws.s3.BucketLogging whose bucket is this bucket's ID and whose targetBucket "
        "is an SSE-S3 log bucket that admits logging.s3.amazonaws.com for this account's sources.",
        schema={
            "bucketPatterns": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["*"],
                "description": "Logical names (glob patterns) of the buckets that hold data.",
            },
            "exemptNameSuffixes": LOG_BUCKET_EXEMPTION,
        },
    ),
    stack_rule(
        "s3-object-lock",
        "Buckets the stack's policy config names keep objects under S3 Object Lock.",
        check=_object_lock,
        severity=Severity.MEDIUM,
        fix="Set the pipeline's resultsObjectLock (objectLockEnabled on a new bucket, and an "
        "aws.s3.BucketObjectLockConfiguration with a default retention).",
        schema={
            "bucketPatterns": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Logical names (glob patterns) of the buckets that must be "
                "locked; none by default.",
            },
            "modes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["GOVERNANCE", "COMPLIANCE"],
                "description": "Retention modes a locked bucket may use.",
            },
            "minDays": {
                "type": "integer",
                "default": 1,
                "description": "Fewest days of default retention (years count 365 days).",
            },
        },
    ),
]
