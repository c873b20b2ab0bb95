"""Hard time and cost budgets, per call and per flow (scripted client)."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, BudgetExceeded, contract, flow, infer
from stratum.clients import ModelInfo
from stratum.testing import Reply, ScriptedClient, virtual_time

PRICED = ModelInfo(input_usd_per_token=1e-6, output_usd_per_token=2e-6, max_output_tokens=4000)


@contract
class Label(BaseModel):
    label: Literal["a", "b"]


OK = {"label": "a"}


def priced_client(*responses: object, latency_s: float = 0.0, respond: Any = None) -> ScriptedClient:
    client = ScriptedClient(responses, model_info=PRICED, latency_s=latency_s, respond=respond)
    stratum.configure(client=client, default_model="priced-model")
    return client


def test_budget_rejects_non_positive_or_non_numeric_limits() -> None:
    with pytest.raises(ValueError):
        Budget(ms=0)
    with pytest.raises(ValueError):
        Budget(usd=-1)
    with pytest.raises(TypeError):
        Budget(ms="100")  # type: ignore[arg-type]


async def test_time_budget_stops_a_slow_call_and_cancels_the_request() -> None:
    client = priced_client(OK, latency_s=5)

    @infer(intent="x", budget=Budget(ms=100))
    def f(text: str) -> Label: ...

    with pytest.raises(BudgetExceeded) as info:
        await f(text="x")  # without the budget, the answer would come after 5 s
    err = info.value
    assert (err.axis, err.limit) == ("time", 100)
    assert err.function.endswith("<locals>.f")
    assert err.spent >= 100
    assert client.cancelled == 1 and client.in_flight == 0  # the request was interrupted, not left running
    assert len(client.requests) == 1  # and nothing was sent after it


async def test_cost_budget_caps_max_tokens_to_what_remains() -> None:
    client = priced_client(OK)

    @infer(intent="x", budget=Budget(usd=0.002))
    def f(text: str) -> Label: ...

    await f(text="x")
    request = client.requests[0]
    prompt_tokens = math.ceil(client.count_tokens("m", request.messages) * 1.05) + 16
    expected = math.floor((0.002 - prompt_tokens * 1e-6) / 2e-6)
    assert request.max_tokens == expected
    # The worst case of the request fits the budget.
    assert prompt_tokens * 1e-6 + request.max_tokens * 2e-6 <= 0.002


async def test_cost_budget_is_capped_by_the_models_own_output_limit() -> None:
    client = priced_client(OK)

    @infer(intent="x", budget=Budget(usd=10))
    def f(text: str) -> Label: ...

    await f(text="x")
    assert client.requests[0].max_tokens == 4000


async def test_prompt_that_alone_exceeds_the_budget_is_never_sent() -> None:
    client = priced_client(OK)

    @infer(intent="x", budget=Budget(usd=0.00001))
    def f(text: str) -> Label: ...

    with pytest.raises(BudgetExceeded) as info:
        await f(text="a long text " * 50)
    assert info.value.axis == "cost"
    assert "prompt alone" in (info.value.detail or "")
    assert len(client.requests) == 0


def worst_case(client: ScriptedClient) -> float:
    """What the sent requests could have cost at most, by the runtime's own accounting."""
    total = 0.0
    for request in client.requests:
        prompt = math.ceil(client.count_tokens("m", request.messages) * 1.05) + 16
        total += prompt * 1e-6 + (request.max_tokens or 0) * 2e-6
    return total


async def test_retries_draw_from_the_same_envelope() -> None:
    # Every answer fails `ensure` and uses 1,000 output tokens (~$0.0024 with the prompt).
    client = priced_client(respond=lambda _r: Reply('{"label": "b"}', output_tokens=1000))

    @infer(intent="x", ensure=lambda r: r.label == "a", budget=Budget(usd=0.006), retries=10)
    def f(text: str) -> Label: ...

    with pytest.raises(BudgetExceeded) as info:
        await f(text="x")
    assert info.value.axis == "cost"
    assert 2 <= len(client.requests) < 11
    assert info.value.spent <= 0.006
    record = stratum.trace.all_records()[-1]
    assert record.error is not None and record.error.type == "BudgetExceeded"
    assert record.attempts == len(client.requests)
    assert record.cost_usd == pytest.approx(info.value.spent)


async def test_flow_budget_is_charged_by_calls_without_their_own_budget() -> None:
    priced_client(respond=lambda _r: Reply('{"label": "a"}', output_tokens=1000))

    @infer(intent="x")
    def f(text: str) -> Label: ...

    calls = 0

    @flow(budget=Budget(usd=0.006))
    async def pipeline() -> None:
        nonlocal calls
        for _ in range(10):
            await f(text="x")
            calls += 1

    with pytest.raises(BudgetExceeded) as info:
        await pipeline()
    assert 2 <= calls < 10
    assert info.value.scope.endswith("pipeline")
    assert info.value.spent <= 0.006


async def test_per_call_budget_cannot_escape_the_flow_budget() -> None:
    client = priced_client(OK)

    @infer(intent="x", budget=Budget(usd=100))
    def generous(text: str) -> Label: ...

    @flow(budget=Budget(usd=0.002))
    async def pipeline() -> None:
        await generous(text="x")

    await pipeline()
    request = client.requests[0]
    prompt_tokens = math.ceil(client.count_tokens("m", request.messages) * 1.05) + 16
    assert request.max_tokens == math.floor((0.002 - prompt_tokens * 1e-6) / 2e-6)


async def test_per_call_budget_tightens_the_flow_budget() -> None:
    client = priced_client(OK, latency_s=5)

    @infer(intent="x", budget=Budget(ms=50))
    def tight(text: str) -> Label: ...

    @flow(budget=Budget(ms=5000))
    async def pipeline() -> None:
        await tight(text="x")

    with pytest.raises(BudgetExceeded) as info:
        await pipeline()
    assert info.value.scope.endswith("tight") and info.value.limit == 50
    assert client.cancelled == 1


@virtual_time
async def test_flow_time_budget_also_bounds_compute_steps(now: Any) -> None:
    @flow(budget=Budget(ms=50))
    async def slow() -> None:
        await asyncio.sleep(5)

    started = now()
    with pytest.raises(BudgetExceeded) as info:
        await slow()
    assert (info.value.axis, info.value.scope) == ("time", info.value.function)
    # Stopped at its limit (virtual time: exact), not when the step would have ended.
    assert now() - started == pytest.approx(0.05)
    assert info.value.spent == pytest.approx(50)


async def test_a_usd_budget_for_a_model_without_a_price_is_refused_before_sending() -> None:
    # The client would report each response's cost, but only afterwards: a hard limit cannot be kept so.
    client = ScriptedClient([Reply('{"label": "a"}', cost_usd=0.02)])
    stratum.configure(client=client, default_model="mystery-model")

    @infer(intent="x")
    def f(text: str) -> Label: ...

    @flow(budget=Budget(usd=0.01))
    async def pipeline() -> None:
        await f(text="x")

    with pytest.raises(stratum.StratumConfigError):
        await pipeline()
    assert len(client.requests) == 0
    stratum.configure(prices={"mystery-model": (1e-6, 2e-6)})  # the fix the error names
    await pipeline()
    assert client.requests[0].max_tokens is not None  # capped before sending, from the configured price


@virtual_time  # all four reserve before any answers, however loaded the machine
async def test_concurrent_calls_reserve_their_worst_case_against_a_shared_budget() -> None:
    client = priced_client(latency_s=0.05, respond=lambda _r: Reply('{"label": "a"}', output_tokens=10_000))
    stratum.configure(max_output_tokens=1000)  # worst case per call ~ $0.0023

    @infer(intent="x")
    def f(text: str) -> Label: ...

    @flow(budget=Budget(usd=0.005))
    async def pipeline() -> list[object]:
        return await asyncio.gather(*(f(text=str(i)) for i in range(4)), return_exceptions=True)

    results = await pipeline()
    # Started together, the calls could not all fit: the late ones got smaller
    # caps or were refused, and even the worst case of what was sent fits.
    assert any(isinstance(r, BudgetExceeded) for r in results)
    assert [r.max_tokens for r in client.requests][:2] == [1000, 1000]
    assert worst_case(client) <= 0.005


async def test_a_call_with_its_own_budget_is_charged_to_the_flow_around_it() -> None:
    priced_client(respond=lambda _r: Reply('{"label": "a"}', output_tokens=1000))

    @infer(intent="x", budget=Budget(usd=1.0))  # generous on its own; the flow is what binds
    def f(text: str) -> Label: ...

    calls = 0

    @flow(budget=Budget(usd=0.005))
    async def pipeline() -> None:
        nonlocal calls
        for _ in range(10):
            await f(text="x")
            calls += 1

    with pytest.raises(BudgetExceeded) as info:
        await pipeline()
    assert 1 <= calls < 10
    assert info.value.axis == "cost" and info.value.scope.endswith("pipeline")
    assert info.value.spent <= 0.005


@virtual_time
async def test_budgets_are_measured_on_the_running_loops_clock(now: Any) -> None:
    priced_client(OK, latency_s=5)

    @infer(intent="x")
    def f(text: str) -> Label: ...

    @flow(budget=Budget(ms=1000))
    async def pipeline() -> None:
        await asyncio.sleep(0.25)  # a quarter of the budget, on the loop's (virtual) clock
        await f(text="x")

    with pytest.raises(BudgetExceeded) as info:
        await pipeline()
    assert now() == pytest.approx(1.0)  # stopped at the deadline, not after the 5 s answer
    assert info.value.spent == pytest.approx(1000)
