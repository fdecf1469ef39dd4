"""Load balancers: hardened, logged, HTTPS with a modern policy, protected in production."""

from __future__ import annotations

from collections.abc import Iterable

from .core import TYPES, Config, Props, listed, mapping, resource_rule

LB = TYPES["load_balancer"]
LISTENER = TYPES["listener"]
LISTENER_RULE = TYPES["listener_rule"]
# "#{host}" keeps the request's host; a redirect's protocol defaults to "#{protocol}", which
# keeps HTTP (ELB API RedirectActionConfig).
SAME_HOST = (None, "", "#{host}")


def _application(props: Props) -> bool:
    return props.get("loadBalancerType", "application") == "application"


def _drops_headers(props: Props, _: Config) -> Iterable[str]:
    if _application(props) and props.get("dropInvalidHeaderFields") is not True:
        yield "passes invalid HTTP header fields to its targets"


def _redirects(actions: object) -> Iterable[str]:
    for action in listed(actions):
        if action.get("type") != "redirect":
            continue
        redirect = mapping(action.get("redirect"))
        if str(redirect.get("protocol") or "#{protocol}").upper() != "HTTPS":
            yield "redirects to HTTP instead of HTTPS"
        if redirect.get("host") not in SAME_HOST:
            yield f"redirects to another host ({redirect.get('host')})"


def _http_redirects(props: Props, _: Config) -> Iterable[str]:
    if "actions" in props:  # a listener rule: its redirects stay on HTTPS and on this host
        yield from _redirects(props.get("actions"))
        return
    # An application listener without a protocol serves HTTP (ELB API CreateListener).
    if (props.get("protocol") or "HTTP") == "HTTP":
        actions = listed(props.get("defaultActions"))
        if not actions or any(a.get("type") != "redirect" for a in actions):
            yield "serves plain HTTP instead of redirecting to HTTPS"
    yield from _redirects(props.get("defaultActions"))


def _tls_policy(props: Props, config: Config) -> Iterable[str]:
    # TLS: the network load balancer's TLS listener negotiates with the same ELB policies.
    if (
        props.get("protocol") in ("HTTPS", "TLS")
        and props.get("sslPolicy") not in config["allowedPolicies"]
    ):
        yield f"uses TLS policy {props.get('sslPolicy')!r}, not one of the allowed policies"


def _access_logs(props: Props, _: Config) -> Iterable[str]:
    if not (props.get("accessLogs") or {}).get("enabled"):
        yield "writes no access logs"


def _deletion_protection(props: Props, _: Config) -> Iterable[str]:
    if props.get("enableDeletionProtection") is not True:
        yield "can be deleted by a single mistaken change"


RULES = [
    resource_rule(
        "alb-drop-invalid-headers",
        "Application load balancers drop invalid header fields.",
        types=LB,
        check=_drops_headers,
        fix="Set dropInvalidHeaderFields to true (request smuggling protection).",
    ),
    resource_rule(
        "alb-http-redirects-to-https",
        "HTTP listeners only redirect to HTTPS, and no listener or rule redirects to HTTP or another host.",
        types=(*LISTENER, *LISTENER_RULE),
        check=_http_redirects,
        fix="Give the HTTP listener one redirect action to HTTPS port 443 and serve on an HTTPS listener.",
    ),
    resource_rule(
        "alb-https-tls-policy",
        "HTTPS and TLS listeners use an allowed TLS 1.2+ security policy.",
        types=LISTENER,
        check=_tls_policy,
        fix="Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06 or another allowed policy.",
        schema={
            "allowedPolicies": {
                "type": "array",
                "items": {"type": "string"},
                "default": [
                    "ELBSecurityPolicy-TLS13-1-2-2021-06",
                    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                    "ELBSecurityPolicy-TLS13-1-3-2021-06",
                    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
                ],
                "description": "Security policies HTTPS listeners may use.",
            }
        },
    ),
    resource_rule(
        "alb-access-logs",
        "Load balancers write access logs.",
        types=LB,
        check=_access_logs,
        fix="Enable accessLogs into a private bucket whose policy lets log delivery write.",
    ),
    resource_rule(
        "alb-deletion-protection",
        "Load balancers have deletion protection.",
        types=LB,
        check=_deletion_protection,
        fix="Set enableDeletionProtection to true (in destroyable stacks, lower this rule to advisory).",
    ),
]
