"""The operations behind the tools: load specs, run the engine, persist before answering.

:class:`FlowService` is synchronous and does blocking work (SQLite, file
helpers, bounded expression evaluation); the server calls it from worker
threads so the event loop stays free. It is also what the CLI uses. The
service owns the store it is given: closing the service closes the store.

::

    with FlowService(SqliteStore(path), project_root=Path.cwd()) as service:
        first = service.plan(spec_text, "review", {"text": "..."})
        outcome = service.step_done(first.flow_id, first.step.id, {"label": "positive", ...})
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp.engine import ExecuteStep, FlowRun, Outcome, ResultChecker, RunEnded, Violation, report, start
from stratum_mcp.errors import (
    ArgumentTooLarge,
    ConcurrentUpdate,
    FlowNotFound,
    InputsInvalid,
    InvalidFlowId,
    StoreError,
)
from stratum_mcp.expressions import ProjectFiles
from stratum_mcp.persistence import FlowStore
from stratum_mcp.spec import Spec, SpecIssue, load_spec, spec_digest, validate_spec

__all__ = ["FlowService", "parse_flow_id"]

_UPDATE_TRIES = 8


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


class FlowService:
    """Plans runs, judges reported steps and reads audits, persisting every change first."""

    def __init__(
        self,
        store: FlowStore,
        *,
        project_root: Path | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = limits
        self._clock = clock
        files = ProjectFiles(project_root, limits=limits) if project_root is not None else None
        # Runs are tagged with the resolved root, the same spelling `stratum-mcp learn` asks for.
        self._project = str(files.root) if files is not None else None
        self._checker = ResultChecker(files=files, limits=limits)
        # Compiled specs by digest: bounded, and rebuilt from the store after a restart.
        self._specs: OrderedDict[str, Spec] = OrderedDict()
        self._specs_lock = threading.Lock()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

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

    def _spec_of(self, run: FlowRun) -> Spec:
        cached = self._cached(run.spec_digest)
        if cached is not None:
            return cached
        text = self.store.spec_text(run.spec_digest)
        if text is None:
            raise StoreError(f"the spec of flow run {run.flow_id} is missing from the store")
        return self._remember(load_spec(text, limits=self.limits))

    def validate(self, text: str) -> list[SpecIssue]:
        """Every issue in the spec; empty when it is valid."""
        return validate_spec(text, limits=self.limits)

    def plan(self, text: str, flow: str, inputs: dict[str, Any] | None) -> ExecuteStep:
        """Validate, check inputs, create and persist a run, and return its first step."""
        spec = self._spec(text)
        inputs = {} if inputs is None else inputs
        _json_size(inputs, "inputs", self.limits.argument_bytes)
        run, first = start(spec, flow, str(uuid.uuid4()), inputs, self._now_ms(), self._checker)
        self.store.create(run, text, project=self._project)
        return first

    def step_done(self, flow_id: str, step_id: str, result: Any) -> Outcome:
        """Judge a reported result and move the run on; raise the run's error if it just failed."""
        flow_id = parse_flow_id(flow_id)
        _json_size(result, "result", self.limits.argument_bytes)
        for _ in range(_UPDATE_TRIES):
            stored = self.store.load(flow_id)
            if stored is None:
                raise FlowNotFound(flow_id)
            run, outcome = report(stored.run, self._spec_of(stored.run), step_id, result, self._now_ms(),
                                  self._checker)
            # Compare-and-swap: if another writer got in first, judge again against its state.
            if self.store.update(run, stored.version):
                if isinstance(outcome, RunEnded):
                    raise outcome.error
                return outcome
        raise ConcurrentUpdate(flow_id, _UPDATE_TRIES)

    def run(self, flow_id: str) -> FlowRun:
        """The current state of a run, running or finished."""
        flow_id = parse_flow_id(flow_id)
        stored = self.store.load(flow_id)
        if stored is None:
            raise FlowNotFound(flow_id)
        return stored.run

    def recent(self, limit: int = 20) -> list[FlowRun]:
        return self.store.recent(min(max(limit, 0), 1000))

    def close(self) -> None:
        """Close the store (and with it, for SQLite, its connection)."""
        self.store.close()

    def __enter__(self) -> FlowService:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
