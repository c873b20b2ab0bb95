"""stratum.debate: concurrent rounds, rebuttals, convergence, synthesis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import ContractFailure, contract, debate, infer, opaque
from stratum.clients import CompletionRequest
from stratum.testing import Reply, ScriptedClient, prompt_text


@contract
class Argument(BaseModel):
    position: Literal["ship", "wait"]
    reasoning: str


@contract
class Verdict(BaseModel):
    decision: Literal["ship", "wait"]
    resolution_type: Literal["consensus", "disagreement", "partial"]
    summary: str


@infer(intent="Argue for shipping on Friday; answer the other side's points", agree_on="position")
def optimist(topic: str, previous_arguments: opaque[Sequence[Argument]] = ()) -> Argument: ...


@infer(intent="Argue against shipping on Friday; answer the other side's points", agree_on="position")
def skeptic(topic: str, previous_arguments: opaque[Sequence[Argument]] = ()) -> Argument: ...


@infer(intent="Weigh the arguments and resolve the question")
def judge(topic: str, arguments: opaque[list[list[Argument]]], converged: bool) -> Verdict: ...


@contract
class Other(BaseModel):
    stance: str
    position: str


TOPIC = "Ship the release on Friday?"


def scripted_debate(script: dict[str, list[dict[str, Any]]], latency_s: float = 0.0) -> ScriptedClient:
    """Each function answers from its own list, in call order (agents run concurrently)."""
    queues = {name: list(answers) for name, answers in script.items()}

    def respond(request: CompletionRequest) -> Reply:
        return Reply(json.dumps(queues[request.function].pop(0)), latency_s=latency_s)

    client = ScriptedClient(respond=respond)
    stratum.configure(client=client, default_model="test-model")
    return client


def arg(position: str, reasoning: str) -> dict[str, Any]:
    return {"position": position, "reasoning": reasoning}


def verdict(resolution: str) -> dict[str, Any]:
    return {"decision": "ship", "resolution_type": resolution, "summary": "s"}


async def test_a_debate_that_converges_reaches_the_synthesizer_as_converged() -> None:
    client = scripted_debate({
        "optimist": [arg("ship", "tests are green"), arg("ship", "rollback is one click")],
        "skeptic": [arg("wait", "nobody on call at the weekend"), arg("ship", "fine, rollback is easy")],
        "judge": [verdict("consensus")],
    })  # fmt: skip
    result = await debate([optimist, skeptic], TOPIC, rounds=2, synthesize=judge)
    assert isinstance(result, Verdict) and result.resolution_type == "consensus"
    judged = prompt_text(client.requests[-1])
    assert "converged: true" in judged
    # The synthesizer sees the whole history, by round.
    assert judged.index("tests are green") < judged.index("rollback is one click")
    assert "nobody on call" in judged and "fine, rollback is easy" in judged


async def test_each_later_round_shows_an_agent_only_the_others_previous_arguments() -> None:
    client = scripted_debate({
        "optimist": [arg("ship", "tests are green"), arg("ship", "still green")],
        "skeptic": [arg("wait", "nobody on call"), arg("wait", "still nobody")],
        "judge": [verdict("disagreement")],
    })  # fmt: skip
    await debate([optimist, skeptic], TOPIC, rounds=2, synthesize=judge)
    sent = {(r.function, i): prompt_text(r) for i, r in enumerate(client.requests)}
    first_round = [text for (fn, i), text in sent.items() if i < 2]
    assert all("tests are green" not in t and "nobody on call" not in t for t in first_round)
    second = {fn: text for (fn, i), text in sent.items() if 2 <= i < 4}
    assert "nobody on call" in second["optimist"] and "tests are green" not in second["optimist"]
    assert "tests are green" in second["skeptic"] and "nobody on call" not in second["skeptic"]


async def test_a_debate_that_does_not_converge_reports_it_to_the_synthesizer() -> None:
    client = scripted_debate({
        "optimist": [arg("ship", "a"), arg("ship", "b"), arg("ship", "c")],
        "skeptic": [arg("wait", "d"), arg("ship", "e"), arg("wait", "f")],
        "judge": [verdict("disagreement")],
    })  # fmt: skip
    result = await debate([optimist, skeptic], TOPIC, rounds=3, synthesize=judge)
    assert result.resolution_type == "disagreement"
    assert "converged: false" in prompt_text(client.requests[-1])  # they agreed in round 2, not in the last
    assert len(client.requests) == 7


async def test_without_agree_on_whole_outputs_decide_convergence() -> None:
    seen: dict[str, Any] = {}

    async def echo(topic: str, previous_arguments: Sequence[str] = ()) -> str:
        return "same"

    async def stubborn(topic: str, previous_arguments: Sequence[str] = ()) -> str:
        return "different" if not previous_arguments else "same"

    async def record(topic: str, arguments: list[list[str]], converged: bool) -> bool:
        seen["arguments"] = arguments
        return converged

    assert await debate([echo, stubborn], TOPIC, rounds=2, synthesize=record) is True
    assert seen["arguments"] == [["same", "different"], ["same", "same"]]
    assert await debate([echo, stubborn], TOPIC, rounds=1, synthesize=record) is False


async def test_an_agent_whose_arguments_keyword_has_no_default_gets_an_empty_list_first() -> None:
    calls: list[Any] = []

    async def agent(topic: str, previous_arguments: list[str]) -> str:
        calls.append(list(previous_arguments))
        return "x"

    async def done(topic: str, arguments: Any, converged: bool) -> bool:
        return converged

    await debate([agent, agent], TOPIC, rounds=2, synthesize=done)
    assert calls == [[], [], ["x"], ["x"]]


async def test_agents_of_a_round_are_called_concurrently(wait_until: Any) -> None:
    client = scripted_debate(
        {
            "optimist": [arg("ship", "a"), arg("ship", "b")],
            "skeptic": [arg("wait", "c"), arg("wait", "d")],
            "judge": [verdict("disagreement")],
        }
    )
    client.hold()
    debating = asyncio.create_task(debate([optimist, skeptic], TOPIC, rounds=2, synthesize=judge))
    await wait_until(lambda: client.in_flight == 2)  # both agents of the first round asked at once
    client.release()
    assert (await debating).resolution_type == "disagreement"
    assert client.max_in_flight == 2  # never more: the rounds, then the judge, follow one another
    assert len(client.requests) == 5


async def test_bad_agents_or_synthesizer_are_rejected_before_any_model_call(scripted: ScriptedClient) -> None:
    @infer(intent="Argue")
    def mute(topic: str) -> Argument: ...

    with pytest.raises(TypeError, match="previous_arguments"):
        await debate([optimist, mute], TOPIC, rounds=2, synthesize=judge)

    async def wrong(topic: str) -> str:
        return topic

    with pytest.raises(TypeError, match="synthesize"):
        await debate([optimist, skeptic], TOPIC, synthesize=wrong)
    with pytest.raises(ValueError, match="two callable agents"):
        await debate([optimist], TOPIC, synthesize=judge)
    with pytest.raises(ValueError, match="rounds"):
        await debate([optimist, skeptic], TOPIC, rounds=0, synthesize=judge)
    assert len(scripted.requests) == 0
    # With one round no rebuttal keyword is needed.
    scripted.push(arg("ship", "a"), arg("wait", "b"), verdict("disagreement"))
    await debate([optimist, mute], TOPIC, rounds=1, synthesize=judge)


async def test_agents_declaring_different_agree_on_fields_need_an_explicit_one() -> None:
    @infer(intent="Argue", agree_on="stance")
    def odd(topic: str, previous_arguments: Sequence[Other] = ()) -> Other: ...

    async def synth(topic: str, arguments: Any, converged: bool) -> bool:
        return converged

    with pytest.raises(ValueError, match="different agree_on"):
        await debate([optimist, odd], TOPIC, synthesize=synth)


async def test_a_failing_agent_stops_the_debate(scripted: ScriptedClient) -> None:
    scripted.push(arg("ship", "a"), "not json", "still not json", "nor this", "nor that")
    with pytest.raises(ContractFailure):
        await debate([optimist, skeptic], TOPIC, rounds=2, synthesize=judge)
    assert all(r.function != "judge" for r in scripted.requests)


async def test_debate_through_litellm(through_litellm: Any, warm_litellm: Any) -> None:
    def respond(body: dict[str, Any]) -> dict[str, Any]:
        text = prompt_text(body)
        if text.startswith("Weigh"):
            return verdict("consensus" if "converged: true" in text else "disagreement")
        if "against shipping" in text:
            return arg("ship" if "rollback" in text else "wait", "ok then")
        return arg("ship", "rollback is one click")

    with through_litellm(respond) as server:
        await warm_litellm()
        result = await debate([optimist, skeptic], TOPIC, rounds=2, synthesize=judge)
        assert len(server.requests) == 6  # warm-up, 2 x 2 agents, judge
    assert result.resolution_type == "consensus"
