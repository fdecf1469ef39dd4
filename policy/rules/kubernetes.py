"""EKS: restricted API endpoint, encrypted secrets, full control plane logs, supported versions,
standard support, and hardened nodes (IMDSv2, encrypted root volumes)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import ResourceValidationArgs, Severity

from .core import OPEN_CIDRS, Config, Props, listed, mapping, resource_rule

# Only the native cluster: a pulumi_eks `eks:index:Cluster` component reaches the analyzers with
# no properties (its provider registers it from inside `construct`); the aws.eks.Cluster it
# creates carries everything these rules read.
NATIVE = "aws:eks/cluster:Cluster"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
EBS_VOLUME = "aws:ebs/volume:Volume"
VOLUMES = (
    LAUNCH_TEMPLATE,
    INSTANCE,
    "aws:ec2/launchConfiguration:LaunchConfiguration",
    EBS_VOLUME,
)


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


def _true(value: object) -> bool:
    """Launch templates carry EBS flags as strings ("true"), instances as booleans."""
    return str(value).lower() == "true"


def _encrypted_volumes(args: ResourceValidationArgs, _: Config) -> Iterable[str]:
    props = args.props
    if args.resource_type == LAUNCH_TEMPLATE:
        devices = listed(props.get("blockDeviceMappings"))
        if not devices:
            # Decided: a template without block devices takes the AMI's volumes, encrypted only
            # if the account's EBS encryption by default is on, a regional setting outside this
            # program that the pack cannot see and anyone with ec2:DisableEbsEncryptionByDefault
            # can turn off. The program names its root volume, encrypted.
            yield "names no block devices: its volumes rely on the account's default encryption"
        for device in devices:
            ebs = mapping(device.get("ebs"))
            if ebs and not _true(ebs.get("encrypted")):
                yield f"leaves volume {device.get('deviceName', '?')} unencrypted"
    elif args.resource_type != EBS_VOLUME:  # an instance or a launch configuration
        if not _true(mapping(props.get("rootBlockDevice")).get("encrypted")):
            yield "leaves volume root unencrypted"
        for device in listed(props.get("ebsBlockDevices")):
            if not _true(mapping(device).get("encrypted")):
                yield f"leaves volume {mapping(device).get('deviceName', '?')} unencrypted"
    elif not _true(props.get("encrypted")):
        yield "is an unencrypted volume"


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
        "Launch templates, launch configurations, instances and EBS volumes encrypt every volume.",
        types=VOLUMES,
        check_args=_encrypted_volumes,
        fix="Set encrypted to true on every volume (a launch template's block device mappings, an "
        "instance's rootBlockDevice and ebsBlockDevices, an EBS volume).",
    ),
]
