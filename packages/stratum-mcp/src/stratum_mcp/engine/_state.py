"""The state of a flow run: plain frozen values, changed only by the engine's transitions.

A run is a tree of frames. The run itself is the top frame (its flow's steps,
which step is current, how many rounds it has used); a sub-flow step holds the
frame of the flow it runs in ``child``. Each :class:`StepRun` keeps everything
that happened to its step across visits (a revise loop enters a step again):
attempts are tagged with the visit they belong to, and only the current
visit's failures count against its retries.

Alongside the state, :attr:`FlowRun.events` is the run's audit log: one
:class:`Event` per thing that happened, in order, never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from stratum_mcp._problems import Violation

__all__ = [
    "Attempt",
    "AttemptOutcome",
    "Checkpoint",
    "Event",
    "Feedback",
    "FlowRun",
    "Frame",
    "GateRun",
    "IterationRun",
    "Resolution",
    "RunStatus",
    "StepRun",
    "StepStatus",
    "TaskRun",
    "TaskStatus",
    "Usage",
]

RunStatus = Literal["running", "complete", "failed", "killed", "budget_exceeded"]
StepStatus = Literal["pending", "running", "waiting", "complete", "failed", "skipped"]
TaskStatus = Literal["pending", "running", "complete", "failed", "cancelled"]
AttemptOutcome = Literal[
    "passed", "schema_failed", "ensure_failed", "budget_exceeded", "flow_budget_exceeded", "abandoned"
]


@dataclass(frozen=True)
class Attempt:
    """One report of a step's (or a task's, or an iteration's) result and what became of it."""

    number: int
    started_ms: int
    finished_ms: int
    outcome: AttemptOutcome
    violations: tuple[Violation, ...] = ()
    visit: int = 1

    @property
    def duration_ms(self) -> int:
        return max(0, self.finished_ms - self.started_ms)


@dataclass(frozen=True)
class Feedback:
    """A revise decision handed to the step a gate sent the flow back to."""

    gate: str
    rationale: str
    resolved_by: str
    round: int


@dataclass(frozen=True)
class Resolution:
    """A gate's decision: ``approve``, ``revise`` or ``kill``, why, and by whom."""

    outcome: Literal["approve", "revise", "kill"]
    rationale: str
    resolved_by: Literal["human", "agent", "system"]
    at_ms: int
    visit: int


@dataclass(frozen=True)
class GateRun:
    """A gate while and after it waits; ``deadline_ms`` is when the system kills it, if it has a timeout."""

    opened_ms: int
    deadline_ms: int | None
    resolutions: tuple[Resolution, ...] = ()


@dataclass(frozen=True)
class IterationRun:
    """An iteration loop: how many iterations were accepted, the last result, what was accumulated."""

    started: bool = False
    count: int = 0
    last: Any = None
    accumulated: tuple[Any, ...] = ()
    seen: tuple[str, ...] = ()
    dry_streak: int = 0
    outcome: str | None = None


@dataclass(frozen=True)
class TaskRun:
    """One task of a parallel step; ``worktree`` is the path of its git worktree while it runs in one."""

    task_id: str
    task: Any
    intent: str
    inputs: Any
    status: TaskStatus = "pending"
    dispatched_ms: int | None = None
    attempts: tuple[Attempt, ...] = ()
    output: Any = None
    worktree: str | None = None
    branch: str | None = None

    @property
    def failures(self) -> int:
        return sum(1 for a in self.attempts if a.outcome != "passed")


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
    visit: int = 0
    skip_reason: str | None = None
    feedback: tuple[Feedback, ...] = ()
    gate: GateRun | None = None
    iteration: IterationRun | None = None
    child: Frame | None = None
    tasks: tuple[TaskRun, ...] | None = None
    needed: int | None = None

    @property
    def failures(self) -> int:
        """Rejected attempts of the current visit: what counts against the step's retries."""
        return sum(1 for a in self.attempts if a.outcome != "passed" and a.visit == self.visit)


@dataclass(frozen=True)
class Frame:
    """The steps of one flow being run: the run's own, or a sub-flow's inside a step.

    ``current`` indexes the step being executed (``len(steps)`` once the frame
    is done); ``rounds`` counts the times it went back to an earlier step;
    ``last_output`` is the newest output one of its steps produced.
    """

    flow: str
    inputs: Mapping[str, Any]
    current: int
    steps: tuple[StepRun, ...]
    rounds: int = 0
    last_output: Any = None

    def with_step(self, index: int, step: StepRun, **changes: Any) -> Frame:
        return replace(self, steps=(*self.steps[:index], step, *self.steps[index + 1:]), **changes)


@dataclass(frozen=True)
class Usage:
    """Spend reported with results: dollars (priced from tokens where tokens were reported), and tokens."""

    usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    reports: int = 0

    def plus(self, other: Usage) -> Usage:
        return Usage(self.usd + other.usd, self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens, self.reports + other.reports)


@dataclass(frozen=True)
class Event:
    """One entry of a run's audit log: when, what, at which step (a ``/``-joined path), and its facts."""

    at_ms: int
    kind: str
    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at_ms": self.at_ms, "event": self.kind}
        if self.step is not None:
            out["step_id"] = self.step
        out.update(self.data)
        return out


@dataclass(frozen=True)
class Checkpoint:
    """A labelled snapshot of a run's progress (its frames), to go back to with ``revert``."""

    label: str
    at_ms: int
    state: FlowRun


@dataclass(frozen=True)
class FlowRun:
    """A flow run. ``current`` and ``steps`` are its top frame (see :meth:`frame`)."""

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
    rounds: int = 0
    last_output: Any = None
    usage: Usage = field(default_factory=Usage)
    checkpoints: tuple[Checkpoint, ...] = ()
    events: tuple[Event, ...] = ()

    @property
    def current_step(self) -> StepRun | None:
        return self.steps[self.current] if self.current < len(self.steps) else None

    def with_step(self, index: int, step: StepRun, **changes: Any) -> FlowRun:
        steps = (*self.steps[:index], step, *self.steps[index + 1 :])
        return replace(self, steps=steps, **changes)

    def frame(self) -> Frame:
        """The run's own flow as a :class:`Frame`."""
        return Frame(self.flow, self.inputs, self.current, self.steps, self.rounds, self.last_output)

    def with_frame(self, frame: Frame, **changes: Any) -> FlowRun:
        return replace(self, current=frame.current, steps=frame.steps, rounds=frame.rounds,
                       last_output=frame.last_output, **changes)
