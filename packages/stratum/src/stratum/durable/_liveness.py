"""Liveness: the runs and queued tasks of a process that died go back to the living.

A process holds its executor slot (``_executors``) while it lives: a
``flock``, or an advisory lock on a connection it keeps open, released by the
kernel or by the server the moment it dies, on any machine. DBOS has no
liveness of its own (outside its paid service): a worker killed with SIGKILL
leaves its tasks PENDING under its executor id, holding their queue's
concurrency slots, until a process with that id launches again. So every
process that has launched DBOS looks, at launch for every pending run and
then every ``recovery_poll_s`` for pending queued tasks, for work of other
slots; a slot it can lock belongs to a process that is gone. Holding that
lock (no process can start in the slot meanwhile), it lists the slot's
pending work afresh and re-enqueues it: a queued task on its own queue, with
its limits (``resume_workflow(id, queue_name=...)``), a run on DBOS's
internal queue; any live process then takes it. It resumes from its last
checkpoint, so its request in flight at the crash is sent again: at least
once per item.

A slot whose holder lost its database connection while alive looks dead too:
its work is taken over while it still runs it, and the stale execution gives
up at its next write (DBOS checks who owns a run).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._executors import SlotProbe, slot_of

if TYPE_CHECKING:
    from ._state import Runtime

__all__ = ["adopt_dead"]

log = logging.getLogger("stratum.durable")


def adopt_dead(runtime: Runtime, probe: SlotProbe, *, queued_only: bool) -> int:
    """Re-enqueue the pending work of dead slots (blocking: call from a thread); how many were handed back."""
    from dbos import DBOS

    version = runtime.backend.application_version
    lister = DBOS.list_queued_workflows if queued_only else DBOS.list_workflows
    pending = lister(status="PENDING", app_version=version, load_input=False, load_output=False)
    others = sorted({w.executor_id for w in pending if w.executor_id and w.executor_id != runtime.executor_id})
    handed = 0
    for executor_id in others:
        n = slot_of(executor_id)
        if n is None:
            continue  # an explicit id: its owner is the operator's business
        with probe.dead(n) as dead:
            if not dead:
                continue
            # Listed again under the lock: what was listed before may have been handed over since.
            orphans = lister(status="PENDING", app_version=version, executor_id=executor_id, load_input=False,
                             load_output=False)  # fmt: skip
            for w in orphans:
                DBOS.resume_workflow(w.workflow_id, queue_name=w.queue_name)
                log.info("re-enqueued %s of dead executor %s", w.workflow_id, executor_id)
                handed += 1
    return handed
