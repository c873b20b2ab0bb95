"""``@flow(context=[...])``: annotations every call inside the flow inherits, stacked by nesting."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import StratumCompileError, compile_prompt, contract, flow, infer
from stratum.testing import prompt_text
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


GOOD = {"label": "positive", "confidence": 0.9}


@infer(intent="Classify the tone", context="Own rule: answer in English.")
def classify(text: str) -> Sentiment: ...


@flow(context="Inner rule: treat sarcasm as negative.")
async def inner(text: str) -> Sentiment:
    return await classify(text=text)


@flow(context=["Outer rule: the customer is a retailer.", "Outer rule two: be strict."])
async def outer(text: str) -> Sentiment:
    return await inner(text=text)


async def test_calls_inside_nested_flows_show_every_flow_context_before_their_own_in_order(
    via_litellm: LocalOpenAIServer,
) -> None:
    via_litellm.push(GOOD)
    await outer(text="Great, another delay.")
    text = prompt_text(via_litellm.requests[0])
    rules = ["Outer rule: the", "Outer rule two", "Inner rule", "Own rule"]
    positions = [text.index(rule) for rule in rules]
    assert positions == sorted(positions)
    assert positions[-1] < text.index("Great, another delay.")  # annotations come before the inputs


async def test_a_call_outside_the_flow_carries_no_flow_context(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(GOOD)
    await classify(text="x")
    assert "Inner rule" not in prompt_text(via_litellm.requests[0])


async def test_the_prompt_hash_covers_the_flow_context(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.respond = lambda _body: GOOD
    await classify(text="x")
    await inner(text="x")
    await inner(text="x")
    plain, first, second = (r.compiled_prompt_hash for r in stratum.trace.all_records())
    assert plain != first and first == second
    assert plain == compile_prompt(classify, text="x").prompt_hash()  # outside a flow, what compile_prompt shows


def test_flow_context_must_be_strings() -> None:
    with pytest.raises(StratumCompileError):

        @flow(context=[42])  # type: ignore[list-item]
        async def bad() -> None: ...

    with pytest.raises(StratumCompileError):

        @flow(context=42)  # type: ignore[arg-type]
        async def worse() -> None: ...
