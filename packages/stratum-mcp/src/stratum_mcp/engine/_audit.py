"""The audit view of a run: per step, how many attempts, how long, what was rejected."""

from __future__ import annotations

from typing import Any

from stratum_mcp.engine._state import FlowRun, StepRun

__all__ = ["audit_view", "step_trace"]


def step_trace(step: StepRun) -> dict[str, Any]:
    """One step's trace: status, attempts, total duration, and every attempt's violations."""
    return {
        "step_id": step.step_id,
        "function": step.function,
        "status": step.status,
        "attempts": len(step.attempts),
        "duration_ms": sum(a.duration_ms for a in step.attempts),
        "attempt_log": [
            {
                "attempt": a.number,
                "outcome": a.outcome,
                "duration_ms": a.duration_ms,
                "violations": [v.to_json() for v in a.violations],
            }
            for a in step.attempts
        ],
    }


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
        "total_attempts": sum(len(s.attempts) for s in run.steps),
        "steps": [step_trace(s) for s in run.steps],
    }
    if run.status == "running" and run.current_step is not None:
        view["current_step"] = run.current_step.step_id
    if run.error is not None:
        view["error"] = dict(run.error)
    return view
