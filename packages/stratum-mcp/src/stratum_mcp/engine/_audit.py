"""The audit view of a run: per step, how many attempts, how long, what was rejected, and what was decided.

For a 0.1 run this is the step list with each attempt's violations. Steps of
0.2 flows add what happened to them where it applies: visits (a revise loop
enters a step again), why a step was skipped, the feedback a gate sent back,
a gate's decisions, an iteration loop's count, a parallel step's tasks, and a
sub-flow's own steps. ``events`` is the run's whole audit log, in order.
"""

from __future__ import annotations

from typing import Any

from stratum_mcp.engine._state import Attempt, FlowRun, Frame, StepRun, TaskRun
from stratum_mcp.engine._tree import label, leaf

__all__ = ["audit_view", "step_trace"]


def _attempts(attempts: tuple[Attempt, ...], visits: bool) -> list[dict[str, Any]]:
    log = []
    for a in attempts:
        entry: dict[str, Any] = {
            "attempt": a.number,
            "outcome": a.outcome,
            "duration_ms": a.duration_ms,
            "violations": [v.to_json() for v in a.violations],
        }
        if visits:
            entry["visit"] = a.visit
        log.append(entry)
    return log


def _task_trace(task: TaskRun) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "task_id": task.task_id,
        "status": task.status,
        "attempts": len(task.attempts),
        "duration_ms": sum(a.duration_ms for a in task.attempts),
        "attempt_log": _attempts(task.attempts, False),
    }
    if task.worktree is not None:
        trace["worktree"] = task.worktree
    if task.branch is not None:
        trace["branch"] = task.branch
    return trace


def step_trace(step: StepRun) -> dict[str, Any]:
    """One step's trace: status, attempts, total duration, every attempt's violations, and its 0.2 details."""
    trace: dict[str, Any] = {
        "step_id": step.step_id,
        "function": step.function,
        "status": step.status,
        "attempts": len(step.attempts),
        "duration_ms": sum(a.duration_ms for a in step.attempts),
        "attempt_log": _attempts(step.attempts, step.visit > 1),
    }
    if step.visit > 1:
        trace["visits"] = step.visit
    if step.skip_reason is not None:
        trace["skip_reason"] = step.skip_reason
    if step.feedback:
        trace["feedback"] = [{"gate": f.gate, "rationale": f.rationale, "resolved_by": f.resolved_by,
                              "round": f.round} for f in step.feedback]
    if step.gate is not None:
        trace["gate"] = {
            "opened_ms": step.gate.opened_ms,
            "expires_at_ms": step.gate.deadline_ms,
            "resolutions": [{"outcome": r.outcome, "rationale": r.rationale, "resolved_by": r.resolved_by,
                             "at_ms": r.at_ms, "visit": r.visit} for r in step.gate.resolutions],
        }
    if step.iteration is not None:
        trace["iteration"] = {"started": step.iteration.started, "iterations": step.iteration.count,
                              "outcome": step.iteration.outcome, "accumulated": len(step.iteration.accumulated)}
    if step.tasks is not None:
        trace["needed"] = step.needed
        trace["tasks"] = [_task_trace(t) for t in step.tasks]
    if step.child is not None:
        trace["flow"] = step.child.flow
        trace["steps"] = [step_trace(s) for s in step.child.steps]
    return trace


def _count(frame: Frame) -> int:
    total = 0
    for step in frame.steps:
        total += len(step.attempts) + sum(len(t.attempts) for t in step.tasks or ())
        if step.child is not None:
            total += _count(step.child)
    return total


def audit_view(run: FlowRun) -> dict[str, Any]:
    """The whole run's trace, for running and finished runs alike."""
    end = run.finished_ms if run.finished_ms is not None else run.updated_ms
    view: dict[str, Any] = {
        "flow_id": run.flow_id,
        "flow": run.flow,
        "status": run.status,
        "created_ms": run.created_ms,
        "finished_ms": run.finished_ms,
        "duration_ms": max(0, end - run.created_ms),
        "total_attempts": _count(run.frame()),
        "steps": [step_trace(s) for s in run.steps],
    }
    path = leaf(run) if run.status == "running" else None
    if path is not None:
        view["current_step"] = label(run, path)
    if run.error is not None:
        view["error"] = dict(run.error)
    if run.rounds:
        view["rounds"] = run.rounds
    if run.usage.reports:
        view["usage"] = {"usd": round(run.usage.usd, 6), "input_tokens": run.usage.input_tokens,
                         "output_tokens": run.usage.output_tokens, "reports": run.usage.reports}
    if run.checkpoints:
        view["checkpoints"] = [{"label": c.label, "at_ms": c.at_ms} for c in run.checkpoints]
    view["events"] = [e.to_json() for e in run.events]
    return view
