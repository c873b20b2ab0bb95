"""The state of a flow run: plain frozen values, changed only by :mod:`._machine`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from stratum_mcp._problems import Violation

__all__ = ["Attempt", "AttemptOutcome", "FlowRun", "RunStatus", "StepRun", "StepStatus"]

RunStatus = Literal["running", "complete", "failed"]
StepStatus = Literal["pending", "running", "complete", "failed"]
AttemptOutcome = Literal["passed", "schema_failed", "ensure_failed", "budget_exceeded", "flow_budget_exceeded"]


@dataclass(frozen=True)
class Attempt:
    """One report of a step's result and what became of it."""

    number: int
    started_ms: int
    finished_ms: int
    outcome: AttemptOutcome
    violations: tuple[Violation, ...] = ()

    @property
    def duration_ms(self) -> int:
        return max(0, self.finished_ms - self.started_ms)


@dataclass(frozen=True)
class StepRun:
    """A step within a run. ``dispatched_ms`` is when its current attempt was handed out."""

    step_id: str
    function: str
    status: StepStatus = "pending"
    inputs: Any = None
    dispatched_ms: int | None = None
    attempts: tuple[Attempt, ...] = ()
    output: Any = None

    @property
    def failures(self) -> int:
        return sum(1 for a in self.attempts if a.outcome != "passed")


@dataclass(frozen=True)
class FlowRun:
    """A flow run. ``current`` indexes the step being executed (``len(steps)`` once complete)."""

    flow_id: str
    flow: str
    spec_digest: str
    status: RunStatus
    inputs: Mapping[str, Any]
    created_ms: int
    updated_ms: int
    current: int
    steps: tuple[StepRun, ...]
    finished_ms: int | None = None
    output: Any = None
    error: Mapping[str, Any] | None = None

    @property
    def current_step(self) -> StepRun | None:
        return self.steps[self.current] if self.current < len(self.steps) else None

    def with_step(self, index: int, step: StepRun, **changes: Any) -> FlowRun:
        steps = (*self.steps[:index], step, *self.steps[index + 1 :])
        return replace(self, steps=steps, **changes)
