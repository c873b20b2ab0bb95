"""``await_human``: suspend a flow until a person decides.

The call builds a ``PendingReview``, hands it to the review sink, and parks
the coroutine on an ``asyncio.Future``. Nothing blocks: the event loop keeps
serving other tasks, other flows and other reviews meanwhile. While it waits,
the time budget of every enclosing flow is paused (a reviewer who takes an
hour does not exhaust a 30-second flow budget), and no money is drawn.

In a durable flow the review is asked through the flow's journal instead
(``stratum.durable``): it is stored, survives the process, and can be
resolved from any process with ``stratum.reviews.resolve``.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, overload

from .._core import scope
from .._core.config import get_config
from .._core.journal import Journal
from .._observability.records import store
from ..exceptions import HITLTimeoutError, StratumConfigError
from ._decision import DecisionType, decision_type_of
from ._review import HumanDecision, HumanReviewContext, PendingReview, ReviewSink
from ._tracking import review_record

__all__ = ["await_human"]

T = TypeVar("T")
_UNWIND_S = 1.0


@overload
async def await_human(
    context: HumanReviewContext | str,
    decision_type: type[T],
    *,
    options: Iterable[T] | None = None,
    timeout: float | timedelta | None = None,  # noqa: ASYNC109 -- the spec'd API; on_timeout needs it
    on_timeout: Any = "raise",
    sink: ReviewSink | None = None,
) -> HumanDecision[T]: ...
@overload
async def await_human(
    context: HumanReviewContext | str,
    decision_type: Any,
    *,
    options: Iterable[Any] | None = None,
    timeout: float | timedelta | None = None,  # noqa: ASYNC109 -- the spec'd API; on_timeout needs it
    on_timeout: Any = "raise",
    sink: ReviewSink | None = None,
) -> HumanDecision[Any]: ...


async def await_human(
    context: HumanReviewContext | str,
    decision_type: Any,
    *,
    options: Iterable[Any] | None = None,
    timeout: float | timedelta | None = None,  # noqa: ASYNC109 -- the spec'd API; on_timeout needs it
    on_timeout: Any = "raise",
    sink: ReviewSink | None = None,
) -> HumanDecision[Any]:
    """Ask a human and wait, without blocking, for a typed decision.

    ``decision_type`` is a contract, a primitive, a ``Literal`` (or any type
    pydantic validates); ``options`` are typed choices offered to the
    reviewer. ``timeout`` (seconds or a ``timedelta``) bounds the wait: then
    ``HITLTimeoutError`` is raised, or with ``on_timeout=value`` a decision
    ``HumanDecision(value, reviewer="auto", rationale="timeout")`` is
    returned. The review goes to ``sink``, else ``configure(review_sink=...)``,
    else the console::

        decision = await await_human(
            HumanReviewContext("Send this reply?", artifacts={"draft": draft}),
            Literal["approve", "reject"],
            options=["approve", "reject"],
            timeout=timedelta(hours=24),
            on_timeout="reject",
        )
        if decision.value == "approve":
            ...
    """
    if isinstance(context, str):
        context = HumanReviewContext(context)
    if not isinstance(context, HumanReviewContext):
        raise TypeError(f"await_human: context must be a HumanReviewContext or a str, got {type(context).__name__}")
    kind = decision_type_of(decision_type)
    journal = scope.active_journal()
    if journal is not None:
        return await _ask_durably(journal, context, kind, options=options, timeout=timeout, on_timeout=on_timeout,
                                  sink=sink)  # fmt: skip
    review_id = str(uuid.uuid4())
    # Options and the fallback are checked before anyone is asked: a typo here
    # must fail the call, not surface hours later when the review times out.
    seconds = _seconds(timeout)
    auto = on_timeout != "raise" if isinstance(on_timeout, str) else True
    fallback = kind.validate(on_timeout, review_id) if auto else None
    chosen = _sink(sink)
    flow = scope.current()
    started_at = datetime.now(UTC)
    expires_at = None if seconds is None else started_at + timedelta(seconds=seconds)
    choices = None if options is None else _options(options)
    review = PendingReview(
        review_id, context, options=choices, expires_at=expires_at, decision_type=kind,
        flow_id=flow.flow_id if flow else None,
    )  # fmt: skip
    t0 = time.perf_counter()
    decision: HumanDecision[Any] | None = None
    error: BaseException | None = None
    try:
        with scope.clock_stopped(flow):
            decision = await _ask(chosen, review, seconds=seconds, auto=auto, fallback=fallback)
        scope.note_review(flow, review_id)
        return decision
    except BaseException as exc:
        error = exc
        raise
    finally:
        review.close("cancelled")  # no-op unless still pending (the caller was cancelled)
        store().append(
            review_record(
                review, decision, error=error, flow=flow, started_at=started_at, t0=t0, timeout_s=seconds
            )
        )


async def _ask_durably(
    journal: Journal,
    context: HumanReviewContext,
    kind: DecisionType,
    *,
    options: Iterable[Any] | None,
    timeout: float | timedelta | None,  # noqa: ASYNC109 -- await_human's own argument, passed on
    on_timeout: Any,
    sink: ReviewSink | None,
) -> HumanDecision[Any]:
    """The same checks up front; then the journal stores the review and waits for it durably."""
    seconds = _seconds(timeout)
    auto = on_timeout != "raise" if isinstance(on_timeout, str) else True
    fallback = kind.validate(on_timeout) if auto else None
    chosen = sink if sink is not None else get_config().review_sink  # no console default: the store is the inbox
    if chosen is not None and not callable(getattr(chosen, "emit", None)):
        raise StratumConfigError(f"review sink {chosen!r} has no emit(review) method; see stratum.hitl.ReviewSink")
    flow = scope.current()
    assert flow is not None  # a journal only exists inside a durable flow's scope
    choices = None if options is None else tuple(kind.validate(o) for o in _options(options))
    decision = await journal.ask_human(
        context, kind, options=choices, timeout_s=seconds, fallback=(auto, fallback), sink=chosen, flow=flow
    )
    if decision.review_id is not None:
        scope.note_review(flow, decision.review_id)
    return decision


async def _ask(
    sink: ReviewSink, review: PendingReview, *, seconds: float | None, auto: bool, fallback: Any
) -> HumanDecision[Any]:
    try:
        async with asyncio.timeout(seconds) as deadline:
            return await _deliver_and_wait(sink, review)
    except TimeoutError:
        if not deadline.expired():
            raise
        if review.close("timed_out") == "resolved" and review.decision is not None:
            return review.decision  # the decision arrived as the clock ran out
        if not auto:
            raise HITLTimeoutError(review.review_id, seconds) from None
        return HumanDecision(fallback, reviewer="auto", rationale="timeout", review_id=review.review_id)


async def _deliver_and_wait(sink: ReviewSink, review: PendingReview) -> HumanDecision[Any]:
    """Run the sink's ``emit`` and the wait side by side.

    A sink may answer inside ``emit`` (the console) or later (a queue). Either
    way the first decision wins, and an ``emit`` that fails before any
    decision fails the call instead of leaving it waiting for nobody.
    """
    emitted = sink.emit(review)
    if not inspect.isawaitable(emitted):
        return await review.wait()
    delivery = asyncio.ensure_future(emitted)
    decided = asyncio.ensure_future(review.wait())
    try:
        await asyncio.wait((delivery, decided), return_when=asyncio.FIRST_COMPLETED)
        if not decided.done():
            failure = delivery.exception()
            if failure is not None:
                raise failure
        return await decided
    finally:
        delivery.cancel()
        decided.cancel()
        # Let the sink unwind (release the console, forget a webhook review), but
        # never wait long on one that ignores cancellation.
        await asyncio.wait((delivery, decided), timeout=_UNWIND_S)
        delivery.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as lost


def _options(options: Iterable[Any]) -> tuple[Any, ...]:
    if isinstance(options, (str, bytes)) or not isinstance(options, Iterable):
        raise TypeError(f"await_human: options must be a list of choices, got {type(options).__name__}")
    return tuple(options)  # a generator is read once, here, not again by each sink


def _seconds(timeout: float | timedelta | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, timedelta):
        seconds = timeout.total_seconds()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        seconds = float(timeout)
    else:
        raise TypeError(f"await_human: timeout must be seconds or a timedelta, got {type(timeout).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"await_human: timeout must be positive and finite, got {timeout!r}")
    return seconds


def _sink(sink: Any) -> ReviewSink:
    chosen = sink if sink is not None else get_config().review_sink
    if chosen is None:
        from ._console import default_console

        return default_console()
    if not callable(getattr(chosen, "emit", None)):
        raise StratumConfigError(f"review sink {chosen!r} has no emit(review) method; see stratum.hitl.ReviewSink")
    return chosen  # type: ignore[no-any-return]
