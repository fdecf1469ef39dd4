"""Static site: a private S3 bucket served by CloudFront, with /api/* routed to the service."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    Statement,
    bucket_policy,
    dns_certificate,
    expiry_rule,
    key_policy,
    kms_key,
    private_bucket,
    private_bucket_with_controls,
    web_acl,
)
from components.naming import child
from components.settings import StaticSiteSettings
from components.tagging import component_tags

COMPONENT = "static-site"
SITE_ORIGIN = "site"
API_ORIGIN = "api"
API_PATH = "/api/*"
# AWS managed policies, by their documented ids.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
MINIMUM_TLS = "TLSv1.2_2021"
HSTS_SECONDS = 63_072_000  # two years, as the preload list asks
READ_METHODS = ["GET", "HEAD"]
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]

# Client-side routes (no file extension in the last path segment) get the app shell; files keep
# their real status, so a missing script is a 403/404, not HTML.
SPA_ROUTING = """\
function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
"""


@dataclass(frozen=True, kw_only=True)
class ApiOrigin:
    """Where /api/* goes: the service's load balancer, by a name its certificate covers when
    `https` (then CloudFront connects with TLS), else by its DNS name over HTTP."""

    domain: pulumi.Input[str]
    https: bool


@dataclass(frozen=True, kw_only=True)
class StaticSiteArgs:
    """settings: the `staticSite` section. edge_provider: an AWS provider in us-east-1, where
    CloudFront takes certificates and WAF web ACLs. api: the service origin, if any."""

    settings: StaticSiteSettings
    ctx: StackContext
    edge_provider: aws.Provider
    api: ApiOrigin | None = None


def cloudfront_reads(
    distribution_arn: pulumi.Input[str], actions: list[str], resource: object
) -> Statement:
    """CloudFront may perform `actions`, on behalf of this one distribution only."""
    return {
        "Sid": "CloudFrontDistributionReads",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": actions,
        "Resource": resource,
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }


class StaticSite(pulumi.ComponentResource):
    """Site bucket, log bucket, CloudFront distribution with OAC, headers, SPA routing, /api/*
    origin, optional certificate, DNS and WAF."""

    url: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    distribution_arn: pulumi.Output[str]
    domain_name: pulumi.Output[str]
    bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: StaticSiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:static-site:StaticSite", name, None, opts)
        self._name, self._args = name, args
        self._settings, self._ctx = args.settings, args.ctx
        self._tags = component_tags(COMPONENT)
        self._child = pulumi.ResourceOptions(parent=self)
        self._edge = pulumi.ResourceOptions(parent=self, provider=args.edge_provider)
        settings, ctx = args.settings, args.ctx

        # The key's policy names the distribution, which is created after the bucket: the policy
        # is attached once the distribution exists (bucket -> distribution -> policies, no cycle).
        key = kms_key(
            f"{name}-key",
            ctx=ctx,
            description=f"{name}: site content, readable by this distribution only",
            statements=None,
            parent=self,
            tags=self._tags,
        )
        bucket = private_bucket(
            f"{name}-site", ctx=ctx, parent=self, tags=self._tags, key=key, versioned=True
        )
        self._expire(bucket, "site", noncurrent_days=90)
        logs, log_ownership = self._log_bucket()
        distribution = self._distribution(bucket, logs, log_ownership)

        key_policy(
            f"{name}-key-policy",
            key=key,
            ctx=ctx,
            statements=[cloudfront_reads(distribution.arn, ["kms:Decrypt"], "*")],
            parent=self,
        )
        bucket_policy(
            f"{name}-site-policy",
            bucket=bucket,
            statements=[
                cloudfront_reads(
                    distribution.arn, ["s3:GetObject"], bucket.arn.apply(lambda arn: f"{arn}/*")
                )
            ],
            parent=self,
        )
        if settings.domain_name and settings.hosted_zone_id:
            self._alias_records(settings.domain_name, settings.hosted_zone_id, distribution)

        self.distribution_id = distribution.id
        self.distribution_arn = distribution.arn
        self.domain_name = distribution.domain_name
        self.bucket_name = bucket.bucket
        self.url = (
            pulumi.Output.from_input(f"https://{settings.domain_name}")
            if settings.domain_name
            else distribution.domain_name.apply(lambda domain: f"https://{domain}")
        )
        self.register_outputs(
            {
                "url": self.url,
                "distributionId": self.distribution_id,
                "distributionDomainName": self.domain_name,
                "bucketName": self.bucket_name,
            }
        )

    # --- buckets ----------------------------------------------------------------------------------

    def _expire(
        self,
        bucket: aws.s3.Bucket,
        part: str,
        *,
        noncurrent_days: int | None = None,
        current_days: int | None = None,
    ) -> None:
        rule = expiry_rule(
            "expire",
            current_days=current_days,
            noncurrent_days=noncurrent_days,
            abort_multipart_days=7,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-{part}-lifecycle", bucket=bucket.id, rules=[rule], opts=self._child
        )

    def _log_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketOwnershipControls]:
        """The access log bucket and the ownership controls the distribution must wait for.

        CloudFront standard logs arrive with an ACL granting the log delivery account, so this
        bucket keeps ACLs (BucketOwnerPreferred) and SSE-S3, which is all CloudFront can write.
        New buckets start with ACLs disabled (BucketOwnerEnforced): a distribution created before
        the ownership controls is refused ("The S3 bucket that you specified for CloudFront logs
        does not enable ACL access"; CloudFront Developer Guide, AccessLogs.html: ACLs must be
        enabled for buckets used for standard logs since April 2023; aws-cdk issue 25291)."""
        logs, ownership = private_bucket_with_controls(
            f"{self._name}-logs",
            ctx=self._ctx,
            parent=self,
            tags=self._tags,
            key=None,
            versioned=False,
            object_ownership="BucketOwnerPreferred",
        )
        self._expire(logs, "logs", current_days=self._settings.access_log_days)
        return logs, ownership

    # --- distribution -----------------------------------------------------------------------------

    def _distribution(
        self,
        bucket: aws.s3.Bucket,
        logs: aws.s3.Bucket,
        log_ownership: aws.s3.BucketOwnershipControls,
    ) -> aws.cloudfront.Distribution:
        settings, api = self._settings, self._args.api
        access = aws.cloudfront.OriginAccessControl(
            f"{self._name}-oac",
            name=child(self._name, "oac"),
            description="Signs every request to the site bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=self._child,
        )
        headers = self._headers_policy()
        origins = [
            aws.cloudfront.DistributionOriginArgs(
                origin_id=SITE_ORIGIN,
                domain_name=bucket.bucket_regional_domain_name,
                origin_access_control_id=access.id,
            )
        ]
        behaviors = []
        if api is not None:
            origins.append(self._api_origin(api))
            behaviors.append(
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=API_PATH,
                    target_origin_id=API_ORIGIN,
                    viewer_protocol_policy="redirect-to-https",
                    allowed_methods=ALL_METHODS,
                    cached_methods=READ_METHODS,
                    cache_policy_id=CACHING_DISABLED,
                    origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy_id=headers.id,
                    compress=True,
                )
            )
        routing = self._spa_routing() if settings.spa_fallback else None
        certificate = (
            dns_certificate(
                self._name,
                domain=settings.domain_name,
                zone_id=settings.hosted_zone_id,
                parent=self,
                tags=self._tags,
                provider=self._args.edge_provider,
            )
            if settings.domain_name and settings.hosted_zone_id
            else None
        )
        acl = (
            web_acl(
                f"{self._name}-waf",
                scope="CLOUDFRONT",
                rate_limit=settings.waf_rate_limit,
                ctx=self._ctx,
                parent=self,
                tags=self._tags,
                provider=self._args.edge_provider,
            )
            if settings.waf
            else None
        )
        return aws.cloudfront.Distribution(
            f"{self._name}-cdn",
            comment=f"{self._name}: static site and /api",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=settings.price_class,
            default_root_object="index.html",
            aliases=[settings.domain_name] if settings.domain_name else None,
            origins=origins,
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=SITE_ORIGIN,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=READ_METHODS,
                cached_methods=READ_METHODS,
                cache_policy_id=CACHING_OPTIMIZED,
                response_headers_policy_id=headers.id,
                compress=True,
                function_associations=[
                    aws.cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArgs(
                        event_type="viewer-request", function_arn=routing.arn
                    )
                ]
                if routing
                else None,
            ),
            ordered_cache_behaviors=behaviors,
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=certificate.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version=MINIMUM_TLS,
            )
            if certificate
            else aws.cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            ),
            logging_config=aws.cloudfront.DistributionLoggingConfigArgs(
                bucket=logs.bucket_domain_name, prefix=f"{self._ctx.stack}/", include_cookies=False
            ),
            web_acl_id=acl.arn if acl else None,
            tags=self._tags,
            # The log bucket must accept ACLs before CloudFront is told to log into it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_ownership]),
        )

    def _api_origin(self, api: ApiOrigin) -> aws.cloudfront.DistributionOriginArgs:
        return aws.cloudfront.DistributionOriginArgs(
            origin_id=API_ORIGIN,
            domain_name=api.domain,
            custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                http_port=80,
                https_port=443,
                origin_protocol_policy="https-only" if api.https else "http-only",
                origin_ssl_protocols=["TLSv1.2"],
            ),
        )

    def _headers_policy(self) -> aws.cloudfront.ResponseHeadersPolicy:
        security = aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigArgs
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{self._name}-headers",
            name=child(self._name, "headers"),
            comment="HSTS, nosniff, no framing, referrer policy and the site's CSP",
            security_headers_config=security(
                strict_transport_security=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                    access_control_max_age_sec=HSTS_SECONDS,
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                content_type_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                    override=True
                ),
                frame_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                    frame_option="DENY", override=True
                ),
                referrer_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                    referrer_policy="strict-origin-when-cross-origin", override=True
                ),
                content_security_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentSecurityPolicyArgs(
                    content_security_policy=self._settings.content_security_policy, override=True
                ),
            ),
            opts=self._child,
        )

    def _spa_routing(self) -> aws.cloudfront.Function:
        # A viewer-request function on the site behaviour only, instead of distribution-wide
        # 403/404 error responses, which would also turn the API's errors into index.html.
        return aws.cloudfront.Function(
            f"{self._name}-spa-routing",
            name=child(self._name, "spa-routing"),
            comment="Serve the app shell for client-side routes",
            runtime="cloudfront-js-2.0",
            publish=True,
            code=SPA_ROUTING,
            tags=self._tags,
            opts=self._child,
        )

    def _alias_records(
        self, domain: str, zone_id: str, distribution: aws.cloudfront.Distribution
    ) -> None:
        for record_type in ("A", "AAAA"):
            aws.route53.Record(
                f"{self._name}-alias-{record_type.lower()}",
                zone_id=zone_id,
                name=domain,
                type=record_type,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=distribution.domain_name,
                        zone_id=distribution.hosted_zone_id,
                        evaluate_target_health=False,
                    )
                ],
                opts=self._child,
            )
