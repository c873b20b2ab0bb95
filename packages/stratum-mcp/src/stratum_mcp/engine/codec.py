"""FlowRun <-> JSON-ready dicts, for the store. Versioned so old rows stay readable."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from stratum_mcp.engine.state import Attempt, FlowRun, StepRun, Violation

__all__ = ["FORMAT", "run_from_json", "run_to_json"]

FORMAT = 1


def run_to_json(run: FlowRun) -> dict[str, Any]:
    data = asdict(run)
    data["inputs"] = dict(run.inputs)
    data["error"] = dict(run.error) if run.error is not None else None
    data["format"] = FORMAT
    return data


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
