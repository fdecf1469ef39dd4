"""Tags and the tagged AWS providers every component is built with."""

from __future__ import annotations

import pulumi_aws as aws

from components.settings import Settings


def default_tags(settings: Settings) -> dict[str, str]:
    """Tags every resource carries, applied by the provider so awsx and eks children get them too."""
    return {
        "Project": settings.project,
        "Environment": settings.stack,
        "ManagedBy": "pulumi",
        "Owner": settings.config.owner,
        "CostCenter": settings.config.cost_center,
    }


def component_tags(component: str) -> dict[str, str]:
    """The tag a component adds to each of its resources, on top of the provider's default tags."""
    return {"Component": component}


def aws_provider(name: str, settings: Settings, region: str | None = None) -> aws.Provider:
    """An explicit AWS provider with the stack's default tags, in the stack's region by default."""
    return aws.Provider(
        name,
        region=region or settings.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(settings)),
    )
