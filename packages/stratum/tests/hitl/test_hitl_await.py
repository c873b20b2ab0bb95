"""await_human genuinely suspends: the loop runs on, timeouts are typed, the budget clock stops."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    Budget,
    BudgetExceeded,
    HITLDeliveryError,
    HITLTimeoutError,
    HumanDecision,
    HumanReviewContext,
    ReviewNotPending,
    StratumConfigError,
    await_human,
    contract,
    flow,
    infer,
)
from stratum.hitl import PendingReview
from stratum.testing import AwaitableQueueSink, ScriptedClient, virtual_time

Action = Literal["approve", "reject"]


@contract
class Draft(BaseModel):
    reply: str


@pytest.fixture
def sink() -> AwaitableQueueSink:
    queue = AwaitableQueueSink()
    stratum.configure(review_sink=queue)
    return queue


async def test_await_human_returns_the_typed_decision_the_reviewer_gives(sink: AwaitableQueueSink) -> None:
    waiting = asyncio.create_task(await_human(HumanReviewContext("Send?"), Draft))
    review = await sink.next_review()
    await sink.resolve(review.review_id, {"reply": "Hello"}, reviewer="ana", rationale="fine")
    decision = await asyncio.wait_for(waiting, 5)
    assert isinstance(decision, HumanDecision)
    assert decision.value == Draft(reply="Hello")
    assert (decision.reviewer, decision.rationale, decision.review_id) == ("ana", "fine", review.review_id)
    assert decision.decided_at.utcoffset() == timedelta(0)


async def test_each_review_gets_a_fresh_uuid4_id(sink: AwaitableQueueSink) -> None:
    import uuid

    tasks = [asyncio.create_task(await_human("Send?", bool, timeout=5)) for _ in range(3)]
    reviews = [await sink.next_review() for _ in tasks]
    ids = [r.review_id for r in reviews]
    assert len(set(ids)) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)
    for review in reviews:
        await sink.resolve(review.review_id, True)
    decisions = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [d.review_id for d in decisions] == ids


async def test_other_work_completes_while_a_review_is_pending(
    sink: AwaitableQueueSink, scripted: ScriptedClient
) -> None:
    scripted.push({"reply": "one"}, {"reply": "two"}, {"reply": "three"})

    @infer(intent="Draft a reply")
    def draft(text: str) -> Draft: ...

    @flow
    async def needs_review() -> str:
        decision = await await_human("Approve?", Action)
        return decision.value

    @flow
    async def busy() -> list[str]:
        return [(await draft(text=t)).reply for t in ("a", "b", "c")]

    gated = asyncio.create_task(needs_review())
    review = await sink.next_review()
    done = await asyncio.wait_for(busy(), 5)  # a whole other flow runs to the end meanwhile
    assert done == ["one", "two", "three"]
    assert review.state == "pending" and not gated.done()
    await sink.resolve(review.review_id, "approve")
    assert await asyncio.wait_for(gated, 5) == "approve"


async def test_a_timeout_raises_hitl_timeout_error_carrying_the_review_id(sink: AwaitableQueueSink) -> None:
    with pytest.raises(HITLTimeoutError) as info:
        await await_human("Approve?", Action, timeout=0.05)
    review = await sink.next_review()
    assert info.value.review_id == review.review_id
    assert info.value.timeout_s == pytest.approx(0.05)
    assert review.state == "timed_out"
    assert sink.pending() == []
    with pytest.raises(ReviewNotPending) as late:
        await sink.resolve(review.review_id, "approve")
    assert (late.value.review_id, late.value.state) == (review.review_id, "timed_out")


async def test_a_timeout_with_a_fallback_returns_an_automatic_decision(sink: AwaitableQueueSink) -> None:
    decision = await await_human("Approve?", Action, timeout=timedelta(milliseconds=50), on_timeout="reject")
    review = await sink.next_review()
    assert decision.value == "reject"
    assert (decision.reviewer, decision.rationale) == ("auto", "timeout")
    assert decision.review_id == review.review_id
    assert decision.decided_at.utcoffset() == timedelta(0)
    assert review.state == "timed_out"


async def test_a_decision_before_the_timeout_wins_over_the_fallback(sink: AwaitableQueueSink) -> None:
    waiting = asyncio.create_task(await_human("Approve?", Action, timeout=5, on_timeout="reject"))
    review = await sink.next_review()
    await sink.resolve(review.review_id, "approve", reviewer="ana")
    decision = await asyncio.wait_for(waiting, 5)
    assert (decision.value, decision.reviewer) == ("approve", "ana")


# The budget rules below are checked on a virtual clock: a 150 ms budget runs
# out after exactly 150 ms of (virtual) time, and a reviewer can take an hour.


@virtual_time
async def test_the_wait_does_not_draw_from_the_flows_time_budget(sink: AwaitableQueueSink) -> None:
    @flow(budget=Budget(ms=150))
    async def gated() -> str:
        decision = await await_human("Approve?", Action)
        return decision.value

    task = asyncio.create_task(gated())
    review = await sink.next_review()
    await asyncio.sleep(3600)  # the reviewer takes an hour; the flow's whole budget is 150 ms
    await sink.resolve(review.review_id, "approve")
    assert await asyncio.wait_for(task, 5) == "approve"


@virtual_time
async def test_the_flow_budget_still_bounds_the_flows_own_work_after_a_review(sink: AwaitableQueueSink) -> None:
    @flow(budget=Budget(ms=150))
    async def gated() -> None:
        await await_human("Approve?", Action)
        await asyncio.sleep(1)  # the flow's own work, which the budget must stop

    task = asyncio.create_task(gated())
    review = await sink.next_review()
    await asyncio.sleep(0.2)
    await sink.resolve(review.review_id, "approve")
    with pytest.raises(BudgetExceeded) as info:
        await asyncio.wait_for(task, 5)
    err = info.value
    assert err.axis == "time" and err.limit == 150
    assert err.spent == pytest.approx(150)  # the 200 ms with the reviewer are not counted


@virtual_time
async def test_concurrent_reviews_in_one_flow_pause_its_clock_once(sink: AwaitableQueueSink, now: Any) -> None:
    own_work: list[float] = []

    @flow(budget=Budget(ms=150))
    async def two_reviewers() -> list[str]:
        async with asyncio.TaskGroup() as tg:
            first = tg.create_task(await_human("Legal OK?", Action))
            second = tg.create_task(await_human("Brand OK?", Action))
        started = now()
        try:
            await asyncio.sleep(1)
        finally:
            own_work.append(now() - started)
        return [first.result().value, second.result().value]

    task = asyncio.create_task(two_reviewers())
    one, two = await sink.next_review(), await sink.next_review()
    await asyncio.sleep(0.2)
    await sink.resolve(one.review_id, "approve")
    await asyncio.sleep(0.2)
    await sink.resolve(two.review_id, "reject")
    with pytest.raises(BudgetExceeded):
        await asyncio.wait_for(task, 5)
    # The whole 150 ms remained for the flow's own work after both reviews.
    assert own_work == [pytest.approx(0.15)]


async def test_cancelling_the_waiting_flow_closes_its_review(sink: AwaitableQueueSink) -> None:
    task = asyncio.create_task(await_human("Approve?", Action))
    review = await sink.next_review()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert review.state == "cancelled"
    assert sink.pending() == []
    with pytest.raises(ReviewNotPending) as info:
        await sink.resolve(review.review_id, "approve")
    assert info.value.state == "cancelled"


async def test_a_decision_from_another_thread_and_event_loop_wakes_the_flow(sink: AwaitableQueueSink) -> None:
    waiting = asyncio.create_task(await_human("Approve?", Action))
    review = await sink.next_review()
    outcome: list[object] = []

    def worker() -> None:  # a synchronous web worker answering with its own loop
        outcome.append(asyncio.run(sink.resolve(review.review_id, "reject", reviewer="bob")))

    thread = threading.Thread(target=worker)
    thread.start()
    decision = await asyncio.wait_for(waiting, 5)
    await asyncio.to_thread(thread.join, 5)
    assert (decision.value, decision.reviewer) == ("reject", "bob")
    assert isinstance(outcome[0], HumanDecision)


async def test_a_sink_whose_emit_fails_fails_the_call_and_closes_the_review() -> None:
    seen: list[PendingReview] = []

    class Broken:
        async def emit(self, review: PendingReview) -> None:
            seen.append(review)
            raise HITLDeliveryError(review.review_id, "Broken", "pager is down")

    with pytest.raises(HITLDeliveryError) as info:
        await await_human("Approve?", Action, sink=Broken())
    assert info.value.review_id == seen[0].review_id
    assert seen[0].state == "cancelled"


async def test_a_sink_that_resolves_inside_emit_is_honoured() -> None:
    class Rubberstamp:
        async def emit(self, review: PendingReview) -> None:
            await review.resolve(HumanDecision("approve", reviewer="policy-bot"))

    stratum.configure(review_sink=Rubberstamp())
    decision = await asyncio.wait_for(await_human("Approve?", Action), 5)
    assert (decision.value, decision.reviewer) == ("approve", "policy-bot")


async def test_a_review_sink_without_emit_is_a_config_error() -> None:
    with pytest.raises(StratumConfigError, match="review_sink"):
        stratum.configure(review_sink=object())  # refused when configured, not at the first review
    with pytest.raises(StratumConfigError, match="emit"):
        await await_human("Approve?", Action, sink=object())  # type: ignore[arg-type]
