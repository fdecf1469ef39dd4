"""Offline harness: run the program, or any part of it, under Pulumi mocks and record everything.

Used by the tests and by the offline plan. Nothing here talks to AWS or needs the Pulumi CLI: the
mocks answer every invoke the program makes with plausible values, give AWS resources the outputs
the program reads (ARNs, names, endpoints), and give remote components (awsx, eks) explicit outputs,
since under mocks their children never exist.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import json
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.resource as pulumi_resource_runtime
import pulumi.runtime.settings as runtime_settings
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.examples import offline_harness_accepts_example_values
from tooling import provider_check

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "platform"
ACCOUNT_ID = "123456789012"
STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
# What `pulumi.get_organization()` returns on a DIY (self-managed) backend; stack references name
# stacks `<organization>/<project>/<stack>`.
ORGANIZATION = "organization"


class OfflineError(Exception):
    """The offline run could not start (missing or unreadable stack file, unmocked invoke)."""


class ProgramError(Exception):
    """The program raised; `run` holds what it had registered until then."""

    def __init__(self, error: BaseException, run: OfflineRun):
        super().__init__(str(error))
        self.run = run


@dataclass(frozen=True)
class Resource:
    """One registered resource: what the engine would have been asked to create.

    `inputs` are what the program sent, as Python values. `checked_inputs` are the same on the
    wire (numbers as floats, unknowns as the engine's sentinel, secrets and resource references
    in their wire form) after the provider's Check (auto-name, `tagsAll`): what the engine hands
    resource policies. `outputs` are the resource's state on the wire (registered outputs for a
    component): what stack policies see; in a preview, a new resource's computed outputs are
    unknown."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    checked_inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str
    parent: str | None
    provider: str | None
    providers: dict[str, str]
    custom: bool
    remote: bool
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    ignore_changes: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass
class OfflineRun:
    """Everything one offline run registered, plus the stack outputs."""

    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    invokes: list[str] = field(default_factory=list)
    secret_outputs: set[str] = field(default_factory=set)
    preview: bool = False
    # Resources the program read rather than registered (stack references): the engine's stack
    # policies see them, its resource policies and the plan's creates do not.
    reads: list[Resource] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        """The single resource of a type (whose logical name ends with `name`, if given)."""
        found = [r for r in self.of_type(type_) if name is None or r.name.endswith(name)]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise AssertionError(f"expected one {type_} named *{name or ''}, found {names}")
        return found[0]

    @cached_property
    def _by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def physical_name(self, type_: str, name: str | None = None) -> str:
        """The name AWS will know a resource by: explicit, or the provider's auto-name."""
        resource = self.one(type_, name)
        rule = provider_check.autoname_of(type_)
        return str(resource.checked_inputs[rule.prop if rule else "name"])

    def name_problems(self) -> list[provider_check.NameProblem]:
        """Every physical name the provider or AWS would refuse (too long, wrong case)."""
        return [
            problem
            for r in self.resources
            for problem in provider_check.name_problems(r.type, r.urn, r.inputs, r.checked_inputs)
        ]

    def alias_urns(self, resource: Resource) -> list[str]:
        """The URNs the engine derives from the resource's aliases (one given as a URN is
        itself): the parent's type chain without the root stack's type, the type, the name;
        what an alias leaves out is the resource's own."""
        found: list[str] = []
        for alias in resource.aliases:
            if alias.startswith("urn:"):
                found.append(alias)
                continue
            spec = dict(part.split("=", 1) for part in alias.split(" "))
            parent = spec.get("parent", resource.parent or "")
            chain = parent.split("::")[2].removeprefix(STACK_TYPE).removeprefix("$")
            type_ = spec.get("type", resource.type)
            qualified = f"{chain}${type_}" if chain else type_
            project = resource.urn.split("::")[1]
            name = spec.get("name", resource.name)
            found.append(f"urn:pulumi:{self.stack}::{project}::{qualified}::{name}")
        return found

    def component_of(self, resource: Resource) -> Resource | None:
        """The nearest enclosing platform component (type `platform:*`)."""
        owner = self._by_urn.get(resource.parent or "")
        while owner is not None and not owner.type.startswith("platform:"):
            owner = self._by_urn.get(owner.parent or "")
        return owner


# --- the mocks ------------------------------------------------------------------------------------

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
STACK_TYPE = "pulumi:pulumi:Stack"
# What pulumi-random computes (unknown in a preview): the generated value and its hash.
_RANDOM_COMPUTED = {RANDOM_PASSWORD: frozenset({"result", "bcryptHash"})}


def _camel_service(token: str) -> tuple[str, str]:
    """('ec2', 'vpc') from 'aws:ec2/vpc:Vpc'."""
    module = token.split(":")[1]
    service, _, kind = module.partition("/")
    return service, kind or module


class PlatformMocks(pulumi.runtime.Mocks):
    """Plausible answers for every resource and invoke the program uses."""

    def __init__(
        self,
        region: str,
        preview: bool = False,
        stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
        own_stack: str | None = None,
    ):
        self.region = region
        self.preview = preview
        # The outputs of the stacks the program references, by `<org>/<project>/<stack>`: none by
        # default, as on a stack's first update.
        self.stack_outputs = dict(stack_outputs or {})
        # The stacks that exist: the one being updated (`<org>/<project>/<stack>`) and those
        # given outputs; the engine refuses a reference to any other.
        self.existing_stacks = {*self.stack_outputs, *([own_stack] if own_stack else [])}
        self.monitor: RecordingMonitor | None = None
        self.invokes: list[str] = []

    # resources

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """`args.inputs` are the checked inputs (auto-name, tagsAll) the provider would create."""
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        if self.preview:
            return "", self._planned(args)
        special = _REMOTE_OUTPUTS.get(args.typ)
        if special is not None:
            return f"{args.name}-id", special(self, args)
        outputs = dict(args.inputs)
        if args.typ == RANDOM_PASSWORD:
            outputs["result"] = f"offline{provider_check.random_suffix(args.name)}Secret0"
        if args.typ.startswith("aws:"):
            outputs.setdefault("name", args.name)
            outputs.setdefault("arn", self._arn(args.typ, str(outputs["name"])))
            extra = _AWS_OUTPUTS.get(args.typ)
            if extra is not None:
                outputs.update(extra(self, args.name, outputs))
        # An "id" among the extras is the physical id (a security group's sg-..., say).
        return str(outputs.pop("id", f"{args.name}-id")), outputs

    def _planned(self, args: MockResourceArgs) -> dict[str, Any]:
        """A new resource's state in a preview: its checked inputs, every computed output unknown
        (as a bridged provider plans a create). A remote component's outputs come from children
        that do not exist yet, so all of them are unknown."""
        if args.typ in _REMOTE_OUTPUTS:
            return {}
        computed = (
            provider_check.output_names(args.typ) | _RANDOM_COMPUTED.get(args.typ, frozenset())
        ) - set(args.inputs)
        return {**args.inputs, **dict.fromkeys(computed, rpc.UNKNOWN)}

    def _stack_reference(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        """The engine's builtin provider reads a stack reference in a preview as in an update:
        id and input `name` are the referenced stack, outputs `name`, `outputs` and
        `secretOutputNames` (pulumi pkg/resource/deploy/builtins.go, readStackReference)."""
        name = str(args.inputs["name"])
        if name not in self.existing_stacks:
            # The engine's read fails for a stack the backend does not have (a wrong
            # organization or project, or a DIY backend's legacy layout without projects).
            raise OfflineError(
                f"stack reference {name!r}: no such stack (offline, only "
                f"{', '.join(sorted(self.existing_stacks)) or 'none'} exist)"
            )
        return name, {
            "name": name,
            "outputs": dict(self.stack_outputs.get(name, {})),
            "secretOutputNames": [],
        }

    def _arn(self, token: str, name: str) -> str:
        service, kind = _camel_service(token)
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{kind.lower()}/{name}"

    def fake_children(
        self,
        parent_urn: str,
        token: str,
        names: list[str],
        state: Callable[[str], dict[str, Any]] | None = None,
    ) -> list[dict[str, str]]:
        """Register resources a remote component would own, so its outputs can reference them;
        `state(name)` adds outputs beyond the id and ARN."""
        assert self.monitor is not None
        references: list[dict[str, str]] = []
        for name in names:
            urn = f"{parent_urn}${token}::{name}"
            extra = state(name) if state else {}
            state_of = {"id": f"{name}-id", "arn": self._arn(token, name), **extra}
            self.monitor.resources[urn] = MockMonitor.ResourceRegistration(
                urn, f"{name}-id", state_of
            )
            references.append(
                {
                    rpc._special_sig_key: rpc._special_resource_sig,
                    "urn": urn,
                    "id": f"{name}-id",
                    "type": token,
                    "name": name,
                }
            )
        return references

    # invokes

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.invokes.append(args.token)
        answer = _INVOKES.get(args.token)
        if answer is None:
            raise OfflineError(f"the offline harness has no answer for invoke {args.token}")
        return answer(self, args.args), []

    @property
    def zones(self) -> list[str]:
        return [f"{self.region}{letter}" for letter in "abc"]


def _vpc_outputs(mocks: PlatformMocks, args: MockResourceArgs) -> dict[str, Any]:
    zones: list[str] = args.inputs.get("availabilityZoneNames") or mocks.zones
    name = args.name
    urn = f"urn:pulumi:stack::{PROJECT}::awsx:ec2:Vpc::{name}"
    tiers = [spec["name"] for spec in args.inputs.get("subnetSpecs", [])]
    table_names = [f"{name}-{tier}-{i + 1}" for tier in tiers for i in range(len(zones))]
    ids = {
        tier: [f"subnet-{tier}-{i + 1}" for i in range(len(zones))]
        for tier in ("public", "private", "isolated")
    }
    strategy = (args.inputs.get("natGateways") or {}).get("strategy", "OnePerAz")
    nat_count = {"Single": 1, "OnePerAz": len(zones), "None": 0}[strategy]
    nat_names = [f"{name}-{i + 1}" for i in range(nat_count)]
    return {
        "vpcId": f"vpc-{name}",
        "natGateways": mocks.fake_children(urn, "aws:ec2/natGateway:NatGateway", nat_names),
        "publicSubnetIds": ids["public"],
        "privateSubnetIds": ids["private"],
        "isolatedSubnetIds": ids["isolated"],
        "routeTables": mocks.fake_children(urn, "aws:ec2/routeTable:RouteTable", table_names),
    }


def _eks_cluster_outputs(mocks: PlatformMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name") or f"{args.name}-eksCluster-0123abcd"
    issuer = f"oidc.eks.{mocks.region}.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
    urn = f"urn:pulumi:stack::{PROJECT}::eks:index:Cluster::{args.name}"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": f"https://{name}.eks.example"}}],
    }
    return {
        "eksCluster": mocks.fake_children(
            urn,
            "aws:eks/cluster:Cluster",
            [name],
            lambda n: {
                "name": n,
                "endpoint": f"https://0123456789ABCDEF.gr7.{mocks.region}.eks.amazonaws.com",
            },
        )[0],
        "kubeconfig": kubeconfig,
        "kubeconfigJson": json.dumps(kubeconfig),
        "oidcIssuer": issuer,
        "oidcProviderUrl": f"https://{issuer}",
        "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
        "clusterSecurityGroupId": f"sg-{name}-cluster",
    }


Child = tuple[str, str, dict[str, Any]]


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _arn_or_unknown(mocks: PlatformMocks, value: str) -> str:
    return rpc.UNKNOWN if mocks.preview else value


def _vpc_children(name: str, inputs: Mapping[str, Any], mocks: PlatformMocks) -> list[Child]:
    """awsx creates `aws.ec2.Vpc(name, {...args, cidrBlock})` and one `aws.ec2.Subnet` per tier and
    zone named `<name>-<tier>-<n>`, public ones mapping public IPs (pulumi-awsx awsx/ec2/vpc.ts)."""
    tags = {"Name": name, **(inputs.get("tags") or {})}
    vpc = _present(
        {
            "cidrBlock": inputs.get("cidrBlock"),
            "enableDnsHostnames": inputs.get("enableDnsHostnames"),
            "enableDnsSupport": inputs.get("enableDnsSupport"),
            "tags": tags,
        }
    )
    zones = len(inputs.get("availabilityZoneNames") or mocks.zones)
    vpc_id = _arn_or_unknown(mocks, f"vpc-{name}")
    subnets: list[Child] = [
        (
            "aws:ec2/subnet:Subnet",
            f"{name}-{spec['name']}-{index + 1}",
            {
                "vpcId": vpc_id,
                "mapPublicIpOnLaunch": str(spec.get("type", "")).lower() == "public",
                "tags": {"Name": f"{name}-{spec['name']}-{index + 1}", **tags},
            },
        )
        for spec in inputs.get("subnetSpecs") or []
        for index in range(zones)
    ]
    return [("aws:ec2/vpc:Vpc", name, vpc), *subnets]


def _eks_children(name: str, inputs: Mapping[str, Any], mocks: PlatformMocks) -> list[Child]:
    """pulumi-eks creates, unless the program passes its own, a service role (`ServiceRole` ->
    `aws.iam.Role("<name>-eksRole-role")`, nodejs/eks/servicerole.ts) and the cluster itself
    (`aws.eks.Cluster("<name>-eksCluster")`, nodejs/eks/cluster/cluster.ts `createCore`) with the
    component's inputs mapped as below; the engine checks these, not the component."""
    role = f"{name}-eksRole-role"
    key = inputs.get("encryptionConfigKeyArn")
    cidrs = inputs.get("publicAccessCidrs")
    subnets = [*(inputs.get("privateSubnetIds") or []), *(inputs.get("publicSubnetIds") or [])]
    authentication = inputs.get("authenticationMode")
    cluster = _present(
        {
            "name": inputs.get("name"),
            "roleArn": _arn_or_unknown(mocks, f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"),
            "bootstrapSelfManagedAddons": inputs.get("bootstrapSelfManagedAddons", True),
            "vpcConfig": _present(
                {
                    "subnetIds": inputs.get("subnetIds") or subnets,
                    "endpointPrivateAccess": inputs.get("endpointPrivateAccess"),
                    "endpointPublicAccess": inputs.get("endpointPublicAccess"),
                    "publicAccessCidrs": cidrs,
                }
            ),
            "version": inputs.get("version"),
            "enabledClusterLogTypes": inputs.get("enabledClusterLogTypes"),
            "tags": {"Name": f"{name}-eksCluster", **(inputs.get("tags") or {})},
            "encryptionConfig": (
                {"provider": {"keyArn": key}, "resources": ["secrets"]} if key else None
            ),
            "accessConfig": (
                {
                    "authenticationMode": authentication,
                    "bootstrapClusterCreatorAdminPermissions": True,
                }
                if authentication
                else None
            ),
            "upgradePolicy": inputs.get("upgradePolicy"),
            "deletionProtection": inputs.get("deletionProtection"),
        }
    )
    service_role: list[Child] = (
        []
        if inputs.get("serviceRole")
        else [("aws:iam/role:Role", role, {"tags": dict(inputs.get("tags") or {})})]
    )
    return [*service_role, ("aws:eks/cluster:Cluster", f"{name}-eksCluster", cluster)]


_REMOTE_CHILDREN: dict[str, Callable[[str, Mapping[str, Any], PlatformMocks], list[Child]]] = {
    "awsx:ec2:Vpc": _vpc_children,
    "eks:index:Cluster": _eks_children,
}

_REMOTE_OUTPUTS: dict[str, Callable[[PlatformMocks, MockResourceArgs], dict[str, Any]]] = {
    "awsx:ec2:Vpc": _vpc_outputs,
    "eks:index:Cluster": _eks_cluster_outputs,
}

_AWS_OUTPUTS: dict[str, Callable[[PlatformMocks, str, dict[str, Any]], dict[str, Any]]] = {
    "aws:kms/key:Key": lambda m, name, _: {
        "keyId": f"{name}-key-id",
        "arn": f"arn:aws:kms:{m.region}:{ACCOUNT_ID}:key/{name}-key-id",
    },
    "aws:cloudwatch/logGroup:LogGroup": lambda m, _, out: {
        "arn": f"arn:aws:logs:{m.region}:{ACCOUNT_ID}:log-group:{out['name']}",
    },
    "aws:iam/role:Role": lambda _m, _n, out: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{out['name']}",
    },
    "aws:ec2/securityGroup:SecurityGroup": lambda _m, name, _: {"id": f"sg-{name}"},
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": lambda _m, _n, out: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{out['url'].removeprefix('https://')}",
    },
    "aws:lb/loadBalancer:LoadBalancer": lambda m, name, out: {
        "arn": f"arn:aws:elasticloadbalancing:{m.region}:{ACCOUNT_ID}:loadbalancer/app/{out['name']}/50dc6c495c0c9188",
        "arnSuffix": f"app/{out['name']}/50dc6c495c0c9188",
        "dnsName": f"{out['name']}-1234567890.{m.region}.elb.amazonaws.com",
        "zoneId": "Z32O12XQLNTSW2",
    },
    "aws:lb/targetGroup:TargetGroup": lambda m, _, out: {
        "arn": f"arn:aws:elasticloadbalancing:{m.region}:{ACCOUNT_ID}:targetgroup/{out['name']}/73e2d6bc24d8a067",
        "arnSuffix": f"targetgroup/{out['name']}/73e2d6bc24d8a067",
    },
    "aws:ecr/repository:Repository": lambda m, _, out: {
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{m.region}.amazonaws.com/{out['name']}",
    },
    "aws:ecs/cluster:Cluster": lambda m, _, out: {
        "arn": f"arn:aws:ecs:{m.region}:{ACCOUNT_ID}:cluster/{out['name']}",
    },
    "aws:ecs/taskDefinition:TaskDefinition": lambda m, _, out: {
        "arn": f"arn:aws:ecs:{m.region}:{ACCOUNT_ID}:task-definition/{out['family']}:1",
    },
    "aws:s3/bucket:Bucket": lambda m, name, out: {
        "bucket": out.get("bucket", name),
        "arn": f"arn:aws:s3:::{out.get('bucket', name)}",
        "bucketRegionalDomainName": f"{out.get('bucket', name)}.s3.{m.region}.amazonaws.com",
        "bucketDomainName": f"{out.get('bucket', name)}.s3.amazonaws.com",
    },
    "aws:acm/certificate:Certificate": lambda _m, name, out: {
        "domainValidationOptions": [
            {
                "domainName": out["domainName"],
                "resourceRecordName": f"_{name}.{out['domainName']}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{name}.acm-validations.aws.",
            }
        ],
    },
    "aws:acm/certificateValidation:CertificateValidation": lambda _m, _n, out: {
        "certificateArn": out["certificateArn"],
    },
    "aws:route53/record:Record": lambda _m, _n, out: {"fqdn": out["name"]},
    "aws:batch/jobDefinition:JobDefinition": lambda m, _, out: {
        "arn": f"arn:aws:batch:{m.region}:{ACCOUNT_ID}:job-definition/{out['name']}:1",
    },
    "aws:batch/jobQueue:JobQueue": lambda m, _, out: {
        "arn": f"arn:aws:batch:{m.region}:{ACCOUNT_ID}:job-queue/{out['name']}",
    },
    "aws:sfn/stateMachine:StateMachine": lambda m, _, out: {
        "arn": f"arn:aws:states:{m.region}:{ACCOUNT_ID}:stateMachine:{out['name']}",
    },
    "aws:cloudwatch/eventRule:EventRule": lambda m, _, out: {
        "arn": f"arn:aws:events:{m.region}:{ACCOUNT_ID}:rule/{out['name']}",
    },
    "aws:sns/topic:Topic": lambda m, _, out: {
        "arn": f"arn:aws:sns:{m.region}:{ACCOUNT_ID}:{out['name']}",
    },
    "aws:rds/cluster:Cluster": lambda m, _, out: {
        "arn": f"arn:aws:rds:{m.region}:{ACCOUNT_ID}:cluster:{out['clusterIdentifier']}",
        "endpoint": f"{out['clusterIdentifier']}.cluster-abc.{m.region}.rds.amazonaws.com",
        "readerEndpoint": f"{out['clusterIdentifier']}.cluster-ro-abc.{m.region}.rds.amazonaws.com",
        "clusterResourceId": "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2",
        "masterUserSecrets": [
            {
                "secretArn": f"arn:aws:secretsmanager:{m.region}:{ACCOUNT_ID}:secret:rds!cluster-abc-AbCdEf",
                "kmsKeyId": out.get("masterUserSecretKmsKeyId", ""),
                "secretStatus": "active",
            }
        ],
        "id": out["clusterIdentifier"],
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda _m, name, _: {
        "id": f"lt-{name}",
        "latestVersion": 1,
    },
    "aws:cloudfront/distribution:Distribution": lambda _m, _n, _o: {
        "id": "EDFDVBD6EXAMPLE",
        "arn": f"arn:aws:cloudfront::{ACCOUNT_ID}:distribution/EDFDVBD6EXAMPLE",
        "domainName": "d111111abcdef8.cloudfront.net",
        "hostedZoneId": "Z2FDTNDATAQYW2",
    },
    "aws:cloudfront/function:Function": lambda _m, _n, out: {
        "arn": f"arn:aws:cloudfront::{ACCOUNT_ID}:function/{out['name']}",
    },
    "aws:cloudfront/originAccessControl:OriginAccessControl": lambda _m, _n, _o: {
        "id": "E2QWRUHAPOMQZL",
    },
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": lambda _m, _n, _o: {
        "id": "67f7725c-6f97-4210-82d7-5512b31e9d03",
    },
    "aws:mq/broker:Broker": lambda m, name, out: {
        "id": f"b-{name}",
        "instances": [
            {
                "consoleUrl": f"https://b-{name}.mq.{m.region}.on.aws",
                "endpoints": [f"amqps://b-{name}.mq.{m.region}.on.aws:5671"],
            }
        ],
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda m, _, out: {
        "id": out["replicationGroupId"],
        "primaryEndpointAddress": f"master.{out['replicationGroupId']}.abc.euw1.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{out['replicationGroupId']}.abc.euw1.cache.amazonaws.com",
    },
    "aws:secretsmanager/secret:Secret": lambda m, name, _: {
        "arn": f"arn:aws:secretsmanager:{m.region}:{ACCOUNT_ID}:secret:{name}-AbCdEf",
    },
    "aws:sqs/queue:Queue": lambda m, _, out: {
        "arn": f"arn:aws:sqs:{m.region}:{ACCOUNT_ID}:{out['name']}",
        "url": f"https://sqs.{m.region}.amazonaws.com/{ACCOUNT_ID}/{out['name']}",
    },
}


def _policy_document(_: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for statement in args.get("statements", []):
        rendered: dict[str, Any] = {
            "Effect": statement.get("effect", "Allow"),
            "Action": statement.get("actions", []),
            "Resource": statement.get("resources", []),
        }
        principals = statement.get("principals") or []
        if principals:
            rendered["Principal"] = {p["type"]: p["identifiers"] for p in principals}
        conditions = statement.get("conditions") or []
        if conditions:
            rendered["Condition"] = {c["test"]: {c["variable"]: c["values"]} for c in conditions}
        statements.append(rendered)
    document = {"Version": "2012-10-17", "Statement": statements}
    return {"json": json.dumps(document), "minifiedJson": json.dumps(document), "id": "doc"}


_INVOKES: dict[str, Callable[[PlatformMocks, dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda m, _: {
        "names": m.zones,
        "zoneIds": [f"euw1-az{i + 1}" for i in range(len(m.zones))],
        "id": m.region,
    },
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _m, _a: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline",
        "userId": "OFFLINE",
        "id": ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": lambda _m, _a: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
        "id": "aws",
    },
    "aws:index/getRegion:getRegion": lambda m, _: {
        "name": m.region,
        "region": m.region,
        "description": m.region,
        "endpoint": f"ec2.{m.region}.amazonaws.com",
        "id": m.region,
    },
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    "aws:ec2/getManagedPrefixList:getManagedPrefixList": lambda _m, args: {
        "id": "pl-4fa04526",
        "name": args.get("name", ""),
        "entries": [],
        "maxEntries": 55,
    },
    "aws:eks/getAddonVersion:getAddonVersion": lambda _m, args: {
        "addonName": args["addonName"],
        "kubernetesVersion": args["kubernetesVersion"],
        "version": "v1.0.0-eksbuild.1",
        "id": args["addonName"],
    },
    # The regional Elastic Load Balancing account (eu-west-1's here) that writes ALB access logs.
    "aws:elb/getServiceAccount:getServiceAccount": lambda _m, _a: {
        "arn": "arn:aws:iam::156460612806:root",
        "id": "156460612806",
    },
}


# --- the recording monitor ------------------------------------------------------------------------


class RecordingMonitor(MockMonitor):
    """A mock monitor that runs the provider's Check (auto-names, tagsAll) on each registration,
    as the engine does before it creates or analyzes a resource, and keeps everything the engine
    would know: options (protect, parent, ...), checked inputs and outputs on the wire."""

    def __init__(self, mocks: PlatformMocks):
        super().__init__(mocks)
        self.platform_mocks = mocks
        self.records: list[Resource] = []
        self.reads: list[Resource] = []
        self.component_outputs: dict[str, dict[str, Any]] = {}
        mocks.monitor = self

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        with _worker_loop_closed():
            return self._register(request)

    def _register(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        wire = json_format.MessageToDict(request.object)
        id_, state_proto, checked = self._create(
            request.type,
            request.name,
            urn,
            wire=wire,
            provider=request.provider,
            custom=bool(request.custom),
            secret_outputs=tuple(request.additionalSecretOutputs),
        )
        outputs = json_format.MessageToDict(state_proto)
        self.records.append(_record(request, urn, id_, checked, outputs))
        children = _REMOTE_CHILDREN.get(request.type)
        if children is not None:
            provider = request.provider or request.providers.get("aws", "")
            for type_, name, inputs in children(request.name, checked, self.platform_mocks):
                self._add_child(urn, provider, type_, name, inputs)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=state_proto)

    def _create(
        self,
        type_: str,
        name: str,
        urn: str,
        *,
        wire: dict[str, Any],
        provider: str,
        custom: bool,
        secret_outputs: tuple[str, ...] = (),
    ) -> tuple[str, struct_pb2.Struct, dict[str, Any]]:
        """What the engine does for a registration: the provider's Check, then the (mocked)
        create. The id, the state on the wire (the outputs named by the resource's
        `additional_secret_outputs` marked secret, as the engine marks them), and the checked
        inputs."""
        checked = provider_check.checked(type_, name, urn, wire, self._default_tags(provider))
        args = MockResourceArgs(
            typ=type_,
            name=name,
            inputs=rpc.deserialize_properties(_struct(checked)),
            provider=provider,
            custom=custom,
        )
        id_, state = self.platform_mocks.new_resource(args)
        for key in (key for key in secret_outputs if key in state):
            state[key] = {rpc._special_sig_key: rpc._special_secret_sig, "value": state[key]}
        state_proto = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_ or "", state)
        return id_ or "", state_proto, checked

    def _add_child(
        self, parent: str, provider: str, type_: str, name: str, wire: dict[str, Any]
    ) -> None:
        """A resource a remote component creates in its own provider: invisible to the program,
        but the engine checks it against every policy and AWS against every limit."""
        urn = self.make_urn(parent, type_, name)
        id_, state_proto, checked = self._create(
            type_, name, urn, wire=wire, provider=provider, custom=True
        )
        self.records.append(
            Resource(
                urn=urn,
                type=type_,
                name=name,
                inputs=dict(rpc.deserialize_properties(_struct(wire))),
                checked_inputs=checked,
                outputs=json_format.MessageToDict(state_proto),
                id=id_,
                parent=parent,
                provider=provider or None,
                providers={},
                custom=True,
                remote=False,
                protect=False,
                retain_on_delete=False,
                delete_before_replace=False,
                dependencies=(),
                property_dependencies={},
                ignore_changes=(),
                replace_on_changes=(),
                aliases=(),
            )
        )

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        with _worker_loop_closed():
            response = super().ReadResource(request)
        self.reads.append(_read_record(request, response))
        return response

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        with _worker_loop_closed():
            return super().Invoke(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self.component_outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)

    def _default_tags(self, provider_reference: str) -> dict[str, str]:
        """The default tags of the provider a resource uses (`urn::id`); none for the default."""
        urn = provider_reference.rsplit("::", 1)[0] if provider_reference else ""
        provider = next((r for r in self.records if r.urn == urn), None)
        raw = provider.inputs.get("defaultTags") if provider else None
        if not raw:
            return {}
        return dict((json.loads(raw) if isinstance(raw, str) else raw).get("tags") or {})

    def finished(self) -> list[Resource]:
        """Every record, components with the outputs they registered."""
        return [
            replace(r, outputs=self.component_outputs.get(r.urn, r.outputs)) for r in self.records
        ]


@contextmanager
def _worker_loop_closed() -> Iterator[None]:
    """Monitor calls run in SDK worker threads, where the SDK's `_sync_await` opens an event loop
    it never closes; close it after the call rather than leave it to a garbage collection during
    a later run (where its finaliser fails on an already closed socket)."""
    if threading.current_thread() is threading.main_thread() or _thread_loop() is not None:
        yield
        return
    try:
        yield
    finally:
        opened = _thread_loop()
        if opened is not None:
            opened.close()
            asyncio.set_event_loop(None)


def _thread_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # none set in this thread
        return None


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _record(
    request: Any, urn: str, id_: str, checked: dict[str, Any], outputs: dict[str, Any]
) -> Resource:
    inputs = rpc.deserialize_properties(request.object)
    # Mock URNs chain the parents' types, so the stack is the parent only when its type is the last.
    parent = (
        request.parent
        if request.parent and not request.parent.split("::")[2].endswith(STACK_TYPE)
        else None
    )
    return Resource(
        urn=urn,
        type=request.type,
        name=request.name,
        inputs=dict(inputs),
        checked_inputs=checked,
        outputs=outputs,
        id=id_,
        parent=parent,
        provider=request.provider or None,
        providers=dict(request.providers),
        custom=bool(request.custom),
        remote=bool(request.remote),
        protect=bool(request.protect),
        retain_on_delete=bool(request.retainOnDelete),
        delete_before_replace=bool(request.deleteBeforeReplace),
        dependencies=tuple(request.dependencies),
        property_dependencies={
            key: tuple(value.urns) for key, value in request.propertyDependencies.items()
        },
        ignore_changes=tuple(request.ignoreChanges),
        replace_on_changes=tuple(request.replaceOnChanges),
        aliases=tuple(_alias_text(alias) for alias in request.aliases),
    )


def _read_record(request: Any, response: Any) -> Resource:
    """A read as the engine keeps it: external, custom, unprotected, its outputs what the
    provider's Read returned (pulumi pkg/resource/deploy/step_generator.go GenerateReadSteps)."""
    top_level = not request.parent or request.parent.split("::")[2].endswith(STACK_TYPE)
    return Resource(
        urn=response.urn,
        type=request.type,
        name=request.name,
        inputs=dict(rpc.deserialize_properties(request.properties)),
        checked_inputs=json_format.MessageToDict(request.properties),
        outputs=json_format.MessageToDict(response.properties),
        id=request.id,
        parent=None if top_level else request.parent,
        provider=request.provider or None,
        providers={},
        custom=True,
        remote=False,
        protect=False,
        retain_on_delete=False,
        delete_before_replace=False,
        dependencies=tuple(request.dependencies),
        property_dependencies={},
        ignore_changes=(),
        replace_on_changes=(),
        aliases=(),
    )


def _alias_text(alias: Any) -> str:
    """An alias as `urn` or `name=<old name> parent=<old parent>`, whichever it was given as."""
    if alias.urn:
        return str(alias.urn)
    spec = alias.spec
    return " ".join(f"{key}={value}" for key, value in (("name", spec.name), ("type", spec.type),
                    ("parent", spec.parentUrn)) if value)  # fmt: skip


# --- running --------------------------------------------------------------------------------------


def run_offline(
    program: Callable[[], object],
    *,
    stack: str,
    config: Mapping[str, str],
    project: str = PROJECT,
    preview: bool = False,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> OfflineRun:
    """Run `program` under mocks with `config` (fully qualified keys, string values), as
    `pulumi up` would (`preview=False`) or as a first `pulumi preview` would, every new
    resource's computed outputs unknown (`preview=True`). `stack_outputs`: the outputs a stack
    reference reads, by `<organization>/<project>/<stack>` (none by default)."""
    # A fresh context per run: no root stack, config or settings leak from one run to the next.
    run = functools.partial(
        _run_in_loop,
        program,
        stack=stack,
        config=dict(config),
        project=project,
        preview=preview,
        stack_outputs=stack_outputs or {},
    )
    return contextvars.Context().run(_in_new_loop, run)


def _in_new_loop(run: Callable[[], OfflineRun]) -> OfflineRun:
    # Each run gets its own event loop, whatever earlier code did to the thread's loop.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return run()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _run_in_loop(
    program: Callable[[], object],
    *,
    stack: str,
    config: dict[str, str],
    project: str,
    preview: bool,
    stack_outputs: Mapping[str, Mapping[str, Any]],
) -> OfflineRun:
    # A run allocates many short-lived cycles, and with the SDK modules loaded every full garbage
    # collection would rescan hundreds of thousands of long-lived objects (half a run's time):
    # collect what earlier runs left, then keep everything that exists now out of later scans.
    gc.collect()
    gc.freeze()
    mocks = PlatformMocks(
        region=config.get("aws:region", "eu-west-1"),
        preview=preview,
        stack_outputs=stack_outputs,
        own_stack=f"{ORGANIZATION}/{project}/{stack}",
    )
    monitor = RecordingMonitor(mocks)
    # The SDK's own reset: no root stack, and fresh RPC and output task sets, so nothing a
    # failed run left unfinished (on its loop, closed by now) is awaited by this one.
    runtime_settings.reset_options(project=project, stack=stack, organization=ORGANIZATION)
    pulumi.runtime.set_all_config(config, [])
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=preview,
        monitor=monitor,
        organization=ORGANIZATION,
    )
    outputs: dict[str, Any] = {}
    secrets: set[str] = set()

    async def main() -> None:
        program()
        root = runtime_settings.get_root_resource()
        exported: dict[str, Any] = getattr(root, "outputs", {})
        for key, value in exported.items():
            output = pulumi.Output.from_input(value)
            outputs[key] = await output.future()
            if await output.is_secret():
                secrets.add(key)

    try:
        with _without_stack_traces(), collections_deferred():
            _sync_await(run_pulumi_func(main))
    except Exception as error:
        partial = OfflineRun(
            stack=stack,
            resources=monitor.finished(),
            outputs={},
            invokes=mocks.invokes,
            preview=preview,
            reads=monitor.reads,
        )
        raise ProgramError(error, partial) from error
    return OfflineRun(
        stack=stack,
        resources=monitor.finished(),
        outputs=outputs,
        invokes=mocks.invokes,
        secret_outputs=secrets,
        preview=preview,
        reads=monitor.reads,
    )


@contextmanager
def _without_stack_traces() -> Iterator[None]:
    """The SDK walks the Python stack at every registration to send the engine source positions
    for its diagnostics (pulumi/runtime/resource.py `_get_stack_trace`): a sixth of a run's time,
    and nothing the mocks, the recorded inputs or the analyzer read. Skipped while the program runs."""
    original = pulumi_resource_runtime._get_stack_trace
    pulumi_resource_runtime._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        pulumi_resource_runtime._get_stack_trace = original


@contextmanager
def collections_deferred() -> Iterator[None]:
    """No garbage collection while the program runs (or the policy pack evaluates a run): the
    collections the SDK's many short-lived cycles would trigger cost a seventh of a run's time
    (a tenth of an evaluation's) and free nothing still needed; the next run's `gc.collect()`
    (or the interpreter's own, once re-enabled) frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def stack_names(root: Path = PROJECT_ROOT) -> list[str]:
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml")
    )


def stack_config(stack: str, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The config the Pulumi CLI would hand the program: project defaults, then the stack file."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise OfflineError(
            f"no stack file {path.name}; stacks here: {', '.join(stack_names(root))}"
        )
    try:
        project = yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}
        values = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    except yaml.YAMLError as error:
        raise OfflineError(f"{path.name} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise OfflineError(f"{path.name}: 'config' must be a mapping of keys to values")
    name = project.get("name", PROJECT)
    declared: dict[str, Any] = project.get("config") or {}
    config = {key: spec["default"] for key, spec in declared.items() if "default" in spec}
    config.update(values)
    return {
        _qualify(key, name): _as_config_string(_decrypted(value)) for key, value in config.items()
    }


# The CLI decrypts `secure:` values (`pulumi config set --secret`) before the program sees them;
# offline there is no key, so each stands as this marker: never an example value, and a setting
# that must parse it fails naming its key, not a value.
SECRET_MARKER = "[secret]"


def _decrypted(value: object) -> object:
    if isinstance(value, dict):
        if list(value) == ["secure"]:
            return SECRET_MARKER
        return {key: _decrypted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decrypted(item) for item in value]
    return value


def _qualify(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _as_config_string(value: object) -> str:
    """Config values reach the program as strings: objects as JSON, booleans in lower case."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def run_stack(
    stack: str,
    *,
    overrides: Mapping[str, str] | None = None,
    root: Path = PROJECT_ROOT,
    preview: bool = False,
    project: str = PROJECT,
    stack_name: str | None = None,
    accept_example_values: bool = True,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> OfflineRun:
    """Run the whole program (`__main__.py`) for one stack's real config file; `project` and
    `stack_name` run it as another project or stack would (names, not config).

    The program refuses to update a stack whose file holds example values (example.com,
    documentation CIDRs, ...). These runs deploy nothing, and the tests and the offline plan run
    the stack files as they are, so the harness opts in to accepting them
    (`accept_example_values`, a flag only this harness can set: see components/examples.py);
    a test passes False to see the refusal `pulumi up` would give."""
    config = {**stack_config(stack, root), **(overrides or {})}
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    program = root / "__main__.py"
    return run_offline(
        lambda: _run_main(program, accept_example_values),
        stack=stack_name or stack,
        config=config,
        project=project,
        preview=preview,
        stack_outputs=stack_outputs,
    )


def _run_main(program: Path, accept_example_values: bool) -> None:
    with offline_harness_accepts_example_values() if accept_example_values else nullcontext():
        runpy.run_path(str(program), run_name="__main__")
