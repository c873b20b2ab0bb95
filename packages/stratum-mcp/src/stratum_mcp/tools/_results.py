"""The one place where engine outcomes and typed errors become tool results.

Every tool answers with a JSON object. Success payloads carry ``status``
(``execute_step``, ``ensure_failed``, ``schema_failed``, ``budget_exceeded``,
``complete``); errors carry ``status: "error"`` (the caller's mistake, nothing
changed) or ``status: "failed"`` (the run failed and stays auditable), plus a
stable ``error`` code, a ``message`` and the error's fields. Each payload has a
``next`` line telling the agent what to do, since a model reads these.
"""

from __future__ import annotations

from typing import Any

from stratum_mcp.engine import AttemptRejected, ExecuteStep, FlowCompleted, FlowRun, Outcome, audit_view, step_trace
from stratum_mcp.errors import RunFailed, StratumMcpError
from stratum_mcp.spec import SpecIssue

__all__ = ["audit_payload", "error_payload", "internal_error_payload", "outcome_payload", "validate_payload"]


def validate_payload(issues: list[SpecIssue]) -> dict[str, Any]:
    return {"valid": not issues, "errors": [issue.to_json() for issue in issues]}


def outcome_payload(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, ExecuteStep):
        return _execute_step(outcome)
    if isinstance(outcome, AttemptRejected):
        return {
            "status": outcome.status,
            "flow_id": outcome.flow_id,
            "step_id": outcome.step_id,
            "attempt": outcome.attempt,
            "violations": [v.to_json() for v in outcome.violations],
            "retries_remaining": outcome.retries_remaining,
            "next": f"Fix exactly these violations, redo step `{outcome.step_id}`, and call stratum_step_done "
            "again with the same flow_id and step_id.",
        }
    if isinstance(outcome, FlowCompleted):
        return _complete(outcome.run)
    raise TypeError(f"not a reportable outcome: {type(outcome).__name__}")  # RunEnded is raised, not returned


def _execute_step(step: ExecuteStep) -> dict[str, Any]:
    function = step.function
    payload: dict[str, Any] = {
        "status": "execute_step",
        "flow_id": step.flow_id,
        "step_id": step.step.id,
        "step_number": step.step_number,
        "total_steps": step.total_steps,
        "function": function.name,
        "mode": function.mode,
        "intent": function.intent,
        "inputs": step.inputs,
        "output_contract": step.contract.name,
        "output_schema": step.contract.json_schema(),
        "ensure": [e.source for e in function.ensure],
        "retries_remaining": step.retries_remaining,
    }
    if function.budget is not None and function.budget.ms is not None:
        payload["budget_ms"] = function.budget.ms
    if function.budget is not None and function.budget.usd is not None:
        payload["budget_usd"] = function.budget.usd
    if function.model:
        payload["model"] = function.model
    payload["next"] = (
        f"Do step `{step.step.id}` ({function.mode}): {function.intent.strip()[:200]} Then call "
        "stratum_step_done with this flow_id, step_id and a result object matching output_schema "
        "that satisfies every ensure expression."
    )
    return payload


def _complete(run: FlowRun) -> dict[str, Any]:
    view = audit_view(run)
    return {
        "status": "complete",
        "flow_id": run.flow_id,
        "output": run.output,
        "duration_ms": view["duration_ms"],
        "total_attempts": view["total_attempts"],
        "trace": [step_trace(s) for s in run.steps],
        "next": "The flow is complete. Report the output to the user.",
    }


def audit_payload(run: FlowRun) -> dict[str, Any]:
    return audit_view(run)


def error_payload(error: StratumMcpError) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "status": "failed" if isinstance(error, RunFailed) else "error",
        "error": error.code,
        "message": str(error),
    }
    payload.update(error.fields())
    payload["next"] = _ERROR_NEXT.get(error.code, "Read the message, fix the call, and try again.")
    return payload


def internal_error_payload(error: BaseException) -> dict[str, Any]:
    return {
        "status": "error",
        "error": "internal_error",
        "message": f"the server hit an unexpected {type(error).__name__}; details are in its log",
        "next": "Try the call again; if it keeps failing, report it.",
    }


_ERROR_NEXT = {
    "spec_invalid": "Fix every listed error in the spec (each has a path), then call stratum_plan again.",
    "unknown_flow": "Call stratum_plan with one of the flows listed in `available`.",
    "unknown_tool": "Call one of the tools listed in `available`.",
    "arguments_invalid": "Call the tool again with the arguments fixed as each violation says (see its input schema).",
    "inputs_invalid": "Call stratum_plan again with inputs matching the flow's input types.",
    "argument_too_large": "Send a smaller value; keep large content in files and pass paths.",
    "invalid_flow_id": "Pass the flow_id exactly as stratum_plan returned it.",
    "flow_not_found": "Check the flow_id; start a new run with stratum_plan if it is gone.",
    "flow_finished": "This run is over; call stratum_audit to read it, or stratum_plan to start a new one.",
    "step_mismatch": "Report the step named in `expected_step`.",
    "retries_exhausted": "Tell the user which step failed and why (see violations); call stratum_audit for the trace.",
    "flow_budget_exceeded": "Tell the user the flow ran out of time; call stratum_audit for the trace.",
    "concurrent_update": "Another client is reporting this run; call stratum_audit, then retry if still needed.",
}
