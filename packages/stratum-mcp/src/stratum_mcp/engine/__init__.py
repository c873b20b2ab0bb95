"""The flow engine: the pure state machine, the state it moves, and the checker that judges results.

::

    ctx = Context(now_ms, ResultChecker(files=ProjectFiles(root)))
    run, first = start(spec, "review", flow_id, {"text": "..."}, ctx)
    run, outcome = report(run, spec, "classify", result, ctx)

Every operation is a function from a run (and what was reported) to a new run
and an outcome; none does I/O or reads a clock: the caller passes the time in
a :class:`Context` and persists the new run before acting on the outcome.
Besides :func:`start` and :func:`report` there are gates
(:func:`resolve_gate`, :func:`expire`, :func:`check_timeouts`), skipping
(:func:`skip`), iteration loops (:func:`start_iteration`,
:func:`report_iteration`, :func:`abort_iteration`), parallel steps
(:func:`report_tasks`, :func:`worktrees_wanted`), checkpoints (:func:`commit`,
:func:`revert`) and where a run stands (:func:`dispatch_of`, :func:`audit_view`).
:class:`ResultChecker` judges a result against its contract (JSON Schema),
then its ensure expressions, and evaluates ``skip_if`` and ``exit_criterion``.
"""

from stratum_mcp._problems import Violation
from stratum_mcp.engine._audit import audit_view, step_trace
from stratum_mcp.engine._checkpoints import commit, revert
from stratum_mcp.engine._checks import ResultChecker
from stratum_mcp.engine._dispatch import dispatch_of
from stratum_mcp.engine._judge import Checker, Context
from stratum_mcp.engine._loops import abort_iteration, report_iteration, start_iteration
from stratum_mcp.engine._machine import check_timeouts, expire, report, resolve_gate, skip, start
from stratum_mcp.engine._outcomes import (
    AttemptRejected,
    AwaitGate,
    Dispatch,
    ExecuteStep,
    ExecuteTasks,
    FlowCompleted,
    IterationAnswer,
    Outcome,
    RunEnded,
    RunStopped,
)
from stratum_mcp.engine._parallel import TaskResult, report_tasks, worktrees_wanted
from stratum_mcp.engine._state import (
    Attempt,
    Checkpoint,
    Event,
    Feedback,
    FlowRun,
    Frame,
    GateRun,
    IterationRun,
    Resolution,
    RunStatus,
    StepRun,
    StepStatus,
    TaskRun,
    Usage,
)

__all__ = [
    "Attempt",
    "AttemptRejected",
    "AwaitGate",
    "Checker",
    "Checkpoint",
    "Context",
    "Dispatch",
    "Event",
    "ExecuteStep",
    "ExecuteTasks",
    "Feedback",
    "FlowCompleted",
    "FlowRun",
    "Frame",
    "GateRun",
    "IterationAnswer",
    "IterationRun",
    "Outcome",
    "Resolution",
    "ResultChecker",
    "RunEnded",
    "RunStatus",
    "RunStopped",
    "StepRun",
    "StepStatus",
    "TaskResult",
    "TaskRun",
    "Usage",
    "Violation",
    "abort_iteration",
    "audit_view",
    "check_timeouts",
    "commit",
    "dispatch_of",
    "expire",
    "report",
    "report_iteration",
    "report_tasks",
    "resolve_gate",
    "revert",
    "skip",
    "start",
    "start_iteration",
    "step_trace",
    "worktrees_wanted",
]
