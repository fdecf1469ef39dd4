"""EKS: restricted API endpoint, encrypted secrets, full control plane logs, supported versions,
standard support, and hardened nodes (IMDSv2, encrypted root volumes)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import Severity

from .core import OPEN_CIDRS, Config, Props, listed, mapping, resource_rule

# Only the native cluster: a pulumi_eks `eks:index:Cluster` component reaches the analyzers with
# no properties (its provider registers it from inside `construct`); the aws.eks.Cluster it
# creates carries everything these rules read.
NATIVE = "aws:eks/cluster:Cluster"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"


def _endpoint(props: Props) -> tuple[bool, list[str]]:
    """(public endpoint on, its CIDRs); AWS opens an unset endpoint to 0.0.0.0/0."""
    vpc = mapping(props.get("vpcConfig"))
    public = vpc.get("endpointPublicAccess")
    return public is not False, listed(vpc.get("publicAccessCidrs")) or ["0.0.0.0/0"]


def _restricted(props: Props, _: Config) -> Iterable[str]:
    public, cidrs = _endpoint(props)
    if public and any(c in OPEN_CIDRS for c in cidrs):
        yield "exposes its API endpoint to the whole internet"


def _secrets(props: Props, _: Config) -> Iterable[str]:
    if not mapping(mapping(props.get("encryptionConfig")).get("provider")).get("keyArn"):
        yield "stores Kubernetes secrets without envelope encryption"


def _logging(props: Props, _: Config) -> Iterable[str]:
    missing = [t for t in LOG_TYPES if t not in listed(props.get("enabledClusterLogTypes"))]
    if missing:
        yield f"does not log {', '.join(missing)}"


def _version(props: Props, config: Config) -> Iterable[str]:
    version = props.get("version")
    if version not in config["supportedVersions"]:
        yield f"runs Kubernetes {version}, outside standard support"


def _standard_support(props: Props, _: Config) -> Iterable[str]:
    policy = props.get("upgradePolicy") or {}
    if policy.get("supportType") != "STANDARD":
        yield "leaves its upgrade policy to the EXTENDED default"


def _imdsv2(props: Props, _: Config) -> Iterable[str]:
    options = props.get("metadataOptions") or {}
    if options.get("httpTokens") != "required":
        yield "lets instances use IMDSv1"


def _encrypted_volumes(props: Props, _: Config) -> Iterable[str]:
    for device in listed(props.get("blockDeviceMappings")):
        ebs = device.get("ebs") or {}
        if ebs and str(ebs.get("encrypted")).lower() != "true":
            yield f"leaves volume {device.get('deviceName', '?')} unencrypted"


RULES = [
    resource_rule(
        "eks-endpoint-restricted",
        "EKS API endpoints are private or limited to named CIDRs.",
        types=[NATIVE],
        check=_restricted,
        severity=Severity.CRITICAL,
        fix="Turn the public endpoint off or list the office/VPN CIDRs in publicAccessCidrs.",
    ),
    resource_rule(
        "eks-secrets-encryption",
        "EKS clusters encrypt Kubernetes secrets with a KMS key.",
        types=[NATIVE],
        check=_secrets,
        fix="Set an encryption config with a customer KMS key (rotation on).",
    ),
    resource_rule(
        "eks-control-plane-logging",
        "EKS clusters log every control plane component.",
        types=[NATIVE],
        check=_logging,
        fix=f"Enable all log types: {', '.join(LOG_TYPES)}.",
    ),
    resource_rule(
        "eks-supported-version",
        "EKS clusters run a Kubernetes version in standard support.",
        types=[NATIVE],
        check=_version,
        fix="Upgrade to a supported version (extended support costs about six times more per hour).",
        schema={
            "supportedVersions": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["1.34", "1.35", "1.36"],
                "description": "Kubernetes versions in EKS standard support.",
            }
        },
    ),
    resource_rule(
        "eks-standard-support",
        "EKS clusters choose the STANDARD upgrade policy.",
        types=[NATIVE],
        check=_standard_support,
        severity=Severity.MEDIUM,
        fix="Set upgradePolicy.supportType to STANDARD (EXTENDED costs about $438 a month more "
        "per cluster once its version leaves standard support).",
    ),
    resource_rule(
        "ec2-imdsv2-required",
        "Nodes and instances require IMDSv2 session tokens.",
        types=[LAUNCH_TEMPLATE, INSTANCE],
        check=_imdsv2,
        fix="Set metadataOptions.httpTokens to required.",
    ),
    resource_rule(
        "ec2-volumes-encrypted",
        "Launch templates (node groups) encrypt every volume.",
        types=[LAUNCH_TEMPLATE],
        check=_encrypted_volumes,
        fix="Set ebs.encrypted to true on every block device mapping.",
    ),
]
