"""stable=False returns Probabilistic[T]; test mode samples it and checks stability."""

from __future__ import annotations

import asyncio
import enum
import itertools
import warnings
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import Probabilistic, StabilityAssertionError, StratumWarning, contract, infer
from stratum.testing import ScriptedClient


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    sarcastic: bool
    confidence: float
    reasoning: str


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


@contract
class Ticket(BaseModel):
    priority: Priority
    summary: str


@contract
class Summary(BaseModel):
    text: str


def said(label: str, sarcastic: bool = False, confidence: float = 0.9, reasoning: str = "r") -> dict[str, Any]:
    return {"label": label, "sarcastic": sarcastic, "confidence": confidence, "reasoning": reasoning}


@infer(intent="Classify the tone", stable=False)
def classify(text: str) -> Sentiment: ...


async def test_outside_test_mode_it_holds_one_sample_and_makes_no_extra_call(scripted: ScriptedClient) -> None:
    scripted.push(said("positive"))
    result = await classify(text="Great")
    assert isinstance(result, Probabilistic)
    assert len(result) == 1 and len(scripted.requests) == 1
    assert result.most_likely().label == "positive"
    assert result.sample() is result.most_likely()
    assert result.agreement == 1.0
    result.assert_stable()


async def test_test_mode_makes_sample_n_concurrent_calls(wait_until: Any) -> None:
    answer = '{"label": "positive", "sarcastic": false, "confidence": 0.9, "reasoning": "r"}'
    client = ScriptedClient(respond=lambda _r: answer)
    stratum.configure(client=client, default_model="test-model", test_mode=True, sample_n=5)
    client.hold()
    sampling = asyncio.create_task(classify(text="Great"))
    await wait_until(lambda: client.in_flight == 5)  # one after another, only one would ever be
    client.release()
    result = await sampling
    assert len(result) == 5 and len(client.requests) == 5
    assert client.max_in_flight == 5
    tags = [r.extra["sample"] for r in stratum.trace.all_records()]
    assert sorted(t["index"] for t in tags) == [0, 1, 2, 3, 4]
    assert len({t["id"] for t in tags}) == 1 and {t["of"] for t in tags} == {5}


async def test_assert_stable_raises_with_the_agreement_and_the_distinct_values(scripted: ScriptedClient) -> None:
    stratum.configure(test_mode=True, sample_n=5)
    scripted.push(said("negative"), said("positive"), said("positive"), said("negative"), said("positive"))
    result = await classify(text="Fine, I guess")
    assert result.most_likely().label == "positive"
    assert result.agreement == pytest.approx(0.6)
    with pytest.raises(StabilityAssertionError) as info:
        result.assert_stable(threshold=0.9)
    err = info.value
    assert (err.function, err.agreement, err.threshold) == ("classify", pytest.approx(0.6), 0.9)
    assert err.distinct == (
        {"label": "positive", "sarcastic": False},
        {"label": "negative", "sarcastic": False},
    )
    assert err.counts == (3, 2)
    assert isinstance(err, AssertionError)  # fails a test like a plain assert would
    result.assert_stable(threshold=0.6)


async def test_agreement_looks_only_at_enum_literal_and_bool_fields(scripted: ScriptedClient) -> None:
    stratum.configure(test_mode=True, sample_n=3)
    scripted.push(said("positive", confidence=0.7, reasoning="a"), said("positive", confidence=0.9, reasoning="b"),
                  said("positive", True))  # fmt: skip
    result = await classify(text="x")
    assert result.agreement == pytest.approx(2 / 3)  # the sarcastic flag differs; free text does not count

    @infer(intent="Triage", stable=False)
    def triage(text: str) -> Ticket: ...

    scripted.push({"priority": "high", "summary": "a"}, {"priority": "high", "summary": "b"},
                  {"priority": "low", "summary": "c"})  # fmt: skip
    tickets = await triage(text="x")
    assert tickets.distinct == ({"priority": "high"}, {"priority": "low"})
    assert tickets.most_likely().priority is Priority.HIGH


async def test_without_categorical_fields_whole_outputs_are_compared(scripted: ScriptedClient) -> None:
    @infer(intent="Summarise", stable=False)
    def summarise(text: str) -> Summary: ...

    stratum.configure(test_mode=True, sample_n=4)
    scripted.push({"text": "a"}, {"text": "a"}, {"text": "b"}, {"text": "a"})
    result = await summarise(text="x")
    assert result.agreement == 0.75
    assert result.distinct == ({"text": "a"}, {"text": "b"})


async def test_a_declared_agree_on_field_decides_agreement(scripted: ScriptedClient) -> None:
    @infer(intent="Classify", stable=False, agree_on="label")
    def by_label(text: str) -> Sentiment: ...

    stratum.configure(test_mode=True, sample_n=2)
    scripted.push(said("positive", False), said("positive", True))
    result = await by_label(text="x")
    assert result.agreement == 1.0 and result.distinct == ({"label": "positive"},)


async def test_primitive_outputs_are_compared_as_values(scripted: ScriptedClient) -> None:
    @infer(intent="Is it spam?", stable=False)
    def is_spam(text: str) -> bool: ...

    stratum.configure(test_mode=True, sample_n=3)
    scripted.push({"result": True}, {"result": False}, {"result": True})
    result = await is_spam(text="WIN NOW")
    assert result.most_likely() is True
    assert result.distinct == (True, False)


async def test_a_stable_function_in_test_mode_warns_once_that_it_was_never_sampled(
    scripted: ScriptedClient,
) -> None:
    @infer(intent="Classify")
    def claimed(text: str) -> Sentiment: ...

    stratum.configure(test_mode=True)
    scripted.push(said("positive"), said("positive"))
    with pytest.warns(StratumWarning, match="declared stable=True but its stability was never sampled") as seen:
        await claimed(text="a")
    assert seen[0].filename == __file__  # points at the call, not at the runtime
    await claimed(text="b")  # once: a second warning would fail this suite (warnings are errors)


async def test_a_stable_function_whose_stability_was_sampled_does_not_warn(scripted: ScriptedClient) -> None:
    @infer(intent="Classify")
    def checked(text: str) -> Sentiment: ...

    stratum.configure(test_mode=True, sample_n=3)
    scripted.push(said("positive"), said("positive"), said("positive"), said("negative"))
    sampled = await Probabilistic.collect(checked, text="a")
    sampled.assert_stable(threshold=1.0)
    assert len(scripted.requests) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (await checked(text="b")).label == "negative"


async def test_stable_functions_outside_test_mode_never_warn(scripted: ScriptedClient) -> None:
    @infer(intent="Classify")
    def plain(text: str) -> Sentiment: ...

    scripted.push(said("positive"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await plain(text="a")


async def test_sampling_through_litellm_makes_sample_n_http_requests(through_litellm: Any, warm_litellm: Any) -> None:
    answers = itertools.cycle([said("positive"), said("negative"), said("positive")])
    with through_litellm(lambda _body: next(answers)) as server:
        await warm_litellm()
        stratum.configure(test_mode=True, sample_n=3)
        result = await classify(text="Great")
        assert len(server.requests) == 4  # the warm-up and three samples
    assert result.most_likely().label == "positive"
    with pytest.raises(StabilityAssertionError) as info:
        result.assert_stable()
    assert info.value.agreement == pytest.approx(2 / 3)


def test_bad_thresholds_and_empty_distributions_are_clear_errors() -> None:
    result = Probabilistic("f", ("a", "a"))
    for bad in (0, 1.5, "high", True):
        with pytest.raises(ValueError, match="threshold"):
            result.assert_stable(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one sample"):
        Probabilistic("f", ())


async def test_collect_needs_an_infer_function() -> None:
    async def not_infer(text: str) -> str:
        return text

    with pytest.raises(TypeError, match="needs an @infer function"):
        await Probabilistic.collect(not_infer, text="x")
