"""``AwaitableQueueSink``: a review queue a test can wait on."""

from __future__ import annotations

import asyncio
from typing import Any

from ..hitl._queue import QueueReviewSink
from ..hitl._review import PendingReview

__all__ = ["AwaitableQueueSink"]


class AwaitableQueueSink(QueueReviewSink):
    """A ``QueueReviewSink`` whose next emitted review a test can await (bounded).

    The flow under test runs as a task; the test waits until it asks, then
    answers the way an application would::

        sink = AwaitableQueueSink()
        stratum.configure(review_sink=sink)
        task = asyncio.create_task(publish(text="..."))
        review = await sink.next_review(within_s=5)
        await sink.resolve(review.review_id, "publish", reviewer="test")
        assert await task == ...

    Use one per event loop (its queue belongs to the loop that first waits on it).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.emitted: asyncio.Queue[PendingReview] = asyncio.Queue()

    async def emit(self, review: PendingReview) -> None:
        await super().emit(review)
        self.emitted.put_nowait(review)

    async def next_review(self, within_s: float = 5.0) -> PendingReview:
        """The next review the flow asked for; ``TimeoutError`` after ``within_s`` seconds."""
        async with asyncio.timeout(within_s):
            return await self.emitted.get()
