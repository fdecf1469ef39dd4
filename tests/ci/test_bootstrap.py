"""The bootstrap program, offline: the state backend, the secrets keys and each stack's roles."""

from __future__ import annotations

import json
import runpy
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.ci_access import RoleKind, state_objects, trusted_subjects
from components.settings import CiRoleSettings, SettingsError
from tests.conftest import statements
from tooling.bootstrap.github import REPOSITORY, role_variables
from tooling.bootstrap.settings import parse
from tooling.offline import OfflineRun, Resource, run_offline
from tooling.policy_eval import evaluate, stack_policy_config

PROGRAM = Path(__file__).resolve().parents[2] / "tooling" / "bootstrap" / "__main__.py"
CI = {"repository": "acme/platform"}
STACKS = ("dev", "staging", "prod")
PROTECTED = ["staging", "prod"]


@cache
def bootstrap(preview: bool = False, ci: str = json.dumps(CI)) -> OfflineRun:
    return run_offline(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        stack="ci",
        project="platform-bootstrap",
        config={"aws:region": "eu-west-1", "bootstrap:ciAccess": ci},
        preview=preview,
    )


def role(run: OfflineRun, stack: str, kind: RoleKind) -> Resource:
    return run.one("aws:iam/role:Role", f"platform-{stack}-ci-access-{kind.value}")


def test_state_bucket_is_versioned_encrypted_private_and_tls_only() -> None:
    run = bootstrap()
    bucket = run.one("aws:s3/bucket:Bucket")
    assert bucket.protect and not bucket.inputs.get("forceDestroy")
    key = run.one("aws:kms/key:Key", "platform-state-key")
    assert key.protect and key.inputs["enableKeyRotation"] is True
    [rule] = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}
    versioning = run.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    [deny] = statements(run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_each_stack_has_a_protected_secrets_key_and_the_outputs_name_it() -> None:
    run = bootstrap()
    for stack in STACKS:
        assert run.one("aws:kms/key:Key", f"platform-{stack}-secrets").protect
        assert run.outputs["secretsProviders"][stack] == (
            f"awskms://alias/platform-{stack}-secrets?region=eu-west-1"
        )
    bucket = run.physical_name("aws:s3/bucket:Bucket")
    assert run.outputs["backendUrl"] == f"s3://{bucket}?region=eu-west-1"


@pytest.mark.parametrize("stack", STACKS)
def test_each_role_trusts_exactly_its_subjects_for_four_hours(stack: str) -> None:
    run = bootstrap()
    trusted = trusted_subjects(
        CiRoleSettings.model_validate(CI), stack, protected=stack in PROTECTED
    )
    for kind in RoleKind:
        found = role(run, stack, kind).inputs
        [trust] = statements(found["assumeRolePolicy"])
        assert trust["Condition"] == {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": trusted[kind],
            }
        }
        assert found["maxSessionDuration"] == 4 * 3600
        assert found["tags"]["CiRole"] == kind.value
    assert len(run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_preview_role_reads_its_stacks_state_and_secrets_and_writes_nothing(stack: str) -> None:
    run = bootstrap()
    found = {
        s["Sid"]: s
        for s in statements(
            run.one(
                "aws:iam/rolePolicy:RolePolicy", f"platform-{stack}-ci-access-preview-state"
            ).inputs["policy"]
        )
    }
    bucket = run.one("aws:s3/bucket:Bucket").outputs["arn"]
    assert found["ReadState"]["Resource"] == state_objects(bucket, "platform", stack)
    assert found["ReadState"]["Action"] == "s3:GetObject"
    assert found["ListState"] == {
        "Sid": "ListState",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket,
    }
    secrets = run.one("aws:kms/key:Key", f"platform-{stack}-secrets").outputs["arn"]
    assert found["DecryptStackSecrets"]["Resource"] == secrets
    assert found["DecryptStateThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
    allowed = {a for s in found.values() if s["Effect"] == "Allow" for a in [s["Action"]]}
    assert allowed == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    assert found["NoObjectsButState"]["NotResource"] == found["ReadState"]["Resource"]
    attached = [
        a.inputs["policyArn"]
        for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith(f"platform-{stack}-ci-access-preview")
    ]
    assert attached == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]


def test_github_variables_name_each_role_in_its_scope() -> None:
    run = bootstrap()
    scopes = run.outputs["githubVariables"]
    assert set(scopes) == {
        REPOSITORY,
        *STACKS,
        *(f"{s}-drift" for s in STACKS),
        *(f"{s}-preview" for s in PROTECTED),
        "release",
    }
    for stack in STACKS:
        assert scopes[stack] == {
            "AWS_DEPLOY_ROLE": role(run, stack, RoleKind.DEPLOY).outputs["arn"]
        }
        preview = role(run, stack, RoleKind.PREVIEW).outputs["arn"]
        assert scopes[f"{stack}-drift"] == {"AWS_PREVIEW_ROLE": preview}
    # A protected stack's preview role is in its reviewed environment only.
    assert (
        scopes[REPOSITORY]["AWS_PREVIEW_ROLE_dev"]
        == role(run, "dev", RoleKind.PREVIEW).outputs["arn"]
    )
    for stack in PROTECTED:
        assert f"AWS_PREVIEW_ROLE_{stack}" not in scopes[REPOSITORY]
        preview = role(run, stack, RoleKind.PREVIEW).outputs["arn"]
        assert scopes[f"{stack}-preview"] == {"AWS_PREVIEW_ROLE": preview}
    assert scopes[REPOSITORY]["PULUMI_BACKEND_URL"] == run.outputs["backendUrl"]
    assert scopes[REPOSITORY]["AWS_REGION"] == "eu-west-1"
    assert scopes[REPOSITORY]["AWS_SESSION_SECONDS"] == str(4 * 3600)


def test_protected_stacks_are_the_stacks_that_protect_their_data() -> None:
    root = PROGRAM.parents[2]
    protecting = [
        stack
        for stack in STACKS
        if yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())["config"][
            "platform:protectData"
        ]
    ]
    assert parse("ci", "eu-west-1", {"ciAccess": CI}).protected_stacks == protecting == PROTECTED


def test_every_deploy_boundary_guards_every_ci_role_boundary_and_the_oidc_provider() -> None:
    # dev's deploy role must not rewrite prod's trust: the patterns match each physical name.
    run = bootstrap()
    names = [r.outputs["arn"] for r in run.of_type("aws:iam/role:Role")]
    boundaries = [
        r for r in run.of_type("aws:iam/policy:Policy") if r.name.endswith("-deploy-boundary")
    ]
    assert len(names) == 9 and len(boundaries) == 3
    for boundary in boundaries:
        found = {s["Sid"]: s for s in statements(boundary.inputs["policy"])}
        assert all(fnmatchcase(n, found["NoChangesToCiRoles"]["Resource"]) for n in names)
        assert "iam:UpdateAssumeRolePolicy" in found["NoChangesToCiRoles"]["Action"]
        # IAM policy ARNs carry no region (the offline mock's do): built from the name.
        assert all(
            fnmatchcase(
                f"arn:aws:iam::123456789012:policy/{b.outputs['name']}",
                found["NoChangesToCiBoundaries"]["Resource"],
            )
            for b in boundaries
        )
        oidc = found["NoChangesToTheOidcProvider"]
        assert oidc["Effect"] == "Deny" and oidc["Resource"] == "*"
        assert "iam:UpdateOpenIDConnectProviderThumbprint" in oidc["Action"]


def test_preview_and_update_register_the_same_resources_with_names_that_fit() -> None:
    assert sorted(r.urn for r in bootstrap(preview=True).resources) == sorted(
        r.urn for r in bootstrap().resources
    )
    assert bootstrap().name_problems() == []


def test_an_existing_oidc_provider_is_referenced() -> None:
    run = bootstrap(ci=json.dumps({**CI, "createOidcProvider": False}))
    assert run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({}, "bootstrap:ciAccess.repository = 'example-org/platform': the placeholder"),
        ({"ciAccess": CI, "stacks": ["Prod"]}, "bootstrap:stacks = ['Prod']: not stack names"),
        ({"ciAccess": CI, "stacks": ["dev", "dev"]}, "a stack is listed twice"),
        ({"ciAccess": {**CI, "sessionHours": 24}}, "bootstrap:ciAccess.sessionHours = 24"),
        ({"ciAccess": CI, "stackz": []}, "bootstrap:stackz"),
        (
            {"ciAccess": CI, "stacks": ["dev", "prod"]},
            "protectedStacks ['staging'] are not in stacks",
        ),
    ],
)
def test_bad_bootstrap_settings_are_reported(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse("ci", "eu-west-1", raw)
    assert problem in str(caught.value)
    assert "stack 'ci'" in str(caught.value)


@pytest.mark.parametrize("preview", [False, True])
def test_the_policy_pack_reports_only_the_documented_admin_choice(preview: bool) -> None:
    # The bootstrap's own policy config (`make bootstrap` runs the pack with it): every rule
    # mandatory but three. A deploy role with AdministratorAccess (capped by its boundary) is the
    # choice the README documents, reported as advisory; the state bucket keeps no server access
    # log bucket of its own (advisory); the bootstrap's few resources are not billed to a
    # platform stack, so it needs no budget.
    config = stack_policy_config("bootstrap")
    assert {k: v for k, v in config.items() if v != "mandatory"} == {
        "budget-present": "disabled",
        "iam-no-admin-equivalent-policies": "advisory",
        "s3-access-logging": "advisory",
    }
    found = [v for v in evaluate(bootstrap(preview), config) if not v.deferred]
    assert {v.level for v in found} == {"advisory"}
    assert sorted((v.policy, v.resource.rsplit("::", 1)[1]) for v in found) == [
        *(
            (
                "iam-no-admin-equivalent-policies",
                f"platform-{s}-ci-access-deploy-administratoraccess",
            )
            for s in sorted(STACKS)
        ),
        ("s3-access-logging", "platform-state-bucket"),
    ]


@pytest.mark.parametrize("repository", ["acme/platform", "acme@123456/platform@456789"])
def test_a_scoped_deploy_policy_passes_the_whole_pack(repository: str) -> None:
    scoped = {"repository": repository, "policyArns": ["arn:aws:iam::123456789012:policy/deploy"]}
    found = evaluate(bootstrap(ci=json.dumps(scoped)), stack_policy_config("bootstrap"))
    # Only the state bucket's access-logging advisory the bootstrap config accepts remains.
    assert [(v.policy, v.level) for v in found if not v.deferred] == [
        ("s3-access-logging", "advisory")
    ]


def test_the_project_file_names_the_project_and_the_shared_virtualenv() -> None:
    project = yaml.safe_load((PROGRAM.parent / "Pulumi.yaml").read_text())
    assert project["name"] == "platform-bootstrap"
    venv = PROGRAM.parent / project["runtime"]["options"]["virtualenv"]
    assert venv.resolve() == (PROGRAM.parents[2] / ".venv").resolve()


def test_the_readme_names_every_environment_and_variable_the_workflows_read() -> None:
    readme = (PROGRAM.parents[2] / "README.md").read_text()
    section = readme[readme.index("### One-time bootstrap of CI access") :]
    scopes = role_variables(list(STACKS), PROTECTED)
    for scope in scopes:
        assert scope == REPOSITORY or f"`{scope}`" in section, scope
    for name in {n for variables in scopes.values() for n in variables}:
        # Per-stack repository variables are written AWS_PREVIEW_ROLE_dev|staging|prod.
        assert name in section or name.rsplit("_", 1)[0] + "_dev|staging|prod" in section, name
