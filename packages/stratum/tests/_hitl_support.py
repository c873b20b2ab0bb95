"""Helpers for the human-in-the-loop tests: a sink the test can await."""

from __future__ import annotations

import asyncio

from stratum.hitl import PendingReview, QueueReviewSink


class AwaitableQueueSink(QueueReviewSink):
    """A queue sink that lets the test wait (bounded) for the next emitted review."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.emitted: asyncio.Queue[PendingReview] = asyncio.Queue()

    async def emit(self, review: PendingReview) -> None:
        await super().emit(review)
        self.emitted.put_nowait(review)

    async def next_review(self, within_s: float = 5.0) -> PendingReview:
        async with asyncio.timeout(within_s):
            return await self.emitted.get()
