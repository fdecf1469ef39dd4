"""Cases of the IRSA trust rule (policy/rules/irsa.py): EKS OIDC trust pinned to one service
account and to the sts.amazonaws.com audience."""

from __future__ import annotations

from typing import Any

from tests.policy.cases import Case, doc, with_

ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
SUBJECT = "system:serviceaccount:reports:reports-api"
GITHUB_PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def irsa(conditions: dict[str, Any], provider: str = PROVIDER) -> dict[str, Any]:
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": conditions,
    }
    return {"assumeRolePolicy": doc(statement)}


PINNED = {"StringEquals": {f"{ISSUER}:sub": SUBJECT, f"{ISSUER}:aud": "sts.amazonaws.com"}}
AUDIENCE = {f"{ISSUER}:aud": "sts.amazonaws.com"}

IRSA_CASES = [
    Case(
        "eks-irsa-trust-pinned",
        "aws:iam/role:Role",
        irsa(PINNED),
        [
            (irsa({"StringEquals": AUDIENCE}), "for any service account (no sub condition)"),
            (
                irsa(
                    {
                        "StringEquals": AUDIENCE,
                        "StringLike": {f"{ISSUER}:sub": "system:serviceaccount:reports:*"},
                    }
                ),
                "with StringLike, not StringEquals",
            ),
            (
                irsa({"StringEquals": {**AUDIENCE, f"{ISSUER}:sub": "system:serviceaccount:*:*"}}),
                "accepts the subject system:serviceaccount:*:*, not one",
            ),
            (
                irsa(
                    {
                        "StringEquals": {
                            **AUDIENCE,
                            f"{ISSUER}:sub": [
                                SUBJECT,
                                "system:serviceaccount:ingest:ingest-worker",
                            ],
                        }
                    }
                ),
                "accepts 2 service accounts",
            ),
            (
                irsa({"StringEquals": {f"{ISSUER}:sub": SUBJECT}}),
                "whose aud is not StringEquals sts.amazonaws.com",
            ),
            (
                irsa(
                    {
                        "StringEquals": {f"{ISSUER}:sub": SUBJECT},
                        "StringLike": {f"{ISSUER}:aud": "*"},
                    }
                ),
                "whose aud is not StringEquals sts.amazonaws.com",
            ),
            # Condition keys are case-insensitive: a differently cased key still counts.
            (
                irsa({"StringEquals": AUDIENCE, "stringlike": {f"{ISSUER}:SUB".upper(): "*"}}),
                "not StringEquals",
            ),
        ],
    ),
    # Other web identities (GitHub) and service trusts are not this rule's.
    Case(
        "eks-irsa-trust-pinned",
        "aws:iam/role:Role",
        irsa(
            {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}},
            GITHUB_PROVIDER,
        ),
    ),
    Case(
        "eks-irsa-trust-pinned",
        "aws:iam/role:Role",
        {
            "assumeRolePolicy": doc(
                with_(
                    {"Effect": "Allow", "Action": "sts:AssumeRole"},
                    Principal={"Service": "ec2.amazonaws.com"},
                )
            )
        },
    ),
]
