"""S3: private, encrypted, TLS-only, versioned buckets."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import Severity, StackValidationArgs

from .core import (
    Config,
    Props,
    depends_on,
    listed,
    mapping,
    resource_rule,
    stack_rule,
    statements,
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


def companions(args: StackValidationArgs, kind: str) -> Iterable[tuple[str, str | None]]:
    """Buckets with no resource of type `kind` attached to them."""
    attached = [r for r in args.resources if r.resource_type == kind]
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        if not any(depends_on(other, bucket) for other in attached):
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


def _tls_only(props: Props, _: Config) -> Iterable[str]:
    denies = [
        s for s in statements(props.get("policy"))
        if s.get("Effect") == "Deny"
        and (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]  # fmt: skip
    if not denies:
        yield "does not deny requests made without TLS (aws:SecureTransport false)"


def _no_public_principal(props: Props, _: Config) -> Iterable[str]:
    for s in statements(props.get("policy")):
        principal = s.get("Principal")
        public = principal == "*" or ("*" in listed(mapping(principal).get("AWS")))
        if s.get("Effect") == "Allow" and public and not s.get("Condition"):
            yield "allows Principal '*' without a condition"


def _no_public_acl(props: Props, _: Config) -> Iterable[str]:
    if props.get("acl") in PUBLIC_ACLS:
        yield f"has the public ACL {props.get('acl')}"


def _versioned(args: StackValidationArgs, config: Config) -> Iterable[tuple[str, str | None]]:
    exempt = list(config["exemptNameContains"])
    enabled = [
        r for r in args.resources
        if r.resource_type == VERSIONING
        and (r.props.get("versioningConfiguration") or {}).get("status") == "Enabled"
    ]  # fmt: skip
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        if any(word in bucket.name for word in exempt):
            continue
        if (bucket.props.get("versioning") or {}).get("enabled"):
            continue
        if not any(depends_on(v, bucket) for v in enabled):
            yield f"bucket {bucket.name} is not versioned", bucket.urn


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
        "S3 bucket policies deny requests made without TLS.",
        types=[POLICY],
        check=_tls_only,
        fix="Add a Deny statement for s3:* on the bucket and its objects when aws:SecureTransport is false.",
    ),
    resource_rule(
        "s3-no-public-principal",
        "S3 bucket policies never allow Principal '*' unconditionally.",
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
        schema={
            "exemptNameContains": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["logs"],
                "description": "Buckets whose logical name contains one of these are exempt.",
            }
        },
    ),
]
