"""What learn reasons about: finished and running runs, and every rejected attempt, wherever they came from.

Runs come from the flow store (complete records) and from Claude Code session
transcripts (what the model was told by the tools). The two overlap; a run the
store has is taken from the store only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stratum_mcp.engine import FlowRun, Violation

__all__ = ["Evidence", "Rejection", "RunRecord", "from_runs", "merge", "violation_from_json"]


@dataclass(frozen=True)
class Rejection:
    """One rejected report of a step: which step, which attempt, and why."""

    flow_id: str
    flow: str
    step_id: str
    function: str
    attempt: int
    violations: tuple[Violation, ...]


@dataclass(frozen=True)
class RunRecord:
    """One run, reduced to what learn needs: per step how many attempts, and how it ended."""

    flow_id: str
    flow: str
    status: str
    attempts: tuple[tuple[str, int], ...]
    error_code: str | None = None
    error_step: str | None = None
    created_ms: int | None = None


@dataclass(frozen=True)
class Evidence:
    """Everything learn found, and how much it read to find it."""

    runs: tuple[RunRecord, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    sessions: int = 0
    skipped_lines: int = 0


def violation_from_json(raw: Any) -> Violation | None:
    """A violation as the tools report it (``expression``/``field``/``budget`` name where)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
        return None
    where = raw.get("expression", raw.get("field", raw.get("budget", "")))
    expected = raw.get("expected")
    return Violation(raw["kind"], str(where), str(raw.get("message", "")), raw.get("actual"),
                     expected if isinstance(expected, str) else None)


def from_runs(runs: Iterable[FlowRun]) -> Evidence:
    """The evidence in stored runs: their outcome and every attempt that was not accepted."""
    records: list[RunRecord] = []
    rejections: list[Rejection] = []
    for run in runs:
        error = dict(run.error) if run.error else {}
        records.append(RunRecord(
            flow_id=run.flow_id,
            flow=run.flow,
            status=run.status,
            attempts=tuple((s.step_id, len(s.attempts)) for s in run.steps if s.attempts),
            error_code=str(error["code"]) if "code" in error else None,
            error_step=next((s.step_id for s in run.steps if s.status == "failed"), None),
            created_ms=run.created_ms,
        ))
        rejections.extend(
            Rejection(run.flow_id, run.flow, step.step_id, step.function, attempt.number, attempt.violations)
            for step in run.steps
            for attempt in step.attempts
            if attempt.outcome != "passed"
        )
    return Evidence(tuple(records), tuple(rejections))


def merge(primary: Evidence, secondary: Evidence) -> Evidence:
    """``primary`` plus whatever ``secondary`` knows about runs ``primary`` does not have."""
    known = {r.flow_id for r in primary.runs}
    return Evidence(
        runs=primary.runs + tuple(r for r in secondary.runs if r.flow_id not in known),
        rejections=primary.rejections + tuple(r for r in secondary.rejections if r.flow_id not in known),
        sessions=primary.sessions + secondary.sessions,
        skipped_lines=primary.skipped_lines + secondary.skipped_lines,
    )
