"""Durable runs from any process: start or attach by id, list, cancel, read the steps.

A run's id is its DBOS workflow id. Starting a flow under an id that already
exists attaches to that run (it is not run again); an id already used by
another flow, or by the same flow with other arguments, is a
``FlowConflict`` rather than a silently ignored argument.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from .._core.journal import DurableFlow
from ._backend import access, configured, ensure_launched, start_run
from ._handles import FlowHandle, FlowStatus, FlowStep, one_status, status_of

if TYPE_CHECKING:
    from dbos import WorkflowStatus

__all__ = ["attach", "cancel", "list_flows", "start", "steps"]

_MAX_LIST = 10_000


def _definition(flow_fn: Any) -> DurableFlow:
    definition = getattr(flow_fn, "__stratum_durable__", None)
    if not isinstance(definition, DurableFlow):
        raise TypeError(f"stratum.durable.start() needs a @flow(durable=True) function, got {flow_fn!r}")
    return definition


async def start(flow_fn: Any, /, *args: Any, flow_id: str | None = None, **kwargs: Any) -> FlowHandle:
    """Start a durable run of ``flow_fn(*args, **kwargs)`` and return its handle at once.

    ``flow_id`` names the run (default: a new UUID). Starting an id that
    already exists attaches to that run instead of running it again::

        handle = await stratum.durable.start(answer_ticket, ticket, flow_id="ticket-123")
        reply = await handle.result()

    The run executes on this event loop; if the loop stops first, the run is
    recovered by the next process that takes this executor's slot.
    """
    definition = _definition(flow_fn)
    runtime = await ensure_launched(configured())
    return await start_run(runtime, definition, args, kwargs, flow_id)


async def attach(flow_id: str) -> FlowHandle:
    """The handle of an existing run (``FlowNotFound`` if there is none), from any process."""
    where = access()
    await one_status(where, flow_id)
    return FlowHandle(flow_id, where)


async def list_flows(*, status: str | None = None, limit: int = 100) -> list[FlowStatus]:
    """Runs in the configured database, newest first; ``status`` filters (``"pending"``, ``"error"``...)."""
    if not 1 <= limit <= _MAX_LIST:
        raise ValueError(f"limit must be in [1, {_MAX_LIST}], got {limit!r}")
    where = access()
    if not where.exists():
        return []
    wanted = None if status is None else status.upper()

    def read() -> list[WorkflowStatus]:
        found = where.client().list_workflows(
            status=wanted, limit=limit, sort_desc=True, load_input=False, load_output=False
        )
        return list(found)

    return [status_of(w) for w in await asyncio.to_thread(read)]


async def cancel(flow_id: str) -> bool:
    """Cancel a run; its open reviews close as cancelled. False if it had already finished."""
    where = access()
    before = await one_status(where, flow_id)
    if before.done:
        return False
    await asyncio.to_thread(lambda: where.client().cancel_workflow(flow_id))
    await asyncio.to_thread(where.store.cancel_flow_reviews, flow_id, now=time.time())
    return True


async def steps(flow_id: str, *, limit: int = 1000) -> list[FlowStep]:
    """The recorded steps of a run, in order (``stratum flows show``)."""
    where = access()
    await one_status(where, flow_id)

    def read() -> list[Any]:
        return list(where.client().list_workflow_steps(flow_id, limit=limit))

    out: list[FlowStep] = []
    for info in await asyncio.to_thread(read):
        output, error = info.get("output"), info.get("error")
        cost = None
        summary = ""
        if isinstance(output, dict) and output.get("v") == 1:
            record = output.get("record") or {}
            cost = record.get("cost_usd")
            error = error or output.get("error")
            if output.get("kind") == "infer" and record:
                tokens = f"{record.get('input_tokens')}+{record.get('output_tokens')}"
                summary = f"{record.get('attempts')} attempt(s), {tokens} tokens"
        elif isinstance(output, dict) and "review_id" in output:
            summary = f"review {output['review_id']} opened"
        elif isinstance(output, dict) and "state" in output:
            summary = f"review {output['state']}"
        if error is not None:
            summary = f"{type(error).__name__ if isinstance(error, BaseException) else 'error'}: {error}"[:200]
        out.append(FlowStep(info["function_id"], info["function_name"], error is None, cost, summary))
    return out
