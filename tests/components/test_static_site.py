"""Static site: private bucket behind CloudFront, headers, SPA routing, /api/*, edge resources."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.static_site import (
    ALL_VIEWER_EXCEPT_HOST_HEADER,
    CACHING_DISABLED,
    CACHING_OPTIMIZED,
    SPA_ROUTING,
)
from tests.conftest import STACKS, stack_run, statements
from tooling.offline import OfflineRun, ProgramError, Resource, run_stack, stack_config

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
DISTRIBUTION_ARN = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"
BUCKET = "aws:s3/bucket:Bucket"
CLOUDFRONT = {"Service": "cloudfront.amazonaws.com"}
SOURCE = {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}}


def distribution(stack: str) -> dict[str, Any]:
    return stack_run(stack).one(DISTRIBUTION).inputs


def site(stack: str, type_: str, suffix: str) -> Resource:
    return stack_run(stack).one(type_, f"static-site-{suffix}")


def site_name(stack: str, type_: str, suffix: str) -> str:
    """The name AWS knows a static-site resource by (explicit, or the provider's auto-name)."""
    return stack_run(stack).physical_name(type_, f"static-site-{suffix}")


def edge_provider_urn(run: OfflineRun) -> str:
    provider = run.one("pulumi:providers:aws", "aws-us-east-1")
    assert provider.inputs["region"] == "us-east-1"
    return provider.urn


# --- the bucket -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_site_bucket_is_never_public(stack: str) -> None:
    block = site(
        stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "site-public-access"
    )
    assert all(
        block.inputs[flag] is True
        for flag in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    ownership = site(
        stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "site-ownership"
    )
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = site(stack, "aws:s3/bucketVersioning:BucketVersioning", "site-versioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_policy_admits_only_this_distribution_over_tls(stack: str) -> None:
    policy = statements(
        site(stack, "aws:s3/bucketPolicy:BucketPolicy", "site-policy").inputs["policy"]
    )
    allows = [s for s in policy if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "CloudFrontDistributionReads",
            "Effect": "Allow",
            "Principal": CLOUDFRONT,
            "Action": ["s3:GetObject"],
            "Resource": f"arn:aws:s3:::{site_name(stack, BUCKET, 'site')}/*",
            "Condition": SOURCE,
        }
    ]
    (deny,) = [s for s in policy if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("stack", STACKS)
def test_site_key_lets_cloudfront_decrypt_for_this_distribution_only(stack: str) -> None:
    key = site(stack, "aws:kms/key:Key", "key")
    assert key.inputs["enableKeyRotation"] is True
    # The policy is attached separately, once the distribution (which it names) exists.
    assert "policy" not in key.inputs
    policy = statements(site(stack, "aws:kms/keyPolicy:KeyPolicy", "key-policy").inputs["policy"])
    grants = [s for s in policy if s.get("Principal") == CLOUDFRONT]
    assert grants == [
        {
            "Sid": "CloudFrontDistributionReads",
            "Effect": "Allow",
            "Principal": CLOUDFRONT,
            "Action": ["kms:Decrypt"],
            "Resource": "*",
            "Condition": SOURCE,
        }
    ]
    assert [s["Principal"] for s in policy if s not in grants] == [
        {"AWS": "arn:aws:iam::123456789012:root"}
    ]
    encryption = site(
        stack,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "site-encryption",
    ).inputs["rules"][0]
    assert encryption["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"


def test_policies_follow_the_distribution_without_a_cycle() -> None:
    run = stack_run("prod")
    cdn = run.one(DISTRIBUTION)
    for type_, suffix in (
        ("aws:s3/bucketPolicy:BucketPolicy", "site-policy"),
        ("aws:kms/keyPolicy:KeyPolicy", "key-policy"),
    ):
        policy = site("prod", type_, suffix)
        assert cdn.urn in policy.dependencies, suffix
        assert policy.urn not in cdn.dependencies, suffix
    assert site("prod", BUCKET, "site").urn in cdn.dependencies


@pytest.mark.parametrize("stack, protected", [("dev", False), ("prod", True)])
def test_buckets_are_protected_where_data_is(stack: str, protected: bool) -> None:
    for suffix in ("site", "logs"):
        bucket = site(stack, BUCKET, suffix)
        assert bucket.protect is protected
        assert bucket.inputs["forceDestroy"] is not protected


# --- the distribution -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_behaviour_redirects_to_https(stack: str) -> None:
    cdn = distribution(stack)
    behaviours = [cdn["defaultCacheBehavior"], *cdn["orderedCacheBehaviors"]]
    assert [b["viewerProtocolPolicy"] for b in behaviours] == ["redirect-to-https"] * 2


@pytest.mark.parametrize("stack", STACKS)
def test_site_origin_uses_origin_access_control(stack: str) -> None:
    cdn = distribution(stack)
    origin = next(o for o in cdn["origins"] if o["originId"] == "site")
    bucket = site_name(stack, BUCKET, "site")
    assert origin["domainName"] == f"{bucket}.s3.eu-west-1.amazonaws.com"
    assert origin["originAccessControlId"] == "E2QWRUHAPOMQZL"
    oac = site(stack, "aws:cloudfront/originAccessControl:OriginAccessControl", "oac").inputs
    assert (
        oac["signingBehavior"],
        oac["signingProtocol"],
        oac["originAccessControlOriginType"],
    ) == (
        "always",
        "sigv4",
        "s3",
    )


@pytest.mark.parametrize("stack", STACKS)
def test_static_content_is_cached_compressed_and_served_fast(stack: str) -> None:
    cdn = distribution(stack)
    default = cdn["defaultCacheBehavior"]
    assert default["cachePolicyId"] == CACHING_OPTIMIZED
    assert default["compress"] is True
    assert default["allowedMethods"] == ["GET", "HEAD"]
    assert cdn["defaultRootObject"] == "index.html"
    assert cdn["httpVersion"] == "http2and3"
    assert cdn["isIpv6Enabled"] is True


@pytest.mark.parametrize(
    "stack, price_class",
    [("dev", "PriceClass_100"), ("staging", "PriceClass_100"), ("prod", "PriceClass_All")],
)
def test_price_class_per_stack(stack: str, price_class: str) -> None:
    assert distribution(stack)["priceClass"] == price_class


@pytest.mark.parametrize("stack", STACKS)
def test_security_headers(stack: str) -> None:
    policy = site(stack, "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy", "headers")
    headers = policy.inputs["securityHeadersConfig"]
    assert headers["strictTransportSecurity"] == {
        "accessControlMaxAgeSec": 63072000,
        "includeSubdomains": True,
        "preload": True,
        "override": True,
    }
    assert headers["contentTypeOptions"] == {"override": True}
    assert headers["frameOptions"] == {"frameOption": "DENY", "override": True}
    assert headers["referrerPolicy"] == {
        "referrerPolicy": "strict-origin-when-cross-origin",
        "override": True,
    }
    csp = headers["contentSecurityPolicy"]["contentSecurityPolicy"]
    assert csp.startswith("default-src 'self'") and "frame-ancestors 'none'" in csp
    cdn = distribution(stack)
    behaviours = [cdn["defaultCacheBehavior"], *cdn["orderedCacheBehaviors"]]
    assert {b["responseHeadersPolicyId"] for b in behaviours} == {
        "67f7725c-6f97-4210-82d7-5512b31e9d03"
    }


CSP = "default-src 'self'; img-src 'self' https://images.example.com"


def dev_site_with_settings() -> OfflineRun:
    """One shared dev run with the site's own content security policy, no SPA fallback and no
    API origin: each test below reads what one of these settings governs alone (the response
    headers policy, the routing function, the origins and ordered behaviours)."""
    section = {"contentSecurityPolicy": CSP, "spaFallback": False, "apiOrigin": False}
    return stack_run("dev", overrides={"platform:staticSite": json.dumps(section)})


def test_content_security_policy_comes_from_settings() -> None:
    run = dev_site_with_settings()
    headers = run.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy").inputs
    assert headers["securityHeadersConfig"]["contentSecurityPolicy"]["contentSecurityPolicy"] == CSP


@pytest.mark.parametrize("stack", STACKS)
def test_spa_routes_get_the_app_shell_on_the_site_behaviour_only(stack: str) -> None:
    function = site(stack, "aws:cloudfront/function:Function", "spa-routing")
    assert function.inputs["runtime"] == "cloudfront-js-2.0"
    assert function.inputs["publish"] is True
    assert function.inputs["code"] == SPA_ROUTING
    cdn = distribution(stack)
    assert cdn["defaultCacheBehavior"]["functionAssociations"] == [
        {
            "eventType": "viewer-request",
            "functionArn": f"arn:aws:cloudfront::123456789012:function/platform-{stack}-static-site-spa-routing",
        }
    ]
    # No distribution-wide error pages: the API's own 403/404 reach its clients untouched.
    assert "customErrorResponses" not in cdn
    api = next(b for b in cdn["orderedCacheBehaviors"] if b["pathPattern"] == "/api/*")
    assert "functionAssociations" not in api


def test_spa_routing_rewrites_only_paths_without_a_file_extension() -> None:
    # The function's rule, restated: the last path segment decides.
    def rewritten(uri: str) -> str:
        last = uri.rsplit("/", maxsplit=1)[-1]
        return "/index.html" if "." not in last else uri

    assert "split('/').pop()" in SPA_ROUTING and "indexOf('.') === -1" in SPA_ROUTING
    assert rewritten("/settings/profile") == "/index.html"
    assert rewritten("/") == "/index.html"
    assert rewritten("/assets/app.3f2a.js") == "/assets/app.3f2a.js"


def test_spa_fallback_can_be_turned_off() -> None:
    run = dev_site_with_settings()
    assert not run.of_type("aws:cloudfront/function:Function")
    assert "functionAssociations" not in run.one(DISTRIBUTION).inputs["defaultCacheBehavior"]


# --- /api/* ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stack, domain, protocol",
    [
        ("dev", "platform-dev-service-alb-1234567890.eu-west-1.elb.amazonaws.com", "http-only"),
        ("staging", "app.staging.example.com", "https-only"),
        ("prod", "app.example.com", "https-only"),
    ],
)
def test_api_path_reaches_the_service_uncached(stack: str, domain: str, protocol: str) -> None:
    cdn = distribution(stack)
    (api,) = cdn["orderedCacheBehaviors"]
    assert api["pathPattern"] == "/api/*"
    assert api["targetOriginId"] == "api"
    assert api["cachePolicyId"] == CACHING_DISABLED
    assert api["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert api["allowedMethods"] == ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    origin = next(o for o in cdn["origins"] if o["originId"] == "api")
    assert origin["domainName"] == domain
    assert origin["customOriginConfig"]["originProtocolPolicy"] == protocol
    assert origin["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]


def test_no_api_behaviour_when_turned_off() -> None:
    cdn = dev_site_with_settings().one(DISTRIBUTION).inputs
    assert [o["originId"] for o in cdn["origins"]] == ["site"]
    assert cdn.get("orderedCacheBehaviors", []) == []


def test_origin_only_load_balancer_admits_just_cloudfront() -> None:
    run = run_stack("prod", overrides={"platform:service": _service_with(originOnly=True)})
    rules = [
        r.inputs
        for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "-alb-in-" in r.name
    ]
    assert rules == [
        {
            "securityGroupId": "sg-platform-prod-service-alb-sg",
            "description": "Port 443 from CloudFront's origin-facing servers only",
            "ipProtocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
            "prefixListId": "pl-4fa04526",
            "tags": {"Component": "service"},
        }
    ]
    assert "aws:ec2/getManagedPrefixList:getManagedPrefixList" in run.invokes


def test_the_load_balancer_is_open_to_the_internet_by_default() -> None:
    names = {
        r.name
        for r in stack_run("prod").of_type(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        )
        if "-alb-in-" in r.name
    }
    assert names == {
        f"platform-prod-service-alb-in-{p}-{f}" for p in (80, 443) for f in ("ipv4", "ipv6")
    }


def _service_with(**values: object) -> str:
    return json.dumps({**json.loads(stack_config("prod")["platform:service"]), **values})


# --- edge: certificate, DNS, WAF ------------------------------------------------------------------


def test_dev_uses_the_cloudfront_certificate_and_no_waf() -> None:
    cdn = distribution("dev")
    assert cdn["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert "aliases" not in cdn
    assert "webAclId" not in cdn
    assert not [
        w for w in stack_run("dev").of_type("aws:wafv2/webAcl:WebAcl") if "static-site" in w.name
    ]
    assert stack_run("dev").outputs["siteUrl"] == "https://d111111abcdef8.cloudfront.net"


@pytest.mark.parametrize(
    "stack, domain", [("staging", "www.staging.example.com"), ("prod", "www.example.com")]
)
def test_custom_domain_gets_a_us_east_1_certificate_and_alias_records(
    stack: str, domain: str
) -> None:
    run = stack_run(stack)
    edge = edge_provider_urn(run)
    certificate = site(stack, "aws:acm/certificate:Certificate", "cert")
    assert certificate.inputs["domainName"] == domain
    assert certificate.provider is not None and certificate.provider.startswith(edge)
    validation = site(
        stack, "aws:acm/certificateValidation:CertificateValidation", "cert-validation"
    )
    assert validation.provider is not None and validation.provider.startswith(edge)
    cdn = distribution(stack)
    assert cdn["aliases"] == [domain]
    assert cdn["viewerCertificate"]["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert cdn["viewerCertificate"]["sslSupportMethod"] == "sni-only"
    records = {
        r.inputs["type"]: r.inputs
        for r in run.of_type("aws:route53/record:Record")
        if "static-site-alias" in r.name
    }
    assert set(records) == {"A", "AAAA"}
    for record in records.values():
        assert record["name"] == domain
        assert record["aliases"][0]["name"] == "d111111abcdef8.cloudfront.net"
        assert record["aliases"][0]["zoneId"] == "Z2FDTNDATAQYW2"
    assert run.outputs["siteUrl"] == f"https://{domain}"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_cloudfront_waf_is_in_us_east_1_and_attached(stack: str) -> None:
    run = stack_run(stack)
    acl = site(stack, "aws:wafv2/webAcl:WebAcl", "waf")
    assert acl.inputs["scope"] == "CLOUDFRONT"
    assert acl.provider is not None and acl.provider.startswith(edge_provider_urn(run))
    rules = [rule["name"] for rule in acl.inputs["rules"]]
    assert rules[-1] == "RateLimitPerIp" and len(rules) == 4
    name = site_name(stack, "aws:wafv2/webAcl:WebAcl", "waf")
    assert distribution(stack)["webAclId"] == f"arn:aws:wafv2:eu-west-1:123456789012:webacl/{name}"


@pytest.mark.parametrize("stack", STACKS)
def test_only_edge_resources_use_the_us_east_1_provider(stack: str) -> None:
    run = stack_run(stack)
    edge = edge_provider_urn(run)
    in_edge = {
        r.type
        for r in run.resources
        if r.provider and r.provider.startswith(edge) and "static-site" in r.name
    }
    # The CloudFront ACL's logs live with it in us-east-1, under a key of that region.
    assert in_edge <= {
        "aws:acm/certificate:Certificate",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:wafv2/webAcl:WebAcl",
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:kms/key:Key",
        "aws:kms/alias:Alias",
    }
    if stack != "dev":
        group = run.one("aws:cloudwatch/logGroup:LogGroup", "static-site-waf-logs")
        assert group.provider and group.provider.startswith(edge)
        assert group.inputs["name"] == f"aws-waf-logs-platform-{stack}-static-site-waf"
        key = json.loads(run.one("aws:kms/key:Key", "static-site-waf-logs-key").inputs["policy"])
        logs = next(s for s in key["Statement"] if s["Sid"] == "CloudWatchLogs")
        assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    cdn_provider = run.one(DISTRIBUTION).provider or ""
    assert not cdn_provider.startswith(edge)


# --- access logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, days", [("dev", 7), ("staging", 30), ("prod", 365)])
def test_access_logs_go_to_a_log_bucket_with_lifecycle(stack: str, days: int) -> None:
    logging = distribution(stack)["loggingConfig"]
    assert logging == {
        "bucket": f"{site_name(stack, BUCKET, 'logs')}.s3.amazonaws.com",
        "prefix": f"{stack}/",
        "includeCookies": False,
    }
    lifecycle = site(
        stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "logs-lifecycle"
    ).inputs["rules"][0]
    assert lifecycle["expiration"] == {"days": days}
    # CloudFront delivers logs with an ACL grant and cannot write with a KMS key.
    ownership = site(
        stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "logs-ownership"
    )
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerPreferred"}
    encryption = site(
        stack,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "logs-encryption",
    ).inputs["rules"][0]
    assert encryption["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    block = site(
        stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "logs-public-access"
    )
    assert block.inputs["blockPublicAcls"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_distribution_waits_for_the_log_bucket_to_accept_acls(stack: str) -> None:
    # Created before the ownership controls, CloudFront refuses the bucket ("does not enable ACL
    # access"): new buckets start with ACLs disabled (BucketOwnerEnforced).
    ownership = site(
        stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "logs-ownership"
    )
    cdn = stack_run(stack).one(DISTRIBUTION)
    assert ownership.urn in cdn.dependencies, (cdn.urn, cdn.dependencies)


@pytest.mark.parametrize("stack", STACKS)
def test_outputs(stack: str) -> None:
    outputs = stack_run(stack).outputs
    assert outputs["siteDistributionId"] == "EDFDVBD6EXAMPLE"
    assert outputs["siteDistributionDomainName"] == "d111111abcdef8.cloudfront.net"
    assert outputs["siteBucket"] == site_name(stack, BUCKET, "site")


def test_a_stack_without_a_site_has_no_distribution_or_us_east_1_provider() -> None:
    run = stack_run("dev", overrides={"platform:staticSite": json.dumps({"enabled": False})})
    assert not run.of_type(DISTRIBUTION)
    assert not [p for p in run.of_type("pulumi:providers:aws") if p.name.endswith("us-east-1")]
    assert "siteUrl" not in run.outputs


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section, message",
    [
        (
            {"domainName": "www.example.com"},
            "platform:staticSite: domainName needs hostedZoneId",
        ),
        (
            {"priceClass": "PriceClass_300"},
            "platform:staticSite.priceClass = 'PriceClass_300': PriceClass_300 is not one of "
            "PriceClass_100, PriceClass_200, PriceClass_All",
        ),
        (
            {"contentSecurityPolicy": "default-src self'"},
            "default-src: malformed sources self' (quote keywords: 'self')",
        ),
        ({"contentSecurityPolicy": "scripts-src 'self'"}, "unknown directive 'scripts-src'"),
        ({"contentSecurityPolicy": " ; "}, "empty: give at least default-src"),
    ],
)
def test_bad_site_settings_fail_before_anything_is_registered(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProgramError) as failure:
        run_stack("prod", overrides={"platform:staticSite": json.dumps(section)})
    assert message in str(failure.value)
    assert failure.value.run.resources == []


def test_origin_only_without_a_distribution_is_refused() -> None:
    with pytest.raises(ProgramError) as failure:
        run_stack(
            "prod",
            overrides={
                "platform:service": _service_with(originOnly=True),
                "platform:staticSite": json.dumps({"apiOrigin": False}),
            },
        )
    assert "platform:service.originOnly: the load balancer would admit only CloudFront" in str(
        failure.value
    )
    assert failure.value.run.resources == []
