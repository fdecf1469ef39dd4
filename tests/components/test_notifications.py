"""Notifications: an SNS topic alarms can really deliver through."""

from __future__ import annotations

import json
import re

import pytest

from components.common import StackContext
from components.notifications import Notifications, NotificationsArgs
from components.settings import Settings, SettingsError, parse_settings
from tests.conftest import Offline, stack_run, statements


def build(settings: Settings, ctx: StackContext) -> Notifications:
    return Notifications(
        "alerts", NotificationsArgs(emails=settings.config.observability.alarm_emails, ctx=ctx)
    )


def test_topic_uses_a_customer_key_that_cloudwatch_and_eventbridge_may_use(
    offline: Offline,
) -> None:
    run = offline.component(build, "prod")
    topic = run.one("aws:sns/topic:Topic").inputs
    assert topic["kmsMasterKeyId"] == "arn:aws:kms:eu-west-1:123456789012:key/alerts-key-key-id"
    key_policy = statements(run.one("aws:kms/key:Key").inputs["policy"])
    grants = {s["Principal"].get("Service"): s for s in key_policy if "Service" in s["Principal"]}
    assert set(grants) == {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "events.rds.amazonaws.com",
        "budgets.amazonaws.com",
    }
    for grant in grants.values():
        assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


# AWS documents the CloudWatch grant with a source condition, and EventBridge's grant for an
# encrypted topic without any (SNS Developer Guide, "Enable compatibility between event sources
# from AWS services and encrypted topics"; Amazon Q Developer in chat applications admin guide,
# "The Amazon SNS topic has server-side encryption turned on").
EVENTS_KEY_GRANT = {
    "Sid": "EventsPublishes",
    "Effect": "Allow",
    "Principal": {"Service": "events.amazonaws.com"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
}


def service_grant(policy: str, service: str) -> dict[str, object]:
    [grant] = [
        s for s in statements(policy) if s["Principal"].get("Service") == f"{service}.amazonaws.com"
    ]
    return grant


@pytest.mark.parametrize("key", ["notifications-key", "notifications-edge-key"])
def test_eventbridge_may_use_the_topic_key_without_a_source_condition(key: str) -> None:
    policy = stack_run("prod").one("aws:kms/key:Key", key).inputs["policy"]
    assert service_grant(policy, "events") == EVENTS_KEY_GRANT


@pytest.mark.parametrize("key", ["notifications-key", "notifications-edge-key"])
def test_cloudwatch_keeps_its_source_account_condition_on_the_topic_key(key: str) -> None:
    policy = stack_run("prod").one("aws:kms/key:Key", key).inputs["policy"]
    assert service_grant(policy, "cloudwatch")["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"}
    }


def test_topic_policy_lets_only_those_services_of_this_account_publish(offline: Offline) -> None:
    policy = statements(
        offline.component(build, "prod").one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"]
    )
    services = [s for s in policy if "Service" in s["Principal"]]
    assert sorted(s["Principal"]["Service"] for s in services) == [
        "budgets.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "events.rds.amazonaws.com",
    ]
    assert all(
        s["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012" for s in services
    )
    others = [s for s in policy if "Service" not in s["Principal"]]
    assert [s["Principal"] for s in others] == [{"AWS": "arn:aws:iam::123456789012:root"}]


# RDS event notifications: the topic policy grant with aws:SourceAccount is AWS's own example
# (Aurora User Guide, USER_Events.GrantingPermissions); the key grant carries no source condition,
# like EventBridge's (SNS Developer Guide, "Enable compatibility between event sources from AWS
# services and encrypted topics").
def test_rds_events_may_use_the_topic_key_without_a_source_condition() -> None:
    policy = stack_run("prod").one("aws:kms/key:Key", "notifications-key").inputs["policy"]
    assert service_grant(policy, "events.rds") == {
        **EVENTS_KEY_GRANT,
        "Sid": "RdsEventsPublishes",
        "Principal": {"Service": "events.rds.amazonaws.com"},
    }


def test_rds_events_reach_only_the_main_topic() -> None:
    run = stack_run("prod")
    edge_key = run.one("aws:kms/key:Key", "notifications-edge-key").inputs["policy"]
    edge_topic = run.one("aws:sns/topicPolicy:TopicPolicy", "notifications-edge-topic-policy")
    for policy in (edge_key, edge_topic.inputs["policy"]):
        assert "events.rds.amazonaws.com" not in policy


def test_budgets_publish_only_for_this_accounts_budgets(offline: Offline) -> None:
    # The topic policy AWS documents for budget notifications (Cost Management User Guide,
    # "Creating an Amazon SNS topic for budget notifications").
    run = offline.component(build, "prod")
    policy = run.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"]
    assert service_grant(policy, "budgets")["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:budgets::123456789012:*"},
    }
    key_grant = service_grant(run.one("aws:kms/key:Key").inputs["policy"], "budgets")
    assert key_grant["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "Condition" not in key_grant


@pytest.mark.parametrize("stack, emails", [("dev", []), ("prod", ["platform-alerts@example.com"])])
def test_email_subscriptions_follow_the_stack(stack: str, emails: list[str]) -> None:
    run = stack_run(stack)
    subscriptions = run.of_type("aws:sns/topicSubscription:TopicSubscription")
    # Each address subscribes to the main topic and to the us-east-1 one (CloudFront alarms).
    for topic in ("notifications-email", "notifications-edge-email"):
        of_topic = [s for s in subscriptions if f"-{topic}-" in s.name]
        assert sorted(s.inputs["endpoint"] for s in of_topic) == emails
    assert len(subscriptions) == 2 * len(emails)
    assert all(s.inputs["protocol"] == "email" for s in subscriptions)


def test_edge_topic_lives_in_us_east_1_with_its_own_key() -> None:
    run = stack_run("prod")
    edge_provider = run.one("pulumi:providers:aws", "aws-us-east-1")
    assert edge_provider.inputs["region"] == "us-east-1"
    for type_, name in (
        ("aws:sns/topic:Topic", "notifications-edge-topic"),
        ("aws:kms/key:Key", "notifications-edge-key"),
        ("aws:sns/topicPolicy:TopicPolicy", "notifications-edge-topic-policy"),
    ):
        resource = run.one(type_, name)
        assert resource.provider is not None
        assert resource.provider.startswith(edge_provider.urn), name
    key_policy = statements(run.one("aws:kms/key:Key", "notifications-edge-key").inputs["policy"])
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com"} <= {
        s["Principal"].get("Service") for s in key_policy
    }


def test_no_edge_topic_without_a_static_site() -> None:
    # The run test_static_site.py's test of a stack without a site reads too.
    run = stack_run("dev", overrides={"platform:staticSite": json.dumps({"enabled": False})})
    assert [t.name for t in run.of_type("aws:sns/topic:Topic")] == [
        "platform-dev-notifications-topic"
    ]


def test_invalid_email_is_reported() -> None:
    with pytest.raises(SettingsError, match=re.escape("not e-mail addresses: ops-at-example.com")):
        parse_settings(
            project="platform",
            stack="prod",
            region="eu-west-1",
            raw={"observability": {"alarmEmails": ["ops-at-example.com"]}},
        )


# --- publishers wait for the topic's policy and key ------------------------------------------------

# RDS event subscriptions, EventBridge targets and Budgets may check at creation that they can
# publish (and encrypt): each waits for the topic policy and the key, not only for the topic.
PUBLISHER_TYPES = (
    "aws:rds/eventSubscription:EventSubscription",
    "aws:cloudwatch/eventTarget:EventTarget",
    "aws:budgets/budget:Budget",
)


def _publishes_to(inputs: dict[str, object], topic: str) -> bool:
    notification = inputs.get("notifications")
    if isinstance(notification, list):
        return any(topic in str(n) for n in notification)
    return inputs.get("snsTopic") == topic or inputs.get("arn") == topic


def test_every_publisher_waits_for_the_topic_policy_and_the_key() -> None:
    run = stack_run("prod")
    topic = run.one("aws:sns/topic:Topic", "notifications-topic")
    arn = run.outputs["alarmTopicArn"]
    ready = {
        run.one("aws:sns/topicPolicy:TopicPolicy", "notifications-topic-policy").urn,
        run.one("aws:kms/key:Key", "notifications-key").urn,
    }
    publishers = [
        r for type_ in PUBLISHER_TYPES for r in run.of_type(type_) if _publishes_to(r.inputs, arn)
    ]
    assert topic.urn and {r.type for r in publishers} == set(PUBLISHER_TYPES)
    late = [r.urn for r in publishers if not ready <= set(r.dependencies)]
    assert late == []
