"""``QueueReviewSink``: reviews wait in-process until an app resolves them.

For web apps and workers: a request handler lists ``pending()`` reviews and
calls ``resolve`` with the reviewer's answer. Both are safe from any thread
or event loop; the flow that awaits the review wakes on its own loop.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from ..exceptions import HITLDeliveryError, ReviewNotPending
from ._review import HumanDecision, PendingReview

__all__ = ["QueueReviewSink"]


class QueueReviewSink:
    """Hold open reviews for an application to list and resolve.

    ::

        reviews = QueueReviewSink()
        stratum.configure(review_sink=reviews)

        # in a request handler
        for item in reviews.pending():        # JSON-serialisable dicts
            show(item["question"], item["options"], item["review_id"])
        await reviews.resolve(review_id, "approve", reviewer="ana")

    At most ``max_pending`` reviews are open at once (a further ``emit``
    raises ``HITLDeliveryError``); the last ``remember_closed`` closed ids are
    kept so a second answer to one is told "already resolved", not "unknown".
    """

    def __init__(self, *, max_pending: int = 1000, remember_closed: int = 10_000) -> None:
        if max_pending < 1 or remember_closed < 0:
            raise ValueError("max_pending must be >= 1 and remember_closed >= 0")
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._open: dict[str, PendingReview] = {}
        self._closed: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._remember = remember_closed

    async def emit(self, review: PendingReview) -> None:
        self._register(review)

    def pending(self) -> list[dict[str, Any]]:
        """Open reviews, oldest first, as JSON-serialisable dicts (see ``PendingReview.to_dict``)."""
        with self._lock:
            self._sweep()
            open_now = list(self._open.values())
        return [review.to_dict() for review in open_now]

    def get(self, review_id: str) -> PendingReview:
        """The open review with this id, or ``ReviewNotPending``."""
        with self._lock:
            self._sweep()
            review = self._open.get(review_id)
            if review is None:
                raise ReviewNotPending(review_id, self._closed.get(review_id, "unknown"))
        return review

    async def resolve(
        self, review_id: str, value: Any, *, reviewer: str | None = None, rationale: str | None = None
    ) -> HumanDecision[Any]:
        """Decide an open review; returns the typed decision the flow receives.

        ``InvalidDecision`` (a ``TypeError``) when ``value`` does not fit: the
        review stays open. ``ReviewNotPending`` for an unknown or closed id.
        """
        review = self.get(review_id)
        decision = await review.resolve(HumanDecision(value, reviewer=reviewer, rationale=rationale))
        with self._lock:
            self._sweep()
        return decision

    def __len__(self) -> int:
        with self._lock:
            self._sweep()
            return len(self._open)

    # -- internals --------------------------------------------------------------
    def _register(self, review: PendingReview) -> None:
        with self._lock:
            self._sweep()
            if len(self._open) >= self.max_pending:
                raise HITLDeliveryError(
                    review.review_id, type(self).__name__, f"{self.max_pending} reviews are already open"
                )
            self._open[review.review_id] = review

    def _forget(self, review: PendingReview) -> None:
        """Drop a review that could not be delivered."""
        with self._lock:
            if self._open.pop(review.review_id, None) is not None:
                self._remember_closed(review.review_id, review.state if review.done else "cancelled")

    def _sweep(self) -> None:
        # Reviews close without telling the sink (a decision, a timeout, a
        # cancelled flow); move those out of the open set. Caller holds the lock.
        for review_id in [rid for rid, review in self._open.items() if review.done]:
            self._remember_closed(review_id, self._open.pop(review_id).state)

    def _remember_closed(self, review_id: str, state: str) -> None:
        if self._remember == 0:
            return
        self._closed[review_id] = state
        while len(self._closed) > self._remember:
            self._closed.popitem(last=False)
