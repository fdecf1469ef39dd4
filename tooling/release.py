"""The release path's steps as commands (.github/workflows/release.yml and release-stack.yml; README
"Ship a release"). Each reads the stack files through components/settings.py, or the stack's
outputs through `pulumi stack output --json`, and talks to AWS with the caller's credentials.

    python -m tooling.release matrix                    the build matrix: services with a source
    python -m tooling.release tag --tag T               check a release tag: format, exists, on main
    python -m tooling.release publish --stack S --archives DIR --tag T   push, scan gate, digests
    python -m tooling.release release-config --stack S --images JSON     config-maps (up)
    python -m tooling.release migrate --stack S --images JSON            run the migrations
    python -m tooling.release alarms --stack S                           alarms in ALARM now
    python -m tooling.release smoke --stack S --images JSON --alarms-before JSON   health, alarms

Exits 2 on bad usage or input, 1 when AWS refuses, a migration fails or the release is unhealthy.
Every command writes what it did to stdout and, in GitHub Actions, to the job summary.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO
from urllib.parse import quote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from components.settings import Settings, SettingsError, decode_values, parse_settings
from tooling import dbops
from tooling.offline import PROJECT, PROJECT_ROOT, OfflineError, stack_config, stack_names

if TYPE_CHECKING:
    # Type stubs only (types-boto3 ecs, ecr, cloudwatch): boto3 builds the clients at run time.
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_ecr import ECRClient
    from types_boto3_ecs import ECSClient

Outputs = Mapping[str, object]
# An image digest as ECR and the platform's `platform:release` take it.
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Docker/OCI tag grammar (distribution reference): 1-128 characters, no leading '.' or '-'; the
# release's tag leaves room for the platform suffix its manifests get (`-arm64`, tag_platforms).
TAG_MAX = 128 - 16
# cpuArchitecture -> the Buildx platform an image for it must contain.
PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
# OCI image layout (image-spec, image-layout.md): index.json lists the image; an image index
# (or Docker manifest list) lists one manifest per platform.
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
# Buildx stores its provenance/SBOM attestations as extra manifests of the index, marked with this
# annotation (buildx docs, "Attestation storage"): not images, so ECR does not scan them.
ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")
# ECR scan states (API ImageScanStatus): basic scanning ends in COMPLETE, enhanced (Amazon
# Inspector) scanning reports ACTIVE once the image is scanned and watched; PENDING and
# IN_PROGRESS are on the way; everything else (FAILED, UNSUPPORTED_IMAGE, FINDINGS_UNAVAILABLE,
# SCAN_ELIGIBILITY_EXPIRED, LIMIT_EXCEEDED, ...) means no verdict, which fails the gate.
SCANNED = ("COMPLETE", "ACTIVE")
SCANNING = ("PENDING", "IN_PROGRESS")
# Basic scanning does not scan every operating system or architecture (ECR User Guide, "Basic
# scanning"; aws/containers-roadmap#2656: ARM64 images come back UNSUPPORTED_IMAGE).
UNSUPPORTED = "UNSUPPORTED_IMAGE"
# How long a pushed image may show no scan (ScanNotFoundException) before the gate starts one:
# a repository that matches no scan-on-push filter never scans by itself.
SCAN_GRACE = 60.0
# Polls of DescribeTasks that may miss a task just started before the migration fails.
MISSING_POLLS = 4
# Alarms evaluate over their period times EvaluationPeriods (the platform's alarms: 1-minute to
# 5-minute periods): a release's errors show as ALARM only after one window, so the smoke test
# waits this long after the deployment before it reads the alarms again.
ALARM_WINDOW = 300.0
ALARM_WAIT_MAX = 600.0
# Minutes the release's migrations step allows all migrations (release-stack.yml: its
# timeout-minutes, 90, less the ups' and the tool's own start).
MIGRATION_BUDGET = 85


class UsageError(Exception):
    """Bad input, or a stack that cannot be read: exit 2."""


class ReleaseError(Exception):
    """AWS refused, a gate failed, or the release is unhealthy: exit 1."""


# --- what to build ---------------------------------------------------------------------------------


def stack_settings(stack: str, root: Path = PROJECT_ROOT) -> Settings:
    """A stack's settings as the program reads them (its file and the project's defaults)."""
    try:
        config = stack_config(stack, root)
    except OfflineError as error:
        raise UsageError(str(error)) from None
    platform = {
        k.removeprefix("platform:"): v for k, v in config.items() if k.startswith("platform:")
    }
    try:
        return parse_settings(
            project=PROJECT,
            stack=stack,
            region=config.get("aws:region"),
            raw=decode_values(platform),
        )
    except SettingsError as error:
        raise UsageError(str(error)) from None


def built_services(settings: Settings) -> dict[str, str]:
    """service -> source folder, for the services of a stack the release workflow builds."""
    return {
        name: service.source
        for name, service in settings.config.ecs_services().items()
        if service.source is not None
    }


@dataclass(frozen=True)
class Build:
    """One image to build: a service's source for every platform any stack runs it on."""

    service: str
    source: str
    platforms: tuple[str, ...]
    stacks: tuple[str, ...]

    def as_json(self) -> dict[str, str]:
        return {
            "service": self.service,
            "source": self.source,
            "platforms": ",".join(self.platforms),
            "stacks": " ".join(self.stacks),
        }


def build_matrix(stacks: Mapping[str, Settings]) -> list[Build]:
    """One build per service: one image (one digest) runs in every stack, so a service must name
    the same source everywhere; its platforms are those of its cpuArchitecture in every stack."""
    sources: dict[str, dict[str, str]] = {}
    platforms: dict[str, set[str]] = {}
    for stack, settings in stacks.items():
        for name, source in built_services(settings).items():
            sources.setdefault(name, {})[stack] = source
            service = settings.config.ecs_services()[name]
            platforms.setdefault(name, set()).add(PLATFORMS[service.cpu_architecture.value])
    conflicts = [
        f"service {name}: source {', '.join(f'{s}={v!r}' for s, v in sorted(found.items()))}"
        for name, found in sorted(sources.items())
        if len(set(found.values())) > 1
    ]
    if conflicts:
        raise UsageError(
            "one image per service runs in every stack, so each service names one source: "
            + "; ".join(conflicts)
        )
    return [
        Build(
            service=name,
            source=next(iter(found.values())),
            platforms=tuple(sorted(platforms[name])),
            stacks=tuple(s for s in stacks if s in found),
        )
        for name, found in sorted(sources.items())
    ]


# A release tag: v, then a version (v1.2.3, v2.0.0-rc.1); also a valid image tag as it is.
RELEASE_TAG = re.compile(r"^v[0-9][A-Za-z0-9_.-]*$")


def release_tag(tag: str) -> str:
    """The release's tag, which its images also get in ECR (Docker/OCI tag grammar)."""
    if not RELEASE_TAG.match(tag) or len(tag) > TAG_MAX:
        raise UsageError(
            f"{tag!r} is not a release tag: v<version> (letters, digits, '.', '_', '-'), "
            f"at most {TAG_MAX} characters"
        )
    return tag


def _git(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *argv], text=True, capture_output=True, check=False
    )


def reviewed_commit(tag: str, main: str, root: Path = PROJECT_ROOT) -> str:
    """The commit of release tag `tag`, which must be on `main` (an ancestor of it, so reviewed
    code): a release never builds a commit that did not go through main's pull requests."""
    release_tag(tag)
    found = _git(root, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    if found.returncode != 0:
        raise UsageError(f"tag {tag} does not exist (push it first: git push origin {tag})")
    commit = found.stdout.strip()
    if _git(root, "merge-base", "--is-ancestor", commit, main).returncode != 0:
        raise UsageError(
            f"tag {tag} names {commit[:12]}, which is not on {main}: release only reviewed "
            "commits (merge to main, then tag the merge)"
        )
    return commit


# --- OCI archives ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """An OCI image layout in a tar file, as Buildx's `type=oci` exporter writes it."""

    path: Path

    def blob(self, member: str) -> bytes:
        with tarfile.open(self.path) as tar:
            found = tar.extractfile(member)
            if found is None:
                raise UsageError(f"{self.path}: no {member}")
            return found.read()

    def _json(self, member: str) -> dict[str, object]:
        parsed: object = json.loads(self.blob(member))
        if not isinstance(parsed, dict):
            raise UsageError(f"{self.path}: {member} is not a JSON object")
        return {str(k): v for k, v in parsed.items()}

    def _top(self) -> dict[str, object]:
        manifests = self._json("index.json").get("manifests")
        if (
            not isinstance(manifests, list)
            or len(manifests) != 1
            or not isinstance(manifests[0], dict)
        ):
            raise UsageError(f"{self.path}: index.json must list exactly one image")
        return {str(k): v for k, v in manifests[0].items()}

    @property
    def digest(self) -> str:
        """The digest the image keeps in ECR (skopeo --preserve-digests): the index's for a
        multi-platform image, the manifest's for one platform."""
        digest = str(self._top().get("digest", ""))
        if not DIGEST.match(digest):
            raise UsageError(f"{self.path}: {digest!r} is not a sha256 digest")
        return digest

    @property
    def is_index(self) -> bool:
        return self._top().get("mediaType") in INDEX_TYPES

    def platforms(self) -> list[PlatformImage]:
        """The image manifests ECR scans: each platform's (without Buildx's attestation
        manifests), or the one manifest of a one-platform archive."""
        if not self.is_index:
            return [PlatformImage(self.digest, str(self._top().get("mediaType")), "")]
        index = self._json(f"blobs/sha256/{self.digest.removeprefix('sha256:')}")
        entries = index.get("manifests")
        if not isinstance(entries, list):
            raise UsageError(f"{self.path}: the image index lists no manifests")
        found: list[PlatformImage] = []
        key, value = ATTESTATION
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            annotations, platform = entry.get("annotations"), entry.get("platform")
            if isinstance(annotations, dict) and annotations.get(key) == value:
                continue
            architecture = platform.get("architecture") if isinstance(platform, dict) else None
            found.append(
                PlatformImage(
                    str(entry.get("digest")), str(entry.get("mediaType")), str(architecture)
                )
            )
        return found

    def manifest(self, digest: str) -> str:
        """A manifest's exact bytes (as text): what its digest is the hash of."""
        return self.blob(f"blobs/sha256/{digest.removeprefix('sha256:')}").decode()


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image manifest in an archive."""

    digest: str
    media_type: str
    architecture: str


# --- AWS and the local programs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    """The AWS clients of the stack's region."""

    region: str
    ecs: ECSClient
    ecr: ECRClient
    cloudwatch: CloudWatchClient


def aws_clients(region: str) -> Clients:
    return Clients(
        region=region,
        ecs=boto3.client("ecs", region_name=region),
        ecr=boto3.client("ecr", region_name=region),
        cloudwatch=boto3.client("cloudwatch", region_name=region),
    )


class Registry(Protocol):
    """skopeo: logs in to ECR and copies an OCI archive into a repository."""

    def login(self, registry: str, password: str) -> None: ...

    def copy(self, archive: Path, reference: str) -> None: ...


class Skopeo:
    """skopeo from GitHub's ubuntu-24.04 image (runner-images, Ubuntu2404-Readme.md: Skopeo
    1.13): copies without a Docker daemon, and `--preserve-digests` refuses to push anything whose
    digest would change, so the digest built is the digest deployed."""

    def login(self, registry: str, password: str) -> None:
        self._run(["skopeo", "login", "--username", "AWS", "--password-stdin", registry], password)

    def copy(self, archive: Path, reference: str) -> None:
        # --all: the index and every platform's manifest (skopeo-copy(1)).
        self._run(
            ["skopeo", "copy", "--all", "--preserve-digests", f"oci-archive:{archive}", reference]
        )

    @staticmethod
    def _run(argv: list[str], stdin: str | None = None) -> None:
        result = subprocess.run(argv, input=stdin, text=True, capture_output=True, check=False)
        if result.returncode != 0:
            raise ReleaseError(f"{argv[0]} {argv[1]} failed: {result.stderr.strip()}")


def http_status(url: str, timeout: float = 5) -> int | None:
    """The HTTP status `url` answers with (redirects followed), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


@dataclass(frozen=True)
class Context:
    """What a command needs: the stack, its outputs (read lazily), AWS clients, local programs, a
    clock and where to write."""

    stack: str
    outputs: Callable[[], Outputs]
    aws: Clients
    out: TextIO
    registry: Registry
    fetch: Callable[[str], int | None] = http_status
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    summary: Path | None = None
    github_output: Path | None = None
    regional: Callable[[str], Clients] | None = None

    def output(self, key: str, value: str) -> None:
        """A step output (`key=value` in $GITHUB_OUTPUT), also printed for the log."""
        print(f"{key}={value}", file=self.out)
        if self.github_output is not None:
            with self.github_output.open("a") as found:
                found.write(f"{key}={value}\n")

    def say(self, line: str) -> None:
        """A line for the log and, in GitHub Actions, the job summary ($GITHUB_STEP_SUMMARY)."""
        print(line, file=self.out)
        if self.summary is not None:
            with self.summary.open("a") as summary:
                summary.write(line + "\n")


def _mapping(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise UsageError(f"{what} is not an object")
    return {str(k): v for k, v in value.items()}


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} is missing")
    return value


def images_argument(text: str) -> dict[str, str]:
    """The release's digests, {service: "sha256:..."}, as the workflow hands them over."""
    try:
        parsed: object = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--images is not JSON: {error}") from None
    images = _mapping(parsed, "--images")
    bad = [f"{k}={v!r}" for k, v in images.items() if not isinstance(v, str) or not DIGEST.match(v)]
    if bad:
        raise UsageError(f"--images: not sha256 digests: {', '.join(bad)}")
    return {k: str(v) for k, v in images.items()}


def released(stack: Settings, images: Mapping[str, str]) -> dict[str, str]:
    """The release's digests for the services this stack builds from source (a stack without a
    service is left alone; an external image is never replaced)."""
    return {name: images[name] for name in built_services(stack) if name in images}


# --- publish ---------------------------------------------------------------------------------------


def stack_repositories(
    ecr: ECRClient, project: str, stack: str, services: Sequence[str]
) -> dict[str, str]:
    """service -> repository URI. The repositories are auto-named: `<prefix>-repo-<7 hex>`, with
    `<project>-<stack>-service` as the prefix of `app` and `...-service-<name>` of the others
    (components/service.py _prefix, ecs_service.py _repository; components/ci_access.py
    service_repositories grants the same names)."""
    base = f"{project}-{stack}-service"
    patterns = {
        name: re.compile(
            rf"^{re.escape(base if name == 'app' else f'{base}-{name}')}-repo-[0-9a-f]{{7}}$"
        )
        for name in services
    }
    found: dict[str, str] = {}
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repository in page["repositories"]:
            for name, pattern in patterns.items():
                if pattern.match(repository.get("repositoryName", "")):
                    found[name] = repository.get("repositoryUri", "")
    missing = sorted(set(services) - set(found))
    if missing:
        raise ReleaseError(
            f"stack {stack} has no repository for {', '.join(missing)}: deploy the stack first"
        )
    return found


def tagged_digest(ecr: ECRClient, repository: str, tag: str) -> str | None:
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.ImageNotFoundException:
        return None
    [image] = found["imageDetails"]
    return image.get("imageDigest")


def push(ctx: Context, archive: Archive, uri: str, tag: str) -> str:
    """Push `archive` to `uri:tag` unless that tag already holds it (a re-run); a tag holding
    another image fails, since ECR tags are immutable here (imageTagMutability IMMUTABLE)."""
    repository, digest = uri.split("/", 1)[1], archive.digest
    held = tagged_digest(ctx.aws.ecr, repository, tag)
    if held == digest:
        ctx.say(f"- `{repository}:{tag}` already holds `{digest}` (a re-run): not pushed again")
    elif held is not None:
        raise ReleaseError(
            f"{repository}:{tag} already holds {held}, not this build's {digest}: tags are "
            "immutable and this build differs (builds are reproducible from the tag's commit, "
            "so its source or base images changed): release a new tag"
        )
    else:
        ctx.registry.copy(archive.path, f"docker://{uri}:{tag}")
        pushed = tagged_digest(ctx.aws.ecr, repository, tag)
        if pushed != digest:
            raise ReleaseError(f"{repository}:{tag} holds {pushed} after the push, not {digest}")
        ctx.say(f"- pushed `{repository}:{tag}` = `{digest}`")
    if archive.is_index:
        tag_platforms(ctx.aws.ecr, repository, archive, tag)
    return digest


def tag_platforms(ecr: ECRClient, repository: str, archive: Archive, tag: str) -> None:
    """Tag each platform's manifest `<tag>-<architecture>`: only the index carries the release's
    tag, and the repository's lifecycle rule expires untagged images after some days, which would
    leave a released index naming manifests that are gone. PutImage with a manifest ECR already
    holds adds a tag (ECR API, PutImage; ImageAlreadyExistsException when it already has it)."""
    for image in archive.platforms():
        try:
            ecr.put_image(
                repositoryName=repository,
                imageManifest=archive.manifest(image.digest),
                imageManifestMediaType=image.media_type,
                imageDigest=image.digest,
                imageTag=f"{tag}-{image.architecture}",
            )
        except ecr.exceptions.ImageAlreadyExistsException:
            continue  # a re-run: the tag names this manifest already


@dataclass(frozen=True)
class ScanGate:
    """How long to wait for a scan, and whether an image basic scanning cannot scan passes."""

    timeout: float
    accept_unsupported: bool = False


def _scan(ctx: Context, repository: str, digest: str) -> tuple[str, dict[str, object] | None]:
    """The image's scan status and findings; ("MISSING", None) when ECR holds no scan of it."""
    try:
        found = ctx.aws.ecr.describe_image_scan_findings(
            repositoryName=repository, imageId={"imageDigest": digest}
        )
    except ctx.aws.ecr.exceptions.ScanNotFoundException:
        return "MISSING", None
    status = found.get("imageScanStatus", {}).get("status", "PENDING")
    return status, {str(k): v for k, v in found.items()}


def _critical(found: Mapping[str, object]) -> int:
    findings = _mapping(found.get("imageScanFindings") or {}, "imageScanFindings")
    counts = _mapping(findings.get("findingSeverityCounts") or {}, "findingSeverityCounts")
    enhanced = findings.get("enhancedFindings") or []
    critical = (
        [f for f in enhanced if isinstance(f, dict) and f.get("severity") == "CRITICAL"]
        if isinstance(enhanced, list)
        else []
    )
    counted = counts.get("CRITICAL", 0)
    return max(counted if isinstance(counted, int) else 0, len(critical))


def unsupported(ctx: Context, repository: str, digest: str, gate: ScanGate, why: str) -> int:
    """No critical finding for an image basic scanning cannot scan, when the run accepts it."""
    if gate.accept_unsupported:
        ctx.say(
            f"- **`{repository}@{digest}` was not scanned** ({why}): "
            "accepted by the run's accept-unsupported-images input"
        )
        return 0
    raise ReleaseError(
        f"ECR's basic scanning does not support {repository}@{digest} ({why}: "
        "its OS or architecture, e.g. ARM64). Turn on enhanced scanning (Amazon Inspector) "
        "for the registry, or accept unscanned images explicitly: run release.yml by hand "
        "with accept-unsupported-images"
    )


def start_scan(ctx: Context, repository: str, digest: str) -> bool:
    """Start a basic scan of an image that has none; False when ECR cannot scan its type. ECR API,
    StartImageScan: LimitExceededException (one basic scan per image per 24 hours, the scan on
    push included), UnsupportedImageTypeException, ValidationException (the registry scans
    with enhanced scanning, whose scan filters alone choose the repositories)."""
    ecr = ctx.aws.ecr
    where = f"{repository}@{digest}"
    try:
        ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
    except ecr.exceptions.UnsupportedImageTypeException:
        return False
    except ecr.exceptions.LimitExceededException as error:
        raise ReleaseError(
            f"{where} shows no scan and ECR refused to start one (LimitExceededException: a basic "
            "scan runs once per image per 24 hours, the scan on push included, and 100,000 per "
            f"registry per day): run the release again tomorrow. {error}"
        ) from error
    except ecr.exceptions.ValidationException as error:
        raise ReleaseError(
            f"{where} shows no scan and ECR refused to start one (ValidationException): the "
            "registry uses enhanced scanning, which scans only the repositories its scan filters "
            f"match: add a continuous or on-push filter that matches {repository}. {error}"
        ) from error
    ctx.say(
        f"- `{where}` had no scan after {SCAN_GRACE:.0f} s (no scan-on-push "
        "filter matches the repository): started one"
    )
    return True


def critical_findings(ctx: Context, repository: str, digest: str, gate: ScanGate) -> int:
    """The CRITICAL findings of one image once ECR has scanned it (basic or enhanced). No scan
    after SCAN_GRACE seconds: the repository matches no scan-on-push filter, so the gate starts
    one (StartImageScan, once; start_scan says why ECR may refuse)."""
    start = ctx.clock()
    started = False
    while True:
        status, found = _scan(ctx, repository, digest)
        if found is not None and status in SCANNED:
            return _critical(found)
        if status == "MISSING" and not started and ctx.clock() - start >= SCAN_GRACE:
            if not start_scan(ctx, repository, digest):
                return unsupported(ctx, repository, digest, gate, "UnsupportedImageTypeException")
            started = True
        elif status == UNSUPPORTED:
            return unsupported(ctx, repository, digest, gate, UNSUPPORTED)
        elif status not in (*SCANNING, "MISSING"):
            reason = _mapping(found or {}, "scan").get("imageScanStatus")
            why = _mapping(reason or {}, "imageScanStatus").get("description", "")
            raise ReleaseError(f"ECR could not scan {repository}@{digest}: {status} {why}".strip())
        if ctx.clock() - start >= gate.timeout:
            raise ReleaseError(
                f"ECR did not finish scanning {repository}@{digest} in {gate.timeout:.0f} s"
            )
        ctx.sleep(10)


def publish(ctx: Context, args: argparse.Namespace) -> None:
    settings = stack_settings(ctx.stack)
    archives = {
        name: Archive(Path(args.archives) / f"{name}.tar")
        for name in built_services(settings)
        if (Path(args.archives) / f"{name}.tar").is_file()
    }
    if not archives:
        ctx.say(f"stack {ctx.stack}: no service built from source; nothing to publish")
        ctx.output("images", "{}")
        return
    ecr = ctx.aws.ecr
    uris = stack_repositories(ecr, settings.project, ctx.stack, sorted(archives))
    [auth] = ecr.get_authorization_token()["authorizationData"]
    password = base64.b64decode(auth.get("authorizationToken", "")).decode().split(":", 1)[1]
    ctx.registry.login(auth.get("proxyEndpoint", "").removeprefix("https://"), password)
    ctx.say(f"### Publish to {ctx.stack} (tag `{args.tag}`)")
    gate = ScanGate(args.scan_timeout, args.accept_unsupported)
    blocked: list[str] = []
    published: dict[str, str] = {}
    for name, archive in sorted(archives.items()):
        published[name] = push(ctx, archive, uris[name], release_tag(args.tag))
        repository = uris[name].split("/", 1)[1]
        for digest in (image.digest for image in archive.platforms()):
            critical = critical_findings(ctx, repository, digest, gate)
            ctx.say(f"- scan of `{name}` `{digest}`: {critical} critical")
            if critical:
                blocked.append(f"{name} ({digest}: {critical} critical)")
    if blocked:
        raise ReleaseError(f"critical findings block the release: {', '.join(blocked)}")
    # The deploy job serves exactly these: what was pushed here and passed the gate.
    ctx.output("images", json.dumps(published, sort_keys=True))


# --- the stack's updates -----------------------------------------------------------------------------


def config_map(stage: str, images: Mapping[str, str | None]) -> str:
    """pulumi/actions' `config-map` input (its README: a YAML map `{key: {value, secret}}`) that
    sets `platform:release`; JSON is YAML, and the value stays one string the program parses."""
    value = json.dumps({"stage": stage, "images": dict(images)}, sort_keys=True)
    return json.dumps({"platform:release": {"value": value, "secret": False}})


def previous_images(outputs: Outputs) -> dict[str, str]:
    """What each service runs now: the stack's `releasedImages` ({} before the first release)."""
    found = outputs.get("releasedImages") or {}
    return {k: str(v) for k, v in _mapping(found, "output releasedImages").items()}


def release_config(ctx: Context, args: argparse.Namespace) -> None:
    images = released(stack_settings(ctx.stack), images_argument(args.images))
    previous = previous_images(ctx.outputs())
    # A service that ran no released digest goes back to its configured image (null).
    rollback: dict[str, str | None] = {name: previous.get(name) for name in images}
    lines = {
        "migrate": config_map("migrate", images),
        "serve": config_map("serve", images),
        "rollback": config_map("serve", rollback),
        "previous": json.dumps(previous, sort_keys=True),
    }
    for key, value in lines.items():
        print(f"{key}={value}", file=ctx.out)


def service_outputs(outputs: Outputs, name: str) -> dict[str, object]:
    services = _mapping(outputs.get("services"), "output services")
    return _mapping(services.get(name), f"output services.{name}")


def log_link(region: str, group: str, stream: str) -> str:
    """The CloudWatch console's page of one log stream (the console encodes each name with
    encodeURIComponent, then '%' as '$25', in the page's fragment)."""

    def encoded(name: str) -> str:
        return quote(quote(name, safe=""), safe="").replace("%", "$")

    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{encoded(group)}/log-events/{encoded(stream)}"
    )


@dataclass(frozen=True)
class Migration:
    """`services.<name>.migration` of the stack's outputs."""

    task_definition: str
    container: str
    subnets: list[str]
    security_groups: list[str]
    log_group: str
    log_prefix: str
    timeout_minutes: int

    @classmethod
    def of(cls, found: Mapping[str, object], where: str) -> Migration:
        minutes = found.get("timeoutMinutes")
        subnets, groups = found.get("subnetIds"), found.get("securityGroupIds")
        if (
            not isinstance(minutes, int | float)
            or not isinstance(subnets, list)
            or not isinstance(groups, list)
        ):
            raise UsageError(f"{where}: timeoutMinutes, subnetIds or securityGroupIds missing")
        return cls(
            task_definition=_text(found.get("taskDefinitionArn"), f"{where}.taskDefinitionArn"),
            container=_text(found.get("containerName"), f"{where}.containerName"),
            subnets=[str(s) for s in subnets],
            security_groups=[str(g) for g in groups],
            log_group=_text(found.get("logGroupName"), f"{where}.logGroupName"),
            log_prefix=_text(found.get("logStreamPrefix"), f"{where}.logStreamPrefix"),
            timeout_minutes=int(minutes),
        )


def run_migration(
    ctx: Context, cluster: str, name: str, migration: Migration, started_by: str
) -> None:
    """One migration task: Fargate in the service's private subnets and security groups, no
    public IP (RunTask awsvpcConfiguration), until it stops or its timeout passes."""
    ecs = ctx.aws.ecs
    started = ecs.run_task(
        cluster=cluster,
        taskDefinition=migration.task_definition,
        launchType="FARGATE",
        count=1,
        startedBy=started_by,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": migration.subnets,
                "securityGroups": migration.security_groups,
                "assignPublicIp": "DISABLED",
            }
        },
    )
    if started.get("failures") or not started.get("tasks"):
        raise ReleaseError(f"migration of {name} did not start: {started.get('failures')}")
    task_arn = started["tasks"][0].get("taskArn", "")
    task_id = task_arn.rsplit("/", 1)[-1]
    # awslogs streams are <prefix>/<container>/<task id> (ECS Developer Guide, awslogs driver).
    stream = f"{migration.log_prefix}/{migration.container}/{task_id}"
    link = log_link(ctx.aws.region, migration.log_group, stream)
    ctx.say(f"- migration of `{name}`: task `{task_id}`, logs: {link}")
    deadline = ctx.clock() + migration.timeout_minutes * 60
    unseen = 0
    while True:
        described = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])
        if not described.get("tasks"):
            # Right after RunTask, DescribeTasks may not know the task yet (an empty list and a
            # MISSING failure: ECS is eventually consistent). A few polls, then give up on it.
            unseen += 1
            if unseen > MISSING_POLLS:
                ecs.stop_task(cluster=cluster, task=task_arn, reason="release: task not found")
                raise ReleaseError(
                    f"migration of {name}: ECS does not know task {task_id} "
                    f"{described.get('failures')} after {MISSING_POLLS} polls: stopped; logs: {link}"
                )
            ctx.sleep(15)
            continue
        task = described["tasks"][0]
        if task.get("lastStatus") == "STOPPED":
            break
        if ctx.clock() >= deadline:
            ecs.stop_task(cluster=cluster, task=task_arn, reason="release: migration timed out")
            raise ReleaseError(
                f"migration of {name} ran longer than {migration.timeout_minutes} min: stopped; "
                f"logs: {link}"
            )
        ctx.sleep(15)
    container = next(
        (c for c in task.get("containers", []) if c.get("name") == migration.container), None
    )
    code = container.get("exitCode") if container else None
    if code != 0:
        why = (container or {}).get("reason") or task.get("stoppedReason", "")
        raise ReleaseError(f"migration of {name} exited with {code} ({why}); logs: {link}")
    ctx.say(f"- migration of `{name}`: exit 0")


def started_by(tag: str) -> str:
    """RunTask's startedBy for the release `tag`: up to 128 letters, digits, '-', '/' and '_'
    (ECS API, RunTask startedBy), so a tag's dots become hyphens."""
    return re.sub(r"[^A-Za-z0-9_/-]", "-", f"release/{tag}")[:128]


def nothing_released(ctx: Context, images: Mapping[str, str]) -> bool:
    """True (and says so) when the release holds no image this stack runs."""
    if not images:
        ctx.say(f"- stack {ctx.stack} runs none of the released services")
    return not images


def migrate(ctx: Context, args: argparse.Namespace) -> None:
    images = released(stack_settings(ctx.stack), images_argument(args.images))
    if nothing_released(ctx, images):
        return
    outputs = ctx.outputs()
    cluster = _text(outputs.get("clusterName"), "output clusterName")
    ctx.say(f"### Migrations of {ctx.stack}")
    migrations = {
        name: Migration.of(
            _mapping(found, f"services.{name}.migration"), f"services.{name}.migration"
        )
        for name in sorted(images)
        if (found := service_outputs(outputs, name).get("migration")) is not None
    }
    # The workflow's step ends at its own limit: a migration it would cut off must not start.
    total = sum(m.timeout_minutes for m in migrations.values())
    if total > args.budget_minutes:
        raise UsageError(
            f"the migrations' timeoutMinutes add up to {total} min "
            f"({', '.join(f'{n}={m.timeout_minutes}' for n, m in migrations.items())}), more than "
            f"the release's {args.budget_minutes} min (release-stack.yml, step migrations): "
            "lower them"
        )
    for name, migration in migrations.items():
        run_migration(ctx, cluster, name, migration, started_by=started_by(args.tag))
    if not migrations:
        ctx.say("- no released service declares a migration")


# --- smoke test --------------------------------------------------------------------------------------


def wait_for_deployment(
    ctx: Context, cluster: str, name: str, found: Mapping[str, object], deadline: float
) -> None:
    """The service's deployment of the released task definition reaches COMPLETED. An ECS
    circuit-breaker rollback leaves a healthy service on the OLD task definition, so the health
    URL alone cannot tell (ECS API, Deployment.rolloutState: COMPLETED, FAILED, IN_PROGRESS)."""
    expected = _text(found.get("taskDefinitionArn"), f"services.{name}.taskDefinitionArn")
    service = _text(found.get("serviceName"), f"services.{name}.serviceName")
    while True:
        described = ctx.aws.ecs.describe_services(cluster=cluster, services=[service])["services"]
        deployments = described[0].get("deployments", []) if described else []
        mine = [d for d in deployments if d.get("taskDefinition") == expected]
        state = mine[0].get("rolloutState") if mine else None
        if mine and state == "COMPLETED" and mine[0].get("status") == "PRIMARY":
            ctx.say(f"- `{name}`: deployment of `{expected.rsplit('/', 1)[-1]}` completed")
            return
        if not mine or state == "FAILED":
            why = (
                mine[0].get("rolloutStateReason", "")
                if mine
                else "no deployment of it (rolled back?)"
            )
            raise ReleaseError(f"{name}: the deployment of {expected} failed: {why}")
        if ctx.clock() >= deadline:
            raise ReleaseError(f"{name}: the deployment of {expected} is still {state}")
        ctx.sleep(15)


def wait_for_health(ctx: Context, name: str, url: str, deadline: float) -> None:
    """`url` answers 2xx before the deadline; waits 2, 4, 8 ... 30 s between tries."""
    pause, status = 2.0, None
    while True:
        status = ctx.fetch(url)
        if status is not None and 200 <= status < 300:
            ctx.say(f"- `{name}`: {url} answered {status}")
            return
        if ctx.clock() + pause > deadline:
            raise ReleaseError(f"{name}: {url} answered {status or 'nothing'}, never 2xx")
        ctx.sleep(pause)
        pause = min(pause * 2, 30.0)


def alarm_regions(outputs: Outputs) -> list[str]:
    """Where the stack's alarms live: `alarmRegions`, or the stack's own `region` before the
    program had that output."""
    found = outputs.get("alarmRegions")
    if isinstance(found, list) and found:
        return sorted({str(r) for r in found})
    return [_text(outputs.get("region"), "output region")]


def alarms_in_alarm(cloudwatch: CloudWatchClient, prefix: str) -> list[str]:
    """The stack's alarms in state ALARM, every page, of every type (DescribeAlarms returns only
    metric alarms unless AlarmTypes asks for composite and log alarms too)."""
    names: list[str] = []
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix,
        StateValue="ALARM",
        AlarmTypes=["MetricAlarm", "CompositeAlarm", "LogAlarm"],
    )
    for page in pages:
        names += [a.get("AlarmName", "") for a in page.get("MetricAlarms", [])]
        names += [a.get("AlarmName", "") for a in page.get("CompositeAlarms", [])]
        names += [a.get("AlarmName", "") for a in page.get("LogAlarms", [])]
    return sorted(names)


def alarm_states(ctx: Context, outputs: Outputs) -> dict[str, list[str]]:
    """region -> the stack's alarms in ALARM there, in every region of `alarmRegions`."""
    prefix = _text(outputs.get("alarmNamePrefix"), "output alarmNamePrefix")
    regional = ctx.regional or (lambda region: ctx.aws)
    return {
        region: alarms_in_alarm(regional(region).cloudwatch, prefix)
        for region in alarm_regions(outputs)
    }


def alarms(ctx: Context, args: argparse.Namespace) -> None:
    """The snapshot taken before the serve update: alarms already in ALARM are not the release's."""
    found = alarm_states(ctx, ctx.outputs())
    for region, names in found.items():
        ctx.say(f"- alarms in ALARM in {region} before the switch: {', '.join(names) or 'none'}")
    ctx.output("before", json.dumps(found, sort_keys=True))


def alarms_before(text: str) -> dict[str, set[str]]:
    try:
        parsed: object = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise UsageError(f"--alarms-before is not JSON: {error}") from None
    found = _mapping(parsed, "--alarms-before")
    return {
        region: {str(n) for n in names} if isinstance(names, list) else set()
        for region, names in found.items()
    }


def smoke(ctx: Context, args: argparse.Namespace) -> None:
    images = released(stack_settings(ctx.stack), images_argument(args.images))
    if nothing_released(ctx, images):
        return
    if not 0 <= args.alarm_wait <= ALARM_WAIT_MAX:
        raise UsageError(
            f"--alarm-wait {args.alarm_wait:.0f}: 0 to {ALARM_WAIT_MAX:.0f} seconds (the smoke "
            "test step's limit holds the health checks too)"
        )
    outputs = ctx.outputs()
    before = alarms_before(args.alarms_before)
    cluster = _text(outputs.get("clusterName"), "output clusterName")
    deadline = ctx.clock() + args.timeout
    ctx.say(f"### Smoke test of {ctx.stack}")
    for name, digest in sorted(images.items()):
        found = service_outputs(outputs, name)
        image = str(found.get("image", ""))
        if not image.endswith(f"@{digest}"):
            raise ReleaseError(f"{name} runs {image or 'nothing'}, not {digest}")
        wait_for_deployment(ctx, cluster, name, found, deadline)
        url = found.get("healthUrl")
        if isinstance(url, str) and url:
            wait_for_health(ctx, name, url, deadline)
        else:
            ctx.say(f"- `{name}`: no health URL reaches it through the load balancer; not probed")
    ctx.say(f"- waiting {args.alarm_wait:.0f} s (one alarm evaluation window) before the alarms")
    ctx.sleep(args.alarm_wait)
    new = {
        region: sorted(set(names) - before.get(region, set()))
        for region, names in alarm_states(ctx, outputs).items()
    }
    raised = [f"{name} ({region})" for region, names in new.items() for name in names]
    if raised:
        raise ReleaseError(f"alarms of {ctx.stack} in ALARM since the switch: {', '.join(raised)}")
    ctx.say(f"- no alarm of {ctx.stack} went to ALARM since the switch")


# --- command line ------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m tooling.release",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("matrix", help="The build matrix (JSON) of the services with a source.")
    tag = commands.add_parser(
        "tag", help="Check a release tag (v<version>, exists, its commit on --main); its commit."
    )
    tag.add_argument("--tag", required=True, help="the release tag, e.g. v1.2.3")
    tag.add_argument("--main", default="origin/main", help="the reviewed branch (origin/main)")

    def on_stack(name: str, run: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--stack", required=True, help="dev, staging or prod")
        sub.set_defaults(run=run)
        return sub

    found = on_stack(
        "publish",
        publish,
        "Push each archive to the stack's repository, wait for the scans, fail on CRITICAL.",
    )
    found.add_argument("--archives", required=True, help="folder of <service>.tar OCI archives")
    found.add_argument("--tag", required=True, help="the release's image tag")
    found.add_argument("--scan-timeout", type=float, default=900, help="seconds per scan (900)")
    found.add_argument(
        "--accept-unsupported",
        action="store_true",
        help="pass images ECR's basic scanning cannot scan (UNSUPPORTED_IMAGE), saying so",
    )
    on_stack("alarms", alarms, "The stack's alarms in ALARM now, per region (the snapshot).")
    for name, run, help_text in (
        (
            "release-config",
            release_config,
            "The config-maps of the migrate, serve and rollback updates ($GITHUB_OUTPUT lines).",
        ),
        ("migrate", migrate, "Run each released service's migration task and wait for it."),
        ("smoke", smoke, "Check the deployments, health URLs and alarms after the serve update."),
    ):
        sub = on_stack(name, run, help_text)
        sub.add_argument(
            "--images", required=True, help='the release\'s digests: {"app": "sha256:..."}'
        )
        sub.add_argument(
            "--tag", default="release", help="the release's tag (the tasks' startedBy)"
        )
        sub.add_argument("--timeout", type=float, default=900, help="smoke: seconds in all (900)")
        sub.add_argument(
            "--budget-minutes",
            type=int,
            default=MIGRATION_BUDGET,
            help=f"migrate: the migrations' timeouts together at most ({MIGRATION_BUDGET})",
        )
        sub.add_argument(
            "--alarms-before", default="{}", help="smoke: the alarms command's snapshot (JSON)"
        )
        sub.add_argument(
            "--alarm-wait",
            type=float,
            default=ALARM_WINDOW,
            help=f"smoke: seconds to wait before reading the alarms ({ALARM_WINDOW:.0f})",
        )
    return root


Command = Callable[[Context, argparse.Namespace], None]


def main(
    argv: Sequence[str] | None = None,
    *,
    outputs: Callable[[str], Outputs] = dbops.pulumi_outputs,
    clients: Callable[[str], Clients] = aws_clients,
    registry: Registry | None = None,
    fetch: Callable[[str], int | None] = http_status,
    out: TextIO = sys.stdout,
    err: TextIO | None = None,
    env: Mapping[str, str] = os.environ,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "matrix":
            stacks = {stack: stack_settings(stack) for stack in stack_names()}
            print(json.dumps([b.as_json() for b in build_matrix(stacks)]), file=out)
        elif args.command == "tag":
            print(reviewed_commit(args.tag, args.main), file=out)
        else:
            settings = stack_settings(args.stack)
            summary, github_output = env.get("GITHUB_STEP_SUMMARY"), env.get("GITHUB_OUTPUT")
            ctx = Context(
                stack=args.stack,
                outputs=_once(lambda: _read(outputs, args.stack)),
                aws=clients(settings.region),
                out=out,
                registry=registry or Skopeo(),
                fetch=fetch,
                clock=clock,
                sleep=sleep,
                summary=Path(summary) if summary else None,
                github_output=Path(github_output) if github_output else None,
                regional=clients,
            )
            run: Command = args.run
            run(ctx, args)
    except UsageError as error:
        print(f"error: {error}", file=err or sys.stderr)
        return 2
    except (ReleaseError, ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=err or sys.stderr)
        return 1
    return 0


def _read(outputs: Callable[[str], Outputs], stack: str) -> Outputs:
    try:
        return outputs(stack)
    except dbops.UsageError as error:
        raise UsageError(str(error)) from None


def _once(read: Callable[[], Outputs]) -> Callable[[], Outputs]:
    """`read`, called at most once (the Pulumi CLI takes a few seconds)."""
    cached: list[Outputs] = []

    def get() -> Outputs:
        if not cached:
            cached.append(read())
        return cached[0]

    return get


if __name__ == "__main__":
    sys.exit(main())
