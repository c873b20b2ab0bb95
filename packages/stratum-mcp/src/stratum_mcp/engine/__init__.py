"""The flow engine: the pure state machine, the state it moves, and the checker that judges results.

::

    checker = ResultChecker(files=ProjectFiles(root))
    run, first = start(spec, "review", flow_id, {"text": "..."}, now_ms, checker)
    run, outcome = report(run, spec, "classify", result, now_ms, checker)

:func:`start` and :func:`report` do no I/O and read no clock: the caller
passes the time and persists the new run before acting on the outcome.
:class:`ResultChecker` judges a result against its contract (JSON Schema),
then its ensure expressions.
"""

from stratum_mcp._problems import Violation
from stratum_mcp.engine._audit import audit_view, step_trace
from stratum_mcp.engine._checks import ResultChecker
from stratum_mcp.engine._machine import Checker, report, start
from stratum_mcp.engine._outcomes import AttemptRejected, ExecuteStep, FlowCompleted, Outcome, RunEnded
from stratum_mcp.engine._state import Attempt, FlowRun, RunStatus, StepRun, StepStatus

__all__ = [
    "Attempt",
    "AttemptRejected",
    "Checker",
    "ExecuteStep",
    "FlowCompleted",
    "FlowRun",
    "Outcome",
    "ResultChecker",
    "RunEnded",
    "RunStatus",
    "StepRun",
    "StepStatus",
    "Violation",
    "audit_view",
    "report",
    "start",
    "step_trace",
]
