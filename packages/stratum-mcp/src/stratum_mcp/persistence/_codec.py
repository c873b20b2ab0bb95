"""FlowRun <-> JSON, for the stores. Versioned so old rows stay readable."""

from __future__ import annotations

import json
from typing import Any

from stratum_mcp._limits import Limits
from stratum_mcp.engine import Attempt, FlowRun, StepRun, Violation
from stratum_mcp.errors import ArgumentTooLarge

__all__ = ["FORMAT", "decode_run", "encode_run", "run_from_json", "run_to_json"]

FORMAT = 1


def run_to_json(run: FlowRun) -> dict[str, Any]:
    # Written out by hand: dataclasses.asdict deep-copies every value, which made it the
    # single largest cost of a step report. Values here are JSON data and are not mutated.
    return {
        "format": FORMAT,
        "flow_id": run.flow_id,
        "flow": run.flow,
        "spec_digest": run.spec_digest,
        "status": run.status,
        "inputs": run.inputs,
        "created_ms": run.created_ms,
        "updated_ms": run.updated_ms,
        "current": run.current,
        "steps": [
            {
                "step_id": s.step_id,
                "function": s.function,
                "status": s.status,
                "inputs": s.inputs,
                "dispatched_ms": s.dispatched_ms,
                "attempts": [
                    {
                        "number": a.number,
                        "started_ms": a.started_ms,
                        "finished_ms": a.finished_ms,
                        "outcome": a.outcome,
                        "violations": [
                            {"kind": v.kind, "where": v.where, "message": v.message, "actual": v.actual,
                             "expected": v.expected}
                            for v in a.violations
                        ],
                    }
                    for a in s.attempts
                ],
                "output": s.output,
            }
            for s in run.steps
        ],
        "finished_ms": run.finished_ms,
        "output": run.output,
        "error": run.error,
    }


def run_from_json(data: dict[str, Any]) -> FlowRun:
    if data.get("format") != FORMAT:
        raise ValueError(f"unsupported stored run format {data.get('format')!r}")
    steps = tuple(
        StepRun(
            step_id=s["step_id"],
            function=s["function"],
            status=s["status"],
            inputs=s["inputs"],
            dispatched_ms=s["dispatched_ms"],
            attempts=tuple(
                Attempt(
                    number=a["number"],
                    started_ms=a["started_ms"],
                    finished_ms=a["finished_ms"],
                    outcome=a["outcome"],
                    violations=tuple(Violation(**v) for v in a["violations"]),
                )
                for a in s["attempts"]
            ),
            output=s["output"],
        )
        for s in data["steps"]
    )
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
    )


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
