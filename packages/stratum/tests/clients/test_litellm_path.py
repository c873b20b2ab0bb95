"""The real path: @infer -> LiteLLM -> HTTP -> a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import litellm
import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, BudgetExceeded, PreconditionFailed, contract, flow, infer
from stratum.testing.openai_server import LocalOpenAIServer, Served


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


@infer(intent="Classify the tone", ensure=lambda r: r.confidence > 0.7, given=lambda text: len(text) > 0)
def classify(text: str) -> Sentiment: ...


GOOD = {"label": "positive", "confidence": 0.9}


def user_text(body: dict) -> str:
    content = body["messages"][1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


async def test_success_sends_a_strict_json_schema_request(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(GOOD)
    result = await classify(text="Great")
    assert result == Sentiment(**GOOD)
    body = via_litellm.requests[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    record = stratum.trace.all_records()[-1]
    assert record.cost_usd is not None and record.cost_usd > 0
    assert record.input_tokens and record.output_tokens
    assert record.response_model == "gpt-4o-mini"


async def test_ensure_failure_is_retried_with_the_violation(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push({"label": "positive", "confidence": 0.3}, GOOD)
    await classify(text="ok")
    assert "ensure `r.confidence > 0.7` failed (actual: confidence=0.3)" in user_text(via_litellm.requests[1])


async def test_parse_failure_is_retried_with_the_field_named(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push({"label": "thrilled", "confidence": 0.9}, GOOD)
    await classify(text="ok")
    assert "field `label`" in user_text(via_litellm.requests[1])


async def test_given_false_sends_nothing(via_litellm: LocalOpenAIServer) -> None:
    with pytest.raises(PreconditionFailed):
        await classify(text="")
    assert len(via_litellm.requests) == 0


async def test_time_budget_cuts_off_a_slow_server(via_litellm: LocalOpenAIServer) -> None:
    @infer(intent="x", budget=Budget(ms=1000))
    def slow(text: str) -> Sentiment: ...

    # LiteLLM's first call in a process spends seconds setting itself up; made
    # first, outside the budget, so the budgeted request surely reaches the server.
    via_litellm.push(GOOD, Served(content=GOOD, delay_s=30))
    await classify(text="warm-up")
    with pytest.raises(BudgetExceeded) as info:
        await slow(text="x")  # without the budget, the answer would come after 30 s
    assert (info.value.axis, info.value.limit) == ("time", 1000)
    await _eventually(lambda: via_litellm.abandoned == 1)  # the HTTP request was closed, not left open
    assert via_litellm.answered == 1 and len(via_litellm.requests) == 2  # and nothing was sent after it


async def test_usd_budget_across_a_flow_is_never_overspent(via_litellm: LocalOpenAIServer) -> None:
    # Each answer claims 2,000 output tokens (~$0.0012 at gpt-4o-mini prices).
    via_litellm.respond = lambda body: Served(
        content=GOOD, completion_tokens=min(2000, body.get("max_tokens") or 2000)
    )

    @flow(budget=Budget(usd=0.004))
    async def many() -> int:
        done = 0
        for _ in range(20):
            await classify(text="x")
            done += 1
        return done

    with pytest.raises(BudgetExceeded) as info:
        await many()
    assert info.value.axis == "cost"
    spent = sum(r.cost_usd or 0 for r in stratum.trace.all_records())
    assert 0.002 < spent <= 0.004
    assert len(via_litellm.requests) < 20
    # The last request sent was capped below the model's own limit.
    assert via_litellm.requests[-1]["max_tokens"] < 16384


async def test_rate_limit_then_success_honours_retry_after(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(Served(status=429, headers={"retry-after": "0.3"}), GOOD)
    started = time.perf_counter()
    assert (await classify(text="x")).label == "positive"
    # A lower bound on a wait the server asked for, not a speed limit: load only lengthens it.
    assert time.perf_counter() - started >= 0.3
    record = stratum.trace.all_records()[-1]
    assert (record.attempts, record.transient_retries) == (1, 1)


async def test_server_error_then_success(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(Served(status=500), Served(status=503), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 2


async def test_connection_drop_then_success(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(Served(drop=True), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 1


async def test_authentication_error_surfaces_as_is_without_retry(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(Served(status=401, error="invalid api key"))
    with pytest.raises(litellm.AuthenticationError):
        await classify(text="x")
    assert len(via_litellm.requests) == 1
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "AuthenticationError"


async def test_cancelling_the_caller_cancels_the_request_without_leaking_tasks(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(Served(content=GOOD, delay_s=5))
    before = asyncio.all_tasks()
    task = asyncio.create_task(classify(text="x"))
    await _eventually(lambda: len(via_litellm.requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _eventually(lambda: via_litellm.abandoned == 1)
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "CancelledError"


async def test_the_local_server_holds_requests_until_released_and_counts_hang_ups(
    via_litellm: LocalOpenAIServer,
) -> None:
    via_litellm.push(GOOD, GOOD)
    via_litellm.hold()
    kept = asyncio.create_task(classify(text="kept"))
    dropped = asyncio.create_task(classify(text="dropped"))
    await _eventually(lambda: via_litellm.in_flight == 2)
    dropped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dropped
    await _eventually(lambda: via_litellm.abandoned == 1 and via_litellm.in_flight == 1)
    assert not kept.done()
    via_litellm.release()
    assert (await kept).label == "positive"
    assert (via_litellm.in_flight, via_litellm.max_in_flight, via_litellm.answered) == (0, 2, 1)


async def test_configure_with_the_litellm_module_uses_the_standard_base_url(
    server: LocalOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    stratum.configure(client=litellm, default_model="openai/gpt-4o-mini")
    server.push(GOOD)
    assert (await classify(text="x")).label == "positive"
    assert len(server.requests) == 1


async def _eventually(check: object, timeout: float = 10.0) -> None:
    """Poll ``check`` until true; the bound is generous, reached only if it never comes."""
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)
