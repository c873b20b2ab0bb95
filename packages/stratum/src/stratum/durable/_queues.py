"""``stratum.durable.Queue``: a DBOS queue declared in code, written to the database at launch.

In DBOS 3.4 a queue is a row (``DBOS.register_queue``, only once DBOS has
launched). A ``Queue`` is declared at import time, like a durable flow, and
remembered here; every process that launches with it declared writes its row
(the code is the source of truth: the last process to launch sets it), and
``map`` registers a queue declared after launch on first use. The limits are
DBOS's own and hold across every process sharing the database:

- ``concurrency``: tasks of the queue running at once, everywhere (DBOS's
  ``global_concurrency``: rows PENDING on the queue);
- ``worker_concurrency``: tasks running at once in any one process;
- ``limiter=(requests, per_seconds)``: tasks started in any rolling window
  (on SQLite under Python 3.11, DBOS's clock has one-second resolution, so a
  window is counted in whole seconds).

Two per-process limits the row cannot hold are applied to this process's
reading of it (``LocalLimits``): ``stratum worker --concurrency N``, and a
worker that is stopping and must take no more tasks.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import StratumConfigError

if TYPE_CHECKING:
    from ._state import Runtime

__all__ = ["LocalLimits", "Queue", "declared", "local_limits", "register_sync"]

log = logging.getLogger("stratum.durable")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

_lock = threading.Lock()
_declared: dict[str, Queue] = {}


def _count(label: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StratumConfigError(f"Queue {label} must be an int >= 1 or None, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue of durable tasks, shared by every process on the database (``stratum.durable.map`` fills it).

    Declare it at import time, where workers import it too::

        tickets = stratum.durable.Queue("tickets", concurrency=8, limiter=(500, 60))   # 500 requests a minute

    ``concurrency`` bounds the tasks running at once across all processes,
    ``worker_concurrency`` those in any one process, ``limiter`` the tasks
    started per rolling window of ``per_seconds``. ``poll_interval_s`` is how
    often each process looks for tasks to take (a freed slot waits for the
    next look).
    """

    name: str
    concurrency: int | None = None
    worker_concurrency: int | None = None
    limiter: tuple[int, float] | None = None
    poll_interval_s: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name) or self.name.startswith("_dbos_"):
            raise StratumConfigError(
                f"Queue name must be 1-128 of A-Z a-z 0-9 _ . : - (not starting with _dbos_), got {self.name!r}"
            )
        concurrency = _count("concurrency", self.concurrency)
        per_worker = _count("worker_concurrency", self.worker_concurrency)
        if concurrency is not None and per_worker is not None and per_worker > concurrency:
            raise StratumConfigError(
                f"Queue {self.name}: worker_concurrency ({per_worker}) cannot exceed concurrency ({concurrency})"
            )
        if self.limiter is not None:
            try:
                requests, per_seconds = self.limiter
            except (TypeError, ValueError):
                raise StratumConfigError(
                    f"Queue {self.name}: limiter must be (requests, per_seconds), got {self.limiter!r}"
                ) from None
            _count("limiter requests", requests)
            if isinstance(per_seconds, bool) or not isinstance(per_seconds, (int, float)) or not (
                math.isfinite(per_seconds) and per_seconds > 0
            ):
                raise StratumConfigError(f"Queue {self.name}: limiter per_seconds must be > 0, got {per_seconds!r}")
            object.__setattr__(self, "limiter", (requests, float(per_seconds)))
        poll = self.poll_interval_s
        if isinstance(poll, bool) or not isinstance(poll, (int, float)) or not 0 < poll <= 60:
            raise StratumConfigError(f"Queue {self.name}: poll_interval_s must be in (0, 60], got {poll!r}")
        with _lock:
            _declared[self.name] = self  # the latest declaration of a name is the one registered

    def row(self) -> dict[str, Any]:
        """The arguments of ``DBOS.register_queue`` for this queue."""
        limiter = None if self.limiter is None else {"limit": self.limiter[0], "period": self.limiter[1]}
        return {
            "global_concurrency": self.concurrency, "worker_concurrency": self.worker_concurrency,
            "limiter": limiter, "polling_interval_sec": float(self.poll_interval_s),
        }  # fmt: skip


def declared() -> list[Queue]:
    """Every queue declared so far (the latest declaration of each name)."""
    with _lock:
        return list(_declared.values())


def register_sync(runtime: Runtime, queue: Queue) -> None:
    """Write ``queue``'s row (blocking: call from a thread), unless this runtime already wrote this very one."""
    if runtime.queues.get(queue.name) == queue:
        return
    from dbos import DBOS

    DBOS.register_queue(queue.name, **queue.row())  # a process of an older application version leaves it
    runtime.queues[queue.name] = queue


class LocalLimits:
    """This process's own limits on the queues it takes tasks from, applied to its reading of their rows."""

    def __init__(self) -> None:
        self.concurrency: int | None = None
        #: Stopping: take no more tasks from any queue.
        self.draining = False

    def apply(self, queue: Any) -> None:
        if self.draining:
            queue._worker_concurrency = 0
        elif self.concurrency is not None:
            row = queue._worker_concurrency
            queue._worker_concurrency = self.concurrency if row is None else min(row, self.concurrency)


def local_limits(runtime: Runtime) -> LocalLimits:
    """The limits of this process, installed on first use.

    DBOS's queue threads re-read each queue's row before every poll
    (``SystemDatabase.get_queue``) and take at most ``worker_concurrency``
    minus what runs here; the row is shared, so a per-process limit is set on
    what this process reads. DBOS internals: if a release renames them, the
    limits are not applied and a warning says so.
    """
    if runtime.limits is not None:
        return runtime.limits  # type: ignore[no-any-return]
    limits = runtime.limits = LocalLimits()
    try:
        from dbos._dbos import _dbos_global_instance

        sys_db = _dbos_global_instance._sys_db  # type: ignore[union-attr]
        original = sys_db.get_queue

        def get_queue(name: str, **kwargs: Any) -> Any:
            found = original(name, **kwargs)
            if found is not None:
                limits.apply(found)
            return found

        sys_db.get_queue = get_queue  # type: ignore[method-assign]
    except Exception:  # pragma: no cover - depends on DBOS internals
        log.warning("this DBOS release does not allow per-process queue limits; --concurrency is not applied")
    return limits
