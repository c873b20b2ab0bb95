"""The queue sink: an app lists open reviews as JSON and resolves them by id."""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    HITLDeliveryError,
    HumanReviewContext,
    InvalidDecision,
    ReviewNotPending,
    await_human,
    contract,
)
from stratum.hitl import PendingReview, QueueReviewSink
from stratum.testing import AwaitableQueueSink


@contract
class Refund(BaseModel):
    amount_eur: float
    note: str


async def wait_for_pending(sink: AwaitableQueueSink, count: int) -> list[dict[str, object]]:
    for _ in range(count):
        await sink.next_review()
    return sink.pending()


async def test_pending_lists_open_reviews_as_json_serialisable_dicts() -> None:
    sink = AwaitableQueueSink()
    stratum.configure(review_sink=sink)
    ask = asyncio.create_task(
        await_human(
            HumanReviewContext("Refund this order?", trigger="policy", artifacts={"order": {"id": 7, "total": 12.5}}),
            Refund,
            options=[Refund(amount_eur=12.5, note="full")],
            timeout=30,
        )
    )
    (item,) = await wait_for_pending(sink, 1)
    assert json.loads(json.dumps(item)) == item
    assert item["question"] == "Refund this order?"
    assert item["trigger"] == "policy"
    assert item["artifacts"] == {"order": {"id": 7, "total": 12.5}}
    assert item["options"] == [{"amount_eur": 12.5, "note": "full"}]
    assert item["decision_schema"]["required"] == ["amount_eur", "note"]
    assert item["expires_at"] is not None and item["state"] == "pending"
    ask.cancel()
    await asyncio.gather(ask, return_exceptions=True)


async def test_resolve_wakes_the_flow_and_removes_the_review_from_pending() -> None:
    sink = AwaitableQueueSink()
    stratum.configure(review_sink=sink)
    ask = asyncio.create_task(await_human("Refund?", Refund))
    (item,) = await wait_for_pending(sink, 1)
    decision = await sink.resolve(item["review_id"], {"amount_eur": "5", "note": "partial"}, reviewer="ana")  # type: ignore[arg-type]
    assert decision.value == Refund(amount_eur=5.0, note="partial")
    assert (await asyncio.wait_for(ask, 5)).value == decision.value
    assert sink.pending() == [] and len(sink) == 0


async def test_an_invalid_value_is_refused_and_the_review_stays_listed() -> None:
    sink = AwaitableQueueSink()
    stratum.configure(review_sink=sink)
    ask = asyncio.create_task(await_human("Approve?", Literal["approve", "reject"]))
    (item,) = await wait_for_pending(sink, 1)
    with pytest.raises(InvalidDecision) as info:
        await sink.resolve(item["review_id"], "later")  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert info.value.review_id == item["review_id"]
    assert [i["review_id"] for i in sink.pending()] == [item["review_id"]]
    await sink.resolve(item["review_id"], "approve")  # type: ignore[arg-type]
    assert (await asyncio.wait_for(ask, 5)).value == "approve"


async def test_unknown_and_already_resolved_ids_raise_a_clear_error() -> None:
    sink = AwaitableQueueSink()
    stratum.configure(review_sink=sink)
    with pytest.raises(ReviewNotPending) as unknown:
        await sink.resolve("no-such-review", "approve")
    assert (unknown.value.review_id, unknown.value.state) == ("no-such-review", "unknown")
    assert isinstance(unknown.value, LookupError)

    ask = asyncio.create_task(await_human("Approve?", Literal["approve", "reject"]))
    (item,) = await wait_for_pending(sink, 1)
    review_id = str(item["review_id"])
    await sink.resolve(review_id, "approve")
    await asyncio.wait_for(ask, 5)
    with pytest.raises(ReviewNotPending) as twice:
        await sink.resolve(review_id, "reject")
    assert (twice.value.review_id, twice.value.state) == (review_id, "resolved")


async def test_the_queue_holds_at_most_max_pending_open_reviews() -> None:
    sink = AwaitableQueueSink(max_pending=2)
    stratum.configure(review_sink=sink)
    asks = [asyncio.create_task(await_human(f"Q{i}?", bool)) for i in range(2)]
    await wait_for_pending(sink, 2)
    with pytest.raises(HITLDeliveryError) as info:
        await await_human("One too many?", bool)
    assert info.value.sink == "AwaitableQueueSink"  # the sink that refused, by its class name
    assert len(sink) == 2
    for item in sink.pending():
        await sink.resolve(str(item["review_id"]), True)
    await asyncio.wait_for(asyncio.gather(*asks), 5)
    asks.append(asyncio.create_task(await_human("Room again?", bool)))  # closed reviews free their slot
    await wait_for_pending(sink, 1)
    asks[-1].cancel()
    await asyncio.gather(asks[-1], return_exceptions=True)


async def test_a_queue_remembers_only_a_bounded_number_of_closed_ids() -> None:
    sink = QueueReviewSink(remember_closed=2)
    for i in range(5):
        review = PendingReview(f"r{i}", HumanReviewContext("Ok?"), options=None, expires_at=None, decision_type=bool)
        await sink.emit(review)
        await sink.resolve(review.review_id, True)
    states = []
    for i in range(5):
        with pytest.raises(ReviewNotPending) as info:
            await sink.resolve(f"r{i}", True)
        states.append(info.value.state)
    assert states == ["unknown", "unknown", "unknown", "resolved", "resolved"]  # only the last two are remembered
    with pytest.raises(ValueError):
        QueueReviewSink(max_pending=0)
