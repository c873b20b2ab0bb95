"""Validating version 0.2 specs: step kinds, routes, loops nothing bounds, and the bounds on every new expression."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from stratum_mcp import Limits
from stratum_mcp.spec import SpecIssue, load_spec, validate_spec

BASE: dict[str, Any] = {
    "version": "0.2",
    "contracts": {
        "Draft": {"text": "string", "score": "number"},
        "Plan": {"tasks": {"type": "array", "items": {"type": "object", "properties": {"id": "string"}}}},
        "Notes": {"notes": {"type": "array", "items": "string"}, "count": "integer"},
    },
    "functions": {
        "write": {"mode": "infer", "intent": "Write.", "input": {"topic": "string"}, "output": "Draft"},
        "plan": {"mode": "infer", "intent": "Plan.", "output": "Plan"},
        "approve": {"mode": "gate", "intent": "Approve the draft.", "timeout": 60},
    },
    "flows": {
        "main": {
            "input": {"topic": "string"},
            "output": "Draft",
            "steps": [
                {"id": "write", "function": "write", "inputs": {"topic": "$.input.topic"}},
                {"id": "review", "function": "approve", "on_revise": "write"},
                {"id": "final", "function": "write", "inputs": {"topic": "$.steps.write.output.text"}},
            ],
        },
    },
}


def issues_after(change: Callable[[dict[str, Any]], None], limits: Limits | None = None) -> list[SpecIssue]:
    spec = copy.deepcopy(BASE)
    change(spec)
    return validate_spec(json.dumps(spec), limits=limits or Limits())


def only(issues: list[SpecIssue]) -> SpecIssue:
    assert len(issues) == 1, [i.to_json() for i in issues]
    return issues[0]


def step(spec: dict[str, Any], index: int, flow: str = "main") -> dict[str, Any]:
    found: dict[str, Any] = spec["flows"][flow]["steps"][index]
    return found


def add_step(spec: dict[str, Any], position: int, new: dict[str, Any]) -> None:
    spec["flows"]["main"]["steps"].insert(position, new)


def test_the_base_spec_is_valid_and_loads_step_kinds_and_routes() -> None:
    spec = load_spec(json.dumps(BASE))
    steps = spec.flows["main"].steps
    assert [(s.id, s.kind) for s in steps] == [("write", "function"), ("review", "gate"), ("final", "function")]
    assert steps[1].routes.on_revise == "write" and spec.flows["main"].max_rounds == 3
    assert spec.functions["approve"].timeout == 60 and spec.version == "0.2"


def test_a_0_1_spec_using_a_0_2_key_is_told_which_version_it_needs() -> None:
    issue = only(issues_after(lambda s: (s.update(version="0.1"), s["functions"].pop("approve"),
                                         s["flows"]["main"]["steps"].pop(1), step(s, 0).update(skip_if="True"))))
    assert (issue.path, issue.code) == ("flows.main.steps[0].skip_if", "unknown_key")
    assert issue.suggestion == '`skip_if` needs version "0.2": set `version: "0.2"`'


def test_a_gate_function_takes_no_contract_ensure_or_retries() -> None:
    issues = issues_after(lambda s: s["functions"]["approve"].update(ensure=["True"], retries=2))
    assert {(i.path, i.code) for i in issues} == {("functions.approve.ensure", "unknown_key"),
                                                  ("functions.approve.retries", "unknown_key")}


def test_a_route_to_an_unknown_step_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: step(s, 1).update(on_revise="wirte")))
    assert (issue.path, issue.code, issue.suggestion) == ("flows.main.steps[1].on_revise", "unknown_step",
                                                          "did you mean `write`?")


def test_on_revise_must_go_back_and_on_approve_forward() -> None:
    forward = only(issues_after(lambda s: step(s, 1).update(on_revise="final")))
    assert (forward.path, forward.code) == ("flows.main.steps[1].on_revise", "bad_route")
    back = only(issues_after(lambda s: step(s, 1).update(on_approve="write")))
    assert (back.path, back.code) == ("flows.main.steps[1].on_approve", "bad_route")


def test_a_loop_that_nothing_bounds_is_rejected() -> None:
    issue = only(issues_after(lambda s: step(s, 2).update(next="write")))
    assert (issue.path, issue.code) == ("flows.main.steps[2].next", "unbounded_cycle")
    assert "max_iterations" in (issue.suggestion or "")
    itself = only(issues_after(lambda s: step(s, 0).update(next="write")))
    assert itself.code == "unbounded_cycle"


def test_loops_that_a_bound_breaks_are_accepted() -> None:
    # on_fail back to an earlier step: bounded by the step's retries and the flow's max_rounds.
    assert issues_after(lambda s: step(s, 2).update(on_fail="write")) == []


def test_a_step_no_route_reaches_is_rejected() -> None:
    def change(s: dict[str, Any]) -> None:
        step(s, 0).update(next="final")
        s["flows"]["main"]["steps"][1] = {"id": "orphan", "function": "write", "inputs": {"topic": "x"}}

    issue = only(issues_after(change))
    assert (issue.path, issue.code) == ("flows.main.steps[1]", "unreachable_step")


def test_a_recovery_step_reached_only_by_on_fail_is_reachable() -> None:
    def change(s: dict[str, Any]) -> None:
        step(s, 0).update(next="final", on_fail="rescue")
        s["flows"]["main"]["steps"][1] = {"id": "rescue", "intent": "Fix it by hand.", "output_contract": "Draft"}

    assert issues_after(change) == []


def test_a_route_may_not_jump_over_the_step_whose_output_is_the_flows() -> None:
    def change(s: dict[str, Any]) -> None:
        s["flows"]["main"]["steps"].append({"id": "sign_off", "function": "approve"})
        step(s, 0).update(next="sign_off")

    issues = issues_after(change)
    assert ("flows.main.steps[0].next", "bad_route") in {(i.path, i.code) for i in issues}


@pytest.mark.parametrize(("index", "key", "value", "reason"), [
    (1, "skip_if", "True", "a gate is decided"),
    (1, "on_fail", "write", "a gate is decided"),
    (1, "max_iterations", 3, "a gate is decided"),
    (0, "on_revise", "write", "only gates"),
    (0, "exit_criterion", "True", "needs `max_iterations`"),
    (0, "source", "$.steps.write.output", "only parallel steps"),
    (0, "retries", 2, "belongs to the function"),
])
def test_a_key_on_a_kind_of_step_it_does_not_apply_to_is_misplaced(index: int, key: str, value: Any,
                                                                    reason: str) -> None:
    issue = only(issues_after(lambda s: step(s, index).update({key: value})))
    assert (issue.path, issue.code) == (f"flows.main.steps[{index}].{key}", "misplaced_key")
    assert reason in issue.message


def test_an_inline_step_with_mode_gate_is_a_gate_of_its_own() -> None:
    def change(s: dict[str, Any]) -> None:
        s["flows"]["main"]["steps"][1] = {"id": "review", "intent": "Approve the draft.", "mode": "gate",
                                          "timeout": 120, "on_revise": "write",
                                          "inputs": {"draft": "$.steps.write.output.text"}}

    spec = copy.deepcopy(BASE)
    change(spec)
    loaded = load_spec(json.dumps(spec))
    review = loaded.flows["main"].steps[1]
    assert review.kind == "gate" and loaded.functions[review.function].timeout == 120
    judged = only(issues_after(lambda s: (change(s), step(s, 1).update(ensure=["True"]))))
    assert (judged.path, judged.code) == ("flows.main.steps[1].ensure", "misplaced_key")
    elsewhere = only(issues_after(lambda s: step(s, 0).update(timeout=5)))
    assert (elsewhere.path, elsewhere.code) == ("flows.main.steps[0].timeout", "misplaced_key")


def test_a_step_is_one_of_function_flow_or_intent() -> None:
    issue = only(issues_after(lambda s: step(s, 0).update(intent="Write inline.")))
    assert (issue.path, issue.code) == ("flows.main.steps[0].intent", "conflicting_keys")
    missing = only(issues_after(lambda s: step(s, 0).pop("function")))
    assert (missing.path, missing.code) == ("flows.main.steps[0].function", "missing_key")


def test_an_inline_step_gets_a_function_of_its_own_and_is_checked_like_one() -> None:
    def change(s: dict[str, Any]) -> None:
        step(s, 2).pop("function")
        step(s, 2).update(intent="Write the final text.", output_contract="Draft", ensure=["result.scor > 0"])

    issue = only(issues_after(change))
    assert (issue.path, issue.code, issue.suggestion) == ("flows.main.steps[2].ensure[0]", "bad_expression",
                                                          "did you mean `score`?")


def test_an_inline_last_step_without_a_contract_cannot_promise_the_flows_output() -> None:
    def change(s: dict[str, Any]) -> None:
        step(s, 2).pop("function")
        step(s, 2).update(intent="Write the final text.")

    issue = only(issues_after(change))
    assert (issue.path, issue.code) == ("flows.main.output", "output_mismatch")
    assert issue.suggestion == "give the inline step `output_contract: Draft`"


def test_a_flow_without_an_output_may_end_in_any_step() -> None:
    def change(s: dict[str, Any]) -> None:
        s["flows"]["main"].pop("output")
        step(s, 2).pop("function")
        step(s, 2).update(intent="Anything.")

    assert issues_after(change) == []


def test_the_step_whose_output_is_the_flows_cannot_have_skip_if() -> None:
    issue = only(issues_after(lambda s: step(s, 2).update(skip_if="input.topic == ''")))
    assert (issue.path, issue.code) == ("flows.main.steps[2].skip_if", "misplaced_key")


def test_skip_if_names_are_checked_against_the_flow() -> None:
    issue = only(issues_after(lambda s: step(s, 0).update(skip_if="input.topik == ''")))
    assert (issue.code, issue.suggestion) == ("bad_expression", "did you mean `topic`?")
    steps = only(issues_after(lambda s: step(s, 0).update(skip_if="steps.wirte.output is None")))
    assert (steps.code, steps.suggestion) == ("bad_expression", "did you mean `write`?")


def test_an_iteration_loop_accumulates_only_an_array_field_of_its_contract() -> None:
    def loop(extra: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        def change(s: dict[str, Any]) -> None:
            s["functions"]["note"] = {"mode": "infer", "intent": "Take notes.", "output": "Notes"}
            add_step(s, 2, {"id": "notes", "function": "note", "max_iterations": 5, **extra})
        return change

    assert issues_after(loop({"accumulate": "notes", "exit_criterion": "new_count == 0"})) == []
    scalar = only(issues_after(loop({"accumulate": "count"})))
    assert (scalar.path, scalar.code) == ("flows.main.steps[2].accumulate", "type_mismatch")
    unknown = only(issues_after(loop({"accumulate": "notez"})))
    assert (unknown.code, unknown.suggestion) == ("unknown_field", "did you mean `notes`?")
    over = only(issues_after(loop({"max_iterations": 50}), limits=Limits(max_iterations=10)))
    assert (over.path, over.code) == ("flows.main.steps[2].max_iterations", "bad_value")


def test_a_sub_flow_step_is_checked_against_the_flow_it_runs() -> None:
    def change(s: dict[str, Any]) -> None:
        s["flows"]["child"] = {"input": {"topic": "string"}, "output": "Draft",
                               "steps": [{"id": "w", "function": "write", "inputs": {"topic": "$.input.topic"}}]}
        step(s, 2).pop("function")
        step(s, 2).update(flow="child", inputs={"topik": "$.steps.write.output.text"})

    codes = {(i.path, i.code) for i in issues_after(change)}
    assert codes == {("flows.main.steps[2].inputs.topik", "unknown_input"), ("flows.main.steps[2].inputs",
                                                                             "missing_input")}


def test_flows_that_run_each_other_in_a_circle_are_rejected() -> None:
    def change(s: dict[str, Any]) -> None:
        s["flows"]["a"] = {"steps": [{"id": "x", "flow": "b"}]}
        s["flows"]["b"] = {"steps": [{"id": "y", "flow": "a"}]}

    assert "cycle" in {i.code for i in issues_after(change)}
    itself = issues_after(lambda s: s["flows"].update(c={"steps": [{"id": "z", "flow": "c"}]}))
    assert ("flows.c.steps[0].flow", "cycle") in {(i.path, i.code) for i in itself}


def test_a_parallel_step_needs_a_list_source_and_a_well_formed_template() -> None:
    def change(s: dict[str, Any]) -> None:
        s["flows"]["main"]["steps"] = [
            {"id": "plan", "function": "plan"},
            {"id": "run", "type": "parallel_dispatch", "source": "$.steps.plan.output.tasks",
             "intent_template": "Do {task.id}", "require": "any"},
            {"id": "final", "function": "write", "inputs": {"topic": "x"}},
        ]

    assert issues_after(change) == []

    def broken(s: dict[str, Any]) -> None:
        change(s)
        step(s, 1).update(source="$.steps.final.output.text", intent_template="Do {task.id} {oops}",
                          isolation="worktree", max_concurrent=16)

    codes = {(i.path, i.code) for i in issues_after(broken, limits=Limits(worktrees_per_run=4))}
    assert codes == {("flows.main.steps[1].source", "type_mismatch"),
                     ("flows.main.steps[1].intent_template", "bad_template"),
                     ("flows.main.steps[1].max_concurrent", "bad_value"),
                     # Reading its tasks from `final` puts the parallel step after it: last, so it would be the
                     # flow's output, which a list of tasks is not.
                     ("flows.main.output", "output_mismatch")}


def test_the_step_a_parallel_step_reads_its_tasks_from_runs_before_it() -> None:
    text = json.dumps({**BASE, "flows": {"main": {"steps": [
        {"id": "run", "type": "parallel_dispatch", "source": "$.steps.plan.output.tasks"},
        {"id": "plan", "function": "plan"},
    ]}}})
    assert [s.id for s in load_spec(text).flows["main"].steps] == ["plan", "run"]


# --- the bounds on expressions apply to every expression field --------------------------------------

EXPRESSION_FIELDS: list[tuple[str, Callable[[dict[str, Any], str], None]]] = [
    ("skip_if", lambda s, e: step(s, 0).update(skip_if=e)),
    ("exit_criterion", lambda s, e: step(s, 0).update(max_iterations=3, exit_criterion=e)),
    ("ensure", lambda s, e: s["functions"]["write"].update(ensure=[e])),
    ("inline ensure", lambda s, e: (step(s, 0).pop("function"), step(s, 0).pop("inputs"),
                                    step(s, 0).update(intent="Write.", output_contract="Draft", ensure=[e]))),
]
HOSTILE = [
    ("10**10**10 > 0", "cannot be computed"),
    ("result.__class__ is None", "not a data field"),
    ("__import__('os')", "is not a function you can call here"),
    ("(lambda: 1)()", "lambda"),
    ("[x for x in [1] for y in [2] for z in [3]]", "nest 3 loops"),
]


@pytest.mark.parametrize(("field", "put"), EXPRESSION_FIELDS, ids=[f for f, _ in EXPRESSION_FIELDS])
@pytest.mark.parametrize(("expression", "why"), HOSTILE, ids=[e for e, _ in HOSTILE])
def test_hostile_expressions_are_rejected_in_every_expression_field(
    field: str, put: Callable[[dict[str, Any], str], None], expression: str, why: str
) -> None:
    if field == "skip_if":
        expression = expression.replace("result.", "input.")
    issue = only(issues_after(lambda s: put(s, expression)))
    assert issue.code == "bad_expression" and why in issue.message, issue.to_json()


@pytest.mark.parametrize(("field", "put"), EXPRESSION_FIELDS, ids=[f for f, _ in EXPRESSION_FIELDS])
def test_expression_size_limits_apply_to_every_expression_field(
    field: str, put: Callable[[dict[str, Any], str], None]
) -> None:
    long = " or ".join(["True"] * 300)  # over 1,000 characters
    issues = issues_after(lambda s: put(s, long))
    assert issues and all(i.code in ("bad_value", "bad_expression") for i in issues)
    assert any("1000" in i.message or "1,000" in i.message for i in issues)
    many = " + ".join(["1"] * 60) + " > 0"  # short, but more parts than a tight limit allows
    issue = only(issues_after(lambda s: put(s, many), limits=Limits(expression_nodes=50)))
    assert issue.code == "bad_expression" and "parts" in issue.message
