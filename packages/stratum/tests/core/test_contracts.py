from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from stratum import StratumCompileError, compile_prompt, contract, contract_hash, contract_schema, infer, opaque


@contract
class Inner(BaseModel):
    code: int


@contract
class Rich(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    only: Literal["fixed"]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    name: Annotated[str, Field(min_length=2, max_length=10)]
    note: str | None = None
    tags: list[str]
    inner: Inner
    inners: list[Inner]


def test_contract_schema_is_draft_2020_12_with_constraints() -> None:
    schema = contract_schema(Rich)
    props = schema["properties"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert props["label"]["enum"] == ["positive", "negative", "neutral"]
    assert props["only"]["enum"] == ["fixed"]
    assert (props["confidence"]["minimum"], props["confidence"]["maximum"]) == (0.0, 1.0)
    assert (props["name"]["minLength"], props["name"]["maxLength"]) == (2, 10)
    assert {"type": "null"} in props["note"]["anyOf"]
    assert "note" not in schema["required"]
    assert props["tags"] == {"items": {"type": "string"}, "title": "Tags", "type": "array"}
    assert props["inner"]["$ref"] == "#/$defs/Inner"


def test_contract_hash_is_sha256_prefix_of_canonical_schema_json() -> None:
    canonical = json.dumps(contract_schema(Rich), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert contract_hash(Rich) == hashlib.sha256(canonical.encode()).hexdigest()[:12]


def test_contract_hash_changes_when_the_contract_changes() -> None:
    @contract
    class A(BaseModel):
        x: int

    first = contract_hash(A)

    @contract  # type: ignore[no-redef]
    class A(BaseModel):
        x: int
        y: str

    assert contract_hash(A) != first


def test_plain_annotated_class_becomes_a_pydantic_contract() -> None:
    @contract
    class Plain:
        """A plain class."""

        label: Literal["a", "b"]
        score: Annotated[int, Field(ge=0)] = 0

        def double(self) -> int:
            return self.score * 2

    assert issubclass(Plain, BaseModel)
    value = Plain(label="a", score=3)
    assert value.double() == 6
    assert contract_schema(Plain)["properties"]["score"]["minimum"] == 0
    with pytest.raises(ValueError):
        Plain(label="c")


def test_class_without_annotated_fields_is_a_compile_error() -> None:
    with pytest.raises(StratumCompileError, match="no annotated field"):

        @contract
        class Empty:
            x = 1

    with pytest.raises(StratumCompileError, match="no annotated field"):

        @contract
        class EmptyModel(BaseModel):
            pass


def test_circular_contract_reference_is_a_compile_error() -> None:
    class Node(BaseModel):
        children: list[Node]

    Node.model_rebuild()
    with pytest.raises(StratumCompileError, match="circular") as info:
        contract(Node)
    assert "Node -> Node" in str(info.value)


def test_strict_schema_requires_every_property_and_forbids_extras() -> None:
    strict = contract_schema(Rich, strict=True)
    assert strict["additionalProperties"] is False
    assert set(strict["required"]) == set(strict["properties"])
    assert strict["$defs"]["Inner"]["additionalProperties"] is False
    # Optional stays nullable; unsupported keywords move into the description.
    assert {"type": "null"} in strict["properties"]["note"]["anyOf"]
    assert "minLength" not in strict["properties"]["name"]
    assert "minLength" in strict["properties"]["name"]["description"]
    assert "default" not in json.dumps(strict)


@contract
class Handoff(BaseModel):
    summary: str
    reasoning: opaque[str]


@infer(intent="Continue from the handoff")
def resume(prior: Handoff) -> Handoff: ...


def test_opaque_is_transparent_annotated_metadata() -> None:
    assert Handoff(summary="s", reasoning="r").reasoning == "r"
    ctx = compile_prompt(resume, prior=Handoff(summary="visible", reasoning="hidden reasoning"))
    assert ctx.input_bindings == {"prior": {"summary": "visible"}}
    assert ctx.opaque_inputs == {"prior.reasoning": "hidden reasoning"}


def test_infer_return_annotation_must_be_contract_or_primitive() -> None:
    with pytest.raises(StratumCompileError, match="return annotation"):

        @infer(intent="x")
        def bad(text: str) -> dict: ...  # type: ignore[type-arg]

    @infer(intent="x")
    def ok_list(text: str) -> list[str]: ...

    @infer(intent="x")
    def ok_literal(text: str) -> Literal["yes", "no"]: ...

    assert ok_list.spec.output.wrapped and ok_literal.spec.output.wrapped
