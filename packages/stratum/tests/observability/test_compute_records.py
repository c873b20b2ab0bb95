"""Every @compute step inside a flow leaves a trace record, queryable like an @infer call's."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import compute, contract, flow, infer
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Route(BaseModel):
    team: Literal["billing", "tech"]


@infer(intent="Route the ticket")
def route(text: str) -> Route: ...


@compute
def normalise(text: str, *, lower: bool = True) -> str:
    return text.strip().lower() if lower else text.strip()


@compute
async def escalate(route: Route) -> bool:
    if route.team == "tech":
        raise ValueError("no tech on call")
    return True


@flow
async def triage(text: str) -> bool:
    clean = normalise(text)
    return await escalate(await route(text=clean))


async def test_a_compute_step_in_a_flow_leaves_a_record_with_its_inputs_output_and_duration(
    via_litellm: LocalOpenAIServer,
) -> None:
    via_litellm.push({"team": "billing"})
    assert await triage("  REFUND please ") is True
    normalised, routed, escalated = stratum.trace.all_records()
    assert [r.kind for r in (normalised, routed, escalated)] == ["compute", "infer", "compute"]
    assert normalised.function.endswith("normalise") and normalised.inputs == {
        "text": "  REFUND please ",
        "lower": True,
    }
    assert normalised.output == "refund please" and normalised.error is None and normalised.duration_ms >= 0
    assert escalated.inputs == {"route": {"team": "billing"}} and escalated.output is True
    assert normalised.flow_id == routed.flow_id == escalated.flow_id is not None
    assert normalised.model is None and normalised.attempts == 0 and normalised.cost_usd is None


async def test_a_failing_compute_step_records_its_error_and_still_raises(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push({"team": "tech"})
    with pytest.raises(ValueError):
        await triage("server down")
    failed = stratum.trace.all_records()[-1]
    assert failed.kind == "compute" and failed.function.endswith("escalate")
    assert failed.error is not None and failed.error.type == "ValueError" and failed.output is None


async def test_compute_records_are_queried_like_infer_records(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push({"team": "billing"})
    await triage("refund")
    flow_id = stratum.trace.all_records()[0].flow_id
    assert [r.kind for r in stratum.trace.records(function="normalise", flow_id=flow_id)] == ["compute"]
    assert [r.function.rsplit(".", 1)[-1] for r in stratum.trace.records(kind="compute")] == ["normalise", "escalate"]
    assert len(stratum.trace.records(kind="infer")) == 1


def test_a_compute_call_outside_any_flow_is_a_plain_call_and_leaves_no_record() -> None:
    assert normalise(" X ") == "x"
    assert stratum.trace.all_records() == []
