"""A review leaves its id in the trace: its own record, and the flow's calls that follow it."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import HITLTimeoutError, HumanReviewContext, await_human, contract, flow, infer
from stratum.testing import AwaitableQueueSink, ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Draft(BaseModel):
    reply: str


@infer(intent="Draft a reply to the customer")
def draft_reply(ticket: str) -> Draft: ...


@infer(intent="Polish the approved reply")
def polish(reply: str) -> Draft: ...


@flow
async def answer_ticket(ticket: str) -> str:
    draft = await draft_reply(ticket=ticket)
    decision = await await_human(
        HumanReviewContext("Send this reply?", artifacts={"draft": draft}),
        Literal["approve", "reject"],
        options=["approve", "reject"],
        timeout=5,
    )
    if decision.value == "reject":
        return "escalated"
    return (await polish(reply=draft.reply)).reply


async def test_a_flows_trace_records_carry_the_id_of_its_review_through_litellm(
    via_litellm: LocalOpenAIServer,
) -> None:
    via_litellm.push({"reply": "Sorry for the delay."}, {"reply": "We are sorry for the delay."})
    sink = AwaitableQueueSink()
    stratum.configure(review_sink=sink)

    running = asyncio.create_task(answer_ticket(ticket="Where is my parcel?"))
    review = await sink.next_review(within_s=30)  # the first call imports LiteLLM: seconds on a busy machine
    assert review.to_dict()["artifacts"] == {"draft": {"reply": "Sorry for the delay."}}
    await sink.resolve(review.review_id, "approve", reviewer="ana")
    assert await asyncio.wait_for(running, 10) == "We are sorry for the delay."

    records = stratum.trace.all_records()
    assert [r.function.rsplit(".", 1)[-1] for r in records] == ["draft_reply", "await_human", "polish"]
    drafted, reviewed, polished = records
    assert len({r.flow_id for r in records}) == 1 and drafted.flow_id is not None
    assert drafted.review_id is None  # it ran before anyone was asked
    assert reviewed.review_id == review.review_id
    assert polished.review_id == review.review_id  # it ran under the reviewer's decision
    assert reviewed.output["value"] == "approve" and reviewed.output["reviewer"] == "ana"
    assert reviewed.inputs["question"] == "Send this reply?"
    assert reviewed.extra["review_state"] == "resolved"
    assert reviewed.ok and reviewed.cost_usd is None and reviewed.model is None
    assert len(via_litellm.requests) == 2


async def test_a_timed_out_review_leaves_a_failed_record_with_its_id(scripted: ScriptedClient) -> None:
    scripted.push({"reply": "Hi"})
    stratum.configure(review_sink=AwaitableQueueSink())

    @flow
    async def impatient() -> None:
        await draft_reply(ticket="x")
        await await_human("Send?", bool, timeout=0.05)

    with pytest.raises(HITLTimeoutError) as info:
        await impatient()
    record = stratum.trace.records(function="await_human")[0]
    assert record.review_id == info.value.review_id
    assert record.error is not None and record.error.type == "HITLTimeoutError"
    assert record.extra["review_state"] == "timed_out"
    assert record.flow_id == stratum.trace.records(function="draft_reply")[0].flow_id


async def test_calls_outside_the_flow_or_in_sibling_tasks_do_not_inherit_a_review_id(
    scripted: ScriptedClient,
) -> None:
    scripted.push({"reply": "sibling"}, {"reply": "after"}, {"reply": "outside"})
    sink = AwaitableQueueSink()
    stratum.configure(review_sink=sink)
    sibling_may_run = asyncio.Event()

    @flow
    async def branching() -> None:
        async def sibling() -> None:
            await sibling_may_run.wait()
            await draft_reply(ticket="sibling")

        async with asyncio.TaskGroup() as tg:
            tg.create_task(sibling())
            await await_human("Go?", bool)
            sibling_may_run.set()
        await draft_reply(ticket="after")

    running = asyncio.create_task(branching())
    review = await sink.next_review()
    await sink.resolve(review.review_id, True)
    await asyncio.wait_for(running, 5)
    await draft_reply(ticket="outside")  # no flow: no review

    by_input = {r.inputs.get("ticket"): r for r in stratum.trace.records(function="draft_reply")}
    assert by_input["sibling"].review_id is None
    assert by_input["after"].review_id == review.review_id
    assert by_input["outside"].review_id is None
