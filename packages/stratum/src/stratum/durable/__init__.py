"""Durable flows on DBOS: a run survives a crash, a review waits days, nothing is paid twice.

::

    import stratum
    from stratum import flow

    stratum.configure(durable=stratum.durable.dbos())   # SQLite under .stratum/, or a postgresql:// URL

    @flow(durable=True, budget=stratum.Budget(usd=0.05))
    async def answer(ticket: str) -> str:
        draft = await draft_reply(ticket=ticket)        # a checkpoint: never re-sent after a crash
        decision = await stratum.await_human("Send it?", bool, timeout=86_400, on_timeout=False)
        return draft.text if decision.value else ""

    handle = await stratum.durable.start(answer, "...", flow_id="ticket-123")
    await handle.result()

Reviews are resolved from any process with ``stratum.reviews`` or the
``stratum`` command.

Bulk work: one function over many items, as durable tasks on a queue that
any number of processes and machines share, with one budget for the job::

    tickets = stratum.durable.Queue("tickets", concurrency=8, limiter=(500, 60))
    handle = await stratum.durable.map(classify, texts, queue=tickets, budget=stratum.Budget(usd=20),
                                       job_id="tickets-2026-05")
    outcomes = await handle.results()        # input order: stratum.Success / stratum.Failure

Workers: ``stratum worker --queue tickets --import app.jobs`` (or
``stratum.durable.work("tickets")``). Importing this module does not import
DBOS; starting the first run or job does. See ``docs/durable.md`` and
``docs/bulk.md``.
"""

import typing as _typing

from .._faces import lazy_exports as _lazy_exports
from ._backend import DBOSBackend, dbos, shutdown
from ._flows import attach, cancel, list_flows, start, steps
from ._handles import FlowHandle, FlowStatus, FlowStep
from ._job_handles import JobHandle, JobProgress
from ._queues import Queue
from ._worker import work

if _typing.TYPE_CHECKING:
    from ._jobs import job, list_jobs, map

# Submitting and reading jobs loads SQLAlchemy: on first use.
_LAZY: dict[str, str] = {"job": "._jobs", "list_jobs": "._jobs", "map": "._jobs"}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

__all__ = [
    "DBOSBackend",
    "FlowHandle",
    "FlowStatus",
    "FlowStep",
    "JobHandle",
    "JobProgress",
    "Queue",
    "attach",
    "cancel",
    "dbos",
    "job",
    "list_flows",
    "list_jobs",
    "map",
    "shutdown",
    "start",
    "steps",
    "work",
]
