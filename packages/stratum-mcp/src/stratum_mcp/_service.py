"""The operations behind the tools: load specs, run the engine, persist before answering.

:class:`FlowService` is synchronous and does blocking work (SQLite, file
helpers, bounded expression evaluation, git); the server calls it from worker
threads so the event loop stays free. It is also what the command line uses,
so a gate resolved from a terminal goes through the same compare-and-swap as
one resolved by the agent. The service owns the store it is given: closing
the service closes the store.

Every operation on a run follows one sequence (:meth:`FlowService._transact`):
load the run, kill a gate whose timeout has passed, apply the engine, save
with compare-and-swap (judging again on a conflict), make the task worktrees
on disk match the saved run, and only then answer.

::

    with FlowService(SqliteStore(path), project_root=Path.cwd()) as service:
        first = service.plan(spec_text, "review", {"text": "..."})
        outcome = service.step_done(first.flow_id, first.step.id, {"label": "positive", ...})
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp._pricing import PriceTable
from stratum_mcp._worktrees import Worktrees
from stratum_mcp.engine import (
    AttemptRejected,
    AwaitGate,
    Context,
    Dispatch,
    FlowRun,
    IterationAnswer,
    Outcome,
    ResultChecker,
    RunEnded,
    TaskResult,
    Usage,
    Violation,
    abort_iteration,
    check_timeouts,
    commit,
    dispatch_of,
    expire,
    report,
    report_iteration,
    report_tasks,
    resolve_gate,
    revert,
    skip,
    start,
    start_iteration,
    worktrees_wanted,
)
from stratum_mcp.errors import (
    ArgumentTooLarge,
    ConcurrentUpdate,
    FlowNotFound,
    InputsInvalid,
    InvalidFlowId,
    StoreError,
    UsageError,
    WorktreesUnavailable,
)
from stratum_mcp.expressions import ProjectFiles
from stratum_mcp.persistence import FlowStore, StoredRun
from stratum_mcp.spec import Spec, SpecIssue, load_spec, spec_digest, validate_spec

__all__ = ["Committed", "Expiry", "FlowService", "PendingGate", "parse_flow_id"]

_UPDATE_TRIES = 8
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_MAX_TOKENS = 10**12
T = TypeVar("T")
GateOutcome = Literal["approve", "revise", "kill"]
ResolvedBy = Literal["human", "agent", "system"]


def parse_flow_id(value: Any) -> str:
    """The canonical form of a flow id; :class:`InvalidFlowId` unless it is a UUID."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidFlowId(str(value))
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidFlowId(value) from None


def _json_size(value: Any, argument: str, limit: int) -> None:
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InputsInvalid([Violation("input", argument, f"not JSON data: {exc}")]) from None
    if size > limit:
        raise ArgumentTooLarge(argument, limit, size)


def _invalid(where: str, message: str, actual: Any = None) -> InputsInvalid:
    return InputsInvalid([Violation("input", where, message, actual)])


@dataclass(frozen=True)
class Committed:
    """A checkpoint was saved: its label, every label the run has, and the step it was taken at."""

    flow_id: str
    label: str
    labels: tuple[str, ...]
    step_id: str | None


@dataclass(frozen=True)
class Expiry:
    """The outcome of a timeout check on one run: whether its gate expired, and where the run stands."""

    flow_id: str
    expired: bool
    dispatch: Dispatch


@dataclass(frozen=True)
class PendingGate:
    """A gate waiting for a decision, with the run it belongs to."""

    run: FlowRun
    gate: AwaitGate


class FlowService:
    """Plans runs, judges reported results, resolves gates and reads audits, persisting every change first."""

    def __init__(
        self,
        store: FlowStore,
        *,
        project_root: Path | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.time,
        prices: PriceTable | None = None,
        worktree_root: Path | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self._clock = clock
        files = ProjectFiles(project_root, limits=limits) if project_root is not None else None
        # Runs are tagged with the resolved root, the same spelling `stratum-mcp learn` asks for.
        self._project = str(files.root) if files is not None else None
        self._checker = ResultChecker(files=files, limits=limits)
        self._prices = prices
        self._worktrees = (Worktrees(worktree_root.expanduser().absolute(), files.root)
                           if worktree_root is not None and files is not None else None)
        # Compiled specs by digest: bounded, and rebuilt from the store after a restart.
        self._specs: OrderedDict[str, Spec] = OrderedDict()
        self._specs_lock = threading.Lock()

    # --- specs and time ----------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _context(self) -> Context:
        root = str(self._worktrees.root) if self._worktrees is not None else None
        return Context(self._now_ms(), self._checker, self.limits, root)

    def _remember(self, spec: Spec) -> Spec:
        with self._specs_lock:
            self._specs[spec.digest] = spec
            self._specs.move_to_end(spec.digest)
            while len(self._specs) > self.limits.spec_cache_entries:
                self._specs.popitem(last=False)
        return spec

    def _cached(self, digest: str) -> Spec | None:
        with self._specs_lock:
            return self._specs.get(digest)

    def _spec(self, text: str) -> Spec:
        cached = self._cached(spec_digest(text)) if isinstance(text, str) else None
        return self._remember(cached or load_spec(text, limits=self.limits))

    def spec_of(self, run: FlowRun) -> Spec | None:
        """The spec ``run`` was planned from, or ``None`` if the store no longer has it."""
        try:
            return self._spec_of(run)
        except StoreError:
            return None

    def _spec_of(self, run: FlowRun) -> Spec:
        cached = self._cached(run.spec_digest)
        if cached is not None:
            return cached
        text = self.store.spec_text(run.spec_digest)
        if text is None:
            raise StoreError(f"the spec of flow run {run.flow_id} is missing from the store")
        return self._remember(load_spec(text, limits=self.limits))

    # --- the one way a run changes -----------------------------------------------------------------

    def _load(self, flow_id: str) -> StoredRun:
        stored = self.store.load(flow_id)
        if stored is None:
            raise FlowNotFound(flow_id)
        return stored

    def _transact(self, flow_id: Any, operation: Callable[[FlowRun, Spec, Context], tuple[FlowRun, T]]) -> T:
        """Load, expire a due gate, apply ``operation``, save with compare-and-swap, reconcile, answer."""
        flow_id = parse_flow_id(flow_id)
        for _ in range(_UPDATE_TRIES):
            stored = self._load(flow_id)
            spec = self._spec_of(stored.run)
            ctx = self._context()
            swept = expire(stored.run, spec, ctx)
            try:
                run, answer = operation(swept, spec, ctx)
            except UsageError:
                # The call was refused, but a gate that expired meanwhile stays expired.
                if swept is not stored.run:
                    if not self.store.update(swept, stored.version):
                        continue
                    self._reconcile(swept)
                raise
            if run is not stored.run and not self.store.update(run, stored.version):
                continue  # another writer got in first: judge again against its state
            self._reconcile(run)
            return answer
        raise ConcurrentUpdate(flow_id, _UPDATE_TRIES)

    def _reconcile(self, run: FlowRun) -> None:
        if self._worktrees is not None:
            self._worktrees.reconcile(run.flow_id, worktrees_wanted(run), ended=run.status != "running")

    @staticmethod
    def _raise_ended(outcome: T) -> T:
        if isinstance(outcome, RunEnded):
            raise outcome.error
        return outcome

    @classmethod
    def _moved_on(cls, outcome: Outcome) -> Dispatch:
        """The dispatch after an operation that never rejects a result (a decision, a skip, a revert)."""
        moved = cls._raise_ended(outcome)
        assert not isinstance(moved, AttemptRejected | RunEnded)
        return moved

    # --- arguments ---------------------------------------------------------------------------------

    def _text(self, value: Any, argument: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _invalid(argument, "expected string", value)
        if len(value) > self.limits.note_chars:
            raise ArgumentTooLarge(argument, self.limits.note_chars, len(value))
        return value

    def _usage(self, raw: Any) -> Usage | None:
        """Reported usage as dollars: ``{usd}``, or ``{input_tokens, output_tokens, model}`` priced by the table."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _invalid("usage", "expected an object: {usd} or {input_tokens, output_tokens, model}", raw)
        unknown = set(raw) - {"usd", "input_tokens", "output_tokens", "model"}
        if unknown:
            raise _invalid(f"usage.{sorted(unknown)[0]}", "unknown field; usage has usd, input_tokens, "
                                                          "output_tokens and model")
        tokens = []
        for key in ("input_tokens", "output_tokens"):
            value = raw.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TOKENS:
                raise _invalid(f"usage.{key}", f"expected an integer from 0 to {_MAX_TOKENS}", value)
            tokens.append(value)
        usd = raw.get("usd")
        if usd is not None:
            if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd) or usd < 0:
                raise _invalid("usage.usd", "expected a number of dollars >= 0", usd)
            return Usage(float(usd), tokens[0], tokens[1], 1)
        model = raw.get("model")
        if not isinstance(model, str) or not model.strip() or len(model) > 200:
            raise _invalid("usage.model", "token usage needs the model that used them (or report `usd`)", model)
        if self._prices is None:
            self._prices = PriceTable.load(None)
        return Usage(self._prices.usd(model, tokens[0], tokens[1]), tokens[0], tokens[1], 1)

    def _result(self, result: Any, argument: str = "result") -> Any:
        _json_size(result, argument, self.limits.argument_bytes)
        return result

    # --- operations --------------------------------------------------------------------------------

    def validate(self, text: str) -> list[SpecIssue]:
        """Every issue in the spec; empty when it is valid."""
        return validate_spec(text, limits=self.limits)

    def plan(self, text: str, flow: str, inputs: dict[str, Any] | None) -> Outcome:
        """Validate, check inputs, create and persist a run, and return its first dispatch."""
        spec = self._spec(text)
        inputs = {} if inputs is None else inputs
        _json_size(inputs, "inputs", self.limits.argument_bytes)
        if flow in spec.flows and _uses_worktrees(spec, flow):
            if self._worktrees is None:
                raise WorktreesUnavailable("this server was started without a project root and worktree directory")
            self._worktrees.check()
        run, first = start(spec, flow, str(uuid.uuid4()), inputs, self._context())
        self.store.create(run, text, project=self._project)
        self._reconcile(run)
        return self._raise_ended(first)

    def step_done(self, flow_id: str, step_id: str, result: Any, usage: Any = None) -> Outcome:
        """Judge a reported result and move the run on; raise the run's error if it just failed."""
        result, spent = self._result(result), self._usage(usage)
        outcome = self._transact(flow_id, lambda run, spec, ctx: report(run, spec, step_id, result, ctx, usage=spent))
        return self._raise_ended(outcome)

    def resume(self, flow_id: str) -> Dispatch:
        """Where the run stands now: the step to do, the gate waiting, the tasks, or how it ended."""
        return self._transact(flow_id, lambda run, spec, ctx: (run, dispatch_of(run, spec)))

    def resolve_gate(
        self, flow_id: str, step_id: str, outcome: str, rationale: Any = "", resolved_by: str = "human"
    ) -> Dispatch:
        """Approve, revise or kill the gate the run waits at (compare-and-swap, so only one decision wins)."""
        if outcome not in ("approve", "revise", "kill"):
            raise _invalid("outcome", "expected approve, revise or kill", outcome)
        if resolved_by not in ("human", "agent", "system"):
            raise _invalid("resolved_by", "expected human, agent or system", resolved_by)
        note = self._text(rationale, "rationale")
        decided: GateOutcome = outcome  # type: ignore[assignment]  # checked just above
        by: ResolvedBy = resolved_by  # type: ignore[assignment]
        answer = self._transact(
            flow_id, lambda run, spec, ctx: resolve_gate(run, spec, step_id, decided, note, by, ctx))
        return self._moved_on(answer)

    def skip_step(self, flow_id: str, step_id: str, reason: Any) -> Dispatch:
        """Skip the current step because the agent asks to, saying why."""
        why = self._text(reason, "reason") or "skipped by the agent"
        return self._moved_on(self._transact(flow_id, lambda run, spec, ctx: skip(run, spec, step_id, why, ctx)))

    def iteration_start(self, flow_id: str, step_id: str) -> IterationAnswer:
        return self._transact(flow_id, lambda run, spec, ctx: start_iteration(run, spec, step_id, ctx))

    def iteration_report(self, flow_id: str, step_id: str, result: Any, usage: Any = None) -> Outcome | IterationAnswer:
        result, spent = self._result(result), self._usage(usage)
        answer = self._transact(
            flow_id, lambda run, spec, ctx: report_iteration(run, spec, step_id, result, ctx, usage=spent))
        return self._raise_ended(answer)

    def iteration_abort(self, flow_id: str, step_id: str, reason: Any) -> Outcome | IterationAnswer:
        why = self._text(reason, "reason") or "aborted by the agent"
        answer = self._transact(flow_id, lambda run, spec, ctx: abort_iteration(run, spec, step_id, why, ctx))
        return self._raise_ended(answer)

    def parallel_done(self, flow_id: str, step_id: str, results: Any, usage: Any = None) -> Outcome:
        """Judge reported task results of the current parallel step."""
        tasks, spent = self._task_results(results), self._usage(usage)
        answer = self._transact(
            flow_id, lambda run, spec, ctx: report_tasks(run, spec, step_id, tasks, ctx, usage=spent))
        return self._raise_ended(answer)

    def commit(self, flow_id: str, label: Any) -> Committed:
        """Save a checkpoint of the run under ``label`` (replacing one of that name)."""
        if not isinstance(label, str) or not _LABEL.match(label):
            raise _invalid("label", "expected 1 to 64 letters, digits, `_`, `-` or `.`, starting with a letter or "
                           "digit", label)

        def operation(run: FlowRun, spec: Spec, ctx: Context) -> tuple[FlowRun, Committed]:
            saved = commit(run, spec, label, ctx)
            dispatch = dispatch_of(saved, spec)
            where = getattr(dispatch, "step_id", None)
            return saved, Committed(saved.flow_id, label, tuple(c.label for c in saved.checkpoints), where)

        return self._transact(flow_id, operation)

    def revert(self, flow_id: str, label: Any) -> Dispatch:
        """Restore the checkpoint ``label`` and return the step to do next."""
        if not isinstance(label, str):
            raise _invalid("label", "expected string", label)
        return self._moved_on(self._transact(flow_id, lambda run, spec, ctx: revert(run, spec, label, ctx)))

    def check_timeouts(self, flow_id: str | None = None) -> list[Expiry]:
        """Kill the gates whose timeout has passed: of one run, or of every running run."""
        if flow_id is not None:
            return [self._expire_one(flow_id)]
        return [self._expire_one(run.flow_id) for run in self.store.recent(self.limits.finished_runs_kept,
                                                                            status="running")]

    def _expire_one(self, flow_id: str) -> Expiry:
        flow_id = parse_flow_id(flow_id)
        for _ in range(_UPDATE_TRIES):
            stored = self._load(flow_id)
            run, dispatch, expired = check_timeouts(stored.run, self._spec_of(stored.run), self._context())
            if expired:
                if not self.store.update(run, stored.version):
                    continue
                self._reconcile(run)
            return Expiry(flow_id, expired, dispatch)
        raise ConcurrentUpdate(flow_id, _UPDATE_TRIES)

    def pending_gates(self, limit: int = 1000) -> list[PendingGate]:
        """Every gate waiting for a decision, newest run first (read only: nothing is expired)."""
        gates = []
        for run in self.store.recent(min(max(limit, 0), self.limits.finished_runs_kept), status="running"):
            try:
                dispatch = dispatch_of(run, self._spec_of(run))
            except StoreError:
                continue
            if isinstance(dispatch, AwaitGate):
                gates.append(PendingGate(run, dispatch))
        return gates

    def run(self, flow_id: str) -> FlowRun:
        """The current state of a run, running or finished."""
        return self._load(parse_flow_id(flow_id)).run

    def recent(self, limit: int = 20, *, status: str | None = None) -> list[FlowRun]:
        return self.store.recent(min(max(limit, 0), 1000), status=status)

    def close(self) -> None:
        """Close the store (and with it, for SQLite, its connection)."""
        self.store.close()

    def __enter__(self) -> FlowService:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _task_results(self, raw: Any) -> list[TaskResult]:
        if not isinstance(raw, list) or not raw:
            raise _invalid("results", "expected a non-empty array of {task_id, result} (or {task_id, status: "
                           "\"failed\", error})", raw if not isinstance(raw, list) else None)
        _json_size(raw, "results", self.limits.argument_bytes)
        parsed = []
        for index, item in enumerate(raw):
            where = f"results[{index}]"
            if not isinstance(item, dict):
                raise _invalid(where, "expected an object with task_id", item)
            unknown = set(item) - {"task_id", "result", "status", "error"}
            if unknown:
                raise _invalid(f"{where}.{sorted(unknown)[0]}", "unknown field; a task result has task_id, result, "
                                                                "status and error")
            task_id, status = item.get("task_id"), item.get("status", "complete")
            if not isinstance(task_id, str) or not task_id:
                raise _invalid(f"{where}.task_id", "expected the task_id the dispatch gave", task_id)
            if status not in ("complete", "failed"):
                raise _invalid(f"{where}.status", "expected complete or failed", status)
            if status == "complete" and "result" not in item:
                raise _invalid(f"{where}.result", "a completed task needs its result")
            error = item.get("error")
            if error is not None and not isinstance(error, str):
                raise _invalid(f"{where}.error", "expected string", error)
            parsed.append(TaskResult(task_id[:200], status, item.get("result"), error))
        return parsed


def _uses_worktrees(spec: Spec, flow: str) -> bool:
    """Whether running ``flow`` (with its sub-flows) may hand out worktrees."""
    seen, todo = set(), [flow]
    while todo:
        name = todo.pop()
        if name in seen or name not in spec.flows:
            continue
        seen.add(name)
        for step in spec.flows[name].steps:
            if step.parallel is not None and step.parallel.isolation == "worktree":
                return True
            if step.flow is not None:
                todo.append(step.flow)
    return False
