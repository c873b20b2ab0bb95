"""What a transition of the state machine tells the caller to do next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stratum_mcp._problems import Violation
from stratum_mcp.engine._state import FlowRun
from stratum_mcp.errors import RunFailed
from stratum_mcp.spec import Contract, Function, Step

__all__ = ["AttemptRejected", "ExecuteStep", "FlowCompleted", "Outcome", "RunEnded"]


@dataclass(frozen=True)
class ExecuteStep:
    """Do this step next, with these resolved inputs, and report its result."""

    flow_id: str
    step_number: int
    total_steps: int
    step: Step
    function: Function
    contract: Contract
    inputs: Any
    retries_remaining: int


@dataclass(frozen=True)
class AttemptRejected:
    """The reported result was rejected; fix the violations and report the same step again."""

    flow_id: str
    step_id: str
    status: Literal["schema_failed", "ensure_failed", "budget_exceeded"]
    attempt: int
    violations: tuple[Violation, ...]
    retries_remaining: int


@dataclass(frozen=True)
class FlowCompleted:
    """Every step passed; ``run.output`` is the flow's result."""

    run: FlowRun


@dataclass(frozen=True)
class RunEnded:
    """The run failed for good. The new state must be saved, then ``error`` raised."""

    error: RunFailed


Outcome = ExecuteStep | AttemptRejected | FlowCompleted | RunEnded
