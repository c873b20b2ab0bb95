"""One item of a bulk job: the DBOS workflow ``stratum.job_item``, and the journal its calls run through.

Each item of ``stratum.durable.map`` is a DBOS workflow enqueued on the job's
queue, with the id ``<job_id>/<index>`` and the item's arguments as its
input; any process listening to the queue runs it. The body finds the job's
function by name (``module:qualname``, imported if need be), calls it in a
flow scope of its own and records how it ended in ``stratum_job_items``
(``_job_store``), exactly once: an execution that finds the item recorded
stops there (the process died after recording it, before DBOS marked the
workflow done). The workflow itself always returns None: the outcome, an
error included, lives in Stratum's row, so a failed item is not a DBOS error
(DBOS logs those with a traceback each).

Calls run through a ``JobJournal``. An ``@infer`` or ``@compute`` item is one
call, and its item row is its checkpoint: the call runs as in a plain flow,
with no DBOS step. A ``@flow`` item is a durable run of its own: each call is
a step (``DBOSJournal``), so an item recovered after a crash resumes where it
stopped. Under a job budget every request first holds its worst case in the
job's row (``JobStore.hold``), waiting while requests in flight elsewhere may
still free enough; one that cannot fit even then fails with
``BudgetExceeded``. Its real cost settles the hold when it returns.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._core import scope
from .._core.branches import Failure, Success
from .._core.budget import Budget, Envelope
from .._core.calls import InferFunction
from .._core.executor import execute
from ..exceptions import BudgetExceeded, CheckpointError, StratumConfigError
from . import _codec
from ._job_store import ChargeLost, Finish, Hold, HoldResult, Release
from ._job_writer import JobWriter
from ._journal import DBOSJournal
from ._state import Runtime, active, wait_active

__all__ = ["ITEM_WORKFLOW", "JobJournal", "JobView", "function_kind", "function_name", "run_item", "writer_of"]

ITEM_WORKFLOW = "stratum.job_item"
#: How long a request waits for room under the job budget, and how often it looks again.
_HOLD_WAIT_S = 30.0
_HOLD_POLL_S = 0.05
_MAX_VIEWS = 64
#: How long an item DBOS started during launch waits for the launch to finish.
_LAUNCH_WAIT_S = 120.0


def function_kind(fn: Any) -> str | None:
    """``"infer"``, ``"compute"`` or ``"flow"`` for a Stratum function, else None."""
    if isinstance(fn, InferFunction):
        return "infer"
    if getattr(fn, "__stratum_flow__", False):
        return "flow"
    if getattr(fn, "__stratum_compute__", False):
        return "compute"
    return None


def function_name(fn: Any) -> str:
    """``module:qualname``, the name a worker finds ``fn`` by."""
    return f"{fn.__module__}:{fn.__qualname__}"


_resolved: dict[str, tuple[Any, str]] = {}


def resolve(name: str) -> tuple[Any, str]:
    """The function named ``module:qualname`` and its kind; ``StratumConfigError`` if this process has none."""
    found = _resolved.get(name)
    if found is not None:
        return found
    module, _, qualname = name.partition(":")
    try:
        target: Any = sys.modules.get(module) or importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise StratumConfigError(f"this worker cannot find the job's function {name}: {exc}") from None
    kind = function_kind(target)
    if kind is None:
        raise StratumConfigError(f"{name} is not an @infer, @compute or @flow function in this worker")
    _resolved[name] = (target, kind)
    return target, kind


@dataclass(eq=False)
class JobView:
    """This process's view of one job: its definition, and the envelope its items here share.

    The envelope mirrors the job's row (spend, holds) as of the last time an
    item here asked it; the row decides, the mirror only sizes requests.
    """

    job_id: str
    function: str
    queue: str
    budget_usd: float | None
    envelope: Envelope
    #: Worst cases held on the envelope here and not yet in the row.
    pending_usd: float = 0.0

    def sync(self, spent_usd: float, reserved_usd: float) -> None:
        self.envelope.spent_usd = spent_usd
        self.envelope.reserved_usd = reserved_usd + self.pending_usd


async def view_of(runtime: Runtime, job_id: str) -> JobView:
    found: JobView | None = runtime.jobs.get(job_id)
    if found is not None:
        return found
    jobs = runtime.access.jobs
    row = await asyncio.to_thread(jobs.get, job_id)
    if row is None:
        raise StratumConfigError(f"job {job_id} has no row in this database")
    budget = None if row.budget_usd is None else Budget(usd=row.budget_usd)
    view = JobView(row.job_id, row.function, row.queue, row.budget_usd, Envelope(budget, f"job {job_id}"))
    if row.budget_usd is not None:
        view.sync(row.spent_usd, await asyncio.to_thread(jobs.reserved, job_id))
    while len(runtime.jobs) >= _MAX_VIEWS:
        runtime.jobs.pop(next(iter(runtime.jobs)))
    runtime.jobs[job_id] = runtime.jobs.get(job_id, view)  # a concurrent first item may have made one
    return runtime.jobs[job_id]  # type: ignore[no-any-return]


def writer_of(runtime: Runtime) -> JobWriter:
    if runtime.writer is None:
        runtime.writer = JobWriter(runtime.access.jobs)
    return runtime.writer  # type: ignore[no-any-return]


class JobJournal(DBOSJournal):
    """The journal of one execution of one item: steps for a ``@flow`` item, holds under the job budget."""

    def __init__(self, runtime: Runtime, flow_id: str, view: JobView, index: int, *, steps: bool) -> None:
        super().__init__(runtime, flow_id)
        self.view = view
        self.index = index
        self.steps = steps
        self.execution = uuid.uuid4().hex
        self.holds = 0
        #: What this execution's requests cost, and how much of it the job's row has heard.
        self.cost_usd = 0.0
        self.settled_usd = 0.0

    async def infer(self, spec: Any, args: Any, kwargs: Any, *, refine_feedback: Any, envelope: Any,
                    record_sink: Any) -> Any:  # fmt: skip
        if self.steps:
            return await super().infer(
                spec, args, kwargs, refine_feedback=refine_feedback, envelope=envelope, record_sink=record_sink
            )
        with scope.journal_suspended():  # one call: the item's row is its checkpoint
            return await execute(
                spec, args, kwargs, refine_feedback=refine_feedback, envelope=envelope, record_sink=record_sink
            )

    async def compute(self, fn: Callable[..., Any], args: Any, kwargs: Mapping[str, Any]) -> Any:
        if self.steps:
            return await super().compute(fn, args, kwargs)
        with scope.journal_suspended():
            return await fn(*args, **kwargs)

    async def _earlier_attempts(self, *, budgeted: bool) -> Any:
        # Requests a dead execution sent are the job's holds, charged when the item starts again.
        return await super()._earlier_attempts(budgeted=False)

    async def before_request(self, reserved_usd: float) -> object:
        view = self.view
        if view.budget_usd is None:
            return None
        self.holds += 1
        hold = Hold(view.job_id, self.index, self.execution, self.holds, reserved_usd)
        writer = writer_of(self.runtime)
        deadline = time.monotonic() + _HOLD_WAIT_S
        view.pending_usd += reserved_usd
        try:
            while True:
                result: HoldResult = await writer.submit(hold)
                view.pending_usd -= reserved_usd
                # Refused, the envelope still holds this request's worst case until the executor releases it.
                view.sync(result.spent_usd, result.reserved_usd if result.held else result.reserved_usd + reserved_usd)
                view.pending_usd += reserved_usd
                if result.held:
                    return hold.n
                never = result.spent_usd + reserved_usd > view.budget_usd * (1 + 1e-9)
                if never or time.monotonic() > deadline:
                    raise BudgetExceeded(
                        "cost", view.budget_usd, result.spent_usd, function=view.function, scope=f"job {view.job_id}",
                        detail=f"no room left in the job's budget for a request of at most ${reserved_usd:.6g}"
                        + ("" if never else f" (${result.reserved_usd:.6g} held by requests in flight)"),
                    )  # fmt: skip
                await asyncio.sleep(_HOLD_POLL_S)  # requests in flight may return unspent worst cases
        finally:
            view.pending_usd -= reserved_usd

    async def after_request(self, token: object, cost_usd: float | None) -> None:
        if not isinstance(token, int):
            return
        cost = cost_usd or 0.0
        self.cost_usd += cost
        view = self.view
        result: HoldResult = await writer_of(self.runtime).submit(
            Release(view.job_id, self.index, self.execution, token, cost)
        )
        self.settled_usd += cost
        view.sync(result.spent_usd, result.reserved_usd)


async def _call(fn: Any, request: Mapping[str, Any]) -> Any:
    result = fn(*request.get("args", ()), **request.get("kwargs", {}))
    if inspect.isawaitable(result):
        result = await result
    return result


async def run_item(request: Mapping[str, Any]) -> None:
    """The body of the ``stratum.job_item`` workflow."""
    from dbos import DBOS

    runtime = active()
    if runtime is None:  # DBOS dequeues as soon as it launches, a moment before this process's runtime exists
        runtime = await asyncio.to_thread(wait_active, _LAUNCH_WAIT_S)
    workflow_id = DBOS.workflow_id
    if runtime is None or workflow_id is None:
        raise RuntimeError("a job item ran without its DBOS runtime")
    job_id, index = str(request["job"]), int(request["i"])
    task = asyncio.current_task()
    if task is not None:
        # Until DBOS has recorded the workflow's end too (in this task, after this returns). A worker that
        # stops waits for these, and cancels and hands back the ones that outlast its grace.
        runtime.items[workflow_id] = task
        task.add_done_callback(lambda _: runtime.items.pop(workflow_id, None))
    if await asyncio.to_thread(runtime.access.jobs.item_finished, job_id, index):
        return None  # recorded by an execution that died before DBOS marked it done
    await _run(runtime, workflow_id, await view_of(runtime, job_id), index, request)
    return None


async def _run(runtime: Runtime, workflow_id: str, view: JobView, index: int, request: Mapping[str, Any]) -> None:
    writer = writer_of(runtime)
    kind = "infer"
    outcome: Success[Any] | Failure
    try:
        fn, kind = resolve(view.function)
    except StratumConfigError as exc:
        outcome, fn = Failure(exc), None
    journal = JobJournal(runtime, workflow_id, view, index, steps=kind == "flow")
    lost = 0.0
    if view.budget_usd is not None:
        lost = await writer.submit(ChargeLost(view.job_id, index, journal.execution))
    envelope = Envelope(None, view.function, parent=view.envelope)
    if fn is not None:
        opened = scope.FlowScope(flow_id=workflow_id, name=view.function, envelope=envelope, journal=journal)
        token = scope.enter(opened)
        try:
            outcome = Success(await _call(fn, request))
        except Exception as exc:
            outcome = Failure(exc)
        finally:
            scope.leave(token)
        if kind == "flow":
            await journal.finished()  # reviews it left open close; its request notes go
    encoded = ""
    if isinstance(outcome, Success):
        try:
            encoded = _codec.dumps(outcome.value)
        except TypeError as exc:
            outcome = Failure(CheckpointError(f"{view.function} (item {index})", str(exc)))
    error = outcome.error if isinstance(outcome, Failure) else None
    if error is not None:
        encoded = _codec.dumps(error)  # never fails: an attribute that cannot be stored is dropped
    unrecorded = journal.cost_usd - journal.settled_usd if view.budget_usd is not None else envelope.spent_usd
    await writer.submit(
        Finish(
            view.job_id, index, execution=journal.execution, failed=error is not None,
            error_type=None if error is None else type(error).__name__,
            error=None if error is None else str(error)[:500], cost_usd=envelope.spent_usd + lost,
            unrecorded_usd=unrecorded, outcome=encoded, executor_id=runtime.executor_id,
        )
    )  # fmt: skip
