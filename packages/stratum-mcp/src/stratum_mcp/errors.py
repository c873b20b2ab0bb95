"""Every error stratum-mcp raises, in one tree.

::

    StratumMcpError
    ├── UsageError              the caller's mistake; nothing was changed
    │   ├── SpecInvalid         the spec failed to load or validate (issues)
    │   ├── UnknownTool         a tool call names no tool of this server (tool, available)
    │   ├── ArgumentsInvalid    tool arguments of the wrong type, missing or unknown (tool, violations)
    │   ├── UnknownFlowName     `flow` names no flow of the spec (flow, available)
    │   ├── InputsInvalid       flow inputs (or usage, task results) do not match their types (violations)
    │   ├── ArgumentTooLarge    an argument exceeds a size limit (argument, limit, size)
    │   ├── InvalidFlowId       not a UUID; rejected before any lookup (value)
    │   ├── FlowNotFound        a well-formed id that no run has (flow_id)
    │   ├── FlowFinished        a report for a run that already ended (flow_id, status)
    │   ├── StepMismatch        a report for a step that is not the current one
    │   ├── WrongTool           the current step is reported with another tool (step_id, kind, tool)
    │   ├── GateAlreadyResolved the gate was resolved before this call (step_id, outcome, resolved_by)
    │   ├── ReviseRefused       the gate cannot go back: no `on_revise`, or no rounds left (step_id, max_rounds)
    │   ├── SkipRefused         the step may not be skipped (step_id, reason)
    │   ├── IterationNotStarted an iteration was reported before stratum_iteration_start (step_id)
    │   ├── TaskMismatch        a task result for a task that is not running (step_id, task_id)
    │   ├── CheckpointNotFound  no checkpoint with this label (label, available)
    │   ├── TooManyCheckpoints  the run holds as many checkpoints as it may (limit)
    │   ├── RevertRefused       the run has ended in a way a checkpoint cannot undo (status)
    │   ├── UnknownModelPrice   usage names a model the price table does not know (model)
    │   └── WorktreesUnavailable `isolation: worktree` cannot work here (reason)
    ├── RunFailed               the run is now failed; it stays auditable
    │   ├── RetriesExhausted    a step failed more often than it may (step_id, attempts, violations)
    │   ├── FlowBudgetExceeded  the flow's `budget.ms` ran out (limit_ms, spent_ms)
    │   ├── UsdBudgetExceeded   the reported spend passed the flow's `budget.usd` (limit_usd, spent_usd)
    │   ├── ConditionFailed     a `skip_if` could not be evaluated (step_id, expression, reason)
    │   ├── TasksInvalid        a parallel step's `source` is not a list of tasks (step_id, reason)
    │   ├── RequireUnmet        too many parallel tasks failed for `require` to hold (step_id, needed, ...)
    │   └── IterationAborted    an iteration loop was aborted before any iteration passed (step_id, reason)
    ├── ExpressionError         ensure expressions
    │   ├── ExpressionRejected  at validate time: syntax, forbidden construct, unknown name
    │   └── EvaluationError     at run time: a missing field, a type error, ...
    │       └── LimitExceeded   a bound on size, steps or time was hit (limit, value)
    ├── StoreError              the store cannot be opened or written
    │   ├── ConcurrentUpdate    writers kept colliding on one run (flow_id, tries)
    │   └── WorktreeError       git refused to create or remove a task's worktree (path, reason)
    ├── PriceTableInvalid       the price table file cannot be used (path, reason)
    └── SetupError              setup, uninstall or learn refused to touch a file (path)
        ├── ProjectNotFound     the project directory does not exist (path)
        ├── FileUnreadable      not a regular UTF-8 file within the size bound (path, reason)
        ├── ConfigUnparsable    an existing config is not valid JSON/TOML or has the wrong shape (path, reason)
        ├── MarkersBroken       a marked block's begin and end lines do not pair up (path, marker)
        ├── FileReadOnly        a file to change is read-only (path)
        ├── FileChanged         a file changed between reading and writing it (path)
        └── WriteFailed         the system refused a write; the file is as it was (path, reason)

Setup errors belong to the command line (``setup``, ``uninstall``, ``learn``): each
names the file it refused, and none is raised after a file was half-written.
Usage errors and run failures are what tools answer with; they are turned into
tool results in one place, :mod:`stratum_mcp.tools`. Expression errors never
reach a client as such: at validate time they become spec issues, at run time
ensure violations. Every error carries its facts as attributes, so tests and
callers read fields, not message text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from stratum_mcp._problems import SpecIssue, Violation

__all__ = [
    "ArgumentTooLarge",
    "ArgumentsInvalid",
    "CheckpointNotFound",
    "ConcurrentUpdate",
    "ConditionFailed",
    "ConfigUnparsable",
    "EvaluationError",
    "ExpressionError",
    "ExpressionRejected",
    "FileChanged",
    "FileReadOnly",
    "FileUnreadable",
    "FlowBudgetExceeded",
    "FlowFinished",
    "FlowNotFound",
    "GateAlreadyResolved",
    "InputsInvalid",
    "InvalidFlowId",
    "IterationAborted",
    "IterationNotStarted",
    "LimitExceeded",
    "MarkersBroken",
    "PriceTableInvalid",
    "ProjectNotFound",
    "RequireUnmet",
    "RetriesExhausted",
    "RevertRefused",
    "ReviseRefused",
    "RunFailed",
    "SetupError",
    "SkipRefused",
    "SpecInvalid",
    "StepMismatch",
    "StoreError",
    "StratumMcpError",
    "TaskMismatch",
    "TasksInvalid",
    "TooManyCheckpoints",
    "UnknownFlowName",
    "UnknownModelPrice",
    "UnknownTool",
    "UsageError",
    "UsdBudgetExceeded",
    "WorktreeError",
    "WorktreesUnavailable",
    "WriteFailed",
    "WrongTool",
]


class StratumMcpError(Exception):
    """Root of every error this package raises on purpose."""

    #: A stable machine-readable name, used as ``error`` in tool results.
    code = "error"

    def fields(self) -> Mapping[str, Any]:
        """The structured facts of this error, JSON-ready."""
        return {}


class UsageError(StratumMcpError):
    """The caller asked for something invalid. No state was changed."""

    code = "usage_error"


class SpecInvalid(UsageError):
    """The spec did not load or validate; ``issues`` lists every problem found."""

    code = "spec_invalid"

    def __init__(self, issues: Sequence[SpecIssue]) -> None:
        self.issues = tuple(issues)
        first = self.issues[0].message if self.issues else "spec is invalid"
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(f"{first}{more}")

    def fields(self) -> Mapping[str, Any]:
        return {"errors": [issue.to_json() for issue in self.issues]}


class UnknownTool(UsageError):
    """A tool call names a tool this server does not have."""

    code = "unknown_tool"

    def __init__(self, tool: str, available: Sequence[str], suggestion: str | None) -> None:
        self.tool = tool
        self.available = tuple(available)
        self.suggestion = suggestion
        hint = f"; {suggestion}" if suggestion else ""
        super().__init__(f"this server has no tool `{tool[:80]}`{hint}")

    def fields(self) -> Mapping[str, Any]:
        return {"tool": self.tool[:80], "available": list(self.available), "suggestion": self.suggestion}


class ArgumentsInvalid(UsageError):
    """A tool was called with arguments that are missing, unknown or of the wrong type; nothing ran."""

    code = "arguments_invalid"

    def __init__(self, tool: str, violations: Sequence[Violation]) -> None:
        self.tool = tool
        self.violations = tuple(violations)
        listed = "; ".join(f"`{v.where}`: {v.message}" for v in self.violations)
        super().__init__(f"{tool} was called with invalid arguments: {listed}")

    def fields(self) -> Mapping[str, Any]:
        return {"tool": self.tool, "violations": [v.to_json() for v in self.violations]}


class UnknownFlowName(UsageError):
    """``flow`` does not name a flow of the spec."""

    code = "unknown_flow"

    def __init__(self, flow: str, available: Sequence[str], suggestion: str | None) -> None:
        self.flow = flow
        self.available = tuple(available)
        self.suggestion = suggestion
        hint = f"; {suggestion}" if suggestion else ""
        super().__init__(f"the spec has no flow `{flow}`{hint}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow": self.flow, "available": list(self.available), "suggestion": self.suggestion}


class InputsInvalid(UsageError):
    """The flow's inputs do not match its declared input types."""

    code = "inputs_invalid"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"`{v.where}`: {v.message}" for v in self.violations) or "inputs are invalid")

    def fields(self) -> Mapping[str, Any]:
        return {"violations": [v.to_json() for v in self.violations]}


class ArgumentTooLarge(UsageError):
    """An argument is larger than the server accepts."""

    code = "argument_too_large"

    def __init__(self, argument: str, limit: int, size: int) -> None:
        self.argument = argument
        self.limit = limit
        self.size = size
        super().__init__(f"`{argument}` is {size} bytes; the limit is {limit} bytes")

    def fields(self) -> Mapping[str, Any]:
        return {"argument": self.argument, "limit": self.limit, "size": self.size}


class InvalidFlowId(UsageError):
    """A flow id that is not a UUID. Checked before any lookup."""

    code = "invalid_flow_id"

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__("flow_id must be the UUID returned by stratum_plan")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.value[:64]}


class FlowNotFound(UsageError):
    """No run has this id (it may have been pruned, or belong to another store)."""

    code = "flow_not_found"

    def __init__(self, flow_id: str) -> None:
        self.flow_id = flow_id
        super().__init__(f"no flow run with id {flow_id}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id}


class FlowFinished(UsageError):
    """A step was reported for a run that is already complete or failed."""

    code = "flow_finished"

    def __init__(self, flow_id: str, status: str) -> None:
        self.flow_id = flow_id
        self.status = status
        super().__init__(f"flow run {flow_id} is already {status}; use stratum_audit to read its trace")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "flow_status": self.status}


class StepMismatch(UsageError):
    """A step was reported that is not the step the run is waiting for."""

    code = "step_mismatch"

    def __init__(self, flow_id: str, expected: str, got: str, reason: str) -> None:
        self.flow_id = flow_id
        self.expected = expected
        self.got = got
        self.reason = reason
        super().__init__(f"{reason}; the flow is waiting for step `{expected}`")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "expected_step": self.expected, "step_id": self.got}


class WrongTool(UsageError):
    """The current step is of a kind another tool reports: a gate, an iteration loop, a parallel step."""

    code = "wrong_tool"

    def __init__(self, flow_id: str, step_id: str, kind: str, tool: str) -> None:
        self.flow_id = flow_id
        self.step_id = step_id
        self.kind = kind
        self.tool = tool
        super().__init__(f"step `{step_id}` is {kind}; use {tool}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "step_kind": self.kind, "tool": self.tool}


class GateAlreadyResolved(UsageError):
    """The gate is no longer waiting: it was resolved (or expired) before this call."""

    code = "gate_already_resolved"

    def __init__(self, flow_id: str, step_id: str, outcome: str, resolved_by: str) -> None:
        self.flow_id = flow_id
        self.step_id = step_id
        self.outcome = outcome
        self.resolved_by = resolved_by
        super().__init__(f"gate `{step_id}` was already resolved: {outcome} by {resolved_by}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "outcome": self.outcome,
                "resolved_by": self.resolved_by}


class ReviseRefused(UsageError):
    """A gate cannot be revised: it names no `on_revise` step, or the flow has used its `max_rounds`."""

    code = "revise_refused"

    def __init__(self, flow_id: str, step_id: str, reason: str, max_rounds: int | None = None) -> None:
        self.flow_id = flow_id
        self.step_id = step_id
        self.reason = reason
        self.max_rounds = max_rounds
        super().__init__(f"gate `{step_id}` cannot be revised: {reason}; approve or kill it")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "max_rounds": self.max_rounds}


class SkipRefused(UsageError):
    """The step may not be skipped (a gate, or the step whose output is the flow's)."""

    code = "skip_refused"

    def __init__(self, flow_id: str, step_id: str, reason: str) -> None:
        self.flow_id = flow_id
        self.step_id = step_id
        self.reason = reason
        super().__init__(f"step `{step_id}` cannot be skipped: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id}


class IterationNotStarted(UsageError):
    """An iteration was reported (or aborted) before the loop was started."""

    code = "iteration_not_started"

    def __init__(self, flow_id: str, step_id: str) -> None:
        self.flow_id = flow_id
        self.step_id = step_id
        super().__init__(f"the iteration loop of step `{step_id}` has not been started")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id}


class TaskMismatch(UsageError):
    """A parallel task result names a task that is not running (unknown, not released yet, or finished)."""

    code = "task_mismatch"

    def __init__(self, flow_id: str, step_id: str, task_id: str, reason: str) -> None:
        self.flow_id = flow_id
        self.step_id = step_id
        self.task_id = task_id
        self.reason = reason
        super().__init__(f"task `{task_id}` of step `{step_id}`: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "task_id": self.task_id}


class CheckpointNotFound(UsageError):
    """No checkpoint of the run has this label."""

    code = "checkpoint_not_found"

    def __init__(self, flow_id: str, label: str, available: Sequence[str]) -> None:
        self.flow_id = flow_id
        self.label = label
        self.available = tuple(available)
        super().__init__(f"flow run {flow_id} has no checkpoint `{label}`")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "label": self.label, "available": list(self.available)}


class TooManyCheckpoints(UsageError):
    """The run already holds as many checkpoints as it may; reuse a label to replace one."""

    code = "too_many_checkpoints"

    def __init__(self, flow_id: str, limit: int) -> None:
        self.flow_id = flow_id
        self.limit = limit
        super().__init__(f"flow run {flow_id} already has {limit} checkpoints; commit under an existing label")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "limit": self.limit}


class RevertRefused(UsageError):
    """The run ended in a way a checkpoint must not undo (completed, killed, over budget)."""

    code = "revert_refused"

    def __init__(self, flow_id: str, status: str) -> None:
        self.flow_id = flow_id
        self.status = status
        super().__init__(f"flow run {flow_id} is {status}; only a running or failed run can be reverted")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "flow_status": self.status}


class UnknownModelPrice(UsageError):
    """Reported usage names a model the price table has no price for."""

    code = "unknown_model"

    def __init__(self, model: str, suggestion: str | None) -> None:
        self.model = model
        self.suggestion = suggestion
        hint = f"; {suggestion}" if suggestion else ""
        super().__init__(f"no price for model `{model[:80]}`{hint}")

    def fields(self) -> Mapping[str, Any]:
        return {"model": self.model[:80], "suggestion": self.suggestion}


class WorktreesUnavailable(UsageError):
    """A flow asks for `isolation: worktree`, but this server cannot create worktrees for it."""

    code = "worktrees_unavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"`isolation: worktree` cannot be used here: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"reason": self.reason}


class RunFailed(StratumMcpError):
    """The run cannot go on and is now marked failed; its trace stays auditable."""

    code = "run_failed"

    def __init__(self, flow_id: str, message: str) -> None:
        self.flow_id = flow_id
        super().__init__(message)

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id}


class RetriesExhausted(RunFailed):
    """A step's result was rejected on every allowed attempt."""

    code = "retries_exhausted"

    def __init__(self, flow_id: str, step_id: str, attempts: int, violations: Sequence[Violation]) -> None:
        self.step_id = step_id
        self.attempts = attempts
        self.violations = tuple(violations)
        super().__init__(
            flow_id, f"step `{step_id}` failed {attempts} attempt(s) and has no retries left; the flow failed"
        )

    def fields(self) -> Mapping[str, Any]:
        return {
            "flow_id": self.flow_id,
            "step_id": self.step_id,
            "attempts": self.attempts,
            "violations": [v.to_json() for v in self.violations],
        }


class FlowBudgetExceeded(RunFailed):
    """The flow took longer than its ``budget.ms``."""

    code = "flow_budget_exceeded"

    def __init__(self, flow_id: str, limit_ms: int, spent_ms: int) -> None:
        self.limit_ms = limit_ms
        self.spent_ms = spent_ms
        super().__init__(flow_id, f"the flow took {spent_ms} ms; its budget is {limit_ms} ms")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "limit_ms": self.limit_ms, "spent_ms": self.spent_ms}


class UsdBudgetExceeded(RunFailed):
    """The spend reported with results passed the flow's ``budget.usd``; the run ends as ``budget_exceeded``."""

    code = "usd_budget_exceeded"

    def __init__(self, flow_id: str, limit_usd: float, spent_usd: float) -> None:
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        super().__init__(flow_id, f"the flow has spent ${spent_usd:.4f}; its budget is ${limit_usd:.4f}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "limit_usd": self.limit_usd, "spent_usd": round(self.spent_usd, 6)}


class ConditionFailed(RunFailed):
    """A step's ``skip_if`` could not be evaluated, so whether to run it cannot be decided."""

    code = "condition_failed"

    def __init__(self, flow_id: str, step_id: str, expression: str, reason: str) -> None:
        self.step_id = step_id
        self.expression = expression
        self.reason = reason
        super().__init__(flow_id, f"the skip_if of step `{step_id}` could not be evaluated: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "expression": self.expression,
                "reason": self.reason}


class TasksInvalid(RunFailed):
    """A parallel step's ``source`` did not resolve to a non-empty list of task objects."""

    code = "tasks_invalid"

    def __init__(self, flow_id: str, step_id: str, reason: str) -> None:
        self.step_id = step_id
        self.reason = reason
        super().__init__(flow_id, f"the tasks of step `{step_id}` cannot be dispatched: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "reason": self.reason}


class RequireUnmet(RunFailed):
    """So many tasks of a parallel step failed that its ``require`` can no longer hold."""

    code = "require_unmet"

    def __init__(self, flow_id: str, step_id: str, needed: int, completed: int, failed: int) -> None:
        self.step_id = step_id
        self.needed = needed
        self.completed = completed
        self.failed = failed
        super().__init__(flow_id, f"step `{step_id}` needs {needed} completed task(s); {completed} completed "
                                  f"and {failed} failed, so it cannot succeed")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "needed": self.needed,
                "completed": self.completed, "failed": self.failed}


class IterationAborted(RunFailed):
    """An iteration loop was aborted before a single iteration was accepted, so the step has no result."""

    code = "iteration_aborted"

    def __init__(self, flow_id: str, step_id: str, reason: str) -> None:
        self.step_id = step_id
        self.reason = reason
        super().__init__(flow_id, f"the iteration loop of step `{step_id}` was aborted with no result: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "step_id": self.step_id, "reason": self.reason}


class ExpressionError(StratumMcpError):
    """Something is wrong with an ensure expression."""

    code = "expression_error"


class ExpressionRejected(ExpressionError):
    """An expression was refused before running: bad syntax or a construct not allowed.

    ``column`` is 1-based where known.
    """

    code = "expression_rejected"

    def __init__(self, message: str, *, column: int | None = None, suggestion: str | None = None) -> None:
        self.column = column
        self.suggestion = suggestion
        super().__init__(message)


class EvaluationError(ExpressionError):
    """An expression failed while running (a missing field, a type error, ...)."""

    code = "evaluation_error"


class LimitExceeded(EvaluationError):
    """A bound on integer size, string length, collection size, steps or time was hit."""

    code = "limit_exceeded"

    def __init__(self, limit: str, maximum: float, value: float | None = None) -> None:
        self.limit = limit
        self.maximum = maximum
        self.value = value
        seen = "" if value is None else f" (would be {value:g})"
        super().__init__(f"{limit} limit of {maximum:g} exceeded{seen}")


class StoreError(StratumMcpError):
    """The flow store could not be opened or written."""

    code = "store_error"


class ConcurrentUpdate(StoreError):
    """Other writers kept changing this run while we tried to update it."""

    code = "concurrent_update"

    def __init__(self, flow_id: str, tries: int) -> None:
        self.flow_id = flow_id
        self.tries = tries
        super().__init__(f"flow run {flow_id} changed under {tries} consecutive updates; try again")

    def fields(self) -> Mapping[str, Any]:
        return {"flow_id": self.flow_id, "tries": self.tries}


class WorktreeError(StoreError):
    """Git refused to create or remove a task's worktree; the run's state is saved, so the call can be repeated."""

    code = "worktree_error"

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"worktree {path}: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"path": str(self.path), "reason": self.reason}


class PriceTableInvalid(StratumMcpError):
    """The price table that prices reported token usage cannot be read or has the wrong shape."""

    code = "price_table_invalid"

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"price table {path}: {reason}")

    def fields(self) -> Mapping[str, Any]:
        return {"path": self.path, "reason": self.reason}


class SetupError(StratumMcpError):
    """Setup, uninstall or learn would not touch ``path``; the message says why and what to do."""

    code = "setup_error"

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")

    def fields(self) -> Mapping[str, Any]:
        return {"path": str(self.path)}


class ProjectNotFound(SetupError):
    """The project directory given does not exist or is not a directory."""

    code = "project_not_found"

    def __init__(self, path: Path) -> None:
        super().__init__(path, "no such directory; pass an existing project directory with --project")


class FileUnreadable(SetupError):
    """A file that must be read is not a regular UTF-8 text file within the size bound."""

    code = "file_unreadable"

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(path, f"cannot read it ({reason}); it was left untouched")

    def fields(self) -> Mapping[str, Any]:
        return {"path": str(self.path), "reason": self.reason}


class ConfigUnparsable(SetupError):
    """An existing configuration file is not valid JSON or TOML, or not in the shape its client expects."""

    code = "config_unparsable"

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(path, f"cannot be parsed ({reason}); it was left untouched: fix it, or move it aside "
                               "and run the command again")

    def fields(self) -> Mapping[str, Any]:
        return {"path": str(self.path), "reason": self.reason}


class MarkersBroken(SetupError):
    """A marked block's begin and end lines do not pair up, so its extent cannot be known."""

    code = "markers_broken"

    def __init__(self, path: Path, marker: str, reason: str) -> None:
        self.marker = marker
        self.reason = reason
        super().__init__(path, f"the `{marker}` markers {reason}; it was left untouched: restore or remove the "
                               "marker lines and run the command again")

    def fields(self) -> Mapping[str, Any]:
        return {"path": str(self.path), "marker": self.marker, "reason": self.reason}


class FileReadOnly(SetupError):
    """A file that would change is read-only; nothing was written."""

    code = "file_read_only"

    def __init__(self, path: Path) -> None:
        super().__init__(path, "is read-only; it was left untouched: make it writable to let the command change it")


class FileChanged(SetupError):
    """A file changed between being read and being written (another program wrote it)."""

    code = "file_changed"

    def __init__(self, path: Path) -> None:
        super().__init__(path, "changed while the command ran; it was left as the other writer left it: "
                               "run the command again")


class WriteFailed(SetupError):
    """The operating system refused a write. Writes go to a temporary file first, so the target is intact."""

    code = "write_failed"

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(path, f"could not be written ({reason}); it is as it was")

    def fields(self) -> Mapping[str, Any]:
        return {"path": str(self.path), "reason": self.reason}
