"""``stratum.durable.map``: one function over many items, as durable tasks any number of processes share.

Submitting a job, in order (nothing is written until every item checks):

1. the function is an ``@infer``, ``@compute`` or ``@flow`` defined at module
   level (workers find it by ``module:qualname``); each item binds to its
   signature (one parameter: the item is its argument; several: the item is
   a mapping of keyword arguments), its values fit the annotations, and it
   can be stored; any item that does not is ``InvalidItem``;
2. the job's row is written (``_job_store``), or found: the same id with
   another function, queue, budget or list of items is ``JobConflict``, the
   same call again attaches to the job;
3. the items not yet enqueued become DBOS workflows ``<job_id>/<index>`` on
   the queue, in batches of one transaction each (DBOS skips ids it has, so
   a submitter that died half-way is simply run again).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import re
import time
import typing
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic

from .._core.budget import Budget
from ..exceptions import InvalidItem, JobConflict, JobNotFound
from . import _codec, _progress
from ._backend import access, configured, ensure_launched
from ._job_handles import JobHandle, JobProgress, progress_of
from ._job_items import ITEM_WORKFLOW, function_kind, function_name
from ._job_store import JobRow
from ._queues import Queue, register_sync
from ._state import Runtime

__all__ = ["job", "list_jobs", "map"]

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_BATCH = 500
_MAX_LIST = 10_000


async def map(
    fn: Any,
    items: Iterable[Any],
    *,
    queue: Queue,
    budget: Budget | None = None,
    job_id: str | None = None,
    progress: bool | None = None,
) -> JobHandle:
    """Run ``fn`` over every item as a durable task on ``queue``; returns the job's handle once all are enqueued.

    ``fn`` is an ``@infer``, ``@compute`` or ``@flow`` function. Any process
    listening to the queue runs the tasks: this one (the default, with DBOS
    launched here), and any ``stratum worker --queue NAME`` on the same
    database. ``budget=Budget(usd=...)`` is one hard limit for the whole job,
    on every machine; items left when it runs out fail with
    ``BudgetExceeded``. ``job_id`` makes the call idempotent: run again, it
    attaches to the job and only unfinished items run. ``progress`` shows a
    bar (default: when stdout is a terminal)::

        tickets = stratum.durable.Queue("tickets", concurrency=8, limiter=(500, 60))
        handle = await stratum.durable.map(classify, texts, queue=tickets, budget=Budget(usd=20),
                                           job_id="tickets-2026-05")
        for outcome in await handle.results():   # input order: Success(value) or Failure(error)
            ...
    """
    kind = function_kind(fn)
    if kind is None:
        raise TypeError(f"stratum.durable.map() needs an @infer, @compute or @flow function, got {fn!r}")
    name = function_name(fn)
    if "<" in name:
        raise TypeError(f"stratum.durable.map(): {name} must be defined at module level, where workers can find it")
    if not isinstance(queue, Queue):
        raise TypeError(f"stratum.durable.map(): queue must be a stratum.durable.Queue, got {queue!r}")
    if budget is not None and (not isinstance(budget, Budget) or budget.ms is not None or budget.usd is None):
        raise ValueError("stratum.durable.map(): budget must be a Budget(usd=...); put time limits on the function")
    job_id = job_id if job_id is not None else uuid.uuid4().hex
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise ValueError(f"job_id must be 1-128 of A-Z a-z 0-9 _ . : - (no '/'), got {job_id!r}")
    listed = list(items)
    requests, digest = await asyncio.to_thread(_prepared, fn, job_id, listed)
    runtime = await ensure_launched(configured())
    await asyncio.to_thread(register_sync, runtime, queue)
    jobs = runtime.access.jobs
    now = time.time()
    wanted = JobRow(
        job_id=job_id, app=runtime.backend.app_name, function=name, queue=queue.name, total=len(listed),
        items_hash=digest, budget_usd=None if budget is None else budget.usd, spent_usd=0.0, submitted=0,
        finished=0, done=0, failed=0, created_at=now, first_finished_at=None, last_finished_at=None,
    )  # fmt: skip
    stored = await asyncio.to_thread(jobs.create, wanted)
    _check_same(stored, wanted)
    for start in range(stored.submitted, len(requests), _BATCH):
        chunk = requests[start : start + _BATCH]
        await asyncio.to_thread(_enqueue, runtime, queue.name, job_id, start, chunk)
        await asyncio.to_thread(jobs.mark_submitted, job_id, start + len(chunk))
    handle = JobHandle(job_id, runtime.access)
    if _progress.wanted(progress):
        _progress.show(handle, len(listed))
    return handle


async def job(job_id: str) -> JobHandle:
    """The handle of an existing job (``JobNotFound`` if there is none), from any process."""
    where = access()
    found = await asyncio.to_thread(where.jobs.get, job_id) if where.exists() else None
    if found is None:
        raise JobNotFound(job_id)
    return JobHandle(job_id, where)


async def list_jobs(*, limit: int = 100) -> list[JobProgress]:
    """Jobs in the configured database, newest first (``stratum jobs list``)."""
    if not 1 <= limit <= _MAX_LIST:
        raise ValueError(f"limit must be in [1, {_MAX_LIST}], got {limit!r}")
    where = access()
    if not where.exists():
        return []
    rows = await asyncio.to_thread(where.jobs.newest, limit=limit)
    failures = await asyncio.to_thread(where.jobs.failures, [row.job_id for row in rows if row.failed])
    held = {row.job_id: await asyncio.to_thread(where.jobs.reserved, row.job_id) for row in rows
            if row.budget_usd is not None and row.finished < row.total}  # fmt: skip
    return [progress_of(row, held.get(row.job_id, 0.0), failures.get(row.job_id, {})) for row in rows]


# -- checking the items ---------------------------------------------------------
def _prepared(fn: Any, job_id: str, items: Sequence[Any]) -> tuple[list[dict[str, Any]], str]:
    """Each item as the arguments of one call (checked), and a hash of them all."""
    signature, adapters = _signature(fn)
    several = len(signature.parameters) > 1
    digest = hashlib.sha256()
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if several and isinstance(item, Mapping):
            args: tuple[Any, ...] = ()
            kwargs = dict(item)
            call: dict[str, Any] = {"kwargs": kwargs}
        else:
            args, kwargs = (item,), {}
            call = {"args": [item]}
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            shape = "a mapping of its keyword arguments" if several else "its one argument"
            raise InvalidItem(job_id, index, f"{exc} (each item is {shape})") from None
        for param, value in bound.arguments.items():
            adapter = adapters.get(param)
            if adapter is None:
                continue
            try:
                adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                problem = exc.errors(include_url=False)[0].get("msg", "invalid")
                raise InvalidItem(job_id, index, f"{param}: {problem} (got a {type(value).__name__})") from None
        try:
            text = _codec.dumps(call)
        except TypeError as exc:
            raise InvalidItem(job_id, index, f"cannot be stored: {exc}") from None
        digest.update(text.encode())
        digest.update(b"\n")
        out.append(call)
    return out, digest.hexdigest()


@functools.lru_cache(maxsize=256)
def _signature(fn: Any) -> tuple[inspect.Signature, dict[str, pydantic.TypeAdapter[Any]]]:
    """The parameters an item binds to (never a method's receiver) and a validator per annotated one."""
    spec = getattr(fn, "spec", None)
    signature = spec.signature if spec is not None else inspect.signature(fn)
    names = list(signature.parameters)
    if names[:1] in (["self"], ["cls"]):
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    if spec is not None:
        hints: dict[str, Any] = {p.name: p.annotation for p in spec.params}
    else:
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception:
            hints = {}
    adapters: dict[str, pydantic.TypeAdapter[Any]] = {}
    for param in signature.parameters:
        annotation = hints.get(param)
        if annotation is None or annotation is Any:
            continue
        try:
            adapters[param] = pydantic.TypeAdapter(annotation)
        except Exception:
            continue  # an annotation pydantic cannot check is not checked
    return signature, adapters


def _check_same(stored: JobRow, wanted: JobRow) -> None:
    reasons = [
        (stored.app != wanted.app, f"the job belongs to application {stored.app}"),
        (stored.function != wanted.function, "the job runs another function"),
        (stored.queue != wanted.queue, f"the job's items are on queue {stored.queue}"),
        (stored.budget_usd != wanted.budget_usd,
         "the job has no budget" if stored.budget_usd is None else f"the job's budget is {stored.budget_usd:g} USD"),
        (stored.total != wanted.total or stored.items_hash != wanted.items_hash, "the job has other items"),
    ]
    for differs, reason in reasons:
        if differs:
            raise JobConflict(stored.job_id, stored.function, wanted.function, reason)


# -- enqueueing ---------------------------------------------------------------------
def _enqueue(runtime: Runtime, queue: str, job_id: str, start: int, calls: Sequence[dict[str, Any]]) -> None:
    """Enqueue items ``start``... as workflows ``<job_id>/<index>`` (blocking; ids DBOS has are skipped)."""
    workflow = runtime.workflows[ITEM_WORKFLOW]
    requests = [{"job": job_id, "i": start + k, **call} for k, call in enumerate(calls)]
    batch = _batch_api()
    if batch is not None:
        prepare, dbos = batch
        statuses = [
            prepare(dbos, workflow, (request,), {}, queue_name=queue, workflow_id=f"{job_id}/{request['i']}")
            for request in requests
        ]
        dbos._sys_db.init_workflows(statuses)
        return
    from dbos import DBOS, SetWorkflowID

    for request in requests:  # pragma: no cover - DBOS without its batch enqueue
        with SetWorkflowID(f"{job_id}/{request['i']}"):
            DBOS.enqueue_workflow(queue, workflow, request)


def _batch_api() -> tuple[Any, Any] | None:
    """DBOS's own batch enqueue (one transaction for many rows; its Kafka consumer uses it), if this DBOS has it."""
    try:
        from dbos._core import prepare_enqueued_workflow
        from dbos._dbos import _dbos_global_instance

        if _dbos_global_instance is None or not hasattr(_dbos_global_instance._sys_db, "init_workflows"):
            return None
    except ImportError:  # pragma: no cover - depends on DBOS internals
        return None
    return prepare_enqueued_workflow, _dbos_global_instance
