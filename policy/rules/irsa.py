"""IRSA: roles that trust an EKS cluster's OIDC provider accept tokens of one service account only.

An EKS OIDC token carries `sub` = `system:serviceaccount:<namespace>:<name>` and `aud` =
`sts.amazonaws.com` (Amazon EKS User Guide, "Assign IAM roles to Kubernetes service accounts":
the trust policy conditions `<provider>:sub` and `<provider>:aud` with StringEquals). Without an
exact `sub`, every pod of the cluster that can name the role gets its permissions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import Severity

from .core import Config, Props, listed, mapping, resource_rule, statements

ROLE = "aws:iam/role:Role"
# arn:<partition>:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com[.cn]/id/<ID>
EKS_PROVIDER = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(?P<issuer>oidc\.eks\..+)$")
# Namespace and service account names are DNS labels / subdomains: no wildcard characters.
SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9.-]+$")


def _issuers(statement: Mapping[str, Any]) -> list[str]:
    federated = listed(mapping(statement.get("Principal")).get("Federated"))
    found = (EKS_PROVIDER.match(str(f)) for f in federated)
    return [match["issuer"] for match in found if match]


def _conditions_on(statement: Mapping[str, Any], key: str) -> dict[str, list[str]]:
    """Every operator that tests `key` (condition keys are case-insensitive), with its values."""
    return {
        str(operator): [str(v) for v in listed(values)]
        for operator, block in mapping(statement.get("Condition")).items()
        for name, values in mapping(block).items()
        if str(name).lower() == key.lower()
    }


def _irsa_pinned(props: Props, _: Config) -> Iterable[str]:
    for statement in statements(props.get("assumeRolePolicy")):
        if statement.get("Effect") != "Allow":
            continue
        for issuer in _issuers(statement):
            audience = _conditions_on(statement, f"{issuer}:aud")
            if audience != {"StringEquals": ["sts.amazonaws.com"]}:
                yield f"accepts EKS tokens of {issuer} whose aud is not StringEquals sts.amazonaws.com"
            subjects = _conditions_on(statement, f"{issuer}:sub")
            if not subjects:
                yield f"accepts EKS tokens of {issuer} for any service account (no sub condition)"
            for operator, values in subjects.items():
                if operator != "StringEquals":
                    yield f"tests the sub of {issuer} with {operator}, not StringEquals"
                elif len(values) != 1:
                    yield f"accepts {len(values)} service accounts of {issuer}, not one"
                for value in values:
                    if not SERVICE_ACCOUNT.match(value):
                        yield f"accepts the subject {value}, not one system:serviceaccount:NS:SA"


RULES = [
    resource_rule(
        "eks-irsa-trust-pinned",
        "Roles trusting an EKS OIDC provider (IRSA) accept tokens for sts.amazonaws.com of "
        "exactly one service account.",
        types=[ROLE],
        check=_irsa_pinned,
        severity=Severity.CRITICAL,
        fix="Use StringEquals on <provider>:aud = sts.amazonaws.com and on <provider>:sub = "
        "system:serviceaccount:NAMESPACE:NAME, one service account per role.",
    ),
]
