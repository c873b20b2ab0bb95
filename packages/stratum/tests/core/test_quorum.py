"""@infer(quorum=N, agree_on=..., threshold=K): N concurrent @infer loops and a vote."""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    Budget,
    BudgetExceeded,
    ConsensusFailure,
    PostconditionFailed,
    PreconditionFailed,
    StratumCompileError,
    contract,
    flow,
    infer,
)
from stratum.clients import ModelInfo
from stratum.testing import Reply, ScriptedClient, virtual_time


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasoning: str


@contract
class Route(BaseModel):
    team: str
    note: str


def said(label: str, confidence: float = 0.9, reasoning: str = "r") -> dict[str, Any]:
    return {"label": label, "confidence": confidence, "reasoning": reasoning}


@infer(intent="Classify the tone", quorum=5, agree_on="label", threshold=3)
def classify(text: str) -> Sentiment: ...


def quorum_tags() -> list[dict[str, Any]]:
    return [r.extra["quorum"] for r in stratum.trace.all_records()]


async def test_the_agreeing_output_with_the_highest_confidence_is_returned(scripted: ScriptedClient) -> None:
    scripted.push(
        said("positive", 0.7), said("negative", 0.99), said("positive", 0.95), said("positive", 0.8),
        said("negative", 0.9),
    )  # fmt: skip
    result = await classify(text="Great, I guess")
    assert (result.label, result.confidence) == ("positive", 0.95)
    assert len(scripted.requests) == 5
    # Every invocation sent the same full prompt: each is a whole @infer loop.
    assert len({str(r.messages) for r in scripted.requests}) == 1


async def test_the_trace_has_one_record_per_invocation_and_marks_which_agreed(scripted: ScriptedClient) -> None:
    scripted.push(
        said("positive", 0.7), said("negative", 0.99), said("positive", 0.95), said("positive", 0.8),
        said("negative", 0.9),
    )  # fmt: skip
    await classify(text="Great, I guess")
    records = stratum.trace.all_records()
    assert len(records) == 5 and all(r.ok for r in records)
    tags = quorum_tags()
    assert [t["index"] for t in tags] == [0, 1, 2, 3, 4]
    assert len({t["id"] for t in tags}) == 1 and {t["size"] for t in tags} == {5}
    assert [t["vote"] for t in tags] == ["positive", "negative", "positive", "positive", "negative"]
    assert [t["agreed"] for t in tags] == [True, False, True, True, False]
    assert [t["chosen"] for t in tags] == [False, False, True, False, False]


async def test_without_a_confidence_field_the_first_agreeing_output_is_returned(scripted: ScriptedClient) -> None:
    @infer(intent="Route the ticket", quorum=3, agree_on="team", threshold=2)
    def route(text: str) -> Route: ...

    scripted.push({"team": "billing", "note": "a"}, {"team": "billing", "note": "b"}, {"team": "tech", "note": "c"})
    result = await route(text="refund please")
    assert (result.team, result.note) == ("billing", "a")


async def test_too_few_agreeing_outputs_raise_consensus_failure_with_outputs_and_votes(
    scripted: ScriptedClient,
) -> None:
    scripted.push(said("positive"), said("negative"), said("neutral"), said("negative"), said("positive"))
    with pytest.raises(ConsensusFailure) as info:
        await classify(text="Hmm")
    err = info.value
    assert err.votes == {"positive": 2, "negative": 2, "neutral": 1}
    assert (err.threshold, err.agree_on, err.function) == (3, "label", "classify")
    assert [o.label for o in err.outputs] == ["positive", "negative", "neutral", "negative", "positive"]
    assert err.errors == (None,) * 5
    assert not any(t["agreed"] or t["chosen"] for t in quorum_tags())
    assert len(stratum.trace.all_records()) == 5


async def test_an_invocation_that_exhausts_its_retries_casts_no_vote(scripted: ScriptedClient) -> None:
    @infer(intent="x", ensure=lambda r: r.confidence > 0.5, retries=0, quorum=3, agree_on="label", threshold=2)
    def strict(text: str) -> Sentiment: ...

    scripted.push(said("positive", 0.9), said("positive", 0.1), said("positive", 0.8))
    assert (await strict(text="a")).confidence == 0.9
    scripted.push(said("positive", 0.9), said("positive", 0.1), said("negative", 0.8))
    with pytest.raises(ConsensusFailure) as info:
        await strict(text="b")
    err = info.value
    assert err.votes == {"positive": 1, "negative": 1}
    assert err.outputs[1] is None and isinstance(err.errors[1], PostconditionFailed)


async def test_a_false_precondition_is_raised_once_not_as_a_group(scripted: ScriptedClient) -> None:
    @infer(intent="x", given=lambda text: len(text) > 0, quorum=3, agree_on="label", threshold=2)
    def guarded(text: str) -> Sentiment: ...

    with pytest.raises(PreconditionFailed):
        await guarded(text="")
    assert len(scripted.requests) == 0


async def test_quorum_invocations_are_all_in_flight_at_once(wait_until: Any) -> None:
    answer = '{"label": "neutral", "confidence": 0.5, "reasoning": "r"}'
    client = ScriptedClient(respond=lambda _r: answer)
    stratum.configure(client=client, default_model="test-model")
    client.hold()
    voting = asyncio.create_task(classify(text="x"))
    await wait_until(lambda: client.in_flight == 5)  # one after another, only one would ever be
    client.release()
    assert (await voting).label == "neutral"
    assert client.max_in_flight == 5


PRICED = ModelInfo(input_usd_per_token=1e-6, output_usd_per_token=2e-6, max_output_tokens=4000)


@virtual_time  # the answers arrive exactly in the order of their latencies
async def test_budget_running_out_in_the_middle_of_a_quorum_stops_every_invocation(live_tasks: Any) -> None:
    # Invocation 0 answers at once and spends the whole flow budget; invocation 1
    # fails `ensure` and would retry; invocation 2 is still waiting for its answer.
    client = ScriptedClient(
        [
            Reply(_json(said("positive", 0.9)), cost_usd=0.005, latency_s=0.01),
            Reply(_json(said("positive", 0.1)), cost_usd=0.0001, latency_s=0.03),
            Reply(_json(said("positive", 0.9)), cost_usd=0.0001, latency_s=5.0),
        ],
        model_info=PRICED,
    )
    stratum.configure(client=client, default_model="priced", max_output_tokens=100)

    @infer(intent="x", ensure=lambda r: r.confidence > 0.5, retries=2, quorum=3, agree_on="label", threshold=2)
    def voted(text: str) -> Sentiment: ...

    @flow(budget=Budget(usd=0.005))
    async def pipeline() -> Sentiment:
        return await voted(text="x")

    before = live_tasks()
    with pytest.raises(BudgetExceeded) as info:
        await pipeline()
    assert info.value.axis == "cost" and info.value.scope.endswith("<locals>.pipeline")
    assert len(client.requests) == 3  # the retry was never sent
    assert client.cancelled == 1  # invocation 2's request was interrupted
    assert live_tasks() == before
    outcomes = [(r.extra["quorum"]["index"], r.error.type if r.error else "ok") for r in stratum.trace.all_records()]
    assert outcomes == [(0, "ok"), (1, "BudgetExceeded"), (2, "CancelledError")]


@virtual_time
async def test_the_functions_own_budget_covers_all_invocations_together() -> None:
    # A latency keeps all three requests in flight together (virtual time: whatever the load).
    client = ScriptedClient(respond=lambda _r: _json(said("positive")), model_info=PRICED, latency_s=0.01)
    stratum.configure(client=client, default_model="priced", max_output_tokens=100)

    def declare(budget: Budget | None) -> Any:
        @infer(intent="x", quorum=3, agree_on="label", threshold=2, budget=budget)
        def voted(text: str) -> Sentiment: ...

        return voted

    await declare(None)(text="x")
    one = worst_case(client, client.requests[0])
    client.requests.clear()
    # Room for two full requests and a third with 50 output tokens: as one
    # envelope, the third invocation gets the smaller cap.
    limit = 2 * one + (one - 100 * 2e-6) + 50 * 2e-6
    await declare(Budget(usd=limit))(text="x")
    caps = [r.max_tokens for r in client.requests]
    assert caps[:2] == [100, 100] and caps[2] is not None and 45 <= caps[2] <= 50
    assert sum(worst_case(client, r) for r in client.requests) <= limit


def worst_case(client: ScriptedClient, request: Any) -> float:
    """The most a sent request could cost, by the runtime's own accounting."""
    prompt_tokens = math.ceil(client.count_tokens("m", request.messages) * 1.05) + 16
    return prompt_tokens * 1e-6 + (request.max_tokens or 0) * 2e-6


async def test_quorum_through_litellm_votes_on_real_http_responses(through_litellm: Any, warm_litellm: Any) -> None:
    answers = itertools.cycle([said("negative", 0.8), said("negative", 0.95), said("positive", 0.99)])

    @infer(intent="Classify the tone", quorum=3, agree_on="label", threshold=2)
    def voted(text: str) -> Sentiment: ...

    with through_litellm(lambda _body: next(answers)) as server:
        await warm_litellm()
        result = await voted(text="Meh")
        assert len(server.requests) == 4  # the warm-up and three invocations
    assert (result.label, result.confidence) == ("negative", 0.95)
    tags = quorum_tags()
    assert sorted(t["vote"] for t in tags) == ["negative", "negative", "positive"]
    assert sum(t["agreed"] for t in tags) == 2 and sum(t["chosen"] for t in tags) == 1
    assert all(r.model == "openai/gpt-4o-mini" for r in stratum.trace.all_records())


def test_agree_on_may_be_declared_without_quorum_but_threshold_may_not() -> None:
    @infer(intent="x", agree_on="label")
    def fine(text: str) -> Sentiment: ...

    assert fine.spec.agree_on == "label" and fine.spec.quorum is None
    with pytest.raises(StratumCompileError, match="not a field"):

        @infer(intent="x", agree_on="mood")
        def unknown(text: str) -> Sentiment: ...

    with pytest.raises(StratumCompileError, match="needs `quorum=N`"):

        @infer(intent="x", agree_on="label", threshold=2)
        def lonely(text: str) -> Sentiment: ...


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)


async def test_a_cached_quorum_function_still_asks_the_model_once_per_vote(scripted: ScriptedClient) -> None:
    @infer(intent="Classify", quorum=3, agree_on="label", threshold=2, cache="session")
    def cached(text: str) -> Sentiment: ...

    scripted.push(said("positive"), said("positive"), said("negative"))

    @stratum.flow
    async def run() -> Sentiment:
        return await cached(text="x")

    assert (await run()).label == "positive"
    assert len(scripted.requests) == 3
