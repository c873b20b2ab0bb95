"""What a transition of the state machine tells the caller to do next.

A *dispatch* says where the run stands: a step to do (:class:`ExecuteStep`), a
gate waiting for a decision (:class:`AwaitGate`), tasks to do
(:class:`ExecuteTasks`), or the end (:class:`FlowCompleted`,
:class:`RunStopped`). Every operation answers with the run's dispatch after
it, except a rejected result (:class:`AttemptRejected`: do the same step
again) and a run that just failed (:class:`RunEnded`: save, then raise).
``events`` are the audit events the operation added, so an answer can say
what just happened (a step skipped, a route taken, a task judged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stratum_mcp._problems import Violation
from stratum_mcp.engine._state import Event, Feedback, FlowRun, GateRun, IterationRun, TaskRun
from stratum_mcp.errors import RunFailed
from stratum_mcp.spec import Contract, Function, Step

__all__ = [
    "AttemptRejected",
    "AwaitGate",
    "Dispatch",
    "ExecuteStep",
    "ExecuteTasks",
    "FlowCompleted",
    "IterationAnswer",
    "Outcome",
    "RunEnded",
    "RunStopped",
]


@dataclass(frozen=True)
class ExecuteStep:
    """Do this step next, with these resolved inputs, and report its result.

    ``step_id`` is the step's path from the run's flow (``test/run`` for step
    ``run`` of the sub-flow run by step ``test``); ``feedback`` holds what a
    gate said when it sent the flow back to this step; ``iteration`` is the
    loop's state when the step is an iteration loop.
    """

    flow_id: str
    step_number: int
    total_steps: int
    step: Step
    function: Function
    contract: Contract
    inputs: Any
    retries_remaining: int
    step_id: str = ""
    flow: str = ""
    feedback: tuple[Feedback, ...] = ()
    iteration: IterationRun | None = None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class AwaitGate:
    """The flow waits at a gate until someone approves, revises or kills it."""

    flow_id: str
    step_id: str
    step: Step
    function: Function
    inputs: Any
    gate: GateRun
    round: int
    max_rounds: int
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class ExecuteTasks:
    """A parallel step: do the running tasks (``status == "running"``) and report them with their ids."""

    flow_id: str
    step_id: str
    step: Step
    function: Function | None
    contract: Contract
    tasks: tuple[TaskRun, ...]
    needed: int
    retries: int
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class AttemptRejected:
    """The reported result was rejected; fix the violations and report the same step again."""

    flow_id: str
    step_id: str
    status: Literal["schema_failed", "ensure_failed", "budget_exceeded"]
    attempt: int
    violations: tuple[Violation, ...]
    retries_remaining: int
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class FlowCompleted:
    """Every step passed; ``run.output`` is the flow's result."""

    run: FlowRun
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class RunStopped:
    """The run has ended without completing: killed at a gate, failed, or over its budget."""

    run: FlowRun
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class RunEnded:
    """The run failed for good. The new state must be saved, then ``error`` raised."""

    error: RunFailed


@dataclass(frozen=True)
class IterationAnswer:
    """What an iteration tool did (``verdict``), and the run's dispatch after it (``then``).

    ``verdict`` is ``started``, ``continue``, or how the loop was left:
    ``criterion_met``, ``max_reached``, ``aborted``, or ``failed`` (no
    retries left, and an ``on_fail`` route took the run on).
    """

    step_id: str
    verdict: Literal["started", "continue", "criterion_met", "max_reached", "aborted", "failed"]
    iterations: int
    then: Dispatch


Dispatch = ExecuteStep | AwaitGate | ExecuteTasks | FlowCompleted | RunStopped
Outcome = Dispatch | AttemptRejected | RunEnded
