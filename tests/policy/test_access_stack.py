"""Stack rules of policy/rules/resource_policies.py: explicit key policies, rotated secrets."""

from __future__ import annotations

import json
from typing import Any

from tooling.policy_eval import Analyzer, analyzer_resource

KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
DEFAULT = json.dumps(
    {"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Action": "kms:*"}]}
)
OWN = json.dumps({"Statement": [{"Sid": "AccountAdministration", "Effect": "Allow"}]})


def found(rule: str, *resources: Any) -> list[str]:
    analyzer = Analyzer({"all": "disabled", rule: "mandatory"})
    return [v.message for v in analyzer.stack(list(resources))]


def test_a_key_needs_its_own_policy_or_a_key_policy_built_on_its_id() -> None:
    key = analyzer_resource(KEY, "urn:k", "k", {})
    other = analyzer_resource(KEY, "urn:o", "o", {"policy": OWN})
    policy = analyzer_resource(
        "aws:kms/keyPolicy:KeyPolicy", "urn:p", "p", {}, property_dependencies={"keyId": ["urn:k"]}
    )
    assert found("kms-key-explicit-policy", key, other, policy) == []
    # A key policy that merely waits on the key (depends_on) does not count.
    waits = analyzer_resource(
        "aws:kms/keyPolicy:KeyPolicy", "urn:p", "p", {}, dependencies=["urn:k"],
        property_dependencies={"keyId": ["urn:o"]},
    )  # fmt: skip
    assert found("kms-key-explicit-policy", key, other, waits) == [
        "KMS key k has no explicit key policy. Set the key's policy, or add an aws.kms.KeyPolicy "
        "whose keyId is the key's ID."
    ]
    # The policy AWS gives a key created without one is not explicit.
    assert (
        len(
            found(
                "kms-key-explicit-policy", analyzer_resource(KEY, "urn:d", "d", {"policy": DEFAULT})
            )
        )
        == 1
    )


def test_every_secret_has_a_rotation() -> None:
    secret = analyzer_resource(SECRET, "urn:s", "s", {})
    rotation = analyzer_resource(
        "aws:secretsmanager/secretRotation:SecretRotation", "urn:r", "r", {},
        property_dependencies={"secretId": ["urn:s"]},
    )  # fmt: skip
    assert found("secrets-rotation", secret, rotation) == []
    assert found("secrets-rotation", secret)[0].startswith("secret s has no rotation")


def test_a_secret_the_stack_names_as_not_rotating_yet_is_exempt_and_no_other() -> None:
    admin = analyzer_resource(SECRET, "urn:a", "platform-prod-messaging-admin", {})
    other = analyzer_resource(SECRET, "urn:o", "platform-prod-other", {})
    analyzer = Analyzer(
        {
            "all": "disabled",
            "secrets-rotation": {
                "enforcementLevel": "mandatory",
                "exemptNameSuffixes": ["-messaging-admin"],
            },
        }
    )
    messages = [v.message for v in analyzer.stack([admin, other])]
    assert [m.split(".")[0] for m in messages] == ["secret platform-prod-other has no rotation"]


def test_a_boundary_policy_attached_as_a_grant_is_refused() -> None:
    boundary = analyzer_resource(
        "aws:iam/policy:Policy", "urn:b", "b", {"tags": {"PolicyUse": "permissions-boundary"}}
    )
    bounded = analyzer_resource(
        "aws:iam/role:Role",
        "urn:r",
        "r",
        {},
        property_dependencies={"permissionsBoundary": ["urn:b"]},
    )
    assert found("iam-boundary-policy-not-attached", boundary, bounded) == []
    attached = analyzer_resource(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "urn:a", "a", {},
        property_dependencies={"policyArn": ["urn:b"]},
    )  # fmt: skip
    managed = analyzer_resource(
        "aws:iam/role:Role",
        "urn:m",
        "m",
        {},
        property_dependencies={"managedPolicyArns": ["urn:b"]},
    )
    assert found("iam-boundary-policy-not-attached", boundary, attached, managed) == [
        "permissions boundary b is attached as a policy by a. Use the policy only as a role's "
        "permissionsBoundary, or drop its PolicyUse tag and scope its statements.",
        "permissions boundary b is attached as a policy by m. Use the policy only as a role's "
        "permissionsBoundary, or drop its PolicyUse tag and scope its statements.",
    ]
