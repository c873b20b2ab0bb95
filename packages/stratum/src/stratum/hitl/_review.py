"""The objects of a human review: what is asked, what is pending, what was decided.

A ``PendingReview`` is the one place a decision enters the runtime. Its
``resolve`` validates the value against the declared decision type before
anything changes, so a wrong answer raises ``InvalidDecision`` and leaves the
review open for a corrected one. It is safe to call from any thread or event
loop: the waiting flow is woken on its own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

import pydantic
from pydantic_core import PydanticSerializationError

from .._json import any_adapter
from ..exceptions import InvalidDecision, ReviewNotPending
from ._decision import DecisionType, decision_type_of

__all__ = ["HumanDecision", "HumanReviewContext", "PendingReview", "ReviewSink", "ReviewState", "as_json"]

T = TypeVar("T")
ReviewState = Literal["pending", "resolved", "timed_out", "cancelled"]


def _json_any() -> pydantic.TypeAdapter[Any]:
    return any_adapter()  # shared, built on first use


def as_json(value: Any, what: str) -> Any:
    """The JSON form of ``value`` (models, dataclasses, datetimes included), or ``TypeError``."""
    try:
        return _json_any().dump_python(value, mode="json")
    except PydanticSerializationError:
        raise TypeError(
            f"{what} of type {type(value).__name__} is not JSON-serialisable; "
            "pass JSON-like data, a pydantic model or a dataclass"
        ) from None


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class HumanReviewContext:
    """What the reviewer is asked, and the material they decide on.

    >>> HumanReviewContext("Send this reply?", artifacts={"draft": "Hello"}).trigger
    'explicit'

    ``artifacts`` must be JSON-serialisable (plain data, pydantic models,
    dataclasses): sinks send them to people and services.
    """

    question: str
    trigger: str = "explicit"
    artifacts: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError("HumanReviewContext.question must be a non-empty str")
        if not isinstance(self.trigger, str) or not self.trigger:
            raise ValueError("HumanReviewContext.trigger must be a non-empty str")
        if not isinstance(self.artifacts, Mapping):
            raise TypeError(f"HumanReviewContext.artifacts must be a mapping, got {type(self.artifacts).__name__}")
        for key, value in self.artifacts.items():
            if not isinstance(key, str):
                raise TypeError(f"HumanReviewContext.artifacts keys must be str, got {key!r}")
            as_json(value, f"artifact {key!r}")
        # A read-only copy: the caller mutating its dict later must not change what was asked.
        object.__setattr__(self, "artifacts", MappingProxyType(dict(self.artifacts)))


@dataclass(frozen=True, slots=True)
class HumanDecision(Generic[T]):
    """A typed decision by a human (or ``reviewer="auto"`` on a timeout fallback).

    ``decided_at`` must be timezone-aware and is kept in UTC. A decision
    handed to ``PendingReview.resolve`` may leave ``review_id`` as None; the
    one ``await_human`` returns always carries it.

    >>> from datetime import UTC, datetime
    >>> d = HumanDecision("approve", reviewer="ana", decided_at=datetime(2025, 1, 1, tzinfo=UTC))
    >>> d.value, d.decided_at.isoformat()
    ('approve', '2025-01-01T00:00:00+00:00')
    """

    value: T
    _: KW_ONLY
    reviewer: str | None = None
    rationale: str | None = None
    decided_at: datetime = field(default_factory=_utcnow)
    review_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.decided_at, datetime) or self.decided_at.utcoffset() is None:
            raise ValueError(f"HumanDecision.decided_at must be a timezone-aware datetime, got {self.decided_at!r}")
        object.__setattr__(self, "decided_at", self.decided_at.astimezone(UTC))
        for name in ("reviewer", "rationale"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"HumanDecision.{name} must be a str or None, got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``decided_at`` as ISO 8601)."""
        return {
            "review_id": self.review_id,
            "value": as_json(self.value, "decision value"),
            "reviewer": self.reviewer,
            "rationale": self.rationale,
            "decided_at": self.decided_at.isoformat(),
        }


@runtime_checkable
class ReviewSink(Protocol):
    """Where pending reviews go. ``emit`` delivers one review to people.

    It may return at once and let the decision arrive later through
    ``review.resolve`` (a queue, a webhook), or resolve it before returning
    (the console). An exception from ``emit`` fails the ``await_human`` call.
    """

    async def emit(self, review: PendingReview) -> None: ...


class PendingReview:
    """One open question to a human, until a valid decision resolves it.

    Sinks read ``review_id``, ``context``, ``options`` (typed choices, or
    None for free-form), ``expires_at`` and ``decision_schema``; ``to_dict()``
    is the JSON form they send. A decision comes back through ``resolve``::

        await review.resolve(HumanDecision("approve", reviewer="ana"))

    A review kept in a store (a durable flow's) is built with ``deliver``:
    ``resolve`` validates, then awaits ``deliver(decision)``, which records it
    exactly once or raises ``ReviewNotPending``; ``created_at``, ``state``
    and ``decision`` describe a review read back from the store.
    """

    def __init__(
        self,
        review_id: str,
        context: HumanReviewContext,
        *,
        options: Sequence[Any] | None,
        expires_at: datetime | None,
        decision_type: Any,
        flow_id: str | None = None,
        created_at: datetime | None = None,
        deliver: Callable[[HumanDecision[Any]], Awaitable[HumanDecision[Any]]] | None = None,
        state: ReviewState = "pending",
        decision: HumanDecision[Any] | None = None,
    ) -> None:
        for name, moment in (("expires_at", expires_at), ("created_at", created_at)):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"PendingReview.{name} must be timezone-aware, got {moment!r}")
        self.review_id = review_id
        self.context = context
        self.decision_type = (
            decision_type if isinstance(decision_type, DecisionType) else decision_type_of(decision_type)
        )
        # Every option must be a decision the review would accept.
        self.options = None if options is None else tuple(self.decision_type.validate(o, review_id) for o in options)
        self.expires_at = expires_at
        self.flow_id = flow_id
        self.created_at = created_at.astimezone(UTC) if created_at is not None else _utcnow()
        self._store_decision = deliver
        self._lock = threading.Lock()
        self._state: ReviewState = state
        self._decision: HumanDecision[Any] | None = decision
        self._waiter: asyncio.Future[HumanDecision[Any]] | None = None

    def __repr__(self) -> str:
        return f"<PendingReview {self.review_id} {self._state} {self.context.question[:40]!r}>"

    @property
    def state(self) -> ReviewState:
        return self._state

    @property
    def done(self) -> bool:
        return self._state != "pending"

    @property
    def decision(self) -> HumanDecision[Any] | None:
        """The accepted decision, once resolved."""
        return self._decision

    @property
    def decision_schema(self) -> dict[str, Any]:
        """JSON Schema of a valid decision value."""
        return self.decision_type.schema

    def to_dict(self) -> dict[str, Any]:
        """The review as JSON-serialisable data, as queues and webhooks carry it."""
        dump = self.decision_type.dump
        return {
            "review_id": self.review_id,
            "question": self.context.question,
            "trigger": self.context.trigger,
            "artifacts": {k: as_json(v, f"artifact {k!r}") for k, v in self.context.artifacts.items()},
            "options": None if self.options is None else [dump(o) for o in self.options],
            "decision_type": self.decision_type.name,
            "decision_schema": self.decision_type.schema,
            "created_at": self.created_at.isoformat(),
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "flow_id": self.flow_id,
            "state": self._state,
        }

    async def resolve(self, decision: HumanDecision[Any]) -> HumanDecision[Any]:
        """Validate ``decision`` and wake the waiting flow; returns the typed decision.

        Raises ``InvalidDecision`` (a ``TypeError``) when the value does not fit
        the decision type, leaving the review pending; ``ReviewNotPending``
        when the review is already resolved, timed out or cancelled.
        """
        if not isinstance(decision, HumanDecision):
            raise InvalidDecision(self.review_id, "HumanDecision", decision, errors=["resolve() takes a HumanDecision"])
        if decision.review_id not in (None, self.review_id):
            raise InvalidDecision(
                self.review_id, self.decision_type.name, decision.value,
                errors=[f"the decision is for review {decision.review_id}, not {self.review_id}"],
            )  # fmt: skip
        value = self.decision_type.validate(decision.value, self.review_id)
        accepted = replace(decision, value=value, review_id=self.review_id)
        if self._store_decision is not None:
            with self._lock:
                if self._state != "pending":
                    raise ReviewNotPending(self.review_id, self._state)
            accepted = await self._store_decision(accepted)  # the store decides, exactly once
        with self._lock:
            if self._state != "pending" and self._store_decision is None:
                raise ReviewNotPending(self.review_id, self._state)
            self._state = "resolved"
            self._decision = accepted
            waiter = self._waiter
        if waiter is not None:
            _deliver(waiter, accepted)
        return accepted

    async def wait(self) -> HumanDecision[Any]:
        """Suspend until a decision resolves this review (no timeout of its own)."""
        with self._lock:
            if self._decision is not None:
                return self._decision
            if self._state != "pending":
                raise ReviewNotPending(self.review_id, self._state)
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            waiter = self._waiter
        # Shielded: a cancelled waiter must not swallow a decision landing at the same moment.
        return await asyncio.shield(waiter)

    def settle(self, decision: HumanDecision[Any]) -> None:
        """Record a decision accepted elsewhere (a store shared by processes) and wake any waiter."""
        with self._lock:
            if self._state == "pending":
                self._state = "resolved"
                self._decision = decision
            waiter = self._waiter
        if waiter is not None:
            _deliver(waiter, decision)

    def close(self, state: Literal["timed_out", "cancelled"]) -> ReviewState:
        """Stop accepting decisions; returns the state before (``"resolved"`` if one won the race)."""
        with self._lock:
            before = self._state
            if before == "pending":
                self._state = state
        return before


def _deliver(waiter: asyncio.Future[HumanDecision[Any]], decision: HumanDecision[Any]) -> None:
    def settle() -> None:
        if not waiter.done():
            waiter.set_result(decision)

    loop = waiter.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        settle()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(settle)
