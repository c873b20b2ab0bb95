"""References between steps, and the order steps run in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratum_mcp.spec import (
    Literal,
    Reference,
    ReferenceSyntaxError,
    binding_from,
    load_spec,
    parse_reference,
    resolve_reference,
)


@pytest.mark.parametrize(
    ("text", "step", "path"),
    [
        ("$.input", None, ()),
        ("$.input.text", None, ("text",)),
        ("$.steps.a.output", "a", ()),
        ("$.steps.a.output.items[0].name", "a", ("items", 0, "name")),
        ("$.steps.step-2.output[-1]", "step-2", (-1,)),
    ],
)
def test_references_parse_into_a_step_and_a_path(text: str, step: str | None, path: tuple[Any, ...]) -> None:
    ref = parse_reference(text)
    assert (ref.step, ref.path) == (step, path)


@pytest.mark.parametrize("text", ["$.inputs.x", "$.steps.a", "$.steps.a.result", "$.input.x[a]", "$.input..x", "$"])
def test_malformed_references_explain_what_is_expected(text: str) -> None:
    with pytest.raises(ReferenceSyntaxError):
        parse_reference(text)


def test_plain_strings_and_other_values_are_literals_and_a_double_dollar_escapes() -> None:
    assert binding_from("hello") == Literal("hello")
    assert binding_from(3) == Literal(3)
    assert binding_from("$$.input.x") == Literal("$.input.x")
    assert isinstance(binding_from("$.input.x"), Reference)


def test_resolution_walks_fields_and_indexes() -> None:
    outputs = {"a": {"items": [{"name": "x"}, {"name": "y"}]}}
    assert resolve_reference(parse_reference("$.steps.a.output.items[-1].name"), {}, outputs) == "y"
    assert resolve_reference(parse_reference("$.input.text"), {"text": "t"}, {}) == "t"
    assert resolve_reference(parse_reference("$.input"), {"text": "t"}, {}) == {"text": "t"}


def test_a_path_that_leads_nowhere_resolves_to_null() -> None:
    outputs = {"a": {"items": []}}
    assert resolve_reference(parse_reference("$.steps.a.output.items[3]"), {}, outputs) is None
    assert resolve_reference(parse_reference("$.steps.a.output.missing.deeper"), {}, outputs) is None


def spec_with_steps(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "0.1",
        "contracts": {"Out": {"v": "string"}},
        "functions": {"f": {"mode": "compute", "intent": "do", "input": {"x": {"type": "string", "required": False}},
                            "output": "Out"}},
        "flows": {"main": {"output": "Out", "steps": steps}},
    }


def order_of(steps: list[dict[str, Any]]) -> list[str]:
    spec = load_spec(json.dumps(spec_with_steps(steps)))
    return [s.id for s in spec.flows["main"].steps]


def test_steps_without_dependencies_keep_their_written_order() -> None:
    steps = [{"id": n, "function": "f"} for n in ("c", "a", "b")]
    assert order_of(steps) == ["c", "a", "b"]


def test_a_reference_to_a_later_written_step_runs_that_step_first() -> None:
    steps = [
        {"id": "report", "function": "f", "inputs": {"x": "$.steps.gather.output.v"}},
        {"id": "gather", "function": "f"},
    ]
    assert order_of(steps) == ["gather", "report"]


def test_depends_on_orders_steps_without_a_data_reference() -> None:
    steps = [{"id": "b", "function": "f", "depends_on": ["a"]}, {"id": "a", "function": "f"}]
    assert order_of(steps) == ["a", "b"]


def test_a_diamond_runs_each_step_after_all_of_its_dependencies() -> None:
    steps = [
        {"id": "join", "function": "f", "depends_on": ["left", "right"]},
        {"id": "right", "function": "f", "depends_on": ["root"]},
        {"id": "left", "function": "f", "depends_on": ["root"]},
        {"id": "root", "function": "f"},
    ]
    assert order_of(steps) == ["root", "right", "left", "join"]
