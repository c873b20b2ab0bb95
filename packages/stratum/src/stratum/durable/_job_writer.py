"""One writer per process for the job tables: changes that arrive together commit together.

Every change to a job takes the job's lock (``_job_store``): on PostgreSQL a
row lock every process waits for, on SQLite the file's one write lock. One
transaction per item finishing, and two per request under a budget, would
make that lock the limit of the whole fleet. So the items running in this
process hand their changes to ``JobWriter.submit`` and wait; while one batch
commits, the next gathers, and goes in one transaction (its job locks taken
once). An item still waits for its own change to be committed before it
goes on: nothing is reported done that is not written.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._job_store import JobStore, Op

__all__ = ["JobWriter"]

log = logging.getLogger("stratum.durable")

_MAX_BATCH = 200


class JobWriter:
    """Batches ``Op``s into transactions, on the event loop the job items run on."""

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs
        self._waiting: list[tuple[Op, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, op: Op) -> Any:
        """Apply ``op`` (with whatever else is waiting) and return its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((op, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting[:_MAX_BATCH], self._waiting[_MAX_BATCH:]
            batch = [(op, future) for op, future in taken if not future.done()]  # a cancelled waiter drops its op
            if not batch:
                continue
            ops = [op for op, _ in batch]
            try:
                results: list[Any] = await asyncio.to_thread(self._jobs.apply, ops)
            except Exception:
                log.debug("a batch of %d job changes failed; applying them one by one", len(ops), exc_info=True)
                results = await asyncio.to_thread(self._one_by_one, ops)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _one_by_one(self, ops: list[Op]) -> list[Any]:
        out: list[Any] = []
        for op in ops:
            try:
                out.append(self._jobs.apply([op])[0])
            except Exception as exc:  # this op's own failure, reported to its waiter
                out.append(exc)
        return out
