"""The release steps (tooling/release.py): the AWS calls each command makes, with their parameters
and in their order, against stubbed clients (botocore Stubber checks both and refuses anything
else); stack outputs shaped exactly like the release contract's; the health check against a local
HTTP server (no network)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from botocore.stub import Stubber
from types_boto3_cloudwatch import CloudWatchClient
from types_boto3_ecr import ECRClient
from types_boto3_ecs import ECSClient

from tests.conftest import settings_for
from tests.tooling.test_makefile import copy_makefile, make
from tooling import release

REGION = "eu-west-1"
NEW = "sha256:" + "1" * 64
OLD = "sha256:" + "0" * 64
# Each platform's manifest in the archive, named by its real digest (what ECR checks in PutImage).
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
AMD_MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "layers": ["amd64"]})
ARM_MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "layers": ["arm64"]})
AMD = "sha256:" + hashlib.sha256(AMD_MANIFEST.encode()).hexdigest()
ARM = "sha256:" + hashlib.sha256(ARM_MANIFEST.encode()).hexdigest()
REPO = "platform-staging-service-repo-0a1b2c3"
URI = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPO}"
CLUSTER = "platform-staging-service-cluster"
TASK_DEF = f"arn:aws:ecs:{REGION}:123456789012:task-definition/platform-staging-service:42"
OLD_TASK_DEF = f"arn:aws:ecs:{REGION}:123456789012:task-definition/platform-staging-service:41"
MIGRATION_DEF = (
    f"arn:aws:ecs:{REGION}:123456789012:task-definition/platform-staging-service-migration:7"
)
TASK = f"arn:aws:ecs:{REGION}:123456789012:task/{CLUSTER}/0123456789abcdef0123456789abcdef"
HEALTH = "https://app.staging.example.com/"
MIGRATION = {
    "taskDefinitionArn": MIGRATION_DEF,
    "containerName": "app",
    "subnetIds": ["subnet-private-1", "subnet-private-2"],
    "securityGroupIds": ["sg-tasks"],
    "logGroupName": "/platform/staging/service",
    "logStreamPrefix": "migration",
    "timeoutMinutes": 15,
}


def outputs(**service: object) -> dict[str, object]:
    """The stack's outputs as the release contract shapes them."""
    app: dict[str, object] = {
        "serviceName": "platform-staging-service",
        "repositoryUrl": URI,
        "securityGroupId": "sg-tasks",
        "taskRoleName": "platform-staging-service-task",
        "taskRoleArn": "arn:aws:iam::123456789012:role/platform-staging-service-task",
        "image": f"{URI}@{NEW}",
        "taskDefinitionArn": TASK_DEF,
        "targetGroupArn": f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/x/1",
        "healthUrl": HEALTH,
        "migration": MIGRATION,
        **service,
    }
    return {
        "region": REGION,
        "clusterName": CLUSTER,
        "alarmNamePrefix": "platform-staging-",
        "releasedImages": {"app": OLD},
        "services": {"app": app},
    }


Client = TypeVar("Client", ECRClient, ECSClient, CloudWatchClient)


def stubbed(client: Client) -> Iterator[tuple[Client, Stubber]]:
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


KEY_ID = SECRET = "testing"  # fake: the Stubber answers every call


def ecr_client() -> ECRClient:
    return boto3.client(
        "ecr", region_name=REGION, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )


def ecs_client() -> ECSClient:
    return boto3.client(
        "ecs", region_name=REGION, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )


def cloudwatch_client() -> CloudWatchClient:
    return boto3.client(
        "cloudwatch", region_name=REGION, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )


@pytest.fixture
def ecr() -> Iterator[tuple[ECRClient, Stubber]]:
    yield from stubbed(ecr_client())


@pytest.fixture
def ecs() -> Iterator[tuple[ECSClient, Stubber]]:
    yield from stubbed(ecs_client())


@pytest.fixture
def cloudwatch() -> Iterator[tuple[CloudWatchClient, Stubber]]:
    yield from stubbed(cloudwatch_client())


@dataclass
class FakeRegistry:
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def login(self, registry: str, password: str) -> None:
        self.calls.append(("login", registry, password))

    def copy(self, archive: Path, reference: str) -> None:
        self.calls.append(("copy", archive.name, reference))


@dataclass
class Clock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Run:
    code: int
    out: str
    err: str
    registry: FakeRegistry
    clock: Clock


def run(
    *argv: str,
    ecr: ECRClient | None = None,
    ecs: ECSClient | None = None,
    cloudwatch: CloudWatchClient | None = None,
    found: dict[str, object] | None = None,
    fetch: Callable[[str], int | None] = lambda _: 200,
    env: dict[str, str] | None = None,
) -> Run:
    out, err, registry, clock = io.StringIO(), io.StringIO(), FakeRegistry(), Clock()

    def clients(region: str) -> release.Clients:
        assert region == REGION
        return release.Clients(
            region=region,
            ecs=ecs or ecs_client(),
            ecr=ecr or ecr_client(),
            cloudwatch=cloudwatch or cloudwatch_client(),
        )

    code = release.main(
        list(argv),
        outputs=lambda stack: found if found is not None else outputs(),
        clients=clients,
        registry=registry,
        fetch=fetch,
        out=out,
        err=err,
        env=env or {},
        clock=clock.time,
        sleep=clock.sleep,
    )
    return Run(code, out.getvalue(), err.getvalue(), registry, clock)


# --- what to build --------------------------------------------------------------------------------


def test_the_matrix_builds_each_sourced_service_for_every_stacks_architecture() -> None:
    stacks = {
        "dev": settings_for("dev", {"platform:service": json.dumps({"cpuArchitecture": "ARM64"})}),
        "prod": settings_for("prod"),
    }
    [build] = release.build_matrix(stacks)
    assert build.as_json() == {
        "service": "app",
        "source": "reference-app",
        "platforms": "linux/amd64,linux/arm64",
        "stacks": "dev prod",
    }


def test_an_external_image_is_not_built() -> None:
    external = settings_for("dev", {"platform:service": json.dumps({"source": None})})
    assert release.build_matrix({"dev": external}) == []


def test_a_service_names_one_source_in_every_stack() -> None:
    other = settings_for("prod", {"platform:service": json.dumps({"source": "apps/api"})})
    with pytest.raises(
        release.UsageError, match="service app: source dev='reference-app', prod='apps/api'"
    ):
        release.build_matrix({"dev": settings_for("dev"), "prod": other})


def test_the_matrix_command_reads_the_stack_files() -> None:
    result = run("matrix")
    assert result.code == 0
    assert json.loads(result.out) == [
        {
            "service": "app",
            "source": "reference-app",
            "platforms": "linux/amd64",
            "stacks": "dev prod staging",
        }
    ]


@pytest.mark.parametrize("tag", ["v1.2.3", "v2.0.0-rc.1", "v10"])
def test_a_release_tag_is_v_and_a_version(tag: str) -> None:
    assert release.release_tag(tag) == tag


@pytest.mark.parametrize("tag", ["1.2.3", "v", "vx", "v1 2", "v1;rm", "v1/2", "v" + "1" * 112])
def test_anything_else_is_no_release_tag(tag: str) -> None:
    with pytest.raises(release.UsageError, match="is not a release tag"):
        release.release_tag(tag)


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A repository whose main has two commits, tagged v1.0.0 and v1.1.0, and a side branch with
    one more, tagged v9.0.0 (never merged)."""

    def git(*argv: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *argv],
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    for tag in ("v1.0.0", "v1.1.0"):
        git("commit", "-q", "--allow-empty", "-m", tag)
        git("tag", tag)
    git("checkout", "-q", "-b", "side")
    git("commit", "-q", "--allow-empty", "-m", "unreviewed")
    git("tag", "v9.0.0")
    return tmp_path


def test_a_tag_on_main_gives_its_commit(history: Path) -> None:
    assert len(release.reviewed_commit("v1.0.0", "main", history)) == 40


@pytest.mark.parametrize(
    "tag, message",
    [("v9.0.0", "which is not on main"), ("v3.0.0", "does not exist"), ("x", "not a release tag")],
)
def test_a_tag_off_main_or_missing_is_refused(history: Path, tag: str, message: str) -> None:
    with pytest.raises(release.UsageError, match=message):
        release.reviewed_commit(tag, "main", history)


# --- OCI archives ---------------------------------------------------------------------------------


def archive(folder: Path, *, platforms: bool = True) -> Path:
    """An OCI layout tar like Buildx's: index.json -> an image index of two platforms and an
    attestation manifest (or, for one platform, the manifest itself)."""
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": AMD,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ARM,
             "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "c" * 64,
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": AMD}},
        ],
    }  # fmt: skip
    top = (
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": NEW}
        if platforms
        else {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": NEW}
    )
    path = folder / "app.tar"
    with tarfile.open(path, "w") as tar:
        for name, text in (
            ("index.json", json.dumps({"schemaVersion": 2, "manifests": [top]})),
            (f"blobs/sha256/{NEW.removeprefix('sha256:')}", json.dumps(index)),
            (f"blobs/sha256/{AMD.removeprefix('sha256:')}", AMD_MANIFEST),
            (f"blobs/sha256/{ARM.removeprefix('sha256:')}", ARM_MANIFEST),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_archive_gives_the_index_digest_and_each_platforms(tmp_path: Path) -> None:
    found = release.Archive(archive(tmp_path))
    assert found.digest == NEW
    assert [(p.digest, p.architecture) for p in found.platforms()] == [
        (AMD, "amd64"),
        (ARM, "arm64"),
    ]
    assert found.manifest(ARM) == ARM_MANIFEST


def test_a_one_platform_archive_is_its_own_image(tmp_path: Path) -> None:
    [image] = release.Archive(archive(tmp_path, platforms=False)).platforms()
    assert image.digest == NEW


# --- publish ----------------------------------------------------------------------------------------

REPOSITORIES = {
    "repositories": [
        {"repositoryName": "platform-prod-service-repo-9f9f9f9", "repositoryUri": "x/prod"},
        {"repositoryName": REPO, "repositoryUri": URI},
        {"repositoryName": "platform-staging-service-api-repo-1234567", "repositoryUri": "x/api"},
    ]
}
TOKEN = {
    "authorizationData": [
        {
            "authorizationToken": base64.b64encode(b"AWS:secret-password").decode(),
            "proxyEndpoint": f"https://123456789012.dkr.ecr.{REGION}.amazonaws.com",
        }
    ]
}
BY_TAG = {"repositoryName": REPO, "imageIds": [{"imageTag": "v1.2.3"}]}


def tagged(digest: str) -> dict[str, object]:
    return {
        "imageDetails": [{"repositoryName": REPO, "imageDigest": digest, "imageTags": ["v1.2.3"]}]
    }


def scanned(
    digest: str, status: str = "COMPLETE", critical: int = 0, **findings: object
) -> dict[str, object]:
    return {
        "repositoryName": REPO,
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": status},
        "imageScanFindings": {
            "findingSeverityCounts": {"CRITICAL": critical} if critical else {},
            **findings,
        },
    }


def scan_of(digest: str) -> dict[str, object]:
    return {"repositoryName": REPO, "imageId": {"imageDigest": digest}}


def expect_platform_tags(stubber: Stubber, *, rerun: bool = False) -> None:
    for digest, body, architecture in ((AMD, AMD_MANIFEST, "amd64"), (ARM, ARM_MANIFEST, "arm64")):
        params = {
            "repositoryName": REPO,
            "imageManifest": body,
            "imageManifestMediaType": MANIFEST_TYPE,
            "imageDigest": digest,
            "imageTag": f"v1.2.3-{architecture}",
        }
        if rerun:
            stubber.add_client_error(
                "put_image", "ImageAlreadyExistsException", expected_params=params
            )
        else:
            image = {"repositoryName": REPO, "imageId": {"imageDigest": digest}}
            stubber.add_response("put_image", {"image": image}, params)


def expect_login(stubber: Stubber) -> None:
    stubber.add_response("describe_repositories", REPOSITORIES, {})
    stubber.add_response("get_authorization_token", TOKEN, {})


def publish(ecr: ECRClient, folder: Path, *extra: str, env: dict[str, str] | None = None) -> Run:
    return run(
        "publish", "--stack", "staging", "--archives", str(folder), "--tag", "v1.2.3", *extra,
        ecr=ecr, env=env,
    )  # fmt: skip


def pushed_before(folder: Path, stubber: Stubber) -> None:
    """A one-platform archive whose tag already holds its digest (a re-run): scans come next."""
    archive(folder, platforms=False)
    expect_login(stubber)
    stubber.add_response("describe_images", tagged(NEW), BY_TAG)


def test_publish_pushes_with_the_digest_then_waits_for_each_platforms_scan(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber]
) -> None:
    client_, stubber = ecr
    archive(tmp_path)
    expect_login(stubber)
    stubber.add_client_error("describe_images", "ImageNotFoundException", expected_params=BY_TAG)
    stubber.add_response("describe_images", tagged(NEW), BY_TAG)
    # Each platform's manifest gets a tag of its own, so the lifecycle rule for untagged images
    # never expires what the released index names.
    expect_platform_tags(stubber)
    # Scan on push may not have started yet; then it runs; then it completes.
    stubber.add_client_error(
        "describe_image_scan_findings", "ScanNotFoundException", expected_params=scan_of(AMD)
    )
    stubber.add_response("describe_image_scan_findings", scanned(AMD, "IN_PROGRESS"), scan_of(AMD))
    stubber.add_response("describe_image_scan_findings", scanned(AMD), scan_of(AMD))
    stubber.add_response("describe_image_scan_findings", scanned(ARM, "ACTIVE"), scan_of(ARM))
    result = publish(client_, tmp_path)
    assert result.code == 0, result.out
    assert result.registry.calls == [
        ("login", f"123456789012.dkr.ecr.{REGION}.amazonaws.com", "secret-password"),
        ("copy", "app.tar", f"docker://{URI}:v1.2.3"),
    ]
    assert result.clock.slept == [10, 10]
    assert f"pushed `{REPO}:v1.2.3` = `{NEW}`" in result.out


def test_a_rerun_does_not_push_an_image_the_tag_already_holds(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber]
) -> None:
    client_, stubber = ecr
    pushed_before(tmp_path, stubber)
    stubber.add_response("describe_image_scan_findings", scanned(NEW), scan_of(NEW))
    result = publish(client_, tmp_path)
    assert result.code == 0
    assert [c[0] for c in result.registry.calls] == ["login"]
    assert "already holds" in result.out


def test_a_rerun_of_a_multi_platform_image_keeps_its_tags(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber]
) -> None:
    client_, stubber = ecr
    archive(tmp_path)
    expect_login(stubber)
    stubber.add_response("describe_images", tagged(NEW), BY_TAG)
    expect_platform_tags(stubber, rerun=True)
    stubber.add_response("describe_image_scan_findings", scanned(AMD), scan_of(AMD))
    stubber.add_response("describe_image_scan_findings", scanned(ARM), scan_of(ARM))
    result = publish(client_, tmp_path)
    assert result.code == 0, result.out
    assert [c[0] for c in result.registry.calls] == ["login"]


def test_a_tag_holding_another_image_fails(tmp_path: Path, ecr: tuple[ECRClient, Stubber]) -> None:
    client_, stubber = ecr
    archive(tmp_path)
    expect_login(stubber)
    stubber.add_response("describe_images", tagged(OLD), BY_TAG)
    result = publish(client_, tmp_path)
    assert result.code == 1 and "release a new tag" in result.err


def test_publish_hands_the_gated_digests_to_the_deploy_job(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber]
) -> None:
    client_, stubber = ecr
    pushed_before(tmp_path, stubber)
    stubber.add_response("describe_image_scan_findings", scanned(NEW), scan_of(NEW))
    github_output = tmp_path / "output"
    result = publish(client_, tmp_path, env={"GITHUB_OUTPUT": str(github_output)})
    assert result.code == 0, result.err
    assert github_output.read_text() == f'images={{"app": "{NEW}"}}\n'


def test_an_image_no_scan_on_push_filter_matches_gets_a_scan_started(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber]
) -> None:
    client_, stubber = ecr
    pushed_before(tmp_path, stubber)
    for _ in range(7):  # 0, 10, ... 60 s: the grace
        stubber.add_client_error(
            "describe_image_scan_findings", "ScanNotFoundException", expected_params=scan_of(NEW)
        )
    stubber.add_response("start_image_scan", {}, scan_of(NEW))
    stubber.add_response("describe_image_scan_findings", scanned(NEW), scan_of(NEW))
    result = publish(client_, tmp_path)
    assert result.code == 0, result.err
    assert "started one" in result.out


@pytest.mark.parametrize("accepted", [False, True], ids=["refused", "accepted"])
def test_an_image_basic_scanning_cannot_scan_fails_unless_accepted_explicitly(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber], accepted: bool
) -> None:
    client_, stubber = ecr
    pushed_before(tmp_path, stubber)
    stubber.add_response(
        "describe_image_scan_findings", scanned(NEW, "UNSUPPORTED_IMAGE"), scan_of(NEW)
    )
    result = publish(client_, tmp_path, *(["--accept-unsupported"] if accepted else []))
    if accepted:
        assert result.code == 0, result.err
        assert "was not scanned** (UNSUPPORTED_IMAGE)" in result.out
    else:
        assert result.code == 1
        assert "enhanced scanning" in result.err and "accept-unsupported-images" in result.err


@pytest.mark.parametrize(
    "answer",
    [
        scanned(NEW, critical=2),
        # Enhanced scanning (Amazon Inspector): findings in enhancedFindings.
        scanned(NEW, "ACTIVE", enhancedFindings=[{"severity": "CRITICAL"}]),
        scanned(NEW, "UNSUPPORTED_IMAGE"),
    ],
    ids=["basic-critical", "enhanced-critical", "not-scanned"],
)
def test_critical_findings_or_no_verdict_block_the_release(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber], answer: dict[str, object]
) -> None:
    client_, stubber = ecr
    pushed_before(tmp_path, stubber)
    stubber.add_response("describe_image_scan_findings", answer, scan_of(NEW))
    assert publish(client_, tmp_path).code == 1


def test_a_missing_repository_is_reported(tmp_path: Path, ecr: tuple[ECRClient, Stubber]) -> None:
    client_, stubber = ecr
    archive(tmp_path)
    stubber.add_response("describe_repositories", {"repositories": []}, {})
    result = publish(client_, tmp_path)
    assert result.code == 1


# --- the updates' config ----------------------------------------------------------------------------


def config_lines(result: Run) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in (line.split("=", 1) for line in result.out.splitlines())}


def test_release_config_gives_each_update_its_platform_release() -> None:
    images = json.dumps({"app": NEW, "elsewhere": OLD})
    lines = config_lines(run("release-config", "--stack", "staging", "--images", images))
    assert set(lines) == {"migrate", "serve", "rollback", "previous"}

    def value(key: str) -> object:
        setting = lines[key]["platform:release"]
        assert setting["secret"] is False and isinstance(setting["value"], str)
        return json.loads(setting["value"])

    # Only the stack's own services; the rollback serves what ran before.
    assert value("migrate") == {"stage": "migrate", "images": {"app": NEW}}
    assert value("serve") == {"stage": "serve", "images": {"app": NEW}}
    assert value("rollback") == {"stage": "serve", "images": {"app": OLD}}
    assert lines["previous"] == {"app": OLD}


def test_a_first_release_rolls_back_to_the_configured_image() -> None:
    found = {k: v for k, v in outputs().items() if k != "releasedImages"}
    lines = config_lines(
        run(
            "release-config",
            "--stack",
            "staging",
            "--images",
            json.dumps({"app": NEW}),
            found=found,
        )
    )
    assert json.loads(lines["rollback"]["platform:release"]["value"])["images"] == {"app": None}


@pytest.mark.parametrize("images", ['{"app": "latest"}', "not json", '["sha256:x"]'])
def test_bad_images_are_refused(images: str) -> None:
    assert run("release-config", "--stack", "staging", "--images", images).code == 2


# --- migrations -------------------------------------------------------------------------------------

RUN_TASK = {
    "cluster": CLUSTER,
    "taskDefinition": MIGRATION_DEF,
    "launchType": "FARGATE",
    "count": 1,
    "startedBy": "release/v1-2-3",  # RunTask's startedBy takes no '.'.
    "networkConfiguration": {
        "awsvpcConfiguration": {
            "subnets": ["subnet-private-1", "subnet-private-2"],
            "securityGroups": ["sg-tasks"],
            "assignPublicIp": "DISABLED",
        }
    },
}
DESCRIBE_TASK = {"cluster": CLUSTER, "tasks": [TASK]}


def task(status: str, exit_code: int | None = None) -> dict[str, object]:
    container: dict[str, object] = {"name": "app"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {"tasks": [{"taskArn": TASK, "lastStatus": status, "containers": [container]}]}


def migrate(ecs: ECSClient, found: dict[str, object] | None = None) -> Run:
    images = json.dumps({"app": NEW})
    return run(
        "migrate", "--stack", "staging", "--images", images, "--tag", "v1.2.3", ecs=ecs, found=found
    )


def test_a_migration_runs_in_the_private_subnets_and_waits_for_exit_0(
    ecs: tuple[ECSClient, Stubber],
) -> None:
    client_, stubber = ecs
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK}], "failures": []}, RUN_TASK)
    stubber.add_response("describe_tasks", task("RUNNING"), DESCRIBE_TASK)
    stubber.add_response("describe_tasks", task("STOPPED", 0), DESCRIBE_TASK)
    result = migrate(client_)
    assert result.code == 0, result.out
    stream = "migration$252Fapp$252F0123456789abcdef0123456789abcdef"
    assert (
        f"log-groups/log-group/$252Fplatform$252Fstaging$252Fservice/log-events/{stream}"
        in result.out
    )
    assert "exit 0" in result.out


def test_a_failed_migration_fails_the_release(ecs: tuple[ECSClient, Stubber]) -> None:
    client_, stubber = ecs
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK}], "failures": []}, RUN_TASK)
    stubber.add_response("describe_tasks", task("STOPPED", 3), DESCRIBE_TASK)
    assert migrate(client_).code == 1


def test_a_migration_past_its_timeout_is_stopped(ecs: tuple[ECSClient, Stubber]) -> None:
    client_, stubber = ecs
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK}], "failures": []}, RUN_TASK)
    for _ in range(61):  # 15 minutes of 15-second polls, then the last look
        stubber.add_response("describe_tasks", task("RUNNING"), DESCRIBE_TASK)
    stubber.add_response(
        "stop_task",
        {"task": {"taskArn": TASK}},
        {"cluster": CLUSTER, "task": TASK, "reason": "release: migration timed out"},
    )
    result = migrate(client_)
    assert result.code == 1 and result.clock.now == 15 * 60


def test_a_task_describe_tasks_does_not_know_yet_is_polled_again(
    ecs: tuple[ECSClient, Stubber],
) -> None:
    client_, stubber = ecs
    missing = {"tasks": [], "failures": [{"arn": TASK, "reason": "MISSING"}]}
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK}], "failures": []}, RUN_TASK)
    stubber.add_response("describe_tasks", missing, DESCRIBE_TASK)
    stubber.add_response("describe_tasks", task("STOPPED", 0), DESCRIBE_TASK)
    assert migrate(client_).code == 0


def test_a_task_describe_tasks_never_finds_is_stopped(ecs: tuple[ECSClient, Stubber]) -> None:
    client_, stubber = ecs
    missing = {"tasks": [], "failures": [{"arn": TASK, "reason": "MISSING"}]}
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK}], "failures": []}, RUN_TASK)
    for _ in range(5):
        stubber.add_response("describe_tasks", missing, DESCRIBE_TASK)
    stubber.add_response(
        "stop_task",
        {"task": {"taskArn": TASK}},
        {"cluster": CLUSTER, "task": TASK, "reason": "release: task not found"},
    )
    result = migrate(client_)
    assert result.code == 1 and "does not know task" in result.err


def test_migrations_longer_than_the_steps_limit_are_refused_before_any_runs(
    ecs: tuple[ECSClient, Stubber],
) -> None:
    client_, _ = ecs  # no RunTask expected
    result = migrate(client_, found=outputs(migration={**MIGRATION, "timeoutMinutes": 120}))
    assert result.code == 2 and "add up to 120 min (app=120)" in result.err


@pytest.mark.parametrize("wait", ["-1", "601"])
def test_the_alarm_wait_is_bounded(wait: str) -> None:
    images = json.dumps({"app": NEW})
    result = run("smoke", "--stack", "staging", "--images", images, "--alarm-wait", wait)
    assert result.code == 2 and "0 to 600 seconds" in result.err


def test_a_service_without_a_migration_runs_none(ecs: tuple[ECSClient, Stubber]) -> None:
    client_, _ = ecs
    result = migrate(client_, found=outputs(migration=None))
    assert result.code == 0 and "no released service declares a migration" in result.out


# --- smoke test ---------------------------------------------------------------------------------------

SERVICE = {"cluster": CLUSTER, "services": ["platform-staging-service"]}
ALARMS = {
    "AlarmNamePrefix": "platform-staging-",
    "StateValue": "ALARM",
    "AlarmTypes": ["MetricAlarm", "CompositeAlarm", "LogAlarm"],
}


def deployments(*found: tuple[str, str, str]) -> dict[str, object]:
    return {
        "services": [
            {
                "serviceName": "platform-staging-service",
                "deployments": [
                    {
                        "id": f"ecs-svc/{i}",
                        "status": status,
                        "taskDefinition": definition,
                        "rolloutState": state,
                    }
                    for i, (status, definition, state) in enumerate(found)
                ],
            }
        ]
    }


def smoke(
    ecs: ECSClient,
    cloudwatch: CloudWatchClient,
    fetch: Callable[[str], int | None],
    **found: object,
) -> Run:
    images = json.dumps({"app": NEW})
    return run(
        "smoke", "--stack", "staging", "--images", images,
        ecs=ecs, cloudwatch=cloudwatch, fetch=fetch, found=outputs(**found),
    )  # fmt: skip


def test_smoke_waits_for_the_deployment_the_health_url_and_checks_the_alarms(
    ecs: tuple[ECSClient, Stubber], cloudwatch: tuple[CloudWatchClient, Stubber]
) -> None:
    (ecs_client, ecs_stub), (cw_client, cw_stub) = ecs, cloudwatch
    ecs_stub.add_response(
        "describe_services",
        deployments(("PRIMARY", TASK_DEF, "IN_PROGRESS"), ("ACTIVE", OLD_TASK_DEF, "COMPLETED")),
        SERVICE,
    )
    ecs_stub.add_response(
        "describe_services", deployments(("PRIMARY", TASK_DEF, "COMPLETED")), SERVICE
    )
    cw_stub.add_response("describe_alarms", {"MetricAlarms": [], "CompositeAlarms": []}, ALARMS)
    answers = iter([None, 503, 200])
    result = smoke(ecs_client, cw_client, lambda url: next(answers))
    assert result.code == 0, result.out
    # 15 s between deployment checks, 2 and 4 s between health checks, then one alarm window.
    assert result.clock.slept == [15, 2, 4, 300]


def test_a_circuit_breaker_rollback_fails_the_smoke_test(
    ecs: tuple[ECSClient, Stubber], cloudwatch: tuple[CloudWatchClient, Stubber]
) -> None:
    # ECS rolled back: the service is healthy, on the old task definition.
    (ecs_client, ecs_stub), (cw_client, _) = ecs, cloudwatch
    ecs_stub.add_response(
        "describe_services", deployments(("PRIMARY", OLD_TASK_DEF, "COMPLETED")), SERVICE
    )
    assert smoke(ecs_client, cw_client, lambda url: 200).code == 1


def test_an_alarm_in_alarm_fails_the_smoke_test(
    ecs: tuple[ECSClient, Stubber], cloudwatch: tuple[CloudWatchClient, Stubber]
) -> None:
    (ecs_client, ecs_stub), (cw_client, cw_stub) = ecs, cloudwatch
    ecs_stub.add_response(
        "describe_services", deployments(("PRIMARY", TASK_DEF, "COMPLETED")), SERVICE
    )
    cw_stub.add_response(
        "describe_alarms", {"MetricAlarms": [{"AlarmName": "platform-staging-service-5xx"}]}, ALARMS
    )
    result = smoke(ecs_client, cw_client, lambda url: 200)
    assert result.code == 1


def test_an_alarm_already_in_alarm_before_the_switch_is_not_the_releases(
    ecs: tuple[ECSClient, Stubber], cloudwatch: tuple[CloudWatchClient, Stubber]
) -> None:
    (ecs_client, ecs_stub), (cw_client, cw_stub) = ecs, cloudwatch
    ecs_stub.add_response(
        "describe_services", deployments(("PRIMARY", TASK_DEF, "COMPLETED")), SERVICE
    )
    old, new = "platform-staging-db-cpu", "platform-staging-service-5xx"
    # Two pages: composite and log alarms count too.
    cw_stub.add_response(
        "describe_alarms", {"CompositeAlarms": [{"AlarmName": old}], "NextToken": "t"}, ALARMS
    )
    cw_stub.add_response("describe_alarms", {"LogAlarms": [{"AlarmName": new}]}, {**ALARMS, "NextToken": "t"})  # fmt: skip
    images = json.dumps({"app": NEW})
    before = json.dumps({REGION: [old]})
    result = run(
        "smoke", "--stack", "staging", "--images", images, "--alarms-before", before,
        "--alarm-wait", "60", ecs=ecs_client, cloudwatch=cw_client, found=outputs(),
    )  # fmt: skip
    assert result.code == 1
    assert result.clock.slept == [60]
    assert f"{new} ({REGION})" in result.err and old not in result.err


@pytest.mark.parametrize(
    "found", [{"alarmRegions": [REGION]}, {}], ids=["alarm-regions", "stack-region"]
)
def test_the_snapshot_reads_every_alarm_region(
    cloudwatch: tuple[CloudWatchClient, Stubber], found: dict[str, object], tmp_path: Path
) -> None:
    cw_client, cw_stub = cloudwatch
    cw_stub.add_response("describe_alarms", {"MetricAlarms": [{"AlarmName": "a"}]}, ALARMS)
    github_output = tmp_path / "output"
    result = run(
        "alarms", "--stack", "staging", cloudwatch=cw_client, found={**outputs(), **found},
        env={"GITHUB_OUTPUT": str(github_output)},
    )  # fmt: skip
    assert result.code == 0, result.err
    assert github_output.read_text() == f'before={{"{REGION}": ["a"]}}\n'


def test_a_health_url_that_never_answers_2xx_fails_within_the_bound(
    ecs: tuple[ECSClient, Stubber], cloudwatch: tuple[CloudWatchClient, Stubber]
) -> None:
    (ecs_client, ecs_stub), (cw_client, _) = ecs, cloudwatch
    ecs_stub.add_response(
        "describe_services", deployments(("PRIMARY", TASK_DEF, "COMPLETED")), SERVICE
    )
    result = smoke(ecs_client, cw_client, lambda url: 502)
    assert result.code == 1 and result.clock.now <= 900


def test_a_service_not_on_the_released_digest_fails_at_once(
    ecs: tuple[ECSClient, Stubber], cloudwatch: tuple[CloudWatchClient, Stubber]
) -> None:
    (ecs_client, _), (cw_client, _) = ecs, cloudwatch
    assert smoke(ecs_client, cw_client, lambda url: 200, image=f"{URI}@{OLD}").code == 1


def test_a_service_without_a_health_url_is_not_probed(
    ecs: tuple[ECSClient, Stubber], cloudwatch: tuple[CloudWatchClient, Stubber]
) -> None:
    (ecs_client, ecs_stub), (cw_client, cw_stub) = ecs, cloudwatch
    ecs_stub.add_response(
        "describe_services", deployments(("PRIMARY", TASK_DEF, "COMPLETED")), SERVICE
    )
    cw_stub.add_response("describe_alarms", {"MetricAlarms": []}, ALARMS)

    def never(url: str) -> int:
        raise AssertionError(url)

    result = smoke(ecs_client, cw_client, never, healthUrl=None)
    assert result.code == 0 and "not probed" in result.out


@pytest.mark.parametrize("command", ["migrate", "smoke"])
def test_a_stack_without_the_released_services_has_nothing_to_check(command: str) -> None:
    # Its stack file turns the service off: no output is read, no AWS call made.
    off = settings_for(
        "staging",
        {
            "platform:service": json.dumps({"enabled": False}),
            "platform:staticSite": json.dumps({"enabled": False}),
        },
    )
    images = json.dumps({"app": NEW})

    def unread(stack: str) -> dict[str, object]:
        raise AssertionError(stack)

    out = io.StringIO()
    ctx = release.Context(
        stack="staging", outputs=lambda: unread("staging"), aws=release.aws_clients(REGION),
        out=out, registry=FakeRegistry(),
    )  # fmt: skip
    args = release.parser().parse_args([command, "--stack", "staging", "--images", images])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(release, "stack_settings", lambda stack: off)
        args.run(ctx, args)
    assert "runs none of the released services" in out.getvalue()


# --- the HTTP check, against a local server ------------------------------------------------------------


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_status_reads_the_answer(server: str) -> None:
    assert release.http_status(f"{server}/healthz") == 200
    assert release.http_status(f"{server}/") == 503


def test_http_status_of_nothing_listening_is_none() -> None:
    # A port just released: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert release.http_status(f"http://127.0.0.1:{port}/", timeout=1) is None


# --- the command line -------------------------------------------------------------------------------


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        release.main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for command in ("matrix", "tag", "publish", "release-config", "migrate", "alarms", "smoke"):
        assert command in text


def test_steps_write_the_job_summary(tmp_path: Path, ecs: tuple[ECSClient, Stubber]) -> None:
    summary = tmp_path / "summary.md"
    images = json.dumps({"app": NEW})
    result = run(
        "migrate", "--stack", "staging", "--images", images,
        ecs=ecs[0], found=outputs(migration=None), env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert result.code == 0
    assert summary.read_text() == result.out


# --- rolling back by hand -------------------------------------------------------------------------


@pytest.fixture
def makefile(tmp_path: Path) -> Path:
    return copy_makefile(tmp_path)


# A stand-in for the Pulumi CLI: records its arguments; `config set --config-file F` checks what
# the real CLI checks (it picks F's parser by F's extension: pulumi/pulumi sdk/go/common/workspace
# loaders.go, marshallerForPath, "no marshaler found" otherwise) and writes the value into F;
# `up --config-file F` checks F still holds it.
FAKE_PULUMI = """
import os, shutil, sys
args = sys.argv[1:]
with open(os.environ["PULUMI_CALLS"], "a") as calls:
    calls.write(" ".join(args) + "\\n")
if "--config-file" in args:
    path = args[args.index("--config-file") + 1]
    if not path.endswith((".yaml", ".yml", ".json")):
        sys.exit("error: no marshaler found for file format")
    if args[:2] == ["config", "set"]:
        with open(path, "a") as config:
            config.write(f"  {args[-2]}: '{args[-1]}'\\n")
    if args[0] == "up":
        with open(path) as config:
            assert "platform:release: '{" in config.read(), "up without platform:release"
        shutil.copy(path, os.environ["PULUMI_SEEN"])
"""


def test_make_release_rollback_serves_the_digests_through_the_policy_pack(
    makefile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target run for real against a fake `pulumi` (and fake aws/python): the platform:release
    value lands in a copy of the stack file named Pulumi.<stack>.yaml, which `up` reads."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (
        ("pulumi", f"#!{sys.executable}\n{FAKE_PULUMI}"),
        ("aws", "#!/bin/sh\nexit 0\n"),
    ):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    # An installed virtualenv as make sees it: its python a no-op, the stamp newer than the
    # requirements, policy/venv linked.
    venv = makefile / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv / "python").chmod(0o755)
    (makefile / ".venv" / ".installed-requirements").touch()
    (makefile / "policy" / "venv").symlink_to("../.venv")
    calls, seen = tmp_path / "calls", tmp_path / "seen.yaml"
    images = json.dumps({"app": OLD}, separators=(",", ":"))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "PULUMI_CONFIG_PASSPHRASE": "testing",
        "PULUMI_CALLS": str(calls),
        "PULUMI_SEEN": str(seen),
    }.items():
        monkeypatch.setenv(key, value)
    result = make(makefile, "release-rollback", "STACK=prod", f"IMAGES={images}")
    assert result.returncode == 0, result.stderr
    recorded = calls.read_text().splitlines()
    [config_set] = [c for c in recorded if c.startswith("config set")]
    [up] = [c for c in recorded if c.startswith("up ")]
    config_file = config_set.split("--config-file ")[1].split(" ")[0]
    assert Path(config_file).name == "Pulumi.prod.yaml"
    assert config_set.endswith(f'platform:release {{"stage":"serve","images":{images}}}')
    assert up == (
        f"up -s prod --config-file {config_file} --policy-pack policy "
        "--policy-pack-config policy/config.prod.json"
    )
    # The copy holds the stack's own settings too, and is gone afterwards; the committed file
    # never holds platform:release.
    assert seen.read_text().startswith((makefile / "Pulumi.prod.yaml").read_text())
    assert not Path(config_file).exists()
    assert "platform:release" not in (makefile / "Pulumi.prod.yaml").read_text()


def test_make_release_rollback_needs_the_digests(makefile: Path) -> None:
    result = make(makefile, "release-rollback", "STACK=prod")
    assert result.returncode == 2 and "needs IMAGES=" in result.stderr


def no_scan_then_start_fails_with(stubber: Stubber, code: str) -> None:
    for _ in range(7):  # 0, 10, ... 60 s: the grace
        stubber.add_client_error(
            "describe_image_scan_findings", "ScanNotFoundException", expected_params=scan_of(NEW)
        )
    stubber.add_client_error("start_image_scan", code, expected_params=scan_of(NEW))


# ECR API, StartImageScan: a basic scan "can only be started once per 24 hours on an individual
# image" (LimitExceededException), UnsupportedImageTypeException for an image it cannot scan,
# ValidationException when the registry uses enhanced scanning (Amazon Inspector picks the
# repositories by its scan filters; StartImageScan is basic scanning's call).
@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("LimitExceededException", "once per image per 24 hours"),
        ("UnsupportedImageTypeException", "accept-unsupported-images"),
        ("ValidationException", "enhanced scanning"),
    ],
)
def test_a_scan_ecr_refuses_to_start_fails_the_gate_saying_why(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber], code: str, why: str
) -> None:
    client_, stubber = ecr
    pushed_before(tmp_path, stubber)
    no_scan_then_start_fails_with(stubber, code)
    result = publish(client_, tmp_path)
    assert result.code == 1
    assert code in result.err and why in result.err and "Traceback" not in result.err


def test_an_image_ecr_cannot_scan_passes_unscanned_when_accepted(
    tmp_path: Path, ecr: tuple[ECRClient, Stubber]
) -> None:
    client_, stubber = ecr
    pushed_before(tmp_path, stubber)
    no_scan_then_start_fails_with(stubber, "UnsupportedImageTypeException")
    result = publish(client_, tmp_path, "--accept-unsupported")
    assert result.code == 0, result.err
    assert "was not scanned**" in result.out
