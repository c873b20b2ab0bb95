"""Typed human decisions: what a review accepts, what it rejects, and that a rejection loses nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    HumanDecision,
    HumanReviewContext,
    InvalidDecision,
    ReviewNotPending,
    StratumCompileError,
    await_human,
    contract,
)
from stratum.hitl import PendingReview
from stratum.testing import AwaitableQueueSink


@contract
class Resolution(BaseModel):
    action: Literal["approve", "edit", "reject"]
    reply: str | None = None


def review_of(decision_type: object, options: list[object] | None = None) -> PendingReview:
    context = HumanReviewContext("Approve?")
    return PendingReview("r-1", context, options=options, expires_at=None, decision_type=decision_type)


async def test_a_contract_decision_given_as_a_dict_arrives_as_the_typed_contract() -> None:
    review = review_of(Resolution)
    accepted = await review.resolve(HumanDecision({"action": "edit", "reply": "Sorry!"}, reviewer="ana"))
    assert isinstance(accepted.value, Resolution)
    assert accepted.value == Resolution(action="edit", reply="Sorry!")
    assert (accepted.review_id, accepted.reviewer) == ("r-1", "ana")
    assert (await review.wait()) is accepted
    assert review.state == "resolved"


@pytest.mark.parametrize(
    ("decision_type", "good", "typed"),
    [
        (int, "3", 3),
        (float, 0.5, 0.5),
        (bool, True, True),
        (str, "looks fine", "looks fine"),
        (Literal["approve", "reject"], "reject", "reject"),
        (list[int], [1, "2"], [1, 2]),
    ],
)
async def test_primitive_and_literal_decisions_are_accepted_and_typed(
    decision_type: object, good: object, typed: object
) -> None:
    accepted = await review_of(decision_type).resolve(HumanDecision(good))
    assert accepted.value == typed
    assert type(accepted.value) is type(typed)


@pytest.mark.parametrize(
    ("decision_type", "bad"),
    [
        (Literal["approve", "reject"], "maybe"),
        (int, "three"),
        (str, 42),
        (bool, "perhaps"),
        (Resolution, {"action": "shrug"}),
        (Resolution, "approve"),
    ],
)
async def test_a_decision_of_the_wrong_type_raises_a_type_error_and_the_review_stays_pending(
    decision_type: object, bad: object
) -> None:
    review = review_of(decision_type)
    with pytest.raises(InvalidDecision) as info:
        await review.resolve(HumanDecision(bad))
    err = info.value
    assert isinstance(err, TypeError)
    assert err.review_id == "r-1"
    assert err.value == bad
    assert err.errors and all(isinstance(e, str) for e in err.errors)
    assert review.state == "pending" and review.decision is None


async def test_a_corrected_decision_resolves_the_review_after_a_rejected_one() -> None:
    review = review_of(Literal["approve", "reject"])
    with pytest.raises(InvalidDecision):
        await review.resolve(HumanDecision("maybe"))
    accepted = await review.resolve(HumanDecision("approve"))
    assert accepted.value == "approve"


async def test_a_second_decision_for_a_resolved_review_is_refused() -> None:
    review = review_of(bool)
    await review.resolve(HumanDecision(True))
    with pytest.raises(ReviewNotPending) as info:
        await review.resolve(HumanDecision(False))
    assert (info.value.review_id, info.value.state) == ("r-1", "resolved")
    assert review.decision is not None and review.decision.value is True


async def test_a_decision_addressed_to_another_review_is_refused() -> None:
    review = review_of(bool)
    with pytest.raises(InvalidDecision) as info:
        await review.resolve(HumanDecision(True, review_id="someone-else"))
    assert info.value.review_id == "r-1"
    assert review.state == "pending"


def test_decided_at_must_be_timezone_aware_and_is_kept_in_utc() -> None:
    with pytest.raises(ValueError):
        HumanDecision("approve", decided_at=datetime(2025, 1, 1, 12, 0))  # naive
    paris = timezone(timedelta(hours=1))
    decision = HumanDecision("approve", decided_at=datetime(2025, 1, 1, 13, 0, tzinfo=paris))
    assert decision.decided_at == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert decision.decided_at.tzinfo is UTC
    assert HumanDecision("approve").decided_at.utcoffset() == timedelta(0)


def test_a_review_context_needs_a_question_and_json_serialisable_artifacts() -> None:
    with pytest.raises(ValueError):
        HumanReviewContext("  ")
    with pytest.raises(TypeError):
        HumanReviewContext("Approve?", artifacts={"handle": object()})
    with pytest.raises(TypeError):
        HumanReviewContext("Approve?", artifacts={1: "x"})  # type: ignore[dict-item]
    draft = Resolution(action="approve", reply="Thanks")
    artifacts = {"draft": draft}
    ctx = HumanReviewContext("Approve?", artifacts=artifacts)
    artifacts["later"] = "ignored"
    assert dict(ctx.artifacts) == {"draft": draft}
    assert ctx.trigger == "explicit"


def test_a_pending_review_serialises_to_json_with_the_decision_schema() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    ctx = HumanReviewContext("Send it?", trigger="low_confidence", artifacts={"draft": Resolution(action="approve")})
    review = PendingReview(
        "r-9", ctx, options=[Resolution(action="approve")], expires_at=expires, decision_type=Resolution, flow_id="f-1"
    )
    data = json.loads(json.dumps(review.to_dict()))
    assert data["review_id"] == "r-9"
    assert data["question"] == "Send it?"
    assert data["trigger"] == "low_confidence"
    assert data["artifacts"] == {"draft": {"action": "approve", "reply": None}}
    assert data["options"] == [{"action": "approve", "reply": None}]
    assert data["decision_schema"]["properties"]["action"]["enum"] == ["approve", "edit", "reject"]
    assert data["expires_at"] == "2030-01-01T00:00:00+00:00"
    assert data["flow_id"] == "f-1"
    assert data["state"] == "pending"


async def test_options_and_the_timeout_fallback_are_checked_before_anyone_is_asked() -> None:
    sink = AwaitableQueueSink()
    stratum.configure(review_sink=sink)
    with pytest.raises(InvalidDecision):
        await await_human("Approve?", Literal["approve", "reject"], options=["approve", "later"])
    with pytest.raises(InvalidDecision):
        await await_human("Approve?", Literal["approve", "reject"], timeout=1, on_timeout="later")
    with pytest.raises(TypeError):
        await await_human("Approve?", str, options="abc")
    with pytest.raises(ValueError):
        await await_human("Approve?", bool, timeout=0)
    with pytest.raises(StratumCompileError):
        await await_human("Approve?", object())
    assert sink.emitted.empty() and sink.pending() == []
    assert stratum.trace.all_records() == []


def test_decision_types_are_named_the_way_a_reviewer_reads_them() -> None:
    from typing import Annotated

    from pydantic import Field

    from stratum.hitl import DecisionType

    def decision_type(annotation: object) -> DecisionType:
        review = PendingReview("r", HumanReviewContext("Pick"), options=None, expires_at=None, decision_type=annotation)
        return review.decision_type

    assert decision_type(int).name == "int"
    assert decision_type(Resolution).name == "Resolution"
    assert decision_type(Literal["approve", "reject"]).name == "Literal['approve', 'reject']"
    constrained = decision_type(Annotated[str, Field(min_length=2, max_length=5)])
    assert isinstance(constrained, DecisionType)
    assert constrained.name == "str (minLength=2, maxLength=5)"
    with pytest.raises(InvalidDecision):
        constrained.validate("x")


def test_a_pending_review_checks_its_options_and_expiry_when_built() -> None:
    with pytest.raises(InvalidDecision):
        PendingReview(
            "r-2", HumanReviewContext("Pick"), options=["approve", "later"], expires_at=None,
            decision_type=Literal["approve", "reject"],
        )  # fmt: skip
    with pytest.raises(ValueError):
        PendingReview(  # naive expiry
            "r-3", HumanReviewContext("Pick"), options=None, expires_at=datetime(2030, 1, 1), decision_type=bool
        )
    review = PendingReview(
        "r-4", HumanReviewContext("Pick"), options=[{"action": "edit"}], expires_at=None, decision_type=Resolution
    )
    assert review.options == (Resolution(action="edit"),)  # options are typed like decisions
