"""Trace records: one per call, failures included, in a bounded store."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    Budget,
    BudgetExceeded,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    contract,
    flow,
    infer,
    opaque,
)
from stratum.testing import ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Label(BaseModel):
    label: Literal["a", "b"]
    score: float


@infer(intent="Label it", ensure=lambda r: r.score > 0.5, given=lambda text: text != "", retries=1)
def label(text: str, secret: opaque[str] = "") -> Label: ...


async def test_success_record_carries_every_field(scripted: ScriptedClient) -> None:
    scripted.push({"label": "a", "score": 0.2}, {"label": "a", "score": 0.9})
    await label(text="x", secret="hidden")
    (record,) = stratum.trace.all_records()
    assert record.function == "label" and record.model == "test-model"
    assert record.inputs == {"text": "x", "secret": "hidden"} and record.opaque_inputs == ("secret",)
    assert len(record.compiled_prompt_hash or "") == 12
    assert record.contract_hash == stratum.contract_hash(Label)
    assert record.attempts == 2 and record.output == {"label": "a", "score": 0.9}
    assert record.retry_reasons == ("ensure `r.score > 0.5` failed (actual: score=0.2)",)
    assert record.input_tokens and record.output_tokens and record.duration_ms >= 0
    assert record.cache_hit is False and record.error is None and record.review_id is None
    assert record.started_at.tzinfo is UTC
    json.dumps(record.to_dict())


#: The trace record of the execution-model spec, in its order; ours follow.
SPEC_FIELDS = [
    "function", "model", "input", "compiled_prompt_hash", "contract_hash", "attempts", "output", "duration_ms",
    "cost_usd", "cache_hit",
]  # fmt: skip


async def test_a_records_json_uses_the_specs_field_names_first_then_ours(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push({"label": "a", "score": 0.9})
    await label(text="Great product", secret="hidden")
    (record,) = stratum.trace.all_records()
    data = json.loads(record.to_json())
    assert list(data)[: len(SPEC_FIELDS)] == SPEC_FIELDS and "inputs" not in data
    assert data["input"] == {"text": "Great product", "secret": "hidden"} and data["cost_usd"] > 0
    assert {"opaque_inputs", "retry_reasons", "flow_id", "kind", "started_at", "error"} <= set(data)
    assert data == json.loads(json.dumps(record.to_dict()))


@pytest.mark.parametrize(
    ("responses", "kwargs", "error"),
    [
        ([], {"text": ""}, PreconditionFailed),
        (["nope", "nope"], {"text": "x"}, ParseFailure),
        ([{"label": "a", "score": 0.1}] * 2, {"text": "x"}, PostconditionFailed),
    ],
)
async def test_failures_leave_a_record_with_the_error(
    scripted: ScriptedClient, responses: list[object], kwargs: dict[str, str], error: type[Exception]
) -> None:
    scripted.push(*responses)
    with pytest.raises(error):
        await label(**kwargs)
    (record,) = stratum.trace.all_records()
    assert record.error is not None and record.error.type == error.__name__
    assert record.output is None
    assert record.attempts == len(responses)


async def test_budget_failure_leaves_a_record(scripted: ScriptedClient) -> None:
    scripted.latency_s = 2
    scripted.push({"label": "a", "score": 0.9})

    @flow(budget=Budget(ms=50))
    async def quick() -> None:
        await label(text="x")

    with pytest.raises(BudgetExceeded):
        await quick()
    (record,) = stratum.trace.all_records()
    assert record.error is not None and record.error.type in ("BudgetExceeded", "CancelledError")
    assert record.flow_id is not None


async def test_store_is_bounded_and_drops_the_oldest(scripted: ScriptedClient) -> None:
    stratum.configure(trace_capacity=3)
    scripted.respond = lambda _r: {"label": "a", "score": 0.9}
    for i in range(5):
        await label(text=str(i))
    kept = stratum.trace.all_records()
    assert [r.inputs["text"] for r in kept] == ["2", "3", "4"]
    assert stratum.trace.store().dropped == 2


async def test_records_can_be_filtered_by_function_and_flow(scripted: ScriptedClient) -> None:
    scripted.respond = lambda _r: {"label": "a", "score": 0.9}

    @infer(intent="Other")
    def other(text: str) -> Label: ...

    @flow
    async def both() -> None:
        await label(text="1")
        await other(text="2")

    await both()
    await other(text="3")
    flow_id = stratum.trace.all_records()[0].flow_id
    assert [r.inputs["text"] for r in stratum.trace.records(function="other")] == ["2", "3"]
    assert [r.function.rsplit(".", 1)[-1] for r in stratum.trace.records(flow_id=flow_id)] == ["label", "other"]
    stratum.trace.clear()
    assert stratum.trace.all_records() == []
