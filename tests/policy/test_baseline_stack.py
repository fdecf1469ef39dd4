"""The stack rule of policy/rules/baseline.py: a budget of type COST, through the analyzer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pulumi.runtime.proto.analyzer_pb2 import AnalyzerResource

from tests.conftest import stack_run
from tooling.policy_eval import Analyzer, analyzer_resource, evaluate

BUDGET = "aws:budgets/budget:Budget"


def found(*resources: AnalyzerResource) -> list[str]:
    analyzer = Analyzer({"all": "disabled", "budget-present": "mandatory"})
    return [v.message for v in analyzer.stack(list(resources))]


def test_a_cost_budget_satisfies_the_stack() -> None:
    assert found(analyzer_resource(BUDGET, "urn:b", "b", {"budgetType": "COST"})) == []


@pytest.mark.parametrize("budgets", [[], [{"budgetType": "USAGE"}]])
def test_a_stack_without_a_cost_budget_fails(budgets: list[dict[str, str]]) -> None:
    resources = [analyzer_resource(BUDGET, f"urn:b{i}", "b", p) for i, p in enumerate(budgets)]
    assert found(*resources) == [
        "The stack has no AWS Budget of type COST. Add an aws.budgets.Budget (budgetType COST) "
        "that notifies the team; in this program, set budget.monthlyLimit in the stack file "
        "(`make plan` prints the suggested limit)."
    ]


def test_a_protected_stack_without_its_limit_is_refused_by_the_pack() -> None:
    run = stack_run("staging")
    without = [r for r in run.resources if r.type not in (BUDGET, "platform:budget:Budget")]
    assert len(without) == len(run.resources) - 2
    verdicts = evaluate(
        replace(run, resources=without), {"all": "disabled", "budget-present": "mandatory"}
    )
    assert [v.policy for v in verdicts] == ["budget-present"]
