"""Durable reviews: stored, listed, resolved exactly once; every bad input a typed error."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

import stratum
from stratum import HumanReviewContext, await_human, contract, flow
from stratum.hitl import QueueReviewSink, WebhookReviewSink
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Verdict(BaseModel):
    action: Literal["send", "edit"]
    note: str = Field(max_length=20)


@flow(durable=True)
async def ask(question: str, timeout_s: float | None = None) -> dict[str, Any]:
    decision = await await_human(
        HumanReviewContext(question, artifacts={"draft": "Hello"}),
        Verdict,
        timeout=timeout_s,
        on_timeout=Verdict(action="edit", note="auto"),
    )
    return {"action": decision.value.action, "note": decision.value.note, "reviewer": decision.reviewer}


@flow(durable=True)
async def ask_strictly(question: str, timeout_s: float) -> str:
    decision = await await_human(question, bool, timeout=timeout_s)  # no on_timeout: expiry is an error
    return "yes" if decision.value else "no"


#: Set by a test once the review is stored: the flow then stops waiting and finishes without it.
MOVE_ON: dict[str, asyncio.Event] = {}


@flow(durable=True)
async def gives_up(question: str) -> str:
    waiting = asyncio.ensure_future(await_human(question, bool))
    await MOVE_ON[question].wait()
    waiting.cancel()
    return "moved on"


async def next_pending(flow_id: str, within_s: float = 10) -> Any:
    async with asyncio.timeout(within_s):
        while True:
            found = await stratum.reviews.pending(flow_id=flow_id)
            if found:
                return found[0]
            await asyncio.sleep(0.01)  # the flow runs on this loop; the review appears once it is stored


async def test_a_pending_review_is_stored_with_its_type_and_resolved_with_a_typed_value(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(ask, "Send it?", flow_id="r-1")
    review = await next_pending("r-1")
    assert review.flow_id == "r-1" and review.context.question == "Send it?"
    assert review.context.artifacts == {"draft": "Hello"}
    assert review.decision_schema["properties"]["action"]["enum"] == ["send", "edit"]
    decision = await stratum.reviews.resolve(review.review_id, {"action": "send", "note": "ok"}, reviewer="ana")
    assert decision.value == Verdict(action="send", note="ok") and decision.reviewer == "ana"
    assert await handle.result(timeout_s=10) == {"action": "send", "note": "ok", "reviewer": "ana"}
    assert await stratum.reviews.pending() == []
    stored = await stratum.reviews.get(review.review_id)
    assert stored.state == "resolved" and stored.decision is not None and stored.decision.reviewer == "ana"


async def test_resolving_an_unknown_review_is_review_not_pending_unknown(durable_sqlite: str) -> None:
    with pytest.raises(stratum.ReviewNotPending) as info:
        await stratum.reviews.resolve("no-such-review", {"action": "send", "note": ""})
    assert info.value.state == "unknown" and info.value.review_id == "no-such-review"


async def test_a_value_of_the_wrong_type_is_refused_and_the_review_stays_pending(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(ask, "Send it?", flow_id="r-2")
    review = await next_pending("r-2")
    with pytest.raises(stratum.InvalidDecision) as info:
        await stratum.reviews.resolve(review.review_id, {"action": "shout", "note": "x" * 30})
    assert info.value.review_id == review.review_id and len(info.value.errors) == 2
    assert [r.review_id for r in await stratum.reviews.pending()] == [review.review_id]
    await stratum.reviews.resolve(review.review_id, {"action": "edit", "note": "fine"})
    assert (await handle.result(timeout_s=10))["action"] == "edit"


async def test_concurrent_resolves_deliver_exactly_one_decision(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(ask, "Send it?", flow_id="r-3")
    review = await next_pending("r-3")
    attempts = [
        stratum.reviews.resolve(review.review_id, {"action": "send", "note": f"by {i}"}, reviewer=f"r{i}")
        for i in range(6)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, stratum.ReviewNotPending)]
    assert len(won) == 1 and len(refused) == 5 and all(r.state == "resolved" for r in refused)
    result = await handle.result(timeout_s=10)
    assert result["reviewer"] == won[0].reviewer  # the decision the flow got is the one that won
    with pytest.raises(stratum.ReviewNotPending) as again:
        await stratum.reviews.resolve(review.review_id, {"action": "edit", "note": "late"})
    assert again.value.state == "resolved"


async def test_a_review_of_a_finished_flow_cannot_be_resolved(durable_sqlite: str) -> None:
    MOVE_ON["Still there?"] = asyncio.Event()
    handle = await stratum.durable.start(gives_up, "Still there?", flow_id="r-4")
    review = await next_pending("r-4")
    MOVE_ON["Still there?"].set()
    assert await handle.result(timeout_s=10) == "moved on"
    assert await stratum.reviews.pending() == []  # not listed: its flow will never read it
    with pytest.raises(stratum.ReviewNotPending) as info:
        await stratum.reviews.resolve(review.review_id, True)
    assert info.value.state == "cancelled"


async def test_a_resolve_racing_the_timeout_gives_one_outcome_never_both_or_none(durable_sqlite: str) -> None:
    for i, offset in enumerate((-0.05, 0.0, 0.01, 0.05)):
        handle = await stratum.durable.start(ask, "Quick?", 1.0, flow_id=f"race-{i}")
        review = await next_pending(f"race-{i}")
        assert review.expires_at is not None
        delay = review.expires_at.timestamp() + offset - time.time()
        await asyncio.sleep(max(0.0, delay))  # aim the resolve at the deadline: the outcome is what is checked
        try:
            decision = await stratum.reviews.resolve(review.review_id, {"action": "send", "note": "ana"},
                                                     reviewer="ana")  # fmt: skip
        except stratum.ReviewNotPending as exc:
            assert exc.state == "timed_out"
            assert await handle.result(timeout_s=10) == {"action": "edit", "note": "auto", "reviewer": "auto"}
        else:
            assert decision.reviewer == "ana"
            assert await handle.result(timeout_s=10) == {"action": "send", "note": "ana", "reviewer": "ana"}


async def test_a_review_without_an_on_timeout_value_fails_its_flow_with_hitl_timeout_error_when_it_expires(
    durable_sqlite: str,
) -> None:
    handle = await stratum.durable.start(ask_strictly, "Ship it?", 0.5, flow_id="strict")
    review = await next_pending("strict")
    with pytest.raises(stratum.HITLTimeoutError):
        await handle.result(timeout_s=30)
    with pytest.raises(stratum.ReviewNotPending) as late:
        await stratum.reviews.resolve(review.review_id, True, reviewer="ana")
    assert late.value.state == "timed_out"  # the expiry is recorded: nothing is delivered after it
    status = await handle.status()
    assert status.status == "error" and status.error is not None and status.error.startswith("HITLTimeoutError")


async def test_a_configured_sink_is_told_and_its_resolve_goes_through_the_store(durable_sqlite: str) -> None:
    sink = QueueReviewSink()
    stratum.configure(review_sink=sink)
    handle = await stratum.durable.start(ask, "Send it?", flow_id="r-5")
    stored = await next_pending("r-5")
    async with asyncio.timeout(10):
        while not sink.pending():
            await asyncio.sleep(0.01)
    (told,) = sink.pending()
    assert told["review_id"] == stored.review_id and told["flow_id"] == "r-5"
    await sink.resolve(stored.review_id, {"action": "send", "note": "via sink"}, reviewer="web")
    assert (await handle.result(timeout_s=10))["reviewer"] == "web"
    with pytest.raises(stratum.ReviewNotPending) as info:
        await stratum.reviews.resolve(stored.review_id, {"action": "edit", "note": "second"})
    assert info.value.state == "resolved"
    (record,) = stratum.trace.records(function="await_human", flow_id="r-5")
    assert record.review_id == stored.review_id and record.extra["reviewer"] == "web"


async def test_the_reviews_command_lists_shows_and_resolves_with_documented_exit_codes(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(ask, "Send it?", flow_id="r-6")
    review = await next_pending("r-6")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stratum", "--db", durable_sqlite, *args], capture_output=True,
                              text=True, timeout=120, env=env)  # fmt: skip

    listed = await asyncio.to_thread(cli, "reviews", "list", "--json")
    assert [r["review_id"] for r in json.loads(listed.stdout)] == [review.review_id]
    wrong = await asyncio.to_thread(cli, "reviews", "resolve", review.review_id, '{"action": "shout"}')
    assert wrong.returncode == 5
    right = await asyncio.to_thread(
        cli, "reviews", "resolve", review.review_id, '{"action": "send", "note": "cli"}', "--reviewer", "ops"
    )
    assert right.returncode == 0, right.stderr
    assert (await handle.result(timeout_s=10))["reviewer"] == "ops"
    twice = await asyncio.to_thread(cli, "reviews", "resolve", review.review_id, '{"action": "send", "note": "x"}')
    assert twice.returncode == 4
    shown = await asyncio.to_thread(cli, "reviews", "show", review.review_id, "--json")
    assert json.loads(shown.stdout)["decision"]["reviewer"] == "ops"
    closed = await asyncio.to_thread(cli, "reviews", "list", "--closed", "--json")
    assert [(r["review_id"], r["state"], r["decision"]["reviewer"]) for r in json.loads(closed.stdout)] == [
        (review.review_id, "resolved", "ops")
    ]
    unknown = await asyncio.to_thread(cli, "reviews", "resolve", "nope", "true")
    assert unknown.returncode == 3


async def test_a_webhook_that_cannot_deliver_leaves_the_review_answerable_from_the_store(
    durable_sqlite: str, caplog: pytest.LogCaptureFixture
) -> None:
    with LocalOpenAIServer() as receiver:  # answers 404 on this path: the POST fails for good
        stratum.configure(review_sink=WebhookReviewSink(f"{receiver.url}/hooks/review", max_attempts=1))
        handle = await stratum.durable.start(ask, "Send it?", flow_id="r-7")
        review = await next_pending("r-7")
        async with asyncio.timeout(10):
            while not any("did not take review" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)
        # The callback (or any other process) answers through the store.
        await stratum.reviews.resolve(review.review_id, {"action": "send", "note": "hook"}, reviewer="hook")
        assert (await handle.result(timeout_s=10))["reviewer"] == "hook"
