"""The Pulumi state backend the platform's stacks and CI share: a versioned, KMS-encrypted,
TLS-only S3 bucket and, per stack, a KMS key for the `awskms://` secrets provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    bucket_policy,
    expiry_rule,
    kms_key,
    private_bucket,
)
from components.tagging import component_tags

COMPONENT = "state-backend"
# Earlier versions of a checkpoint are the way back from a bad update: kept a year.
NONCURRENT_DAYS = 365


@dataclass(frozen=True, kw_only=True)
class StateBackendArgs:
    """prefix: names start with it (the platform project). stacks: one secrets key each."""

    prefix: str
    stacks: list[str]
    ctx: StackContext


class StateBackend(pulumi.ComponentResource):
    """State bucket, its key, and the stacks' secrets keys."""

    bucket: aws.s3.Bucket
    bucket_key: aws.kms.Key
    secrets_keys: dict[str, aws.kms.Key]
    secrets_aliases: dict[str, str]

    def __init__(
        self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("platform:bootstrap:StateBackend", name, None, opts)
        ctx, tags = args.ctx, component_tags(COMPONENT)
        self.bucket_key = kms_key(
            f"{name}-key",
            ctx=ctx,
            description=f"Pulumi state of {args.prefix}",
            statements=[],
            parent=self,
            tags=tags,
        )
        self.bucket = private_bucket(
            f"{name}-bucket", ctx=ctx, parent=self, tags=tags, key=self.bucket_key, versioned=True
        )
        bucket_policy(f"{name}-bucket-policy", bucket=self.bucket, statements=[], parent=self)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle",
            bucket=self.bucket.id,
            rules=[expiry_rule("noncurrent-checkpoints", noncurrent_days=NONCURRENT_DAYS)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.secrets_keys, self.secrets_aliases = {}, {}
        for stack in args.stacks:
            key_name = f"{args.prefix}-{stack}-secrets"
            self.secrets_keys[stack] = kms_key(
                key_name,
                ctx=ctx,
                description=f"Pulumi secrets of stack {stack} (awskms:// provider)",
                statements=[],
                parent=self,
                tags=tags,
            )
            # kms_key names the alias after the key.
            self.secrets_aliases[stack] = f"alias/{key_name}"
        self.register_outputs(
            {
                "bucket": self.bucket.bucket,
                "secretsKeys": {s: k.arn for s, k in self.secrets_keys.items()},
            }
        )
