"""The direct path: @infer -> OpenAICompatible -> HTTP -> a local OpenAI-compatible server.

The same behaviour the LiteLLM path has (test_litellm_path.py), through
Stratum's own client; and what only this client has (its prefix, its pool,
its timeout, its errors).
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, BudgetExceeded, MalformedResponse, PreconditionFailed, ProviderError, contract, flow, infer
from stratum.clients import ModelInfo, OpenAICompatible
from stratum.testing.openai_server import LocalOpenAIServer, Served


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


@infer(intent="Classify the tone", ensure=lambda r: r.confidence > 0.7, given=lambda text: len(text) > 0)
def classify(text: str) -> Sentiment: ...


GOOD = {"label": "positive", "confidence": 0.9}
GPT_4O_MINI = (1.5e-07, 6e-07)  # USD per input and output token in LiteLLM's map


def user_text(body: dict) -> str:
    content = body["messages"][1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


@pytest.fixture(params=["lean", "httpx"])
async def direct(request: pytest.FixtureRequest, server: LocalOpenAIServer) -> AsyncIterator[LocalOpenAIServer]:
    """The local server behind OpenAICompatible, over each transport: its own HTTP/1.1 pool, and httpx."""
    client = OpenAICompatible(server.url, "sk-local-test", http2=request.param == "httpx")
    await asyncio.to_thread(client.warm, "gpt-4o-mini")
    stratum.configure(client=client, default_model="gpt-4o-mini")
    yield server
    await client.aclose()


@pytest.fixture
async def configured() -> AsyncIterator[Callable[..., OpenAICompatible]]:
    """Build an OpenAICompatible, configure it as the client, and close it after the test."""
    made: list[OpenAICompatible] = []

    def make(server: LocalOpenAIServer, **options: object) -> OpenAICompatible:
        client = OpenAICompatible(server.url, "sk-local-test", **options)  # type: ignore[arg-type]
        stratum.configure(client=client, default_model="gpt-4o-mini")
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


# -- a call, its request and its record ------------------------------------------
async def test_a_structured_call_sends_a_strict_json_schema_request_and_records_usage_and_cost(
    direct: LocalOpenAIServer,
) -> None:
    direct.push(Served(content=GOOD, prompt_tokens=100, completion_tokens=20))
    assert await classify(text="Great") == Sentiment(**GOOD)
    body = direct.requests[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert set(body) == {"model", "messages", "response_format"}  # nothing the caller did not ask for
    record = stratum.trace.all_records()[-1]
    assert (record.input_tokens, record.output_tokens, record.response_model) == (100, 20, "gpt-4o-mini")
    assert record.cost_usd == pytest.approx(100 * GPT_4O_MINI[0] + 20 * GPT_4O_MINI[1])


async def test_calls_share_one_kept_alive_connection(via_direct: LocalOpenAIServer) -> None:
    via_direct.push(GOOD, GOOD, GOOD)
    for text in ("a", "b", "c"):
        await classify(text=text)
    assert (via_direct.answered, via_direct.connections) == (3, 1)


async def test_prices_given_for_a_model_price_its_calls(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, models={"llama-3": ModelInfo(input_usd_per_token=1e-6, output_usd_per_token=2e-6)})
    server.push(Served(content=GOOD, prompt_tokens=1000, completion_tokens=10))

    @infer(intent="Classify the tone", model="llama-3")
    def local(text: str) -> Sentiment: ...

    await local(text="x")
    assert stratum.trace.all_records()[-1].cost_usd == pytest.approx(1000 * 1e-6 + 10 * 2e-6)


async def test_a_model_no_price_map_knows_has_tokens_but_no_cost(via_direct: LocalOpenAIServer) -> None:
    @infer(intent="Classify the tone", model="my-finetune-v3")
    def unknown(text: str) -> Sentiment: ...

    via_direct.push(Served(content=GOOD, prompt_tokens=50, completion_tokens=5))
    await unknown(text="x")
    record = stratum.trace.all_records()[-1]
    assert (record.input_tokens, record.output_tokens, record.cost_usd) == (50, 5, None)
    assert via_direct.requests[0]["response_format"]["type"] == "json_schema"  # unknown: schema support assumed


async def test_a_model_without_schema_support_is_asked_for_json_mode_and_a_fenced_answer_still_parses(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, models={"small-model": ModelInfo(supports_json_schema=False)})
    server.push('```json\n{"label": "negative", "confidence": 0.8}\n```')

    @infer(intent="Classify the tone", model="small-model")
    def small(text: str) -> Sentiment: ...

    assert (await small(text="x")).label == "negative"
    body = server.requests[0]
    assert body["response_format"] == {"type": "json_object"}
    assert '"confidence"' in body["messages"][0]["content"]  # the contract travels in the prompt instead


async def test_extra_body_goes_with_every_request_but_never_over_what_the_call_sets(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, extra_body={"seed": 7, "top_p": 0.5, "model": "not-this-one"})
    server.push(GOOD)
    await classify(text="x")
    body = server.requests[0]
    assert (body["seed"], body["top_p"], body["model"]) == (7, 0.5, "gpt-4o-mini")


# -- prices: the hard-budget rule, configured prices, where the map comes from ----------------
async def test_a_usd_budget_on_a_model_without_a_price_is_refused_before_anything_is_sent(
    via_direct: LocalOpenAIServer,
) -> None:
    @infer(intent="Classify the tone", model="my-finetune-v3", budget=Budget(usd=0.01))
    def unknown(text: str) -> Sentiment: ...

    with pytest.raises(stratum.StratumConfigError, match="my-finetune-v3"):
        await unknown(text="x")
    assert len(via_direct.requests) == 0


async def test_prices_given_to_configure_price_the_calls_and_enforce_a_usd_budget(
    via_direct: LocalOpenAIServer,
) -> None:
    stratum.configure(prices={"my-finetune-v3": (1e-5, 1e-4)})

    @infer(intent="Classify the tone", model="my-finetune-v3", budget=Budget(usd=0.01))
    def unknown(text: str) -> Sentiment: ...

    via_direct.respond = lambda body: Served(content=GOOD, prompt_tokens=100, completion_tokens=10)
    await unknown(text="x")
    assert stratum.trace.all_records()[-1].cost_usd == pytest.approx(100 * 1e-5 + 10 * 1e-4)
    assert via_direct.requests[0]["max_tokens"] < 100  # the budget caps the answer: ~$0.01 / $1e-4


_PRICED_IN_A_FRESH_PROCESS = """
import asyncio, sys
{before}
from typing import Literal
from pydantic import BaseModel
import stratum
from stratum.clients import OpenAICompatible
from stratum.testing.openai_server import LocalOpenAIServer, Served

@stratum.contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float

async def main() -> None:
    with LocalOpenAIServer() as server:
        server.respond = lambda body: Served(content={{"label": "positive", "confidence": 0.9}},
                                             prompt_tokens=1000, completion_tokens=100)
        client = OpenAICompatible(server.url, "sk-local-test")
        stratum.configure(client=client, default_model={model!r})
        @stratum.infer(intent="Classify the tone")
        def classify(text: str) -> Sentiment: ...
        await classify(text="x")
        await client.aclose()
    print(stratum.trace.all_records()[-1].cost_usd)

asyncio.run(main())
"""


def _cost_in_a_fresh_process(before: str, model: str) -> str:
    code = _PRICED_IN_A_FRESH_PROCESS.format(before=before, model=model)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_without_litellm_installed_a_call_has_tokens_but_no_cost() -> None:
    hide = "sys.modules['litellm'] = None  # as if it were not installed"
    assert _cost_in_a_fresh_process(hide, "gpt-4o-mini") == "None"


def test_with_litellm_imported_its_live_price_map_prices_the_calls() -> None:
    # LiteLLM's live map (its shipped copy, its remote one, register_model entries) is the module's
    # model_cost. A stand-in module holds it here: importing LiteLLM itself costs seconds of CPU.
    live = (
        "import types; litellm = sys.modules['litellm'] = types.ModuleType('litellm')\n"
        "litellm.model_cost = {'house-model': {'input_cost_per_token': 1e-06, 'output_cost_per_token': 2e-06,"
        " 'mode': 'chat'}}"
    )  # an entry only the live map has, not the copy LiteLLM ships
    assert float(_cost_in_a_fresh_process(live, "house-model")) == pytest.approx(1000 * 1e-6 + 100 * 2e-6)


# -- the attempt loop, as on the LiteLLM path ---------------------------------------
async def test_ensure_failure_is_retried_with_the_violation(direct: LocalOpenAIServer) -> None:
    direct.push({"label": "positive", "confidence": 0.3}, GOOD)
    await classify(text="ok")
    assert "ensure `r.confidence > 0.7` failed (actual: confidence=0.3)" in user_text(direct.requests[1])


async def test_parse_failure_is_retried_with_the_field_named(via_direct: LocalOpenAIServer) -> None:
    via_direct.push({"label": "thrilled", "confidence": 0.9}, GOOD)
    await classify(text="ok")
    assert "field `label`" in user_text(via_direct.requests[1])


async def test_given_false_sends_nothing(via_direct: LocalOpenAIServer) -> None:
    with pytest.raises(PreconditionFailed):
        await classify(text="")
    assert len(via_direct.requests) == 0


async def test_usd_budget_across_a_flow_is_never_overspent(via_direct: LocalOpenAIServer) -> None:
    # Each answer claims 2,000 output tokens (~$0.0012 at gpt-4o-mini prices).
    via_direct.respond = lambda body: Served(content=GOOD, completion_tokens=min(2000, body.get("max_tokens") or 2000))

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
    assert via_direct.requests[-1]["max_tokens"] < 16384  # capped below the model's own limit


async def test_usage_beyond_max_tokens_that_overspends_the_budget_raises_with_the_recorded_spend(
    via_direct: LocalOpenAIServer,
) -> None:
    @infer(intent="x", budget=Budget(usd=0.001))
    def cheap(text: str) -> Sentiment: ...

    via_direct.push(Served(content=GOOD, completion_tokens=1_000_000))  # a lying provider
    with pytest.raises(BudgetExceeded) as info:
        await cheap(text="x")
    assert info.value.spent == pytest.approx(0.6, rel=0.01)
    assert stratum.trace.all_records()[-1].impossible_usage is True


# -- transient errors: retried by the runtime's policy -----------------------------------
async def test_rate_limit_then_success_honours_retry_after(direct: LocalOpenAIServer) -> None:
    stratum.configure(retry_backoff_max_s=1.0)  # the wait asked for is within the cap
    direct.push(Served(status=429, headers={"retry-after": "0.3"}), GOOD)
    started = time.perf_counter()
    assert (await classify(text="x")).label == "positive"
    # A lower bound on a wait the server asked for, not a speed limit: load only lengthens it.
    assert time.perf_counter() - started >= 0.3
    record = stratum.trace.all_records()[-1]
    assert (record.attempts, record.transient_retries) == (1, 1)


async def test_retry_after_ms_is_honoured(via_direct: LocalOpenAIServer) -> None:
    stratum.configure(retry_backoff_max_s=1.0)
    via_direct.push(Served(status=429, headers={"retry-after-ms": "250"}), GOOD)
    started = time.perf_counter()
    await classify(text="x")
    assert time.perf_counter() - started >= 0.25


async def test_a_retry_after_the_budget_cannot_wait_for_stops_the_call_at_once(via_direct: LocalOpenAIServer) -> None:
    @infer(intent="x", budget=Budget(ms=10_000))
    def budgeted(text: str) -> Sentiment: ...

    stratum.configure(retry_backoff_max_s=3600)
    via_direct.push(Served(status=429, headers={"retry-after": "3600"}), GOOD)
    async with asyncio.timeout(30):  # not a speed assertion: the wait itself would be an hour
        with pytest.raises(BudgetExceeded) as info:
            await budgeted(text="x")
    assert info.value.axis == "time" and len(via_direct.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
async def test_server_errors_then_success(direct: LocalOpenAIServer, status: int) -> None:
    direct.push(Served(status=status), Served(status=status), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 2


async def test_connection_drop_then_success(direct: LocalOpenAIServer) -> None:
    direct.push(Served(drop=True), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 1


async def test_rate_limits_that_never_end_raise_a_provider_error_with_the_status(via_direct: LocalOpenAIServer) -> None:
    stratum.configure(max_transient_retries=2)
    via_direct.respond = lambda body: Served(status=429, error="slow down")
    with pytest.raises(ProviderError) as info:
        await classify(text="x")
    assert (info.value.status_code, info.value.message, info.value.function) == (429, "slow down", "classify")
    assert len(via_direct.requests) == 3
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "ProviderError"


async def test_an_unreachable_endpoint_is_retried_then_a_provider_error_without_a_status(
    configured: Callable[..., OpenAICompatible],
) -> None:
    with LocalOpenAIServer() as gone:
        pass  # its port is closed now
    configured(gone)
    stratum.configure(max_transient_retries=1)
    with pytest.raises(ProviderError) as info:
        await classify(text="x")
    assert info.value.status_code is None
    assert stratum.trace.all_records()[-1].transient_retries == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_an_error_retrying_cannot_fix_is_a_provider_error_at_once(direct: LocalOpenAIServer, status: int) -> None:
    direct.push(Served(status=status, error="invalid api key"))
    with pytest.raises(ProviderError) as info:
        await classify(text="x")
    assert (info.value.status_code, info.value.message, info.value.model) == (status, "invalid api key", "gpt-4o-mini")
    assert len(direct.requests) == 1
    assert stratum.trace.all_records()[-1].transient_retries == 0


# -- replies a provider should never send --------------------------------------------
def _completion(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"label": "positive", '
                     '"confidence": 0.9}'}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }  # fmt: skip
    body.update(fields)
    return body


async def test_a_reply_without_choices_is_retried_as_transient(via_direct: LocalOpenAIServer) -> None:
    via_direct.push(Served(body=_completion(choices=[])), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_completion(choices=[]), "the reply has no choices"),
        (_completion(choices="not a list"), "the reply has no choices"),
        (_completion(choices=[{"index": 0, "finish_reason": "stop"}]), "the first choice has no message"),
        (_completion(choices=[{"index": 0, "message": None}]), "the first choice has no message"),
        (_completion(choices=[{"index": 0, "message": {"content": 123}}]), "the message content is a int, not text"),
        (_completion(choices=[{"index": 0, "message": {"content": ["a"]}}]), "the message content is a list, not text"),
        ("a string, not a completion", "the reply is not a JSON object"),
        ([1, 2], "the reply is not a JSON object"),
    ],
)
async def test_malformed_replies_are_retried_and_then_reported_typed(
    via_direct: LocalOpenAIServer, body: object, reason: str
) -> None:
    stratum.configure(max_transient_retries=1)
    via_direct.respond = lambda request: Served(body=body)
    with pytest.raises(MalformedResponse) as info:
        await classify(text="x")
    assert (info.value.reason, info.value.function, info.value.model) == (reason, "classify", "gpt-4o-mini")
    assert len(via_direct.requests) == 2
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "MalformedResponse"


async def test_a_refusal_is_a_parse_violation_that_is_retried(via_direct: LocalOpenAIServer) -> None:
    refused = {"index": 0, "message": {"role": "assistant", "content": None, "refusal": "I cannot help"}}
    via_direct.push(Served(body=_completion(choices=[refused])), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert "the model refused: I cannot help" in user_text(via_direct.requests[1])


# -- cancellation, timeouts, the pool ---------------------------------------------------
async def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``check`` until true; the bound is generous, reached only if it never comes."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_cancelling_the_caller_closes_the_http_request_without_leaking_tasks(direct: LocalOpenAIServer) -> None:
    direct.push(Served(content=GOOD, delay_s=30))
    before = asyncio.all_tasks()
    task = asyncio.create_task(classify(text="x"))
    await _eventually(lambda: len(direct.requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _eventually(lambda: direct.abandoned == 1)  # the server saw the hang-up
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "CancelledError"


async def test_a_time_budget_stops_a_stalled_request_and_closes_it(direct: LocalOpenAIServer) -> None:
    @infer(intent="x", budget=Budget(ms=300))
    def slow(text: str) -> Sentiment: ...

    direct.push(Served(content=GOOD, delay_s=30))  # without the budget, the answer would come after 30 s
    with pytest.raises(BudgetExceeded) as info:
        await slow(text="x")
    assert (info.value.axis, info.value.limit) == ("time", 300)
    await _eventually(lambda: direct.abandoned == 1)
    assert direct.answered == 0 and len(direct.requests) == 1


async def test_the_client_timeout_gives_up_on_a_stalled_request_and_the_retry_succeeds(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, timeout=0.2)
    server.push(Served(content=GOOD, delay_s=30), GOOD)
    assert (await classify(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].transient_retries == 1
    await _eventually(lambda: server.abandoned == 1)


async def test_a_request_that_always_times_out_ends_in_a_provider_error(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, timeout=0.1)
    stratum.configure(max_transient_retries=1)
    server.respond = lambda body: Served(content=GOOD, delay_s=30)
    with pytest.raises(ProviderError) as info:
        await classify(text="x")
    assert info.value.status_code is None and "no answer within 0.1 s" in info.value.message


async def test_max_connections_bounds_the_requests_in_flight(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, max_connections=3)
    server.respond = lambda body: GOOD
    server.hold()
    running = asyncio.create_task(stratum.parallel(*(classify(text=str(i)) for i in range(10))))
    await _eventually(lambda: server.in_flight == 3)
    server.release()
    async with asyncio.timeout(30):
        assert len(await running) == 10
    assert (server.max_in_flight, server.answered, server.connections) == (3, 10, 3)


async def test_waiting_for_a_connection_can_be_cancelled_without_losing_the_slot(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, max_connections=1)
    server.respond = lambda body: GOOD
    server.hold()
    first = asyncio.create_task(classify(text="first"))
    await _eventually(lambda: server.in_flight == 1)
    waiting = asyncio.create_task(classify(text="waiting"))
    await asyncio.sleep(0.05)  # it queues for the one connection
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    server.release()
    await first
    await classify(text="after")  # the one connection is still there for the next call
    assert (server.answered, server.connections, server.max_in_flight) == (2, 1, 1)


async def test_max_connections_lets_concurrent_calls_run_at_once(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server, max_connections=50)
    server.respond = lambda body: GOOD
    server.hold()
    running = asyncio.create_task(stratum.parallel(*(classify(text=str(i)) for i in range(20))))
    await _eventually(lambda: server.in_flight == 20)  # sequential calls would never get there
    server.release()
    async with asyncio.timeout(30):
        await running
    assert server.max_in_flight == 20


# -- selecting the client by the model's name -----------------------------------------------
async def test_an_openai_compatible_prefix_goes_to_the_endpoint_the_environment_names(
    server: LocalOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATUM_OPENAI_COMPATIBLE_BASE_URL", server.url)
    monkeypatch.setenv("STRATUM_OPENAI_COMPATIBLE_API_KEY", "sk-local-test")
    stratum.configure(default_model="openai-compatible/gpt-4o-mini")
    server.push(GOOD)
    assert (await classify(text="x")).label == "positive"
    assert server.requests[0]["model"] == "gpt-4o-mini"  # the prefix is never sent
    record = stratum.trace.all_records()[-1]
    assert record.model == "openai-compatible/gpt-4o-mini"
    stratum.reset_defaults()  # drops the client built from the environment


async def test_an_openai_compatible_prefix_without_an_endpoint_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRATUM_OPENAI_COMPATIBLE_BASE_URL", raising=False)
    stratum.configure(default_model="openai-compatible/llama-3")
    with pytest.raises(stratum.StratumConfigError, match="STRATUM_OPENAI_COMPATIBLE_BASE_URL"):
        await classify(text="x")


async def test_a_configured_client_wins_over_the_prefix(
    server: LocalOpenAIServer, configured: Callable[..., OpenAICompatible]
) -> None:
    configured(server)
    stratum.configure(default_model="openai-compatible/gpt-4o-mini")
    server.push(GOOD)
    await classify(text="x")
    assert server.requests[0]["model"] == "gpt-4o-mini"


# -- caching --------------------------------------------------------------------------
def test_the_cache_identity_names_the_endpoint_and_body_defaults_never_keys_or_headers() -> None:
    one = OpenAICompatible("http://127.0.0.1:9/v1", "sk-one", headers={"x-team": "a"}, extra_body={"seed": 1})
    other_key = OpenAICompatible("http://127.0.0.1:9/v1/", "sk-two", headers={"x-team": "b"}, extra_body={"seed": 1})
    other_seed = OpenAICompatible("http://127.0.0.1:9/v1", "sk-one", extra_body={"seed": 2})
    other_host = OpenAICompatible("http://127.0.0.2:9/v1", "sk-one", extra_body={"seed": 1})
    assert one.cache_identity() == other_key.cache_identity()
    assert len({one.cache_identity(), other_seed.cache_identity(), other_host.cache_identity()}) == 3
    assert "sk-one" not in one.cache_identity()
    with_secret = OpenAICompatible("http://127.0.0.1:9/v1?api-version=1&key=secret-in-url", None)
    assert "secret-in-url" not in with_secret.cache_identity() and "api-version" in with_secret.cache_identity()


async def test_a_cached_call_is_answered_once_through_the_direct_client(via_direct: LocalOpenAIServer) -> None:
    @infer(intent="Classify the tone", cache="session")
    def cached(text: str) -> Sentiment: ...

    @flow
    async def twice() -> None:
        await cached(text="same")
        await cached(text="same")

    via_direct.push(GOOD)
    await twice()
    assert len(via_direct.requests) == 1


# -- construction -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"max_connections": 0},
        {"max_connections": True},
        {"timeout": 0},
        {"timeout": "1s"},
        {"models": {"m": (1e-6, 2e-6)}},
        {"headers": {"x-bad": "a\r\nb"}},
    ],
)
def test_bad_settings_are_refused_when_the_client_is_built(options: dict[str, object]) -> None:
    with pytest.raises(stratum.StratumConfigError):
        OpenAICompatible("http://127.0.0.1:9/v1", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ftp://example.invalid/v1", "127.0.0.1:8000/v1", "http:///v1"])
def test_a_base_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(stratum.StratumConfigError):
        OpenAICompatible(url)


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the first loop's connection, left open by that loop
def test_a_client_used_from_a_second_event_loop_opens_new_connections(server: LocalOpenAIServer) -> None:
    client = OpenAICompatible(server.url, "sk-local-test")
    stratum.configure(client=client, default_model="gpt-4o-mini")

    async def call(*, close: bool) -> None:
        server.push(GOOD)
        await classify(text="x")
        if close:
            await client.aclose()

    asyncio.run(call(close=False))
    asyncio.run(call(close=True))  # the first loop is closed; its connection cannot be used here
    gc.collect()  # the abandoned connection's socket is closed now, inside this test
    assert (server.answered, server.connections) == (2, 2)
