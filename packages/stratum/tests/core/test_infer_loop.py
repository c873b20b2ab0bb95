"""The @infer execution loop, driven by the scripted client."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    StratumCompileError,
    StratumConfigError,
    contract,
    infer,
)
from stratum.clients import ModelInfo, TransientError
from stratum.testing import Reply, ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasoning: str


def good(confidence: float = 0.9, label: str = "positive") -> dict[str, object]:
    return {"label": label, "confidence": confidence, "reasoning": "clear"}


def user_text(client: ScriptedClient, index: int) -> str:
    content = client.requests[index].messages[1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


@infer(intent="Classify the emotional tone", ensure=lambda r: r.confidence > 0.7, retries=2)
def classify(text: str) -> Sentiment: ...


async def test_success_returns_a_typed_contract_instance(scripted: ScriptedClient) -> None:
    scripted.push(good())
    result = await classify(text="Great product")
    assert isinstance(result, Sentiment)
    assert result.label == "positive"
    assert len(scripted.requests) == 1


async def test_request_carries_the_contract_as_strict_json_schema(scripted: ScriptedClient) -> None:
    scripted.push(good())
    await classify(text="hi")
    fmt = scripted.requests[0].response_format
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


async def test_ensure_failure_retries_with_only_that_violation(scripted: ScriptedClient) -> None:
    scripted.push(good(confidence=0.42), good())
    result = await classify(text="meh")
    assert result.confidence == 0.9
    retry = user_text(scripted, 1)
    assert "Previous attempt failed:\n- ensure `r.confidence > 0.7` failed (actual: confidence=0.42)" in retry
    assert "Fix these issues specifically." in retry
    # Targeted: the previous answer itself is not replayed.
    assert '"reasoning": "clear"' not in retry and '"confidence": 0.42' not in retry


async def test_retry_feedback_carries_only_the_latest_failure(scripted: ScriptedClient) -> None:
    scripted.push({"label": "positive", "confidence": "high", "reasoning": "x"}, good(confidence=0.1), good())
    await classify(text="meh")
    third = user_text(scripted, 2)
    assert "confidence=0.1" in third
    assert "valid number" not in third  # the first attempt's parse error is gone


async def test_parse_failure_names_the_field_and_retries(scripted: ScriptedClient) -> None:
    scripted.push({"label": "ecstatic", "confidence": 0.9, "reasoning": "x"}, good())
    await classify(text="wow")
    retry = user_text(scripted, 1)
    assert "field `label`" in retry and "'ecstatic'" in retry


async def test_invalid_json_is_a_parse_violation(scripted: ScriptedClient) -> None:
    scripted.push("not json at all", good())
    await classify(text="x")
    assert "output is not valid JSON" in user_text(scripted, 1)


async def test_exhausted_postconditions_raise_with_full_history(scripted: ScriptedClient) -> None:
    scripted.push(good(0.1), good(0.2), good(0.3))
    with pytest.raises(PostconditionFailed) as info:
        await classify(text="x")
    err = info.value
    assert err.attempts == 3 and len(scripted.requests) == 3
    assert err.output == Sentiment(label="positive", confidence=0.3, reasoning="clear")
    assert [v.condition for v in err.violations] == ["r.confidence > 0.7"]
    assert err.violations[0].actual == {"confidence": 0.3}
    assert [h.attempt for h in err.history] == [1, 2, 3]
    assert all(len(h.prompt_hash) == 12 for h in err.history)
    assert len({h.prompt_hash for h in err.history}) == 3
    assert '"confidence": 0.1' in (err.history[0].raw_output or "")


async def test_exhausted_with_a_final_parse_error_raises_parse_failure(scripted: ScriptedClient) -> None:
    scripted.push(good(0.1), "{", "{")
    with pytest.raises(ParseFailure) as info:
        await classify(text="x")
    assert info.value.raw_output == "{"
    assert info.value.violations[0].kind == "parse"


async def test_given_false_raises_before_any_request(scripted: ScriptedClient) -> None:
    @infer(intent="Summarise", given=lambda text: len(text) > 0)
    def summarise(text: str) -> str: ...

    with pytest.raises(PreconditionFailed) as info:
        await summarise(text="")
    assert info.value.condition == "len(text) > 0"
    assert info.value.inputs == {"text": ""}
    assert len(scripted.requests) == 0


async def test_named_ensure_function_uses_its_docstring(scripted: ScriptedClient) -> None:
    def reasoning_is_substantial(r: Sentiment) -> bool:
        """reasoning must be at least 20 characters"""
        return len(r.reasoning) >= 20

    @infer(intent="x", ensure=reasoning_is_substantial, retries=1)
    def f(text: str) -> Sentiment: ...

    scripted.push(good(), {"label": "neutral", "confidence": 1, "reasoning": "a" * 25})
    await f(text="x")
    retry = user_text(scripted, 1)
    assert "ensure `reasoning must be at least 20 characters` failed (actual: reasoning='clear')" in retry


async def test_ensure_that_raises_reports_its_exception(scripted: ScriptedClient) -> None:
    def strict(r: Sentiment) -> bool:
        raise ValueError("reasoning cites no evidence")

    @infer(intent="x", ensure=strict, retries=0)
    def f(text: str) -> Sentiment: ...

    scripted.push(good())
    with pytest.raises(PostconditionFailed) as info:
        await f(text="x")
    assert "raised ValueError: reasoning cites no evidence" in info.value.violations[0].message


async def test_two_lambdas_on_one_line_are_told_apart(scripted: ScriptedClient) -> None:
    @infer(intent="x", ensure=[lambda r: r.confidence > 0.5, lambda r: r.label != "neutral"], retries=0)
    def f(text: str) -> Sentiment: ...

    scripted.push(good(label="neutral"))
    with pytest.raises(PostconditionFailed) as info:
        await f(text="x")
    assert [v.condition for v in info.value.violations] == ['r.label != "neutral"']
    assert info.value.violations[0].actual == {"label": "neutral"}


async def test_async_ensure_predicates_are_awaited(scripted: ScriptedClient) -> None:
    async def checked(r: Sentiment) -> bool:
        await asyncio.sleep(0)
        return r.label == "negative"

    @infer(intent="x", ensure=checked, retries=1)
    def f(text: str) -> Sentiment: ...

    scripted.push(good(), good(label="negative"))
    assert (await f(text="x")).label == "negative"


async def test_primitive_return_types_are_unwrapped(scripted: ScriptedClient) -> None:
    @infer(intent="Count the words", ensure=lambda n: n > 0)
    def count(text: str) -> int: ...

    @infer(intent="Answer")
    def yes_no(text: str) -> Literal["yes", "no"]: ...

    scripted.push({"result": 0}, {"result": 3}, {"result": "yes"})
    assert await count(text="a b c") == 3
    assert "ensure `n > 0` failed (actual: n=0)" in user_text(scripted, 1)
    assert await yes_no(text="?") == "yes"


async def test_refusal_is_a_parse_violation(scripted: ScriptedClient) -> None:
    scripted.push(Reply(content=None, refusal="I can't help with that"), good())
    await classify(text="x")
    assert "the model refused: I can't help with that" in user_text(scripted, 1)


async def test_transient_errors_are_retried_apart_from_retries(scripted: ScriptedClient) -> None:
    scripted.push(TransientError("429"), TransientError("503"), good())

    @infer(intent="x", retries=0)
    def f(text: str) -> Sentiment: ...

    assert (await f(text="x")).label == "positive"
    record = stratum.trace.all_records()[-1]
    assert (record.attempts, record.transient_retries) == (1, 2)


async def test_transient_errors_exhausted_surface_the_original_error(scripted: ScriptedClient) -> None:
    original = ConnectionResetError("reset by peer")
    stratum.configure(max_transient_retries=1)
    scripted.push(TransientError("a", cause=original), TransientError("b", cause=original))
    with pytest.raises(ConnectionResetError) as info:
        await classify(text="x")
    assert info.value is original


async def test_non_transient_errors_surface_as_is_without_retry(scripted: ScriptedClient) -> None:
    class AuthenticationError(Exception):
        pass

    scripted.push(AuthenticationError("bad key"))
    with pytest.raises(AuthenticationError):
        await classify(text="x")
    assert len(scripted.requests) == 1


async def test_json_mode_fallback_for_models_without_schema_support() -> None:
    fenced = "```json\n" + '{"label": "neutral", "confidence": 0.8, "reasoning": "r"}' + "\n```"
    client = ScriptedClient([fenced], model_info=ModelInfo(supports_json_schema=False))
    stratum.configure(client=client, default_model="old-model")
    result = await classify(text="x")
    assert result.label == "neutral"
    assert client.requests[0].response_format == {"type": "json_object"}
    assert '"confidence"' in client.requests[0].messages[0]["content"]  # schema is in the prompt


async def test_no_model_configured_is_a_clear_config_error() -> None:
    stratum.configure(client=ScriptedClient())
    with pytest.raises(StratumConfigError, match="no model"):
        await classify(text="x")


async def test_decorator_argument_wins_over_configured_default(scripted: ScriptedClient) -> None:
    @infer(intent="x", model="special-model", temperature=0.2)
    def f(text: str) -> Sentiment: ...

    scripted.push(good())
    await f(text="x")
    assert scripted.requests[0].model == "special-model"
    assert scripted.requests[0].temperature == 0.2


def test_infer_with_a_body_is_a_compile_error() -> None:
    with pytest.raises(StratumCompileError, match="body must be"):

        @infer(intent="x")
        def f(text: str) -> Sentiment:
            return Sentiment(label="positive", confidence=1, reasoning="")


def test_given_naming_an_unknown_parameter_is_a_compile_error() -> None:
    with pytest.raises(StratumCompileError, match="not a parameter of f"):

        @infer(intent="x", given=lambda txt: bool(txt))
        def f(text: str) -> Sentiment: ...


def test_intent_placeholder_must_name_a_parameter() -> None:
    with pytest.raises(StratumCompileError, match="did you mean `text`"):

        @infer(intent="Classify {txt}")
        def f(text: str) -> Sentiment: ...


def test_bad_retries_and_cache_values_are_compile_errors() -> None:
    with pytest.raises(StratumCompileError, match="retries"):
        infer(intent="x", retries=-1)(lambda: None)  # type: ignore[arg-type]

    with pytest.raises(StratumCompileError, match="cache"):

        @infer(intent="x", cache="forever")  # type: ignore[arg-type]
        def f(text: str) -> Sentiment: ...


def test_quorum_arguments_are_checked_at_decoration() -> None:
    with pytest.raises(StratumCompileError, match="agree_on= and threshold="):

        @infer(intent="x", quorum=3)
        def a(text: str) -> Sentiment: ...

    with pytest.raises(StratumCompileError, match="not a field"):

        @infer(intent="x", quorum=3, agree_on="mood", threshold=2)
        def b(text: str) -> Sentiment: ...

    with pytest.raises(StratumCompileError, match="threshold"):

        @infer(intent="x", quorum=3, agree_on="label", threshold=4)
        def c(text: str) -> Sentiment: ...


async def test_infer_functions_work_as_methods_without_self_in_the_prompt(scripted: ScriptedClient) -> None:
    class Classifier:
        @infer(intent="x")
        def run(self, text: str) -> Sentiment: ...

    scripted.push(good())
    assert (await Classifier().run(text="hello")).label == "positive"
    assert "self" not in user_text(scripted, 0)


async def test_an_input_that_cannot_be_rendered_is_a_clear_type_error(scripted: ScriptedClient) -> None:
    @infer(intent="x")
    def f(thing: object) -> Sentiment: ...

    with pytest.raises(TypeError, match="input `thing` of type object cannot be rendered"):
        await f(thing=object())
    assert stratum.trace.all_records()[-1].error is not None


async def test_an_async_def_stub_is_an_infer_function_awaited_like_a_plain_one(via_litellm: LocalOpenAIServer) -> None:
    @infer(intent="Classify the emotional tone", ensure=lambda r: r.confidence > 0.7)
    async def classify_async(text: str) -> Sentiment: ...

    @infer(intent="Classify the emotional tone")
    async def documented(text: str) -> Sentiment:
        """An async stub may carry a docstring too."""

    via_litellm.push(good(0.4), good(), good())
    assert (await classify_async(text="Great")).confidence == 0.9
    assert (await documented(text="Great")).label == "positive"
    assert len(via_litellm.requests) == 3


def test_an_async_def_with_a_body_is_refused_like_a_plain_one() -> None:
    with pytest.raises(StratumCompileError):

        @infer(intent="x")
        async def has_body(text: str) -> Sentiment:
            return Sentiment(label="positive", confidence=1.0, reasoning="")
