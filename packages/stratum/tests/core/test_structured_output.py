"""Which structured-output mode a request uses: LiteLLM's word by default, the user's when given."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import StratumCompileError, StratumConfigError, contract, infer
from stratum.testing import prompt_text
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


GOOD = {"label": "positive", "confidence": 0.9}


@infer(intent="Classify the tone")
def classify(text: str) -> Sentiment: ...


@infer(intent="Classify the tone", structured_output="json_schema")
def classify_strict(text: str) -> Sentiment: ...


async def test_a_model_litellm_says_lacks_schema_support_gets_json_mode_and_the_schema_in_the_prompt(
    via_litellm: LocalOpenAIServer,
) -> None:
    stratum.configure(default_model="openai/some-unknown-model")  # supports_response_schema: False
    via_litellm.push(GOOD)
    assert (await classify(text="Great")).label == "positive"
    body = via_litellm.requests[0]
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert '"label": "positive" | "negative" | "neutral"' in system and "JSON" in system


async def test_a_model_with_schema_support_gets_strict_json_schema_and_no_schema_in_the_prompt(
    via_litellm: LocalOpenAIServer,
) -> None:
    via_litellm.push(GOOD)
    await classify(text="Great")
    body = via_litellm.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert '"label"' not in str(body["messages"])


async def test_configure_structured_output_overrides_what_litellm_says(via_litellm: LocalOpenAIServer) -> None:
    stratum.configure(default_model="openai/some-unknown-model", structured_output="json_schema")  # e.g. vLLM
    via_litellm.push(GOOD)
    await classify(text="Great")
    assert via_litellm.requests[0]["response_format"]["type"] == "json_schema"


async def test_the_functions_own_structured_output_wins_over_configure(via_litellm: LocalOpenAIServer) -> None:
    stratum.configure(default_model="openai/some-unknown-model", structured_output="json_object")
    via_litellm.push(GOOD)
    await classify_strict(text="Great")
    assert via_litellm.requests[0]["response_format"]["type"] == "json_schema"
    assert "JSON" not in prompt_text(via_litellm.requests[0])


def test_an_unknown_structured_output_mode_is_refused() -> None:
    with pytest.raises(StratumConfigError):
        stratum.configure(structured_output="xml")  # type: ignore[arg-type]
    with pytest.raises(StratumCompileError):

        @infer(intent="x", structured_output="xml")  # type: ignore[arg-type]
        def f(text: str) -> Sentiment: ...
