"""Handles on bulk jobs: progress, results in input order, items as they finish; from any process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._core.branches import Failure, Success
from ..exceptions import CheckpointError, FlowFailed, JobNotFound
from . import _codec
from ._state import Access

if TYPE_CHECKING:
    from ._job_store import ItemRow, JobRow

__all__ = ["JobHandle", "JobProgress", "progress_of"]

_POLL_S = 0.1
_PAGE = 1000

Outcome = Success[Any] | Failure


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True, slots=True)
class JobProgress:
    """Where a bulk job stands (``handle.progress()``, ``stratum jobs show``)."""

    job_id: str
    #: ``module:qualname`` of the function every item runs.
    function: str
    queue: str
    total: int
    #: Items enqueued so far (less than ``total`` only while, or if, the submitter was cut short).
    submitted: int
    done: int
    failed: int
    #: USD recorded as spent by the job's items, and held now by its requests in flight.
    spent_usd: float
    held_usd: float
    budget_usd: float | None
    created_at: datetime
    #: When the first and the latest item finished.
    first_finished_at: datetime | None
    last_finished_at: datetime | None
    #: Failed items by the type of their error (``{"BudgetExceeded": 3}``).
    failures: Mapping[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        """Items not finished yet (queued, running, or not even enqueued)."""
        return self.total - self.done - self.failed

    @property
    def finished(self) -> bool:
        return self.pending == 0

    @property
    def rate_per_s(self) -> float | None:
        """Items finished per second, from the first to the latest (None before two have)."""
        first, last, n = self.first_finished_at, self.last_finished_at, self.done + self.failed
        if first is None or last is None or n < 2:
            return None
        seconds = (last - first).total_seconds()
        return (n - 1) / seconds if seconds > 0 else None

    @property
    def eta_s(self) -> float | None:
        """Seconds until every item has finished, at the rate so far (0 when finished)."""
        if self.finished:
            return 0.0
        rate = self.rate_per_s
        return None if not rate else self.pending / rate

    def to_dict(self) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "job_id": self.job_id, "function": self.function, "queue": self.queue, "total": self.total,
            "submitted": self.submitted, "done": self.done, "failed": self.failed, "pending": self.pending,
            "spent_usd": self.spent_usd, "held_usd": self.held_usd, "budget_usd": self.budget_usd,
            "created_at": when(self.created_at), "first_finished_at": when(self.first_finished_at),
            "last_finished_at": when(self.last_finished_at), "rate_per_s": self.rate_per_s, "eta_s": self.eta_s,
            "failures": dict(self.failures), "finished": self.finished,
        }  # fmt: skip


def progress_of(row: JobRow, held_usd: float, failures: Mapping[str, int]) -> JobProgress:
    return JobProgress(
        job_id=row.job_id, function=row.function, queue=row.queue, total=row.total, submitted=row.submitted,
        done=row.done, failed=row.failed, spent_usd=row.spent_usd, held_usd=held_usd, budget_usd=row.budget_usd,
        created_at=_moment(row.created_at) or datetime.now(UTC), first_finished_at=_moment(row.first_finished_at),
        last_finished_at=_moment(row.last_finished_at), failures=dict(failures),
    )  # fmt: skip


def _outcome(job_id: str, row: ItemRow) -> Outcome:
    try:
        value = _codec.loads(row.outcome)
    except Exception as exc:  # a type this process cannot import: said so, not dropped
        return Failure(CheckpointError(f"{job_id}/{row.idx}", f"its outcome cannot be read here: {exc}"))
    if row.state == "done":
        return Success(value)
    if isinstance(value, Exception):
        return Failure(value)
    return Failure(FlowFailed(f"{job_id}/{row.idx}", "unknown", str(value)[:500]))


class JobHandle:
    """A bulk job, by id: ``await handle.results()``, ``await handle.progress()``, ``handle.as_completed()``.

    Works from any process configured with the job's database; a job whose
    items run elsewhere is followed by polling its rows.
    """

    def __init__(self, job_id: str, where: Access) -> None:
        self.job_id = job_id
        self._access = where
        self._bar: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id}>"

    async def _row(self) -> JobRow:
        row = await asyncio.to_thread(self._access.jobs.get, self.job_id)
        if row is None:
            raise JobNotFound(self.job_id)
        return row

    async def progress(self) -> JobProgress:
        """Counts (done, failed, pending), spend so far, and failures by error type."""
        jobs = self._access.jobs
        row = await self._row()
        held = await asyncio.to_thread(jobs.reserved, self.job_id)
        failures = (await asyncio.to_thread(jobs.failures, [self.job_id])).get(self.job_id, {}) if row.failed else {}
        return progress_of(row, held, failures)

    async def wait(self, timeout_s: float | None = None) -> JobProgress:
        """Wait until every item has finished (``TimeoutError`` after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            while True:
                row = await self._row()
                if row.finished >= row.total:
                    return await self.progress()
                await asyncio.sleep(_POLL_S)

    async def results(self, timeout_s: float | None = None) -> list[Outcome]:
        """Every item's outcome in input order, once all have finished: ``Success(value)`` or ``Failure(error)``.

        A failed item's error is the one it raised, typed (``PostconditionFailed``,
        ``BudgetExceeded``...), rebuilt from the database.
        """
        async with asyncio.timeout(timeout_s):
            progress = await self.wait()
            rows: list[ItemRow] = []
            while len(rows) < progress.total:
                page = await asyncio.to_thread(self._access.jobs.outcomes, self.job_id, from_idx=len(rows),
                                               limit=_PAGE)  # fmt: skip
                if not page:
                    break
                rows.extend(page)
        if [row.idx for row in rows] != list(range(progress.total)):
            raise RuntimeError(f"job {self.job_id}: {progress.total} items finished but {len(rows)} are recorded")
        return [_outcome(self.job_id, row) for row in rows]

    async def as_completed(self, timeout_s: float | None = None) -> AsyncIterator[tuple[int, Outcome]]:
        """``(index, outcome)`` of each item as it finishes, until the last (``TimeoutError`` after ``timeout_s``)::

            async for index, outcome in handle.as_completed():
                print(index, outcome.ok)
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        seen = 0
        jobs = self._access.jobs
        while True:
            page = await asyncio.to_thread(jobs.finished_after, self.job_id, seen, limit=_PAGE)
            for row in page:
                seen = row.seq
                yield row.idx, _outcome(self.job_id, row)
            if page:
                continue
            if seen >= (await self._row()).total:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_id}: {seen} items finished within {timeout_s} s")
            await asyncio.sleep(_POLL_S)
