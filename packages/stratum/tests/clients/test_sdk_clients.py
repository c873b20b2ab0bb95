"""Direct SDK clients: ``configure(client=openai.AsyncOpenAI(...))`` or ``anthropic.AsyncAnthropic(...)``.

The OpenAI adapter talks to the local OpenAI-compatible server for real; the Anthropic one goes
through the SDK's own HTTP layer to an ``httpx.MockTransport`` that answers as the Messages API does.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import anthropic
import openai
import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, StratumConfigError, contract, infer
from stratum.clients import AnthropicClient, OpenAIClient
from stratum.testing import prompt_text
from stratum.testing.openai_server import LocalOpenAIServer, Served


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


GOOD = {"label": "positive", "confidence": 0.9}
# The HTTP library the Anthropic SDK is built on (httpx, or httpx2 in recent releases), for its MockTransport.
http = importlib.import_module(anthropic.DefaultAsyncHttpxClient.__mro__[1].__module__.split(".")[0])


@infer(intent="Classify the tone", ensure=lambda r: r.confidence > 0.7)
def classify(text: str) -> Sentiment: ...


# -- OpenAI -----------------------------------------------------------------------
@pytest.fixture
async def sdk(server: LocalOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=server.url, api_key="sk-local") as client:
        yield client


async def test_an_openai_async_client_is_used_directly_with_strict_structured_output(
    server: LocalOpenAIServer, sdk: openai.AsyncOpenAI
) -> None:
    stratum.configure(client=sdk, default_model="gpt-4o-mini")
    assert isinstance(stratum.get_config().client, OpenAIClient)
    low = Served({"label": "positive", "confidence": 0.3}, prompt_tokens=50, completion_tokens=10)
    server.push(low, Served(GOOD, prompt_tokens=50, completion_tokens=9))
    assert await classify(text="Great") == Sentiment(**GOOD)
    first, second = server.requests
    assert first["model"] == "gpt-4o-mini" and first["response_format"]["json_schema"]["strict"] is True
    assert "confidence=0.3" in prompt_text(second)
    (record,) = stratum.trace.all_records()
    assert (record.attempts, record.output_tokens, record.response_model) == (2, 19, "gpt-4o-mini")


async def test_the_openai_adapter_leaves_retries_to_stratum(server: LocalOpenAIServer, sdk: openai.AsyncOpenAI) -> None:
    stratum.configure(client=sdk, default_model="gpt-4o-mini")
    server.push(Served(status=429, headers={"retry-after": "0"}), Served(status=503), GOOD)
    assert (await classify(text="Great")).label == "positive"
    assert len(server.requests) == 3  # the SDK's own retries are off: each retry is Stratum's
    assert stratum.trace.all_records()[-1].transient_retries == 2


async def test_the_openai_adapter_surfaces_a_bad_request_unchanged(
    server: LocalOpenAIServer, sdk: openai.AsyncOpenAI
) -> None:
    stratum.configure(client=sdk, default_model="gpt-4o-mini")
    server.push(Served(status=400, error="bad request"))
    with pytest.raises(openai.BadRequestError):
        await classify(text="Great")
    assert len(server.requests) == 1


async def test_a_usd_budget_with_an_sdk_client_needs_configured_prices(
    server: LocalOpenAIServer, sdk: openai.AsyncOpenAI
) -> None:
    stratum.configure(client=sdk, default_model="gpt-4o-mini")

    @infer(intent="Classify the tone", budget=Budget(usd=0.01))
    def on_budget(text: str) -> Sentiment: ...

    with pytest.raises(StratumConfigError):
        await on_budget(text="x")
    stratum.configure(prices={"gpt-4o-mini": (1.5e-7, 6e-7)})
    server.push(Served(GOOD, prompt_tokens=100, completion_tokens=10))
    assert (await on_budget(text="x")).label == "positive"
    assert stratum.trace.all_records()[-1].cost_usd == pytest.approx(100 * 1.5e-7 + 10 * 6e-7)


def test_a_synchronous_sdk_client_is_refused_with_the_async_one_named() -> None:
    with pytest.raises(StratumConfigError, match="AsyncOpenAI"):
        stratum.configure(client=openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-local"))
    with pytest.raises(StratumConfigError, match="AsyncAnthropic"):
        stratum.configure(client=anthropic.Anthropic(api_key="sk-ant-local"))


# -- Anthropic ----------------------------------------------------------------------
class MessagesAPI:
    """Answers ``POST /v1/messages`` like Anthropic's Messages API; keeps every request body."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: Any) -> http.Response:
        assert request.url.path == "/v1/messages"
        self.requests.append(json.loads(request.content))
        answer = self.answers.pop(0)
        if isinstance(answer, http.Response):
            return answer
        body = self.requests[-1]
        tool = body["tools"][0]["name"] if body.get("tools") else None
        content = (
            [{"type": "tool_use", "id": "toolu_1", "name": tool, "input": answer}]
            if tool
            else [{"type": "text", "text": json.dumps(answer)}]
        )
        return http.Response(200, json={
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"], "content": content,
            "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 40, "output_tokens": 12},
        })  # fmt: skip


def anthropic_client(api: MessagesAPI) -> anthropic.AsyncAnthropic:
    transport = http.MockTransport(api)
    return anthropic.AsyncAnthropic(
        api_key="sk-ant-local", http_client=anthropic.DefaultAsyncHttpxClient(transport=transport)
    )


async def test_an_anthropic_async_client_gets_the_contract_as_a_forced_tool() -> None:
    api = MessagesAPI({"label": "positive", "confidence": 0.2}, GOOD)
    stratum.configure(client=anthropic_client(api), default_model="claude-sonnet-4-5")
    assert isinstance(stratum.get_config().client, AnthropicClient)
    assert await classify(text="Great") == Sentiment(**GOOD)
    first, second = api.requests
    assert first["model"] == "claude-sonnet-4-5" and first["max_tokens"] >= 1
    assert first["system"].startswith("You are executing a typed function")
    assert [m["role"] for m in first["messages"]] == ["user"]
    (tool,) = first["tools"]
    assert tool["input_schema"]["properties"].keys() == {"label", "confidence"}
    assert first["tool_choice"] == {"type": "tool", "name": tool["name"]}
    assert "confidence=0.2" in json.dumps(second["messages"])
    record = stratum.trace.all_records()[-1]
    assert (record.attempts, record.input_tokens, record.output_tokens) == (2, 80, 24)


async def test_the_anthropic_adapter_retries_an_overloaded_api_through_stratum() -> None:
    overloaded = http.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    api = MessagesAPI(overloaded, GOOD)
    stratum.configure(client=anthropic_client(api), default_model="claude-sonnet-4-5")
    assert (await classify(text="Great")).label == "positive"
    assert len(api.requests) == 2 and stratum.trace.all_records()[-1].transient_retries == 1


async def test_the_anthropic_adapter_in_json_mode_sends_no_tool() -> None:
    api = MessagesAPI(GOOD)
    stratum.configure(client=anthropic_client(api), default_model="claude-sonnet-4-5", structured_output="json_object")
    assert (await classify(text="Great")).label == "positive"
    assert "tools" not in api.requests[0] and '"label"' in api.requests[0]["system"]
