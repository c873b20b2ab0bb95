"""The context object (IR): what each attempt is compiled from, inspectable and dumped for debugging."""

from __future__ import annotations

import json
import logging
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import compile_prompt, contract, infer
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasoning: str


@infer(intent="Classify the tone", ensure=lambda r: r.confidence > 0.7, retries=2)
def classify(text: str) -> Sentiment: ...


def low(confidence: float) -> dict[str, object]:
    return {"label": "neutral", "confidence": confidence, "reasoning": f"ANSWER AT {confidence}"}


def dumps(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "stratum.compiler"]


async def test_debug_dumps_each_attempts_context_object_with_the_violations_of_the_earlier_ones(
    via_litellm: LocalOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    stratum.configure(debug=True)
    caplog.set_level(logging.DEBUG, logger="stratum.compiler")
    via_litellm.push(low(0.4), low(0.5), {"label": "positive", "confidence": 0.9, "reasoning": "clear"})
    await classify(text="Great")
    first, second, third = dumps(caplog)
    assert [d["attempt"] for d in (first, second, third)] == [1, 2, 3]
    assert first["context"]["retry_history"] == []  # type: ignore[index]
    history = third["context"]["retry_history"]  # type: ignore[index]
    assert [h["attempt"] for h in history] == [1, 2]
    assert history[0]["violations"] == ["ensure `r.confidence > 0.7` failed (actual: confidence=0.4)"]
    assert history[1]["violations"] == ["ensure `r.confidence > 0.7` failed (actual: confidence=0.5)"]
    assert "ANSWER AT" not in caplog.text  # violations only: no earlier output is carried
    assert first["prompt_hash"] == stratum.trace.all_records()[-1].compiled_prompt_hash  # the call's, as traced


async def test_stratum_debug_in_the_environment_dumps_the_context_objects_too(
    via_litellm: LocalOpenAIServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATUM_DEBUG", "1")
    caplog.set_level(logging.DEBUG, logger="stratum.compiler")
    via_litellm.push({"label": "positive", "confidence": 0.9, "reasoning": "clear"})
    await classify(text="Great")
    (only,) = dumps(caplog)
    assert only["context"]["function_name"] == "classify"  # type: ignore[index]


async def test_without_debug_nothing_is_dumped(
    via_litellm: LocalOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="stratum.compiler")
    via_litellm.push({"label": "positive", "confidence": 0.9, "reasoning": "clear"})
    await classify(text="Great")
    assert dumps(caplog) == []


def test_compile_prompt_gives_the_first_attempts_context_object() -> None:
    ctx = compile_prompt(classify, text="Great")
    assert ctx.retry_history == () and ctx.retry_feedback == ()
    data = json.loads(ctx.to_json())
    assert data["function_name"] == "classify" and data["postconditions"] == ["r.confidence > 0.7"]
    assert ctx.messages()[1]["content"] in str(ctx)
