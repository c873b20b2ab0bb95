"""Spec validation: every kind of error, each with a path and, where it helps, a suggestion."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratum_mcp.errors import SpecInvalid
from stratum_mcp.spec import SpecIssue, load_spec, validate_spec

BASE: dict[str, Any] = {
    "version": "0.1",
    "contracts": {
        "Sentiment": {"label": {"type": "string", "enum": ["pos", "neg"]}, "confidence": "number"},
        "Summary": {"text": "string", "count": "integer"},
    },
    "functions": {
        "classify": {
            "mode": "infer",
            "intent": "Classify",
            "input": {"text": "string"},
            "output": "Sentiment",
            "ensure": ["result.confidence > 0.7"],
        },
        "summarize": {
            "mode": "compute",
            "intent": "Summarize",
            "input": {"text": "string", "label": "string", "limit": {"type": "integer", "required": False}},
            "output": "Summary",
        },
    },
    "flows": {
        "run": {
            "input": {"text": "string"},
            "output": "Summary",
            "steps": [
                {"id": "classify", "function": "classify", "inputs": {"text": "$.input.text"}},
                {
                    "id": "summarize",
                    "function": "summarize",
                    "inputs": {"text": "$.input.text", "label": "$.steps.classify.output.label"},
                },
            ],
        }
    },
}


def issues_after(change: Callable[[dict[str, Any]], None]) -> list[SpecIssue]:
    spec = copy.deepcopy(BASE)
    change(spec)
    return validate_spec(json.dumps(spec))


def only(issues: list[SpecIssue]) -> SpecIssue:
    assert len(issues) == 1, [i.to_json() for i in issues]
    return issues[0]


def step(spec: dict[str, Any], index: int) -> dict[str, Any]:
    result: dict[str, Any] = spec["flows"]["run"]["steps"][index]
    return result


def test_the_base_spec_is_valid() -> None:
    assert validate_spec(json.dumps(BASE)) == []


def test_a_valid_spec_loads_into_typed_steps_in_run_order() -> None:
    spec = load_spec(json.dumps(BASE))
    assert [s.id for s in spec.flows["run"].steps] == ["classify", "summarize"]
    assert spec.functions["classify"].retries == 3
    assert spec.functions["classify"].ensure[0].source == "result.confidence > 0.7"


def test_an_unknown_key_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: step(s, 0).update(fucntion="x")))
    assert (issue.path, issue.code) == ("flows.run.steps[0].fucntion", "unknown_key")
    assert issue.suggestion == "did you mean `function`?"


def test_a_missing_required_key_is_reported_at_its_path() -> None:
    issue = only(issues_after(lambda s: s["functions"]["classify"].pop("intent")))
    assert (issue.path, issue.code) == ("functions.classify.intent", "missing_key")


def test_a_value_of_the_wrong_type_is_reported() -> None:
    issue = only(issues_after(lambda s: s["functions"]["classify"].update(retries="three")))
    assert (issue.path, issue.code) == ("functions.classify.retries", "wrong_type")


def test_a_value_outside_its_choices_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: s["functions"]["classify"].update(mode="infr")))
    assert (issue.path, issue.code, issue.suggestion) == ("functions.classify.mode", "bad_value",
                                                          "did you mean `infer`?")


def test_a_misspelt_field_type_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: s["contracts"]["Summary"].update(text="strng")))
    assert (issue.path, issue.code, issue.suggestion) == ("contracts.Summary.text", "bad_value",
                                                          "did you mean `string`?")


def test_an_unsupported_version_is_reported() -> None:
    issue = only(issues_after(lambda s: s.update(version="0.9")))
    assert (issue.path, issue.code, issue.suggestion) == ("version", "unsupported_version", 'set `version: "0.2"`')


def test_an_invalid_name_is_reported_at_the_name() -> None:
    issue = only(issues_after(lambda s: s["contracts"].update({"1bad": {"x": "string"}})))
    assert (issue.path, issue.code) == ("contracts.1bad", "bad_name")


def test_an_unknown_function_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: step(s, 0).update(function="clasify")))
    assert (issue.path, issue.code, issue.suggestion) == ("flows.run.steps[0].function", "unknown_function",
                                                          "did you mean `classify`?")


def test_an_unknown_output_contract_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: s["functions"]["classify"].update(output="Sentimnt")))
    assert (issue.path, issue.code, issue.suggestion) == ("functions.classify.output", "unknown_contract",
                                                          "did you mean `Sentiment`?")


def test_an_unknown_flow_output_contract_is_reported() -> None:
    issue = only(issues_after(lambda s: s["flows"]["run"].update(output="Nope")))
    assert (issue.path, issue.code) == ("flows.run.output", "unknown_contract")


def test_a_flow_output_that_the_last_step_does_not_produce_is_reported() -> None:
    issue = only(issues_after(lambda s: s["flows"]["run"].update(output="Sentiment")))
    assert (issue.path, issue.code) == ("flows.run.output", "output_mismatch")


def test_duplicate_step_ids_are_reported() -> None:
    def change(s: dict[str, Any]) -> None:
        step(s, 1)["id"] = "classify"
        step(s, 1)["inputs"]["label"] = "fixed"

    issue = only(issues_after(change))
    assert (issue.path, issue.code) == ("flows.run.steps[1].id", "duplicate_id")


def test_an_input_the_function_does_not_take_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: step(s, 0)["inputs"].update(txt="$.input.text")))
    assert (issue.path, issue.code, issue.suggestion) == ("flows.run.steps[0].inputs.txt", "unknown_input",
                                                          "did you mean `text`?")


def test_a_required_input_left_out_is_reported_and_optional_ones_are_not() -> None:
    issue = only(issues_after(lambda s: step(s, 1)["inputs"].pop("label")))
    assert (issue.path, issue.code) == ("flows.run.steps[1].inputs", "missing_input")
    assert "`label`" in issue.message


def test_a_reference_to_an_unknown_step_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: step(s, 1)["inputs"].update(label="$.steps.clasify.output.label")))
    assert (issue.path, issue.code, issue.suggestion) == ("flows.run.steps[1].inputs.label", "unknown_step",
                                                          "did you mean `classify`?")


def test_a_step_referencing_itself_is_not_upstream() -> None:
    issue = only(issues_after(lambda s: step(s, 0)["inputs"].update(text="$.steps.classify.output.label")))
    assert (issue.path, issue.code) == ("flows.run.steps[0].inputs.text", "not_upstream")


def test_depends_on_an_unknown_step_is_reported() -> None:
    issue = only(issues_after(lambda s: step(s, 1).update(depends_on=["clasify"])))
    assert (issue.path, issue.code) == ("flows.run.steps[1].depends_on[0]", "unknown_step")


def test_a_cycle_is_reported_with_its_steps() -> None:
    issue = only(issues_after(lambda s: step(s, 0).update(depends_on=["summarize"])))
    assert (issue.path, issue.code) == ("flows.run.steps", "cycle")
    assert "classify -> summarize -> classify" in issue.message or "summarize -> classify -> summarize" in issue.message


def test_a_reference_to_an_unknown_field_of_a_step_output_is_reported_with_a_suggestion() -> None:
    issue = only(issues_after(lambda s: step(s, 1)["inputs"].update(label="$.steps.classify.output.lable")))
    assert (issue.code, issue.suggestion) == ("unknown_field", "did you mean `label`?")


def test_a_reference_to_an_unknown_flow_input_is_reported() -> None:
    issue = only(issues_after(lambda s: step(s, 0)["inputs"].update(text="$.input.txt")))
    assert (issue.path, issue.code, issue.suggestion) == ("flows.run.steps[0].inputs.text", "unknown_field",
                                                          "did you mean `text`?")


def test_a_malformed_reference_is_reported() -> None:
    issue = only(issues_after(lambda s: step(s, 0)["inputs"].update(text="$.inputs.text")))
    assert (issue.path, issue.code) == ("flows.run.steps[0].inputs.text", "bad_reference")


def test_a_reference_of_the_wrong_type_is_reported() -> None:
    issue = only(issues_after(lambda s: step(s, 1)["inputs"].update(label="$.steps.classify.output.confidence")))
    assert (issue.code, issue.path) == ("type_mismatch", "flows.run.steps[1].inputs.label")


def test_a_literal_of_the_wrong_type_is_reported() -> None:
    issue = only(issues_after(lambda s: step(s, 1)["inputs"].update(limit="ten")))
    assert (issue.code, issue.path) == ("type_mismatch", "flows.run.steps[1].inputs.limit")


def test_an_expression_with_a_syntax_error_is_a_validation_error() -> None:
    issue = only(issues_after(lambda s: s["functions"]["classify"].update(ensure=["result.confidence >"])))
    assert (issue.path, issue.code) == ("functions.classify.ensure[0]", "bad_expression")


def test_a_forbidden_construct_in_an_expression_is_a_validation_error() -> None:
    issue = only(issues_after(lambda s: s["functions"]["classify"].update(ensure=["__import__('os')"])))
    assert issue.code == "bad_expression"


def test_an_expression_reading_an_unknown_result_field_gets_a_suggestion() -> None:
    issue = only(issues_after(lambda s: s["functions"]["classify"].update(ensure=["result.confidance > 0.5"])))
    assert (issue.code, issue.suggestion) == ("bad_expression", "did you mean `confidence`?")


def test_enum_values_must_match_the_field_type() -> None:
    issue = only(issues_after(lambda s: s["contracts"]["Summary"].update(count={"type": "integer", "enum": ["a"]})))
    assert (issue.path, issue.code) == ("contracts.Summary.count.enum[0]", "enum_type")


def test_min_above_max_is_reported() -> None:
    issue = only(issues_after(lambda s: s["contracts"]["Summary"].update(count={"type": "integer", "min": 5,
                                                                                 "max": 1})))
    assert (issue.path, issue.code) == ("contracts.Summary.count", "bad_bounds")


def test_items_on_a_non_array_field_is_reported() -> None:
    issue = only(issues_after(lambda s: s["contracts"]["Summary"].update(text={"type": "string",
                                                                                "items": "string"})))
    assert (issue.path, issue.code) == ("contracts.Summary.text.items", "misplaced_key")


def test_all_errors_are_reported_at_once_not_just_the_first() -> None:
    def change(s: dict[str, Any]) -> None:
        step(s, 0).update(function="clasify")
        step(s, 1)["inputs"].update(label="$.steps.nope.output")
        s["functions"]["classify"].update(mode="guess", ensure=["lambda: 1"])
        s["flows"]["run"]["stepz"] = []

    codes = sorted(i.code for i in issues_after(change))
    assert codes == ["bad_expression", "bad_value", "unknown_function", "unknown_key", "unknown_step"]


def test_every_issue_raised_by_load_spec_is_on_the_exception() -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec(json.dumps({"version": "0.1"}))
    assert {i.path for i in caught.value.issues} == {"contracts", "functions", "flows"}


def test_the_example_specs_shipped_with_the_tests_are_valid(specs: Path) -> None:
    for path in specs.glob("*.stratum.yaml"):
        assert validate_spec(path.read_text()) == [], path.name


def test_a_pathological_number_of_errors_is_reported_up_to_a_bound() -> None:
    def change(s: dict[str, Any]) -> None:
        s["flows"]["run"]["steps"] = [{"id": f"s{i}", "function": f"nope{i}"} for i in range(100)] * 3

    issues = issues_after(change)
    assert len(issues) == 201
    assert issues[-1].code == "too_many_errors"


def test_contracts_expressions_and_specs_name_json_types_with_the_same_words() -> None:
    from stratum_mcp.engine import ResultChecker
    from stratum_mcp.errors import EvaluationError
    from stratum_mcp.expressions import compile_expression, evaluate
    from stratum_mcp.spec import Contract, FieldType

    contract = Contract("Out", (("items", FieldType("array")), ("n", FieldType("integer"))))
    (items, n) = ResultChecker().contract_violations(contract, {"items": {"a": 1}, "n": 1.5})
    assert (items.message, n.message) == ("expected array, got object", "expected integer, got number")
    with pytest.raises(EvaluationError) as caught:
        evaluate(compile_expression("result.items.a", {"result": None}), {"result": {"items": [1]}})
    assert str(caught.value) == "cannot read field `a` of array `result.items`"
    with pytest.raises(EvaluationError) as caught:
        evaluate(compile_expression("len(result.n) > 0", {"result": None}), {"result": {"n": True}})
    assert str(caught.value) == "len() needs an array, string or object, not boolean"
    issues = validate_spec(json.dumps({"version": "0.1", "contracts": [], "functions": {}, "flows": {}}))
    assert [i.message for i in issues if i.path == "contracts"] == ["expected object, got array"]
