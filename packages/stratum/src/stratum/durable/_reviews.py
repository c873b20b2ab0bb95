"""Durable reviews from any process: list open and closed ones, read one, resolve one exactly once.

``resolve`` validates the value before anything changes (the decision type
itself when this process declared it, else its stored JSON Schema), then
records it with a conditional update that only a pending, unexpired review
accepts, and only then wakes the waiting flow. A second resolve, a resolve
after the deadline, or one for a flow that has finished is refused with
``ReviewNotPending`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..exceptions import ReviewNotPending
from ..hitl._review import HumanDecision, PendingReview, ReviewState
from ._backend import access
from ._state import FINISHED, claim, kind_of, review_from_row

__all__ = ["closed", "get", "pending", "resolve"]

_MAX_LIST = 10_000
_CLOSED: tuple[ReviewState, ...] = ("resolved", "timed_out", "cancelled")


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIST:
        raise ValueError(f"limit must be in [1, {_MAX_LIST}], got {limit!r}")


async def pending(
    *, flow_id: str | None = None, limit: int = 1000, newest_first: bool = False
) -> list[PendingReview]:
    """Open reviews, oldest first (optionally of one flow run), from the configured durable database.

    Reviews past their deadline, and reviews of runs that have finished, are
    not listed (they can no longer be resolved). ``newest_first`` lists the
    most recently opened first (an inbox's order)::

        for review in await stratum.reviews.pending():
            print(review.review_id, review.context.question, review.decision_schema)
    """
    _check_limit(limit)
    where = access()
    if not where.exists():
        return []
    rows = await asyncio.to_thread(
        where.store.list_reviews, states=("pending",), flow_id=flow_id, limit=limit, newest_first=newest_first
    )
    now = time.time()
    rows = [row for row in rows if not row.expired(now)]
    statuses = await where.flow_statuses(sorted({row.flow_id for row in rows}))
    gone = {flow for flow, status in statuses.items() if status in FINISHED}
    for flow in gone:
        await asyncio.to_thread(where.store.cancel_flow_reviews, flow, now=now)
    return [review_from_row(where, row) for row in rows if row.flow_id not in gone]


async def closed(*, flow_id: str | None = None, limit: int = 100) -> list[PendingReview]:
    """Reviews that can no longer be resolved, most recently closed first: resolved, timed out, cancelled.

    A resolved review carries its ``decision`` (value, reviewer, rationale,
    ``decided_at``). A review past its deadline whose flow has not run since
    is closed here as timed out (the flow applies its ``on_timeout`` when it
    next runs), as a resolve would find it::

        for review in await stratum.reviews.closed(limit=20):
            print(review.state, review.decision and review.decision.reviewer)
    """
    _check_limit(limit)
    where = access()
    if not where.exists():
        return []
    await asyncio.to_thread(where.store.expire_overdue, now=time.time())
    rows = await asyncio.to_thread(
        where.store.list_reviews, states=_CLOSED, flow_id=flow_id, limit=limit, newest_first=True
    )
    return [review_from_row(where, row) for row in rows]


async def get(review_id: str) -> PendingReview:
    """One stored review, whatever its state (``ReviewNotPending(state="unknown")`` if there is none)."""
    where = access()
    row = await asyncio.to_thread(where.store.get_review, review_id) if where.exists() else None
    if row is None:
        raise ReviewNotPending(review_id, "unknown")
    return review_from_row(where, row)


async def resolve(
    review_id: str, value: Any, *, reviewer: str | None = None, rationale: str | None = None
) -> HumanDecision[Any]:
    """Decide a durable review from any process; returns the decision the flow receives.

    ``InvalidDecision`` when ``value`` does not fit (the review stays pending);
    ``ReviewNotPending`` when it is unknown, already resolved, timed out, or
    its run was cancelled or finished. The flow resumes in the process that
    runs it, or when it is next recovered::

        await stratum.reviews.resolve(review_id, "approve", reviewer="ana")
    """
    where = access()
    row = await asyncio.to_thread(where.store.get_review, review_id) if where.exists() else None
    if row is None:
        raise ReviewNotPending(review_id, "unknown")
    kind = kind_of(row)
    typed = kind.validate(value, review_id)  # before anything changes
    return await claim(where, review_id, kind, typed, reviewer, rationale)
