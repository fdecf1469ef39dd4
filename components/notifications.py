"""Notifications: the encrypted SNS topic that alarms, events and the pipeline report to.

Its own small component, built first, so every component that reports (the pipeline's failure
path, later alarms) receives the topic as an input instead of reaching into observability.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    Statement,
    events_key_statement,
    kms_key,
    policy_document,
    service_key_statement,
)
from components.tagging import component_tags

COMPONENT = "notifications"
# Services that publish to the topic (statement Sid -> service). With the AWS-managed SNS key,
# CloudWatch alarm notifications are silently dropped: these services must be allowed to use a
# customer key. RDS event notifications publish as events.rds (Aurora User Guide,
# USER_Events.GrantingPermissions), to the main topic only; its key grant is modelled on
# EventBridge's and unverified (README: Database operations, "Events").
PUBLISHERS = {"CloudwatchPublishes": "cloudwatch", "EventsPublishes": "events"}
RDS_EVENTS = {"RdsEventsPublishes": "events.rds"}


@dataclass(frozen=True, kw_only=True)
class NotificationsArgs:
    """emails: addresses subscribed to the topic (each must confirm once). edge_provider: an
    AWS provider in us-east-1, for the second topic."""

    emails: Sequence[str]
    ctx: StackContext
    edge_provider: aws.Provider | None = None


@dataclass(frozen=True)
class Topic:
    """What a publisher needs: the topic, the key it must be allowed to encrypt with, and what
    it must wait for (`ready`: the topic policy and the key): RDS event subscriptions, EventBridge
    targets and Budgets may check at creation that they can publish."""

    arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    ready: Sequence[pulumi.Resource] = ()


def _subscription_name(email: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


class Notifications(pulumi.ComponentResource):
    """KMS-encrypted SNS topic, its policy and e-mail subscriptions; a second one in us-east-1
    for alarms on metrics that only exist there (CloudFront), when given that region's provider."""

    topic: Topic
    edge_topic: Topic | None

    def __init__(
        self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("platform:notifications:Notifications", name, None, opts)
        self._args = args
        self.topic = self._topic(name, provider=None, publishers={**PUBLISHERS, **RDS_EVENTS})
        # CloudWatch alarms notify topics of their own region only.
        self.edge_topic = (
            self._topic(f"{name}-edge", provider=args.edge_provider, publishers=PUBLISHERS)
            if args.edge_provider
            else None
        )
        self.register_outputs(
            {
                "topicArn": self.topic.arn,
                "keyArn": self.topic.key_arn,
                "edgeTopicArn": self.edge_topic.arn if self.edge_topic else None,
            }
        )

    def _topic(self, name: str, provider: aws.Provider | None, publishers: dict[str, str]) -> Topic:
        ctx, tags = self._args.ctx, component_tags(COMPONENT)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        key = kms_key(
            f"{name}-key",
            ctx=ctx,
            description=f"{name}: alarm and event notifications",
            statements=[
                # CloudWatch alarms: the documented grant, limited to this account (knowledge
                # center "cloudwatch-configure-alarm-sns").
                service_key_statement(ctx, "cloudwatch", "CloudwatchPublishes"),
                # EventBridge rules (failed Batch jobs, findings) and RDS event subscriptions:
                # no source condition, see the helper.
                *(
                    events_key_statement(sid, service)
                    for sid, service in publishers.items()
                    if service != "cloudwatch"
                ),
                _budgets_key_statement(),
            ],
            parent=self,
            tags=tags,
            provider=provider,
        )
        topic = aws.sns.Topic(
            f"{name}-topic",
            kms_master_key_id=key.arn,
            tags=tags,
            opts=child,
        )
        policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=policy_document(_topic_statements(ctx, topic.arn, publishers)),
            opts=child,
        )
        for email in self._args.emails:
            aws.sns.TopicSubscription(
                f"{name}-email-{_subscription_name(email)}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        return Topic(arn=topic.arn, key_arn=key.arn, ready=(policy, key))


def _topic_statements(
    ctx: StackContext, topic_arn: pulumi.Output[str], publishers: dict[str, str]
) -> list[Statement]:
    owner = {
        "Sid": "AccountManages",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.account_root},
        "Action": [
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            "sns:Subscribe",
            "sns:ListSubscriptionsByTopic",
            "sns:Publish",
        ],
        "Resource": topic_arn,
    }
    grants = [
        {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": f"{service}.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
        }
        for sid, service in publishers.items()
    ]
    return [owner, *grants, _budgets_publish(ctx, topic_arn)]


def _budgets_publish(ctx: StackContext, topic_arn: pulumi.Output[str]) -> Statement:
    """AWS Budgets notifications (components/budget.py), as the Cost Management User Guide
    documents the topic policy ("Creating an Amazon SNS topic for budget notifications"): this
    account's budgets only, by source account and budget ARN."""
    return {
        "Sid": "BudgetsPublishes",
        "Effect": "Allow",
        "Principal": {"Service": "budgets.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic_arn,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ctx.account_id},
            "ArnLike": {"aws:SourceArn": ctx.arn("budgets", "*", region="")},
        },
    }


def _budgets_key_statement() -> Statement:
    """Lets AWS Budgets encrypt its notifications with the topic's key (SNS encrypts with the
    publisher's KMS permissions, as for CloudWatch and EventBridge). The Budgets guide documents
    only the topic policy, not this grant nor any source key on Budgets' KMS requests; so no
    source condition, for the reason `events_key_statement` gives: a condition the request lacks
    drops every notification silently. The topic policy is what limits who may publish, and the
    budget also e-mails the alarm addresses directly."""
    return {
        "Sid": "BudgetsPublishes",
        "Effect": "Allow",
        "Principal": {"Service": "budgets.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }
