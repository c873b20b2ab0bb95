"""The real path: @infer -> LiteLLM -> HTTP -> a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Literal

import litellm
import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, BudgetExceeded, PreconditionFailed, contract, flow, infer
from stratum.clients import BaseClient, CompletionRequest, CompletionResponse
from stratum.exceptions import MalformedResponse
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


async def test_usage_beyond_max_tokens_that_overspends_the_budget_raises_with_the_recorded_spend(
    via_litellm: LocalOpenAIServer,
) -> None:
    @infer(intent="x", budget=Budget(usd=0.001))
    def cheap(text: str) -> Sentiment: ...

    # A lying provider: a million output tokens for a request capped far below that.
    via_litellm.push(Served(content=GOOD, completion_tokens=1_000_000))
    with pytest.raises(BudgetExceeded) as info:
        await cheap(text="x")
    assert via_litellm.requests[0]["max_tokens"] < 2000
    assert info.value.axis == "cost" and info.value.limit == 0.001
    assert info.value.spent == pytest.approx(0.6, rel=0.01)  # what was recorded, not what was allowed
    record = stratum.trace.all_records()[-1]
    assert (record.output_tokens, record.impossible_usage) == (1_000_000, True)
    assert record.cost_usd == pytest.approx(info.value.spent)
    assert record.error is not None and record.error.type == "BudgetExceeded"


async def test_usage_beyond_max_tokens_is_flagged_on_the_record_even_within_budget(
    via_litellm: LocalOpenAIServer,
) -> None:
    stratum.configure(max_output_tokens=100)
    via_litellm.push(Served(content=GOOD, completion_tokens=5000), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].impossible_usage is True
    await classify(text="y")
    assert stratum.trace.all_records()[-1].impossible_usage is False


async def test_an_overspent_flow_budget_stops_the_call_that_overspent_it(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(Served(content=GOOD, completion_tokens=1_000_000), GOOD)

    @flow(budget=Budget(usd=0.01))
    async def two() -> None:
        await classify(text="a")
        await classify(text="b")

    with pytest.raises(BudgetExceeded) as info:
        await two()
    assert info.value.function == "classify" and info.value.scope.endswith("two")
    assert info.value.spent > 0.01
    assert len(via_litellm.requests) == 1
    # The overspending call raised; no second call ever started.
    assert [r.ok for r in stratum.trace.all_records()] == [False]


async def test_rate_limit_then_success_honours_retry_after(via_litellm: LocalOpenAIServer) -> None:
    stratum.configure(retry_backoff_max_s=1.0)  # the wait asked for is within the cap
    via_litellm.push(Served(status=429, headers={"retry-after": "0.3"}), GOOD)
    started = time.perf_counter()
    assert (await classify(text="x")).label == "positive"
    # A lower bound on a wait the server asked for, not a speed limit: load only lengthens it.
    assert time.perf_counter() - started >= 0.3
    record = stratum.trace.all_records()[-1]
    assert (record.attempts, record.transient_retries) == (1, 1)


async def test_a_retry_after_beyond_the_backoff_cap_waits_only_the_cap(via_litellm: LocalOpenAIServer) -> None:
    stratum.configure(retry_backoff_max_s=0.05)
    asks = [Served(status=429, headers={"retry-after": "3600"})] * 4  # as often as the retry limit allows
    via_litellm.push(*asks, GOOD)
    # Not a speed assertion: uncapped, the call would sleep for the hour the server asked, four times.
    async with asyncio.timeout(30):
        assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 4


async def test_a_retry_after_the_budget_cannot_wait_for_stops_the_call_at_once(
    via_litellm: LocalOpenAIServer,
) -> None:
    @infer(intent="x", budget=Budget(ms=10_000))
    def budgeted(text: str) -> Sentiment: ...

    stratum.configure(retry_backoff_max_s=3600)  # the cap allows the hour; the budget does not
    via_litellm.push(Served(status=429, headers={"retry-after": "3600"}), GOOD)
    async with asyncio.timeout(30):  # not a speed assertion: the wait itself would be an hour
        with pytest.raises(BudgetExceeded) as info:
            await budgeted(text="x")
    assert info.value.axis == "time" and len(via_litellm.requests) == 1


async def test_a_retry_after_that_is_not_a_number_or_a_date_is_retried_with_backoff(
    via_litellm: LocalOpenAIServer,
) -> None:
    via_litellm.push(Served(status=429, headers={"retry-after": "soon"}), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 1


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


# -- replies a provider should never send ------------------------------------------
def _completion(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"label": "positive", '
                     '"confidence": 0.9}'}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }  # fmt: skip
    body.update(fields)
    return body


async def test_a_reply_without_choices_is_retried_as_transient(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(Served(body=_completion(choices=[])), GOOD)
    assert (await classify(text="x")).label == "positive"
    record = stratum.trace.all_records()[-1]
    assert (record.ok, record.transient_retries) == (True, 1)


async def test_replies_without_choices_end_in_a_typed_error_with_a_trace_record(
    via_litellm: LocalOpenAIServer,
) -> None:
    stratum.configure(max_transient_retries=2)
    via_litellm.respond = lambda body: Served(body=_completion(choices=[]))
    with pytest.raises(MalformedResponse) as info:
        await classify(text="x")
    assert (info.value.function, info.value.model) == ("classify", "openai/gpt-4o-mini")
    assert len(via_litellm.requests) == 3  # the first and two retries
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "MalformedResponse"
    assert record.transient_retries == 2


@pytest.mark.parametrize(
    "choices",
    [
        [{"index": 0, "finish_reason": "stop"}],  # no message
        [{"index": 0, "message": None, "finish_reason": "stop"}],
        [{"index": 0, "message": {"role": "assistant", "content": 123}, "finish_reason": "stop"}],
        [{"index": 0, "message": {"role": "assistant", "content": ["a"]}, "finish_reason": "stop"}],
        "not a list",
    ],
)
async def test_malformed_choices_are_retried_and_then_reported_typed(
    via_litellm: LocalOpenAIServer, choices: object
) -> None:
    # LiteLLM itself maps these to its InternalServerError, a transient error
    # Stratum retries; whichever layer notices, nothing untyped escapes.
    stratum.configure(max_transient_retries=1)
    via_litellm.respond = lambda body: Served(body=_completion(choices=choices))
    with pytest.raises((MalformedResponse, litellm.InternalServerError)):
        await classify(text="x")
    assert len(via_litellm.requests) == 2
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.transient_retries == 1


async def test_a_client_returning_non_text_content_is_reported_typed() -> None:
    class Broken(BaseClient):
        async def complete(self, request: CompletionRequest) -> CompletionResponse:
            return CompletionResponse(content=123)  # type: ignore[arg-type]

    stratum.configure(client=Broken(), default_model="m")
    with pytest.raises(MalformedResponse) as info:
        await classify(text="x")
    assert info.value.function == "classify"
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "MalformedResponse"


_MANY_AT_ONCE = """
import asyncio, os, sys
os.environ.pop("AIOHTTP_CONNECTOR_LIMIT_PER_HOST", None)
import stratum
from stratum.clients import LiteLLMClient
from stratum.testing.openai_server import LocalOpenAIServer

@stratum.infer(intent="x")
def ping(text: str) -> bool: ...

async def main() -> None:
    with LocalOpenAIServer(respond=lambda body: {"result": True}) as server:
        stratum.configure(client=LiteLLMClient(api_base=server.url, api_key="sk"), default_model="openai/gpt-4o-mini")
        await ping(text="warm-up")
        server.hold()
        calls = asyncio.gather(*(ping(text=str(i)) for i in range(520)))
        async with asyncio.timeout(40):
            while server.in_flight < 520:
                await asyncio.sleep(0.02)
        server.release()
        await calls
        print(server.max_in_flight)

asyncio.run(main())
"""


def test_more_than_500_concurrent_calls_through_litellm_are_in_flight_at_once() -> None:
    # LiteLLM's own cap is 500 connections per host: the 501st call would wait for one of the first.
    # A fresh process: this one imported LiteLLM before Stratum could raise the cap.
    out = subprocess.run([sys.executable, "-c", _MANY_AT_ONCE], capture_output=True, text=True, timeout=50)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "520"
