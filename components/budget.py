"""Budget: the stack's monthly AWS Budget on the costs its tags mark, alerting the alarm topic.

Every stack gets one (on by `budget.monthlyLimit`), whether or not it owns the account baseline:
the limit is per stack, the tags tell its costs from the other stacks' in a shared account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import StackContext
from components.notifications import Topic
from components.settings import BudgetSettings
from components.tagging import component_tags

COMPONENT = "budget"
# The default tag that names the stack (components/tagging.py `default_tags`).
STACK_TAG = "Environment"


@dataclass(frozen=True, kw_only=True)
class BudgetArgs:
    """settings: the limit (must be set) and thresholds. topic: where notifications go. emails:
    also notified directly, so an alert arrives even if delivery through the topic fails. The
    budget waits for the topic's `ready` (its policy and key: Budgets may check at creation that it
    can publish)."""

    settings: BudgetSettings
    ctx: StackContext
    topic: Topic
    emails: Sequence[str] = ()


def tag_filter(key: str, value: str) -> str:
    """A Budgets cost filter on a cost allocation tag: `user:<key>$<value>` (the TagKeyValue
    syntax of the Budgets API CostFilters, as the pulumi-aws `aws.budgets.Budget` docs show it:
    "user:business-unit$human_resources"). The tag must be activated as a cost allocation tag
    once in the Billing console, or the budget sees no costs."""
    return f"user:{key}${value}"


def _notification(kind: str, percent: int, args: BudgetArgs) -> aws.budgets.BudgetNotificationArgs:
    return aws.budgets.BudgetNotificationArgs(
        notification_type=kind,
        comparison_operator="GREATER_THAN",
        threshold=percent,
        threshold_type="PERCENTAGE",
        subscriber_sns_topic_arns=[args.topic.arn],
        subscriber_email_addresses=list(args.emails) or None,
    )


class Budget(pulumi.ComponentResource):
    """A monthly COST budget over the resources tagged with this stack's Environment, notifying at
    `actualPercent` of actual and `forecastPercent` of forecast spend."""

    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:budget:Budget", name, None, opts)
        limit = args.settings.monthly_limit
        if limit is None:
            raise ValueError(f"{name}: budget.monthlyLimit is not set")
        budget = aws.budgets.Budget(
            name,
            name=name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{limit:.2f}",
            limit_unit="USD",
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(
                    name="TagKeyValue", values=[tag_filter(STACK_TAG, args.ctx.stack)]
                )
            ],
            notifications=[
                _notification("ACTUAL", args.settings.actual_percent, args),
                _notification("FORECASTED", args.settings.forecast_percent, args),
            ],
            tags=component_tags(COMPONENT),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.topic.ready)),
        )
        self.budget_name = budget.name
        self.register_outputs({"budgetName": self.budget_name})
