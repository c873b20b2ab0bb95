"""``stratum.durable.dbos(...)``: the DBOS backend, its start-up and shut-down.

Mapping Stratum onto DBOS:

- each ``@flow(durable=True)`` is registered as a DBOS workflow named
  ``module.qualname``, before ``DBOS.launch()`` (a run recovered at launch
  must find its function); its one argument is ``{"args", "kwargs",
  "trace"}``, written by Stratum's JSON codec (``_codec``), not pickle;
- ``application_version`` is pinned (``"1"`` unless configured): DBOS's
  default hashes the workflow source, so any edit would strand pending runs;
  Stratum's own replay check (prompt and contract hashes, ``_journal``)
  decides instead whether an edited flow may continue;
- each process gets a unique, stable executor id (``_executors``), and
  watches the others' (``_liveness``);
- one more workflow, ``stratum.job_item``, runs the items of bulk jobs
  (``_job_items``); the ``Queue`` rows declared in code are written at
  launch (``_queues``), and ``queues=`` restricts the queues this process
  takes tasks from (``DBOS.listen_queues``);
- a SQLite file is switched to WAL mode (one fsync a commit, readers never
  wait for writers);
- ``launch()`` and ``destroy()`` block, so they run in a thread, and runs
  DBOS recovers or dequeues are then scheduled on the caller's event loop.

A process that only reads and resolves (the CLI, a review inbox) never
launches DBOS: it uses a ``DBOSClient`` and Stratum's tables (``Access``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core import journal as core_journal
from .._observability import spans
from ..exceptions import FlowConflict, StratumConfigError
from . import _codec
from ._handles import FlowHandle
from ._state import Access, Runtime, active, serializer, set_active

if TYPE_CHECKING:
    from dbos import WorkflowStatus

    from .._core.journal import DurableFlow

__all__ = ["DBOSBackend", "access", "configured", "dbos", "ensure_launched", "shutdown", "start_run"]

log = logging.getLogger("stratum.durable")

_APP_NAME = re.compile(r"^[a-z0-9_-]{3,256}$")
#: How long shutdown() lets job items running here finish.
_ITEMS_WAIT_S = 1.0


def _default_url() -> str:
    from ..cache._stores import default_cache_dir  # the directory the global cache uses too

    return f"sqlite:///{default_cache_dir() / 'durable.sqlite'}"


def _resolve_url(database_url: str | None) -> str:
    url = database_url or os.environ.get("STRATUM_DURABLE_URL") or _default_url()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        return f"sqlite:///{path.expanduser().resolve()}"
    if not url.startswith("postgresql://"):
        raise StratumConfigError(f"durable database_url must be sqlite:///PATH or postgresql://..., got {url!r}")
    return url


@dataclass(frozen=True, slots=True)
class DBOSBackend:
    """Where durable flows and reviews are kept: a DBOS system database (SQLite or Postgres).

    Build it with ``stratum.durable.dbos(...)`` and pass it to
    ``stratum.configure(durable=...)``. Nothing is opened until a durable
    flow runs (or ``await backend.launch()``).
    """

    database_url: str
    app_name: str = "stratum"
    #: None: take the lowest free executor slot (``slot-N``), see docs/durable.md.
    executor_id: str | None = None
    #: Pinned so edited code can recover runs; change it to strand old runs on purpose.
    application_version: str = "1"
    #: How often a waiting review looks for its decision on SQLite (Postgres is told at once).
    poll_interval_s: float = 0.5
    #: How often this process looks for runs to recover or resume.
    recovery_poll_s: float = 1.0
    #: Recoveries before a run that keeps crashing its process is given up (None: never).
    max_recovery_attempts: int | None = 100
    #: Reviews open at once in this application; one more fails its await_human.
    max_pending_reviews: int = 10_000
    #: Closed reviews are deleted after this long.
    review_retention_s: float = 30 * 24 * 3600.0
    log_level: str = "WARNING"
    #: The queues this process takes tasks from (None: every queue; (): none, it only submits).
    queues: tuple[str, ...] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        return Path(self.database_url[len("sqlite:///") :]) if self.is_sqlite else None

    # -- the DurableRunner protocol -------------------------------------------
    async def run_flow(self, flow: core_journal.DurableFlow, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """A direct call of a durable flow: a run with a generated id, awaited here."""
        runtime = await ensure_launched(self)
        handle = await start_run(runtime, flow, args, kwargs, None)
        return await handle.result()

    async def launch(self) -> Runtime:
        """Open the database and recover this executor's pending runs (done on first use anyway)."""
        return await ensure_launched(self)

    async def shutdown(self) -> None:
        """Stop DBOS in this process (runs still pending are recovered by the next process)."""
        await shutdown()


def dbos(
    database_url: str | None = None,
    app_name: str | None = None,
    *,
    executor_id: str | None = None,
    application_version: str = "1",
    poll_interval_s: float = 0.5,
    recovery_poll_s: float = 1.0,
    max_recovery_attempts: int | None = 100,
    max_pending_reviews: int = 10_000,
    review_retention_s: float = 30 * 24 * 3600.0,
    log_level: str = "WARNING",
    queues: Sequence[str] | None = None,
) -> DBOSBackend:
    """The DBOS backend for ``stratum.configure(durable=...)``.

    ``database_url`` is ``sqlite:///PATH`` (one machine; the default is
    ``.stratum/durable.sqlite``, or ``$STRATUM_DURABLE_URL``) or a
    ``postgresql://`` URL (several processes or machines; DBOS creates the
    database if it may). ``app_name`` (default ``"stratum"``) scopes runs
    within a shared database. ``executor_id`` defaults to a slot this
    process holds while it lives (``$STRATUM_EXECUTOR_ID`` overrides).
    ``queues`` names the queues whose tasks this process runs (default:
    every queue; ``()`` for a process that only submits jobs and leaves them
    to ``stratum worker`` processes)::

        import stratum

        stratum.configure(durable=stratum.durable.dbos())                        # SQLite, this machine
        stratum.configure(durable=stratum.durable.dbos("postgresql://app@db/flows"))
    """
    name = app_name or "stratum"
    if not _APP_NAME.match(name):
        raise StratumConfigError(f"app_name must be 3-256 of a-z 0-9 - _, got {name!r}")
    for label, value in (("poll_interval_s", poll_interval_s), ("recovery_poll_s", recovery_poll_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
            raise StratumConfigError(f"{label} must be in (0, 60] seconds, got {value!r}")
    if max_pending_reviews < 1 or review_retention_s <= 0:
        raise StratumConfigError("max_pending_reviews must be >= 1 and review_retention_s > 0")
    if not application_version or not isinstance(application_version, str):
        raise StratumConfigError(f"application_version must be a non-empty str, got {application_version!r}")
    if queues is not None and (isinstance(queues, str) or not all(isinstance(q, str) for q in queues)):
        raise StratumConfigError(f"queues must be a sequence of queue names or None, got {queues!r}")
    return DBOSBackend(
        database_url=_resolve_url(database_url),
        app_name=name,
        executor_id=executor_id or os.environ.get("STRATUM_EXECUTOR_ID") or None,
        application_version=application_version,
        poll_interval_s=float(poll_interval_s),
        recovery_poll_s=float(recovery_poll_s),
        max_recovery_attempts=max_recovery_attempts,
        max_pending_reviews=max_pending_reviews,
        review_retention_s=float(review_retention_s),
        log_level=log_level,
        queues=None if queues is None else tuple(queues),
    )


def configured() -> DBOSBackend:
    """The configured backend, else the default one (SQLite under ``.stratum/`` or ``$STRATUM_DURABLE_URL``)."""
    from .._core.config import get_config

    chosen = get_config().durable
    if chosen is None:
        return dbos()
    if not isinstance(chosen, DBOSBackend):
        raise StratumConfigError(f"stratum.durable needs a stratum.durable.dbos() backend, got {chosen!r}")
    return chosen


_accesses: dict[tuple[str, str], Access] = {}
_accesses_lock = threading.Lock()


def access(backend: DBOSBackend | None = None) -> Access:
    """The access for ``backend`` (default: the configured one); the running executor's if launched here."""
    chosen = backend or configured()
    runtime = active()
    if runtime is not None and runtime.backend.database_url == chosen.database_url:
        return runtime.access
    key = (chosen.database_url, chosen.app_name)
    with _accesses_lock:
        found = _accesses.get(key)
        if found is None:
            if len(_accesses) >= 8:  # bounded: a process rarely reads more than one database
                _accesses.pop(next(iter(_accesses))).close()
            from ._store import Store  # SQLAlchemy loads with the first durable access, not with the import

            found = _accesses[key] = Access(chosen, Store(chosen.database_url, chosen.app_name, create=False))
        return found


_launching = threading.Lock()
_registered: dict[str, Any] = {}  # flow name -> DBOS workflow function (DBOS's registry outlives destroy)


def _register(flow: core_journal.DurableFlow, backend: DBOSBackend) -> Any:
    from ._journal import workflow_body

    async def run(request: dict[str, Any]) -> Any:
        return await workflow_body(flow, request)

    return _workflow(flow.name, run, backend)


def _register_item(backend: DBOSBackend) -> Any:
    """The one workflow every job item runs (``_job_items``): registered in every process, to recover items."""
    from ._job_items import ITEM_WORKFLOW, run_item

    async def run(request: dict[str, Any]) -> Any:
        return await run_item(request)

    return _workflow(ITEM_WORKFLOW, run, backend)


def _workflow(name: str, run: Any, backend: DBOSBackend) -> Any:
    found = _registered.get(name)
    if found is not None:
        return found
    from dbos import DBOS

    run.__qualname__ = run.__name__ = name
    decorate = DBOS.workflow(name=name, max_recovery_attempts=backend.max_recovery_attempts)
    registered = _registered[name] = decorate(run)
    return registered


def _launch_sync(backend: DBOSBackend, loop: asyncio.AbstractEventLoop | None = None) -> Runtime:
    with _launching:
        found = active()
        if found is not None:
            return found
        from dbos import DBOS

        from ._executors import acquire_slot

        path = backend.sqlite_path
        if path is not None:
            from . import _sqlite_compat

            _sqlite_compat.install()
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_ahead_log(path)
        slot = None
        executor_id = backend.executor_id
        if executor_id is None:
            slot = acquire_slot(backend.database_url, backend.app_name)
            executor_id = slot.executor_id
        try:
            from ._job_items import ITEM_WORKFLOW
            from ._queues import declared, register_sync

            workflows = {flow.name: _register(flow, backend) for flow in core_journal.durable_flows()}
            workflows[ITEM_WORKFLOW] = _register_item(backend)
            _fast_recovery(backend.recovery_poll_s)
            DBOS(
                config={
                    "name": backend.app_name,
                    "system_database_url": backend.database_url,
                    "application_version": backend.application_version,
                    "executor_id": executor_id,
                    "serializer": serializer(strict=True),
                    "log_level": backend.log_level,
                    "notification_listener_polling_interval_sec": backend.poll_interval_s,
                }
            )
            if backend.queues is not None:
                DBOS.listen_queues(list(backend.queues))
            _main_loop(loop)
            DBOS.launch()
            from ._store import Store

            store = Store(backend.database_url, backend.app_name, create=True)
            store.ensure()
            runtime = Runtime(
                backend=backend, executor_id=executor_id, access=Access(backend, store), slot=slot, workflows=workflows
            )
            runtime.access.jobs.ensure()
            for queue in declared():  # declared at import time; the code is the source of truth for their rows
                register_sync(runtime, queue)
        except BaseException:
            if slot is not None:
                slot.release()
            DBOS.destroy()
            raise
        runtime.unsubscribe = core_journal.on_register(
            lambda flow: runtime.workflows.setdefault(flow.name, _register(flow, backend))
        )
        set_active(runtime)
        return runtime


def _write_ahead_log(path: Path) -> None:
    """Put the SQLite file in WAL mode (once; the mode is kept in the file).

    DBOS leaves SQLite in rollback-journal mode, where every commit costs two
    fsyncs and readers wait for writers: ~12 ms a commit on a plain disk,
    which caps a bulk job at a few dozen items a second. In WAL mode a commit
    is one fsync (~2 ms) and readers (progress, the CLI) never block the
    writers. Every process sharing the file is on this machine, which WAL
    requires. Best effort: a file another process holds open in the middle
    of a transaction keeps its mode until a later launch.
    """
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error:
        log.debug("could not switch %s to WAL mode", path, exc_info=True)


def _main_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Before launch: runs and job items DBOS starts go to the caller's loop from the first one on.

    ``launch()`` starts dequeuing and recovering at once; until DBOS is pointed
    at the caller's loop (``_adopt_loop``, which must run on that loop) it would
    run them on its own background loop, and one process's items would be
    split between two loops. DBOS has no setting for it before launch, so the
    attribute ``set_main_loop()`` writes is set here; if a DBOS release changes
    it, ``_adopt_loop`` after launch still does it, and items started in
    between wait for the runtime (``wait_active``).
    """
    if loop is None:
        return
    try:
        from dbos._dbos import _dbos_global_instance

        if _dbos_global_instance is not None:
            _dbos_global_instance._background_event_loop._main_loop = loop
    except Exception:  # pragma: no cover - depends on DBOS internals
        log.debug("could not point DBOS at the caller's loop before launch", exc_info=True)


def _fast_recovery(poll_s: float) -> None:
    """Recovered and resumed runs wait on DBOS's internal queue; make it poll at ``poll_s``.

    DBOS has no setting for it (the queue polls once a second): the queue is
    created here, before launch, with the interval set. If a DBOS release
    changes this, recovery merely keeps DBOS's own pace.
    """
    try:
        from dbos._dbos import _get_or_create_dbos_registry
        from dbos._utils import INTERNAL_QUEUE_NAME

        registry = _get_or_create_dbos_registry()
        queue = registry._register_internal_queue(INTERNAL_QUEUE_NAME)
        queue._polling_interval_sec = poll_s
    except Exception:  # pragma: no cover - depends on DBOS internals
        log.debug("could not set the recovery polling interval", exc_info=True)


async def ensure_launched(backend: DBOSBackend) -> Runtime:
    """DBOS for ``backend`` in this process, launched (off the event loop) on first use."""
    runtime = active()
    if runtime is None:
        runtime = await asyncio.to_thread(_launch_sync, backend, asyncio.get_running_loop())
        if runtime.maintenance is None:  # the first of concurrent first uses
            _adopt_loop()  # runs DBOS recovers or dequeues are scheduled on this loop
            runtime.maintenance = asyncio.get_running_loop().create_task(_maintain(runtime))
    if runtime.backend != backend:
        raise StratumConfigError(
            f"durable backend {runtime.backend.database_url} ({runtime.backend.app_name}) is already running in "
            "this process; await stratum.durable.shutdown() before using another"
        )
    return runtime


def _adopt_loop() -> None:
    """Schedule recovered async runs on the running loop instead of DBOS's background thread.

    DBOS captures the caller's loop only when ``launch()`` runs on it, which
    would block it; launching in a thread and pointing DBOS at this loop
    afterwards keeps a run, its client and its review sink on one loop.
    """
    from dbos._dbos import _dbos_global_instance

    if _dbos_global_instance is not None:
        _dbos_global_instance._background_event_loop.set_main_loop()


async def _maintain(runtime: Runtime) -> None:
    """After launch: wake flows whose resolver died before waking them, forget old reviews, adopt dead slots.

    Then, every ``recovery_poll_s`` while DBOS runs here, hand the queued
    tasks of processes that died to the living (``_liveness``).
    """
    from ._executors import SlotProbe
    from ._liveness import adopt_dead

    probe = SlotProbe(runtime.backend.database_url, runtime.backend.app_name)
    try:
        try:
            rows = await asyncio.to_thread(runtime.store.unnotified, 1000)
            for row in rows:
                if row.decided_at is not None:
                    await runtime.access.notify(row.flow_id, row.review_id, row.decided_at)
            cutoff = time.time() - runtime.backend.review_retention_s
            await asyncio.to_thread(runtime.store.forget_closed, older_than=cutoff)
            await asyncio.to_thread(adopt_dead, runtime, probe, queued_only=False)
        except Exception:
            log.warning("durable maintenance after launch failed", exc_info=True)
        while True:
            await asyncio.sleep(runtime.backend.recovery_poll_s)
            try:
                await asyncio.to_thread(adopt_dead, runtime, probe, queued_only=True)
            except Exception:
                log.debug("looking for the tasks of dead workers failed", exc_info=True)
    finally:
        probe.close()


async def shutdown() -> None:
    """Stop DBOS in this process and close Stratum's connections (idempotent)."""
    runtime = active()
    loop = asyncio.get_running_loop()
    if runtime is not None:
        # Job items about to finish get a moment to, rather than being recovered by the next process.
        items = [task for task in runtime.items.values() if task.get_loop() is loop]
        if items:
            await asyncio.wait(items, timeout=_ITEMS_WAIT_S)
        task = runtime.maintenance
        if task is not None and not task.done() and task.get_loop() is loop:
            task.cancel()
            await asyncio.wait((task,), timeout=1.0)
    await asyncio.to_thread(_shutdown_sync)
    # DBOS made its (now stopped) pool this loop's default executor: give the loop a working one back,
    # or every later asyncio.to_thread here would fail.
    from concurrent.futures import ThreadPoolExecutor

    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))


def _shutdown_sync() -> None:
    with _launching:
        runtime = active()
        set_active(None)
        if runtime is not None:
            from dbos import DBOS

            if runtime.unsubscribe is not None:
                runtime.unsubscribe()
            DBOS.destroy()
            runtime.access.close()
            if runtime.slot is not None:
                runtime.slot.release()
        with _accesses_lock:
            accesses = list(_accesses.values())
            _accesses.clear()
        for item in accesses:
            item.close()


# -- starting a run in this executor --------------------------------------------------
async def start_run(
    runtime: Runtime, flow: DurableFlow, args: tuple[Any, ...], kwargs: Mapping[str, Any], flow_id: str | None
) -> FlowHandle:
    from dbos import DBOS, SetWorkflowID

    run_id = flow_id or str(uuid.uuid4())
    kwargs = dict(kwargs)
    if flow_id is not None:
        existing = await DBOS.list_workflows_async(workflow_ids=[run_id], load_input=True, load_output=False)
        if existing:
            _check_same(run_id, existing[0], flow, args, kwargs)
            return FlowHandle(run_id, runtime.access)
    workflow = runtime.workflows.get(flow.name)
    if workflow is None:
        workflow = runtime.workflows[flow.name] = _register(flow, runtime.backend)
    current = spans.current()
    trace = {"trace_id": current.trace_id, "span_id": current.span_id} if current is not None else {
        "trace_id": spans.new_trace_id(), "span_id": None}  # fmt: skip
    request = {"args": list(args), "kwargs": kwargs, "trace": trace}
    _codec.dumps(request)  # an argument that cannot be stored fails here, before anything is written
    with SetWorkflowID(run_id):
        task = await DBOS.start_workflow_async(workflow, request)
    return FlowHandle(run_id, runtime.access, task)


def _check_same(run_id: str, existing: WorkflowStatus, flow: DurableFlow, args: tuple[Any, ...],
                kwargs: Mapping[str, Any]) -> None:  # fmt: skip
    if existing.name != flow.name:
        raise FlowConflict(run_id, existing.name, flow.name, "the id names a run of another flow")
    inputs: Any = existing.input or {}
    recorded: Any = (inputs.get("args") or ({},))[0] if isinstance(inputs, dict) else {}
    if not isinstance(recorded, dict):
        return
    same = _codec.dumps(list(recorded.get("args", []))) == _codec.dumps(list(args)) and _codec.dumps(
        dict(recorded.get("kwargs", {}))
    ) == _codec.dumps(dict(kwargs))
    if not same:
        raise FlowConflict(run_id, existing.name, flow.name, "the run was started with other arguments")
