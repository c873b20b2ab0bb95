"""FlowRun <-> JSON, for the stores. Versioned so old rows stay readable.

Format 1 held a flat list of steps; format 2 adds what flow control needs
(visits, gates, iteration loops, tasks, sub-flow frames, rounds, usage,
checkpoints and the event log). Rows written in format 1 are read as runs
that entered each started step once.
"""

from __future__ import annotations

import json
from typing import Any

from stratum_mcp._limits import Limits
from stratum_mcp.engine import (
    Attempt,
    Checkpoint,
    Event,
    Feedback,
    FlowRun,
    Frame,
    GateRun,
    IterationRun,
    Resolution,
    StepRun,
    TaskRun,
    Usage,
    Violation,
)
from stratum_mcp.errors import ArgumentTooLarge

__all__ = ["FORMAT", "decode_run", "encode_run", "run_from_json", "run_to_json"]

FORMAT = 2


# Written out by hand: dataclasses.asdict deep-copies every value, which made it the single largest cost of a
# step report. Values here are JSON data and are not mutated. Optional parts are left out when empty, so a
# 0.1 run's row stays as small as it was.


def _violation(v: Violation) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": v.kind, "where": v.where, "message": v.message, "actual": v.actual}
    if v.expected is not None:  # added later: rows without it read as before
        out["expected"] = v.expected
    return out


def _attempt(a: Attempt) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": a.number,
        "started_ms": a.started_ms,
        "finished_ms": a.finished_ms,
        "outcome": a.outcome,
        "violations": [_violation(v) for v in a.violations],
    }
    if a.visit != 1:
        out["visit"] = a.visit
    return out


def _task(t: TaskRun) -> dict[str, Any]:
    return {"task_id": t.task_id, "task": t.task, "intent": t.intent, "inputs": t.inputs, "status": t.status,
            "dispatched_ms": t.dispatched_ms, "attempts": [_attempt(a) for a in t.attempts], "output": t.output,
            "worktree": t.worktree, "branch": t.branch}


def _step(s: StepRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "step_id": s.step_id,
        "function": s.function,
        "status": s.status,
        "inputs": s.inputs,
        "dispatched_ms": s.dispatched_ms,
        "attempts": [_attempt(a) for a in s.attempts],
        "output": s.output,
        "visit": s.visit,
    }
    if s.skip_reason is not None:
        out["skip_reason"] = s.skip_reason
    if s.feedback:
        out["feedback"] = [{"gate": f.gate, "rationale": f.rationale, "resolved_by": f.resolved_by,
                            "round": f.round} for f in s.feedback]
    if s.gate is not None:
        out["gate"] = {"opened_ms": s.gate.opened_ms, "deadline_ms": s.gate.deadline_ms, "resolutions": [
            {"outcome": r.outcome, "rationale": r.rationale, "resolved_by": r.resolved_by, "at_ms": r.at_ms,
             "visit": r.visit} for r in s.gate.resolutions]}
    if s.iteration is not None:
        i = s.iteration
        out["iteration"] = {"started": i.started, "count": i.count, "last": i.last, "accumulated": list(i.accumulated),
                            "seen": list(i.seen), "dry_streak": i.dry_streak, "outcome": i.outcome}
    if s.child is not None:
        out["child"] = _frame(s.child)
    if s.tasks is not None:
        out["tasks"] = [_task(t) for t in s.tasks]
        out["needed"] = s.needed
    return out


def _frame(f: Frame) -> dict[str, Any]:
    return {"flow": f.flow, "inputs": f.inputs, "current": f.current, "steps": [_step(s) for s in f.steps],
            "rounds": f.rounds, "last_output": f.last_output}


def run_to_json(run: FlowRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": FORMAT,
        "flow_id": run.flow_id,
        "flow": run.flow,
        "spec_digest": run.spec_digest,
        "status": run.status,
        "inputs": run.inputs,
        "created_ms": run.created_ms,
        "updated_ms": run.updated_ms,
        "current": run.current,
        "steps": [_step(s) for s in run.steps],
        "finished_ms": run.finished_ms,
        "output": run.output,
        "error": run.error,
        "rounds": run.rounds,
        "last_output": run.last_output,
        "events": [{"at_ms": e.at_ms, "kind": e.kind, "step": e.step, "data": e.data} for e in run.events],
    }
    if run.usage.reports:
        u = run.usage
        out["usage"] = {"usd": u.usd, "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                        "reports": u.reports}
    if run.checkpoints:
        out["checkpoints"] = [{"label": c.label, "at_ms": c.at_ms, "state": run_to_json(c.state)}
                              for c in run.checkpoints]
    return out


def _attempt_from(a: dict[str, Any]) -> Attempt:
    return Attempt(
        number=a["number"],
        started_ms=a["started_ms"],
        finished_ms=a["finished_ms"],
        outcome=a["outcome"],
        violations=tuple(Violation(**v) for v in a["violations"]),
        visit=a.get("visit", 1),
    )


def _task_from(t: dict[str, Any]) -> TaskRun:
    return TaskRun(task_id=t["task_id"], task=t["task"], intent=t["intent"], inputs=t["inputs"], status=t["status"],
                   dispatched_ms=t["dispatched_ms"], attempts=tuple(_attempt_from(a) for a in t["attempts"]),
                   output=t["output"], worktree=t["worktree"], branch=t["branch"])


def _step_from(s: dict[str, Any], format_: int) -> StepRun:
    gate = s.get("gate")
    iteration = s.get("iteration")
    # Format 1 did not count visits: a step that had started had been entered once.
    visit = s["visit"] if format_ >= 2 else (0 if s["status"] == "pending" else 1)
    return StepRun(
        step_id=s["step_id"],
        function=s["function"],
        status=s["status"],
        inputs=s["inputs"],
        dispatched_ms=s["dispatched_ms"],
        attempts=tuple(_attempt_from(a) for a in s["attempts"]),
        output=s["output"],
        visit=visit,
        skip_reason=s.get("skip_reason"),
        feedback=tuple(Feedback(**f) for f in s.get("feedback", ())),
        gate=None if gate is None else GateRun(gate["opened_ms"], gate["deadline_ms"],
                                               tuple(Resolution(**r) for r in gate["resolutions"])),
        iteration=None if iteration is None else IterationRun(
            started=iteration["started"], count=iteration["count"], last=iteration["last"],
            accumulated=tuple(iteration["accumulated"]), seen=tuple(iteration["seen"]),
            dry_streak=iteration["dry_streak"], outcome=iteration["outcome"]),
        child=_frame_from(s["child"]) if "child" in s else None,
        tasks=tuple(_task_from(t) for t in s["tasks"]) if "tasks" in s else None,
        needed=s.get("needed"),
    )


def _frame_from(f: dict[str, Any]) -> Frame:
    return Frame(flow=f["flow"], inputs=f["inputs"], current=f["current"],
                 steps=tuple(_step_from(s, FORMAT) for s in f["steps"]), rounds=f["rounds"],
                 last_output=f["last_output"])


def run_from_json(data: dict[str, Any]) -> FlowRun:
    format_ = data.get("format")
    if format_ not in (1, FORMAT):
        raise ValueError(f"unsupported stored run format {format_!r}")
    assert isinstance(format_, int)
    steps = tuple(_step_from(s, format_) for s in data["steps"])
    usage = data.get("usage")
    return FlowRun(
        flow_id=data["flow_id"],
        flow=data["flow"],
        spec_digest=data["spec_digest"],
        status=data["status"],
        inputs=data["inputs"],
        created_ms=data["created_ms"],
        updated_ms=data["updated_ms"],
        current=data["current"],
        steps=steps,
        finished_ms=data["finished_ms"],
        output=data["output"],
        error=data["error"],
        rounds=data.get("rounds", 0),
        last_output=data["last_output"] if format_ >= 2 else _last_output(steps),
        usage=Usage(**usage) if usage else Usage(),
        checkpoints=tuple(Checkpoint(c["label"], c["at_ms"], run_from_json(c["state"]))
                          for c in data.get("checkpoints", ())),
        events=tuple(Event(e["at_ms"], e["kind"], e["step"], e["data"]) for e in data.get("events", ())),
    )


def _last_output(steps: tuple[StepRun, ...]) -> Any:
    # A format 1 run is a 0.1 run: its newest output is that of the last step that completed.
    done = [s.output for s in steps if s.status == "complete"]
    return done[-1] if done else None


def encode_run(run: FlowRun, limits: Limits) -> str:
    """The run as compact JSON text; :class:`ArgumentTooLarge` if it exceeds ``run_state_bytes``."""
    state = json.dumps(run_to_json(run), separators=(",", ":"), allow_nan=False)
    if len(state) > limits.run_state_bytes:
        # The report that would grow the run this far is refused; the stored run is unchanged.
        raise ArgumentTooLarge("result (with the run's stored state)", limits.run_state_bytes, len(state))
    return state


def decode_run(state: str) -> FlowRun:
    """The run stored as ``state`` by :func:`encode_run`."""
    return run_from_json(json.loads(state))
