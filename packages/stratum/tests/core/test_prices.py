"""USD budgets on models without a known price: refused, unless the user supplies the price."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, StratumConfigError, contract, flow, infer
from stratum.clients import LiteLLMClient
from stratum.testing.openai_server import LocalOpenAIServer, Served

#: The README's model, missing from LiteLLM's price map (1.110.2).
GROQ = "groq/llama-3.3-70b-versatile"


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


GOOD = {"label": "positive", "confidence": 0.9}


@infer(intent="Classify the tone", budget=Budget(usd=0.000001))
def classify_on_budget(text: str) -> Sentiment: ...


@infer(intent="Classify the tone")
def classify(text: str) -> Sentiment: ...


@pytest.fixture
def groq(server: LocalOpenAIServer) -> LocalOpenAIServer:
    stratum.configure(client=LiteLLMClient(api_base=server.url, api_key="gsk-local-test"), default_model=GROQ)
    return server


async def test_a_usd_budget_on_a_model_without_a_price_is_refused_before_sending(groq: LocalOpenAIServer) -> None:
    groq.push(GOOD, GOOD, GOOD)
    with pytest.raises(StratumConfigError) as info:
        await classify_on_budget(text="x")
    assert GROQ in str(info.value) and "prices=" in str(info.value)  # names the model and the fix
    assert len(groq.requests) == 0
    (record,) = stratum.trace.all_records()
    assert record.error is not None and record.error.type == "StratumConfigError"


async def test_a_flows_usd_budget_refuses_an_unpriced_call_inside_it(groq: LocalOpenAIServer) -> None:
    @flow(budget=Budget(usd=0.01))
    async def pipeline() -> Sentiment:
        return await classify(text="x")

    with pytest.raises(StratumConfigError):
        await pipeline()
    assert len(groq.requests) == 0


async def test_configured_prices_enforce_the_budget_and_price_the_trace_record(groq: LocalOpenAIServer) -> None:
    stratum.configure(prices={GROQ: (5.9e-7, 7.9e-7)})
    groq.push(Served(GOOD, prompt_tokens=100, completion_tokens=20))

    @infer(intent="Classify the tone", budget=Budget(usd=0.01))
    def priced(text: str) -> Sentiment: ...

    assert (await priced(text="x")).label == "positive"
    assert 0 < groq.requests[0]["max_tokens"] <= 0.01 / 7.9e-7  # capped by the price, before sending
    (record,) = stratum.trace.all_records()
    assert record.cost_usd == pytest.approx(100 * 5.9e-7 + 20 * 7.9e-7)


async def test_configured_prices_also_stop_a_budget_too_small_for_the_prompt(groq: LocalOpenAIServer) -> None:
    stratum.configure(prices={GROQ: (5.9e-7, 7.9e-7)})
    with pytest.raises(stratum.BudgetExceeded) as info:
        await classify_on_budget(text="x" * 200)
    assert info.value.axis == "cost" and len(groq.requests) == 0


async def test_without_a_usd_budget_an_unknown_price_is_none_in_the_trace(groq: LocalOpenAIServer) -> None:
    groq.push(GOOD)
    await classify(text="x")
    (record,) = stratum.trace.all_records()
    assert record.ok and record.cost_usd is None and record.input_tokens


@pytest.mark.parametrize(
    "prices",
    [{GROQ: (1e-6,)}, {GROQ: (-1e-6, 1e-6)}, {GROQ: ("cheap", 1e-6)}, {1: (1e-6, 1e-6)}, [(GROQ, 1e-6, 1e-6)]],
)
def test_prices_that_are_not_two_non_negative_numbers_per_model_are_refused(prices: object) -> None:
    with pytest.raises(StratumConfigError):
        stratum.configure(prices=prices)  # type: ignore[arg-type]
