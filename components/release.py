"""Which image each Fargate service and its migration run (issue #22, RELEASE_CONTRACT.md).

A release deploys digests, never tags: the stack remembers what each service runs in its own
output `releasedImages`, read back on the next update, so a plain `up` (no `platform:release`)
keeps the released digests; stage `migrate` changes only the migration task definitions; stage
`serve` switches the services."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.settings import DIGEST, EcsServiceSettings, ReleaseSettings, ReleaseStage

RELEASED_IMAGES = "releasedImages"


def deployed_images(
    name: str, *, organization: str, project: str, stack: str
) -> pulumi.Output[dict[str, str]]:
    """The stack's own previous `releasedImages` ({service: digest}; {} on a first update or
    before any release). A stack reference to the current stack reads its outputs back, as shown
    in pulumi/pulumi#3722. The engine reads it in a preview too (pulumi
    pkg/resource/deploy/step.go: "Read steps run during previews"), so the values are known
    there; and while an update runs, the root stack keeps its previous outputs until the program
    ends (SameStep.Apply: "Retain the ID and outputs"), so the read sees the last update's."""
    reference = pulumi.StackReference(name, stack_name=f"{organization}/{project}/{stack}")
    return reference.get_output(RELEASED_IMAGES).apply(lambda value: digests_of(value, stack))


def digests_of(value: object, stack: str) -> dict[str, str]:
    """The digests in a `releasedImages` read back: only `{service: "sha256:<64 hex>"}` entries
    (what this program exports); anything else (an edited or foreign state) is left out with a
    warning, and that service runs its configured image until the next release."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        pulumi.log.warn(
            f"stack {stack}: the output {RELEASED_IMAGES} read back is not an object "
            f"({type(value).__name__}); no released digest is kept"
        )
        return {}
    digests: dict[str, str] = {}
    for service, digest in value.items():
        if isinstance(service, str) and isinstance(digest, str) and DIGEST.match(digest):
            digests[service] = digest
        else:
            pulumi.log.warn(
                f"stack {stack}: {RELEASED_IMAGES}.{service} = {digest!r} read back is not a "
                "digest sha256:<64 hex>; it is ignored, and the service runs its configured "
                "image until the next release"
            )
    return digests


def running_digest(
    service: str, release: ReleaseSettings | None, deployed: Mapping[str, str]
) -> str | None:
    """The digest the service runs: the release's in stage serve (null forgets it), else the
    one deployed before; None: the configured `image`."""
    if release is not None and release.stage is ReleaseStage.SERVE and service in release.images:
        return release.images[service]
    return deployed.get(service)


def migration_digest(service: str, release: ReleaseSettings | None) -> str | None:
    """The digest the service's migration runs, when a release names one (either stage); None:
    the service's own image."""
    return release.images.get(service) if release is not None else None


@dataclass(frozen=True, kw_only=True)
class ServiceImages:
    """What one service is told about its image: the digest it runs (None: its configured
    `image`) and the digest its migration runs (None: the service's image)."""

    running: pulumi.Input[str | None] = None
    migration: str | None = None


def service_images(
    services: Mapping[str, EcsServiceSettings],
    release: ReleaseSettings | None,
    deployed: pulumi.Output[dict[str, str]],
    *,
    stack: str,
) -> dict[str, ServiceImages]:
    """The images of every service, from the release and the digests deployed before."""

    def running(service: str, found: Mapping[str, str]) -> str | None:
        digest = running_digest(service, release, found)
        warning = placeholder_warning(stack, service, services[service], digest)
        if warning:
            pulumi.log.warn(warning)
        return digest

    return {
        service: ServiceImages(
            running=deployed.apply(lambda found, s=service: running(s, found)),
            migration=migration_digest(service, release),
        )
        for service in sorted(services)
    }


def placeholder_warning(
    stack: str, service: str, settings: EcsServiceSettings, digest: str | None
) -> str | None:
    """A service the release workflow builds (`source`) that has no released digest runs its
    configured `image`, the placeholder by default: say so (a warning, not an error, since a
    stack's first `up` must run the placeholder to create the repository a release publishes
    to). A digest given as `image` is a deliberate choice and needs no warning."""
    if digest is not None or settings.source is None or DIGEST.match(settings.image):
        return None
    return (
        f"stack {stack}: service {service} is built from {settings.source!r} by the release "
        f"workflow but has no released digest, so it runs the configured image "
        f"{settings.image}; run a release to deploy it (a new or renamed service runs this "
        "image until its first release)"
    )


def released_images(images: Mapping[str, ServiceImages]) -> pulumi.Output[dict[str, str]]:
    """The stack output `releasedImages`: the digest each service runs by release (services on
    their configured `image`, a digest given there included, are left out: config decides
    those)."""
    names = sorted(images)
    return pulumi.Output.all(*(images[name].running for name in names)).apply(
        lambda running: {
            name: digest for name, digest in zip(names, running, strict=True) if digest
        }
    )


# --- where a service's health path answers through the load balancer -----------------------------


def _matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """An ALB condition value: '*' any characters, '?' exactly one (ELB Application Load Balancer
    guide, rule-condition-types.html: host names case-insensitive, paths case-sensitive)."""
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(expression, value, flags) is not None


def _rule_matches(service: EcsServiceSettings, host: str, path: str) -> bool:
    """Whether a service's listener rule takes a request: each condition it has matches."""
    hosts, paths = service.host_patterns, service.path_patterns
    return (not hosts or any(_matches(p, host, case_sensitive=False) for p in hosts)) and (
        not paths or any(_matches(p, path, case_sensitive=True) for p in paths)
    )


def health_url(
    base_url: str,
    name: str,
    services: Mapping[str, EcsServiceSettings],
    *,
    origin_only: bool = False,
) -> str | None:
    """The URL at which the load balancer hands a request for the service's `healthCheckPath` to
    that service, or None when the release runner cannot reach it there. `base_url` is the
    stack's service URL (https://<domainName>, else http://<ALB DNS name>), the one name with a
    DNS record and, with a domain, the one the certificate covers: the request goes to its host
    with its scheme (the listener serves HTTPS only with a domain).

    - None with `originOnly`: the load balancer admits CloudFront's origin-facing prefix list
      alone, not the runner.
    - A service with host patterns answers only if one matches that host (another host has no
      DNS record and no certificate); its path: the health path, which must match one of its
      path patterns if it has any (a request elsewhere never reaches it).
    - A routed service gets it unless a rule of lower priority takes it first; the default
      service unless any rule takes it.

    Without a URL the smoke test relies on the ECS deployment reaching COMPLETED ("When the
    service reaches a steady state, the deployment transitions to a COMPLETED state": ECS API
    Reference, Deployment rolloutState), which behind a load balancer needs the new tasks to pass
    the target group's health check on that same path ("If a task has no essential containers
    with a health check defined, the service scheduler will wait for the load balancer target
    group health check to return a healthy status before counting the task towards the minimum
    healthy percent total": DeploymentConfiguration minimumHealthyPercent)."""
    if origin_only:
        return None
    service = services[name]
    scheme, _, host = base_url.partition("://")
    path = service.health_check_path
    if not _rule_matches(service, host, path):
        return None
    ahead = [
        other
        for other_name, other in services.items()
        if other_name != name
        and other.priority is not None
        and (service.priority is None or other.priority < service.priority)
    ]
    if any(_rule_matches(other, host, path) for other in ahead):
        return None
    return f"{scheme}://{host}{path}"
