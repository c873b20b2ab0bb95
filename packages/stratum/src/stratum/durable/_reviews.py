"""Durable reviews from any process: list them, read one, resolve one exactly once.

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
from ..hitl._review import HumanDecision, PendingReview
from ._backend import access
from ._state import FINISHED, claim, kind_of, review_from_row

__all__ = ["get", "pending", "resolve"]

_MAX_LIST = 10_000

async def pending(*, flow_id: str | None = None, limit: int = 1000) -> list[PendingReview]:
    """Open reviews, oldest first (optionally of one flow run), from the configured durable database.

    Reviews past their deadline, and reviews of runs that have finished, are
    not listed (they can no longer be resolved)::

        for review in await stratum.reviews.pending():
            print(review.review_id, review.context.question, review.decision_schema)
    """
    if not 1 <= limit <= _MAX_LIST:
        raise ValueError(f"limit must be in [1, {_MAX_LIST}], got {limit!r}")
    where = access()
    if not where.exists():
        return []
    rows = await asyncio.to_thread(where.store.list_reviews, state="pending", flow_id=flow_id, limit=limit)
    now = time.time()
    rows = [row for row in rows if not row.expired(now)]
    statuses = await where.flow_statuses(sorted({row.flow_id for row in rows}))
    gone = {flow for flow, status in statuses.items() if status in FINISHED}
    for flow in gone:
        await asyncio.to_thread(where.store.cancel_flow_reviews, flow, now=now)
    return [review_from_row(where, row) for row in rows if row.flow_id not in gone]


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
