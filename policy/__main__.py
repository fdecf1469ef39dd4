"""Builds the policy pack. Running it starts the analyzer server and blocks: tests never import it."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="platform-guard",
    description="Security, reliability and cost rules for AWS platforms built with Pulumi.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
