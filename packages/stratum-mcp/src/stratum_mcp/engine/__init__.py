"""The pure flow engine: state, transitions, outcomes and the audit view. No I/O here."""

from stratum_mcp.engine.audit import audit_view
from stratum_mcp.engine.machine import Checker, report, start
from stratum_mcp.engine.outcomes import AttemptRejected, ExecuteStep, FlowCompleted, Outcome, RunEnded
from stratum_mcp.engine.state import Attempt, FlowRun, StepRun, Violation

__all__ = [
    "Attempt",
    "AttemptRejected",
    "Checker",
    "ExecuteStep",
    "FlowCompleted",
    "FlowRun",
    "Outcome",
    "RunEnded",
    "StepRun",
    "Violation",
    "audit_view",
    "report",
    "start",
]
