"""The one place where engine outcomes and typed errors become tool results.

Every tool answers with a JSON object. A dispatch carries ``status``: what to
do next (``execute_step``, ``await_gate``, ``execute_tasks``) or how the run
ended (``complete``, ``killed``, ``failed``, ``budget_exceeded``); a rejected
result carries ``ensure_failed``, ``schema_failed`` or ``budget_exceeded``
and its violations. Errors carry ``status: "error"`` (the caller's mistake,
nothing changed) or ``status: "failed"`` (the run failed and stays
auditable), plus a stable ``error`` code, a ``message`` and the error's
fields. Each payload has a ``next`` line telling the agent what to do, since
a model reads these. ``events`` lists what the call did besides the obvious
(a step skipped, a route taken, a task judged), when it did any of that.
"""

from __future__ import annotations

from typing import Any

from stratum_mcp._service import Committed, Expiry
from stratum_mcp.engine import (
    AttemptRejected,
    AwaitGate,
    Event,
    ExecuteStep,
    ExecuteTasks,
    FlowCompleted,
    FlowRun,
    IterationAnswer,
    Outcome,
    RunStopped,
    TaskRun,
    audit_view,
    step_trace,
)
from stratum_mcp.errors import RunFailed, StratumMcpError
from stratum_mcp.spec import SpecIssue

__all__ = [
    "audit_payload",
    "commit_payload",
    "error_payload",
    "internal_error_payload",
    "outcome_payload",
    "timeouts_payload",
    "validate_payload",
]

#: Events every step produces; an answer lists only the others, which say something the status does not.
_ROUTINE = frozenset({"flow_started", "step_dispatched", "attempt", "step_completed", "task_dispatched"})


def validate_payload(issues: list[SpecIssue]) -> dict[str, Any]:
    return {"valid": not issues, "errors": [issue.to_json() for issue in issues]}


def _with_events(payload: dict[str, Any], events: tuple[Event, ...]) -> dict[str, Any]:
    shown = [e.to_json() for e in events if e.kind not in _ROUTINE]
    if shown:
        payload["events"] = shown
    return payload


def outcome_payload(outcome: Outcome | IterationAnswer) -> dict[str, Any]:
    if isinstance(outcome, IterationAnswer):
        payload = outcome_payload(outcome.then)
        payload["loop"] = {"step_id": outcome.step_id, "outcome": outcome.verdict, "iterations": outcome.iterations}
        return payload
    if isinstance(outcome, ExecuteStep):
        return _with_events(_execute_step(outcome), outcome.events)
    if isinstance(outcome, AwaitGate):
        return _with_events(_await_gate(outcome), outcome.events)
    if isinstance(outcome, ExecuteTasks):
        return _with_events(_execute_tasks(outcome), outcome.events)
    if isinstance(outcome, AttemptRejected):
        return _with_events({
            "status": outcome.status,
            "flow_id": outcome.flow_id,
            "step_id": outcome.step_id,
            "attempt": outcome.attempt,
            "violations": [v.to_json() for v in outcome.violations],
            "retries_remaining": outcome.retries_remaining,
            "next": f"Fix exactly these violations, redo step `{outcome.step_id}`, and report it again with the "
            "same flow_id and step_id.",
        }, outcome.events)
    if isinstance(outcome, FlowCompleted):
        return _with_events(_complete(outcome.run), outcome.events)
    if isinstance(outcome, RunStopped):
        return _with_events(_stopped(outcome.run), outcome.events)
    raise TypeError(f"not a reportable outcome: {type(outcome).__name__}")  # RunEnded is raised, not returned


def _execute_step(step: ExecuteStep) -> dict[str, Any]:
    function = step.function
    step_id = step.step_id or step.step.id
    payload: dict[str, Any] = {
        "status": "execute_step",
        "flow_id": step.flow_id,
        "step_id": step_id,
        "step_number": step.step_number,
        "total_steps": step.total_steps,
        "function": function.name,
        "mode": function.mode,
        "intent": function.intent,
        "inputs": step.inputs,
        "output_contract": step.contract.name or None,
        "output_schema": step.contract.json_schema(),
        "ensure": [e.source for e in function.ensure],
        "retries_remaining": step.retries_remaining,
    }
    if "/" in step_id:
        payload["subflow"] = step.flow
    if function.budget is not None and function.budget.ms is not None:
        payload["budget_ms"] = function.budget.ms
    if function.budget is not None and function.budget.usd is not None:
        payload["budget_usd"] = function.budget.usd
    if function.model:
        payload["model"] = function.model
    if function.agent:
        payload["agent"] = function.agent
    todo = f"Do step `{step_id}` ({function.mode}): {function.intent.strip()[:200]}"
    if step.feedback:
        payload["feedback"] = [{"gate": f.gate, "rationale": f.rationale, "resolved_by": f.resolved_by,
                                "round": f.round} for f in step.feedback]
        todo += f" It was sent back by gate `{step.feedback[-1].gate}`: address this feedback first."
    loop = step.step.iteration
    if loop is not None:
        state = step.iteration
        done = state.count if state is not None else 0
        started = state is not None and state.started
        payload["iteration"] = {
            "max_iterations": loop.max_iterations,
            "exit_criterion": loop.exit_criterion.source if loop.exit_criterion is not None else None,
            "accumulate": loop.accumulate,
            "started": started,
            "iterations_done": done,
        }
        if state is not None and loop.accumulate is not None:
            payload["iteration"]["accumulated"] = list(state.accumulated)
        how = (f"report iteration {done + 1} of at most {loop.max_iterations} with stratum_iteration_report"
               if started else "call stratum_iteration_start, then report each iteration with "
               "stratum_iteration_report")
        payload["next"] = (f"{todo} This step is an iteration loop: {how} (a result matching output_schema that "
                           "satisfies every ensure expression); the server says when to stop.")
        return payload
    payload["next"] = (f"{todo} Then call stratum_step_done with this flow_id, step_id and a result object matching "
                       "output_schema that satisfies every ensure expression.")
    return payload


def _await_gate(gate: AwaitGate) -> dict[str, Any]:
    function, definition = gate.function, gate.step
    payload: dict[str, Any] = {
        "status": "await_gate",
        "flow_id": gate.flow_id,
        "step_id": gate.step_id,
        "function": function.name,
        "intent": function.intent,
        "inputs": gate.inputs,
        "opened_ms": gate.gate.opened_ms,
        "expires_at_ms": gate.gate.deadline_ms,
        "timeout_s": function.timeout,
        "round": gate.round,
        "max_rounds": gate.max_rounds,
        "can_revise": definition.routes.on_revise is not None and gate.round < gate.max_rounds,
        "revise_to": definition.routes.on_revise,
        "options": ["approve", "revise", "kill"],
    }
    what = function.intent.strip()[:200].rstrip(".") or "a decision"
    payload["next"] = (
        f"The flow waits for a person at gate `{gate.step_id}`: {what}. Show the user what to decide and ask them to "
        "approve, revise (with what to change) or kill; then call stratum_gate_resolve with their words as rationale "
        f"and resolved_by \"human\". They may also decide from a terminal (`stratum-mcp gate approve {gate.flow_id} "
        f"{gate.step_id}`); call stratum_resume to see the flow go on."
    )
    return payload


def _task(task: TaskRun, retries: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"task_id": task.task_id, "status": task.status, "intent": task.intent,
                             "inputs": task.inputs}
    if task.worktree is not None:
        entry["worktree"] = task.worktree
        entry["branch"] = task.branch
    if task.status == "running":
        entry["retries_remaining"] = retries - task.failures
        if task.attempts and task.attempts[-1].outcome != "passed":
            entry["violations"] = [v.to_json() for v in task.attempts[-1].violations]
    if task.status == "complete":
        entry["output"] = task.output
    return entry


def _execute_tasks(tasks: ExecuteTasks) -> dict[str, Any]:
    function, parallel = tasks.function, tasks.step.parallel
    assert parallel is not None
    counts = {status: sum(1 for t in tasks.tasks if t.status == status)
              for status in ("pending", "running", "complete", "failed")}
    payload: dict[str, Any] = {
        "status": "execute_tasks",
        "flow_id": tasks.flow_id,
        "step_id": tasks.step_id,
        "function": function.name if function is not None else None,
        "mode": function.mode if function is not None else "infer",
        "output_contract": tasks.contract.name or None,
        "output_schema": tasks.contract.json_schema(),
        "ensure": [e.source for e in function.ensure] if function is not None else [],
        "require": tasks.needed,
        "max_concurrent": parallel.max_concurrent,
        "isolation": parallel.isolation,
        "counts": counts,
        "tasks": [_task(t, tasks.retries) for t in tasks.tasks],
    }
    where = " each in its own `worktree` (commit your work there, on its `branch`)" if parallel.isolation == \
        "worktree" else ""
    payload["next"] = (
        f"Do every task whose status is running{where}; tasks that are pending are handed out as others finish. "
        f"Report results with stratum_parallel_done (flow_id, step_id `{tasks.step_id}`, results: [{{task_id, "
        "result}}], or {task_id, status: \"failed\", error} for a task you cannot do); each result is checked "
        f"like a step's. The step completes once {tasks.needed} task(s) have completed."
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


def _stopped(run: FlowRun) -> dict[str, Any]:
    reason = dict(run.error) if run.error is not None else {}
    payload: dict[str, Any] = {"status": run.status, "flow_id": run.flow_id, "reason": reason}
    if run.status == "killed":
        payload["next"] = ("The flow was stopped at a gate. Tell the user it was killed, by whom and why "
                           "(see reason); call stratum_audit for the trace.")
    elif run.status == "budget_exceeded":
        payload["next"] = "The flow ran out of budget. Tell the user what it spent; call stratum_audit for the trace."
    else:
        payload["next"] = ("The flow failed (see reason). Tell the user which step failed and why; stratum_revert can "
                           "go back to a checkpoint, stratum_audit shows the trace.")
    return payload


def commit_payload(committed: Committed) -> dict[str, Any]:
    return {
        "status": "committed",
        "flow_id": committed.flow_id,
        "label": committed.label,
        "checkpoints": list(committed.labels),
        "step_id": committed.step_id,
        "next": f"Checkpoint `{committed.label}` saved; carry on with the flow. stratum_revert with this label brings "
        "the flow back here.",
    }


def timeouts_payload(expiries: list[Expiry], *, one: bool) -> dict[str, Any]:
    if one:
        (expiry,) = expiries
        payload = outcome_payload(expiry.dispatch)
        payload["expired"] = expiry.expired
        return payload
    expired = [{"flow_id": e.flow_id, "status": outcome_payload(e.dispatch)["status"]} for e in expiries if e.expired]
    return {
        "status": "checked",
        "checked": len(expiries),
        "expired": expired,
        "next": "Gates past their timeout were killed; tell the user about any listed under `expired`.",
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
    "inputs_invalid": "Call again with arguments matching the listed violations.",
    "argument_too_large": "Send a smaller value; keep large content in files and pass paths.",
    "invalid_flow_id": "Pass the flow_id exactly as stratum_plan returned it.",
    "flow_not_found": "Check the flow_id; start a new run with stratum_plan if it is gone.",
    "flow_finished": "This run is over; call stratum_audit to read it, or stratum_plan to start a new one.",
    "step_mismatch": "Call stratum_resume to see the step the flow waits for (`expected_step`), and report that one.",
    "wrong_tool": "Use the tool named in `tool` for this step.",
    "gate_already_resolved": "Someone decided this gate already; call stratum_resume to see where the flow is now.",
    "revise_refused": "Approve or kill the gate instead, or tell the user why it cannot go back.",
    "skip_refused": "Do the step (or resolve the gate) instead of skipping it.",
    "iteration_not_started": "Call stratum_iteration_start for this step first.",
    "task_mismatch": "Report only tasks whose status is running; call stratum_resume for the current task list.",
    "checkpoint_not_found": "Use one of the labels in `available`, or commit a checkpoint first.",
    "too_many_checkpoints": "Commit under an existing label to replace that checkpoint.",
    "revert_refused": "This run cannot go back; start a new one with stratum_plan.",
    "unknown_model": "Report usage as {usd} instead, or use a model name from the price table.",
    "worktrees_unavailable": "Run the flow in a git repository with a commit, or use `isolation: none`.",
    "retries_exhausted": "Tell the user which step failed and why (see violations); call stratum_audit for the trace.",
    "flow_budget_exceeded": "Tell the user the flow ran out of time; call stratum_audit for the trace.",
    "usd_budget_exceeded": "Tell the user the flow ran out of money (spent_usd of limit_usd); stratum_audit has "
    "the trace.",
    "condition_failed": "Tell the user the step's skip_if could not be evaluated (see reason); fix the spec.",
    "tasks_invalid": "Tell the user the tasks could not be dispatched (see reason); fix the step that lists them.",
    "require_unmet": "Tell the user too many tasks failed; call stratum_audit for each task's violations.",
    "iteration_aborted": "Tell the user the loop was aborted before any iteration passed.",
    "concurrent_update": "Another client is reporting this run; call stratum_resume, then retry if still needed.",
    "worktree_error": "The run is saved; call stratum_resume to try creating or removing the worktree again.",
}
