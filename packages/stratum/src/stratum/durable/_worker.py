"""``stratum.durable.work``: this process as a worker of some queues, until it is told to stop.

Stopping (SIGTERM or SIGINT, or the task cancelled): the process takes no
more tasks, gives the ones running ``grace_s`` to finish, then hands back
the rest: their tasks are cancelled here and re-enqueued on their own queue
for another worker, together with anything this executor had claimed but
not started. Then DBOS stops. A second signal skips the grace. A worker
killed outright (SIGKILL, a lost machine) hands back nothing; the other
processes on the database take its tasks over (``_liveness``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Callable
from typing import Any

from .._core.config import configure
from ._backend import configured, ensure_launched, shutdown
from ._queues import LocalLimits, local_limits
from ._state import Runtime

__all__ = ["work"]

log = logging.getLogger("stratum.durable")

#: Long enough for a queue thread to finish the poll it was in when the worker began to stop.
_SETTLE_S = 0.25
_CANCEL_WAIT_S = 5.0


async def work(
    *queues: str,
    concurrency: int | None = None,
    grace_s: float = 20.0,
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Run the tasks of ``queues`` (jobs of ``stratum.durable.map``) in this process until it is stopped.

    The database is the configured durable backend's. ``concurrency`` caps
    the tasks running here at once (the queue's own limits hold too);
    ``on_ready(executor_id)`` is called once tasks are being taken. This is
    what ``stratum worker --queue NAME`` runs::

        asyncio.run(stratum.durable.work("tickets", concurrency=16))
    """
    if not queues or not all(isinstance(q, str) and q for q in queues):
        raise ValueError(f"work() needs the names of the queues to take tasks from, got {queues!r}")
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                    or concurrency < 1):  # fmt: skip
        raise ValueError(f"concurrency must be an int >= 1 or None, got {concurrency!r}")
    if not grace_s >= 0:
        raise ValueError(f"grace_s must be >= 0, got {grace_s!r}")
    backend = dataclasses.replace(configured(), queues=tuple(queues))
    configure(durable=backend)
    runtime = await ensure_launched(backend)
    limits = local_limits(runtime)
    limits.concurrency = concurrency
    loop = asyncio.get_running_loop()
    stop, hurry = asyncio.Event(), asyncio.Event()

    def signalled() -> None:
        (hurry if stop.is_set() else stop).set()

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, signalled)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            pass
    try:
        if on_ready is not None:
            on_ready(runtime.executor_id)
        await stop.wait()
    finally:
        try:
            await _stop(runtime, limits, grace_s, hurry)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await shutdown()


async def _stop(runtime: Runtime, limits: LocalLimits, grace_s: float, hurry: asyncio.Event) -> None:
    limits.draining = True  # read by every queue thread before its next poll
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    await asyncio.sleep(_SETTLE_S)  # a poll already under way may still start a task or two
    hurried = asyncio.ensure_future(hurry.wait())
    try:
        while runtime.items and not hurry.is_set() and (left := deadline - loop.time()) > 0:
            await asyncio.wait([*runtime.items.values(), hurried], timeout=left, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hurried.cancel()
    running = list(runtime.items.values())
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running, timeout=_CANCEL_WAIT_S)
    handed = await asyncio.to_thread(_hand_back, runtime)
    if handed:
        log.info("handed %d task(s) back to their queues", handed)


def _hand_back(runtime: Runtime) -> int:
    """Re-enqueue every queued task still pending under this executor (blocking)."""
    from dbos import DBOS

    mine = DBOS.list_queued_workflows(
        status="PENDING", executor_id=runtime.executor_id, app_version=runtime.backend.application_version,
        load_input=False, load_output=False,
    )  # fmt: skip
    for w in mine:
        DBOS.resume_workflow(w.workflow_id, queue_name=w.queue_name)
    return len(mine)
