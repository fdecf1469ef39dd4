"""CloudFront: HTTPS only, modern TLS, origin access control, WAF and logs."""

from __future__ import annotations

from collections.abc import Iterable

from .core import Config, Props, listed, mapping, resource_rule

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"


def _https_only(props: Props, _: Config) -> Iterable[str]:
    behaviors = [
        props.get("defaultCacheBehavior") or {},
        *listed(props.get("orderedCacheBehaviors")),
    ]
    for behavior in behaviors:
        if behavior.get("viewerProtocolPolicy") == "allow-all":
            yield f"serves {behavior.get('pathPattern', 'the default path')} over plain HTTP"


def _tls(props: Props, config: Config) -> Iterable[str]:
    certificate = props.get("viewerCertificate") or {}
    if certificate.get("acmCertificateArn") or certificate.get("iamCertificateId"):
        version = certificate.get("minimumProtocolVersion")
        if version not in config["allowedProtocols"]:
            yield f"accepts viewers on {version}"


def _oac(props: Props, _: Config) -> Iterable[str]:
    for origin in listed(props.get("origins")):
        domain = str(origin.get("domainName", ""))
        # Website endpoints are s3-website-<region> or s3-website.<region> (Amazon S3 website
        # endpoints: https://docs.aws.amazon.com/AmazonS3/latest/userguide/WebsiteEndpoints.html);
        # they serve only HTTP and only public objects, so no origin access control can apply.
        if ".s3-website" in domain:
            yield f"reads S3 website endpoint {origin.get('originId')}, which needs a public bucket"
        elif ".s3." in domain and not origin.get("originAccessControlId"):
            yield f"reads S3 origin {origin.get('originId')} without origin access control"


def _origin_https(props: Props, _: Config) -> Iterable[str]:
    behaviors = [
        mapping(props.get("defaultCacheBehavior")),
        *map(mapping, listed(props.get("orderedCacheBehaviors"))),
    ]
    plain_viewers = any(b.get("viewerProtocolPolicy") == "allow-all" for b in behaviors)
    for origin in listed(props.get("origins")):
        custom = mapping(origin.get("customOriginConfig"))
        policy = custom.get("originProtocolPolicy")
        if policy == "http-only" or (policy == "match-viewer" and plain_viewers):
            yield f"connects to origin {origin.get('originId')} over plain HTTP ({policy})"


def _waf(props: Props, _: Config) -> Iterable[str]:
    if not props.get("webAclId"):
        yield "has no WAF web ACL"


def _logging(props: Props, _: Config) -> Iterable[str]:
    if not props.get("loggingConfig"):
        yield "writes no access logs"


RULES = [
    resource_rule(
        "cloudfront-https-only",
        "CloudFront behaviors never allow plain HTTP.",
        types=[DISTRIBUTION],
        check=_https_only,
        fix="Set viewerProtocolPolicy to redirect-to-https or https-only on every behavior.",
    ),
    resource_rule(
        "cloudfront-minimum-tls",
        "CloudFront distributions with a certificate require TLS 1.2 (2021 policy) or newer.",
        types=[DISTRIBUTION],
        check=_tls,
        fix="Set viewerCertificate.minimumProtocolVersion to TLSv1.2_2021 or newer.",
        schema={
            "allowedProtocols": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"],
                "description": "Minimum protocol versions a distribution may use.",
            }
        },
    ),
    resource_rule(
        "cloudfront-s3-origin-access-control",
        "CloudFront reads S3 origins through origin access control, never through website endpoints.",
        types=[DISTRIBUTION],
        check=_oac,
        fix="Create an aws.cloudfront.OriginAccessControl (sigv4, always) and set originAccessControlId.",
    ),
    resource_rule(
        "cloudfront-origin-https",
        "CloudFront connects to custom origins over HTTPS only.",
        types=[DISTRIBUTION],
        check=_origin_https,
        fix="Set customOriginConfig.originProtocolPolicy to https-only (the origin needs a "
        "certificate for the name CloudFront connects to).",
    ),
    resource_rule(
        "cloudfront-waf",
        "CloudFront distributions are protected by a WAF web ACL.",
        types=[DISTRIBUTION],
        check=_waf,
        fix="Attach a CLOUDFRONT-scope WAFv2 web ACL (created in us-east-1) through webAclId.",
    ),
    resource_rule(
        "cloudfront-access-logging",
        "CloudFront distributions write access logs.",
        types=[DISTRIBUTION],
        check=_logging,
        fix="Set loggingConfig to a private log bucket with a lifecycle rule.",
    ),
]
