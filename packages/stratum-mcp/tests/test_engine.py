"""The pure state machine: dispatch, judging results, retries, budgets and misuse."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratum_mcp.engine import (
    AttemptRejected,
    Context,
    ExecuteStep,
    FlowCompleted,
    FlowRun,
    ResultChecker,
    RunEnded,
    report,
    start,
)
from stratum_mcp.errors import (
    FlowBudgetExceeded,
    FlowFinished,
    InputsInvalid,
    RetriesExhausted,
    StepMismatch,
    UnknownFlowName,
)
from stratum_mcp.spec import Spec, load_spec

FLOW_ID = "00000000-0000-4000-8000-000000000001"
CHECKER = ResultChecker()
GOOD = {
    "classify": {"label": "positive", "confidence": 0.9},
    "extract": {"quotes": ["I love it."]},
    "summarize": {"text": "Liked it.", "label": "positive", "quote_count": 1},
}
TEXT = {"text": "I love it. Shipping was slow."}


def at(now_ms: int) -> Context:
    """What a transition is given: the time (a value, never a clock read) and the checker."""
    return Context(now_ms, CHECKER)


@pytest.fixture
def spec(review_spec: str) -> Spec:
    return load_spec(review_spec)


def begin(spec: Spec, now: int = 0) -> tuple[FlowRun, ExecuteStep]:
    return start(spec, "review", FLOW_ID, dict(TEXT), at(now))


def test_start_dispatches_the_first_step_with_resolved_inputs(spec: Spec) -> None:
    run, first = begin(spec)
    assert (first.step.id, first.step_number, first.total_steps) == ("classify", 1, 3)
    assert first.inputs == TEXT
    assert first.retries_remaining == 2
    assert run.status == "running" and run.steps[0].status == "running"


def test_a_passing_result_dispatches_the_next_step_with_references_resolved(spec: Spec) -> None:
    run, _ = begin(spec)
    run, outcome = report(run, spec, "classify", GOOD["classify"], at(10))
    assert isinstance(outcome, ExecuteStep)
    assert outcome.step.id == "extract"
    assert outcome.inputs == {"text": TEXT["text"], "label": "positive"}


def test_the_last_passing_result_completes_the_flow_with_its_output(spec: Spec) -> None:
    run, _ = begin(spec)
    outcome: Any = None
    for step_id in ("classify", "extract", "summarize"):
        run, outcome = report(run, spec, step_id, GOOD[step_id], at(10))
    assert isinstance(outcome, FlowCompleted)
    assert run.status == "complete" and run.output == GOOD["summarize"]


def test_a_failed_ensure_names_the_expression_and_the_actual_value(spec: Spec) -> None:
    run, _ = begin(spec)
    run, outcome = report(run, spec, "classify", {"label": "positive", "confidence": 0.4}, at(10))
    assert isinstance(outcome, AttemptRejected)
    assert (outcome.status, outcome.retries_remaining, outcome.attempt) == ("ensure_failed", 2, 1)
    (violation,) = outcome.violations
    assert violation.where == "result.confidence > 0.7"
    assert violation.actual == {"result.confidence": 0.4}
    assert run.current_step is not None and run.current_step.step_id == "classify"


def test_a_result_with_the_wrong_shape_lists_every_field_problem(spec: Spec) -> None:
    run, _ = begin(spec)
    _, outcome = report(run, spec, "classify", {"label": "great", "confidence": "high"}, at(10))
    assert isinstance(outcome, AttemptRejected) and outcome.status == "schema_failed"
    assert [(v.where, v.actual) for v in outcome.violations] == [("confidence", "high"), ("label", "great")]


def test_a_missing_field_is_a_schema_violation_naming_the_field(spec: Spec) -> None:
    run, _ = begin(spec)
    _, outcome = report(run, spec, "classify", {"label": "positive"}, at(10))
    assert isinstance(outcome, AttemptRejected)
    assert [(v.kind, v.where, v.message) for v in outcome.violations] == [
        ("schema", "confidence", "required field is missing")
    ]


def test_a_result_that_is_not_an_object_is_a_schema_violation(spec: Spec) -> None:
    run, _ = begin(spec)
    _, outcome = report(run, spec, "classify", "positive", at(10))
    assert isinstance(outcome, AttemptRejected) and outcome.status == "schema_failed"


def test_exhausting_retries_fails_the_run_and_keeps_every_attempt(spec: Spec) -> None:
    run, _ = begin(spec)
    bad = {"label": "positive", "confidence": 0.1}
    for remaining in (2, 1):
        run, outcome = report(run, spec, "classify", bad, at(10))
        assert isinstance(outcome, AttemptRejected) and outcome.retries_remaining == remaining
    run, outcome = report(run, spec, "classify", bad, at(10))
    assert isinstance(outcome, RunEnded) and isinstance(outcome.error, RetriesExhausted)
    assert outcome.error.attempts == 3
    assert run.status == "failed" and run.error is not None and run.error["code"] == "retries_exhausted"
    assert len(run.steps[0].attempts) == 3


def test_a_step_over_its_time_budget_is_a_violation_with_the_measured_time(review_spec: str) -> None:
    spec = load_spec(review_spec.replace("    retries: 2\n", "    retries: 2\n    budget: {ms: 500}\n"))
    run, _ = begin(spec, now=1_000)
    _, outcome = report(run, spec, "classify", GOOD["classify"], at(1_750))
    assert isinstance(outcome, AttemptRejected) and outcome.status == "budget_exceeded"
    (violation,) = outcome.violations
    assert (violation.kind, violation.actual) == ("budget", 750)


def test_a_retry_is_timed_from_the_rejection_not_from_the_first_dispatch(review_spec: str) -> None:
    spec = load_spec(review_spec.replace("    retries: 2\n", "    retries: 2\n    budget: {ms: 500}\n"))
    run, _ = begin(spec, now=0)
    run, _ = report(run, spec, "classify", {"label": "positive", "confidence": 0.1}, at(400))
    run, outcome = report(run, spec, "classify", GOOD["classify"], at(800))
    assert isinstance(outcome, ExecuteStep)
    assert [a.duration_ms for a in run.steps[0].attempts] == [400, 400]


def test_a_flow_over_its_budget_fails_the_run(review_spec: str) -> None:
    spec = load_spec(review_spec.replace("    output: Summary\n    steps:", "    output: Summary\n"
                                         "    budget: {ms: 1000}\n    steps:"))
    run, _ = begin(spec, now=0)
    run, outcome = report(run, spec, "classify", GOOD["classify"], at(1_500))
    assert isinstance(outcome, RunEnded) and isinstance(outcome.error, FlowBudgetExceeded)
    assert (outcome.error.limit_ms, outcome.error.spent_ms) == (1000, 1500)
    assert run.status == "failed"


def test_step_done_with_wrong_step_id_is_a_clear_error(spec: Spec) -> None:
    run, _ = begin(spec)
    with pytest.raises(StepMismatch) as caught:
        report(run, spec, "summarize", GOOD["summarize"], at(10))
    assert (caught.value.expected, caught.value.got) == ("classify", "summarize")
    assert "not been dispatched" in caught.value.reason


def test_reporting_a_step_that_is_already_complete_is_a_clear_error(spec: Spec) -> None:
    run, _ = begin(spec)
    run, _ = report(run, spec, "classify", GOOD["classify"], at(10))
    with pytest.raises(StepMismatch, match="already complete"):
        report(run, spec, "classify", GOOD["classify"], at(10))


def test_reporting_an_unknown_step_suggests_the_closest(spec: Spec) -> None:
    run, _ = begin(spec)
    with pytest.raises(StepMismatch, match="did you mean `classify`"):
        report(run, spec, "clasify", GOOD["classify"], at(10))


def test_reporting_to_a_finished_flow_is_a_clear_error(spec: Spec) -> None:
    run, _ = begin(spec)
    for step_id in ("classify", "extract", "summarize"):
        run, _ = report(run, spec, step_id, GOOD[step_id], at(10))
    with pytest.raises(FlowFinished) as caught:
        report(run, spec, "summarize", GOOD["summarize"], at(10))
    assert caught.value.status == "complete"


def test_inputs_that_do_not_match_the_flow_types_are_rejected(spec: Spec) -> None:
    with pytest.raises(InputsInvalid) as caught:
        start(spec, "review", FLOW_ID, {"text": 42}, at(0))
    assert [(v.where, v.actual) for v in caught.value.violations] == [("text", 42)]
    with pytest.raises(InputsInvalid):
        start(spec, "review", FLOW_ID, {}, at(0))


def test_an_unknown_flow_name_is_rejected_with_a_suggestion(spec: Spec) -> None:
    with pytest.raises(UnknownFlowName) as caught:
        start(spec, "reveiw", FLOW_ID, dict(TEXT), at(0))
    assert caught.value.suggestion == "did you mean `review`?"


def test_an_ensure_that_cannot_be_evaluated_is_a_violation_saying_why() -> None:
    spec = load_spec(json.dumps({
        "version": "0.1",
        "contracts": {"Out": {"note": {"type": "string", "required": False}}},
        "functions": {"f": {"mode": "infer", "intent": "x", "output": "Out", "ensure": ["len(result.note) > 0"]}},
        "flows": {"main": {"output": "Out", "steps": [{"id": "only", "function": "f"}]}},
    }))
    run, _ = start(spec, "main", FLOW_ID, {}, at(0))
    _, outcome = report(run, spec, "only", {}, at(1))
    assert isinstance(outcome, AttemptRejected) and outcome.status == "ensure_failed"
    (violation,) = outcome.violations
    assert violation.message.startswith("could not be evaluated")
    assert "has no field `note`" in violation.message


def test_state_is_immutable_and_each_transition_returns_a_new_run(spec: Spec) -> None:
    run, _ = begin(spec)
    before = json.dumps([s.status for s in run.steps])
    report(run, spec, "classify", GOOD["classify"], at(10))
    assert json.dumps([s.status for s in run.steps]) == before


def test_an_input_the_flow_does_not_declare_is_rejected_with_a_suggestion(spec: Spec) -> None:
    with pytest.raises(InputsInvalid) as caught:
        start(spec, "review", FLOW_ID, {"text": "x", "txt": "y"}, at(0))
    (violation,) = caught.value.violations
    assert (violation.where, violation.message) == ("txt", "unknown field; did you mean `text`?")


def test_with_no_retries_the_first_rejection_ends_the_run(review_spec: str) -> None:
    spec = load_spec(review_spec.replace("    retries: 2\n", "    retries: 0\n"))
    run, first = begin(spec)
    assert first.retries_remaining == 0
    run, outcome = report(run, spec, "classify", {"label": "positive", "confidence": 0.1}, at(10))
    assert isinstance(outcome, RunEnded) and isinstance(outcome.error, RetriesExhausted)
    assert run.status == "failed"
