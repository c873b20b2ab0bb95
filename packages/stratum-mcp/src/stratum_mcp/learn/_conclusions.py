"""From evidence to a few short, project-specific lessons, most frequent first.

Only what recurs counts (``min_count`` occurrences, by default two): one
failed check is an accident, two are a pattern. Each lesson has a
``subject``, the stable part that names what it is about (an expression and
its function, a step of a flow); two lessons never share one, and a lesson
whose subject the user already wrote about by hand is left out.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stratum_mcp.learn._evidence import Evidence, Rejection

__all__ = ["Conclusion", "conclude"]


@dataclass(frozen=True)
class Conclusion:
    """One lesson: what it is about, the line to write, and how much evidence backs it."""

    subject: str
    text: str
    weight: int
    function: str = ""


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _compact(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")  # 0.42, not 0.42000000000000004
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _sample(value: Any) -> str:
    if isinstance(value, dict):
        # An ensure violation records every value it looked at; the result's own are the telling ones.
        picked = {k: v for k, v in value.items() if str(k).startswith("result")} or value
        text = ", ".join(f"{k} = {json.dumps(_compact(v), ensure_ascii=False)}" for k, v in sorted(picked.items()))
    else:
        text = json.dumps(_compact(value), ensure_ascii=False)
    return f"`{text[:67]}...`" if len(text) > 70 else f"`{text}`"


def _samples(values: Iterable[Any], limit: int = 3) -> str:
    seen: list[str] = []
    for value in values:
        if value is None:
            continue
        shown = _sample(value)
        if shown not in seen:
            seen.append(shown)
        if len(seen) == limit:
            break
    return ", ".join(seen)


def _grouped(rejections: Iterable[Rejection], kind: str) -> dict[tuple[str, str], list[tuple[Rejection, Any]]]:
    groups: dict[tuple[str, str], list[tuple[Rejection, Any]]] = defaultdict(list)
    for rejection in rejections:
        for violation in rejection.violations:
            if violation.kind == kind:
                groups[(rejection.function, violation.where)].append((rejection, violation))
    return groups


def _ensure_lessons(evidence: Evidence, min_count: int) -> list[Conclusion]:
    out = []
    for (function, expression), hits in _grouped(evidence.rejections, "ensure").items():
        if len(hits) < min_count:
            continue
        runs = len({r.flow_id for r, _ in hits})
        subject = f"`{expression}` in `{function}`"
        false = [v for _, v in hits if v.message == "evaluated to false"]
        if len(false) * 2 >= len(hits):
            seen = _samples(v.actual for v in false)
            text = (f"{subject} was false {_times(len(hits))} in {_runs(runs)}"
                    + (f" (seen: {seen})" if seen else "") + ". Check it yourself before reporting the step.")
        else:
            cause = Counter(v.message for _, v in hits).most_common(1)[0][0]
            text = (f"{subject} could not be evaluated {_times(len(hits))} in {_runs(runs)}: {cause}. "
                    "Make sure the result has every field the expression reads.")
        out.append(Conclusion(subject, text, len(hits), function))
    return out


def _schema_lessons(evidence: Evidence, min_count: int) -> list[Conclusion]:
    out = []
    for (function, field), hits in _grouped(evidence.rejections, "schema").items():
        if len(hits) < min_count:
            continue
        runs = len({r.flow_id for r, _ in hits})
        cause = Counter(v.message for _, v in hits).most_common(1)[0][0]
        subject = f"`{field}` of `{function}` results"
        text = (f"{subject} was rejected {_times(len(hits))} in {_runs(runs)}: {cause}. "
                "Build the result from the step's output_schema.")
        out.append(Conclusion(subject, text, len(hits), function))
    return out


def _budget_lessons(evidence: Evidence, min_count: int) -> list[Conclusion]:
    out = []
    for (function, where), hits in _grouped(evidence.rejections, "budget").items():
        if len(hits) < min_count or where != "budget.ms":
            continue  # a flow's own budget shows up as a failed run instead
        worst = max((v.actual for _, v in hits if isinstance(v.actual, int | float)), default=None)
        subject = f"`{function}` time budget"
        text = (f"{subject} was exceeded {_times(len(hits))} in {_runs(len({r.flow_id for r, _ in hits}))}"
                + (f" (up to {worst / 1000:.0f} s)" if worst is not None else "")
                + ". Split the step, or raise its `budget.ms` if the work really takes that long.")
        out.append(Conclusion(subject, text, len(hits), function))
    return out


def _retry_lessons(evidence: Evidence, min_count: int, explained: set[str]) -> list[Conclusion]:
    """Steps that often need retries, unless a lesson about their function already says why."""
    functions = {(r.flow, r.step_id): r.function for r in evidence.rejections}
    ran: Counter[tuple[str, str]] = Counter()
    retried: Counter[tuple[str, str]] = Counter()
    extra: Counter[tuple[str, str]] = Counter()
    for run in evidence.runs:
        for step_id, attempts in run.attempts:
            ran[(run.flow, step_id)] += 1
            if attempts > 1:
                retried[(run.flow, step_id)] += 1
                extra[(run.flow, step_id)] += attempts - 1
    out = []
    for (flow, step_id), count in retried.items():
        if count < min_count or functions.get((flow, step_id)) in explained:
            continue
        subject = f"Step `{step_id}` of flow `{flow}`"
        average = (extra[(flow, step_id)] + ran[(flow, step_id)]) / ran[(flow, step_id)]
        text = (f"{subject} needed a retry in {count} of {_runs(ran[(flow, step_id)])} "
                f"({average:.1f} attempts on average). Check its postconditions yourself before the first report.")
        out.append(Conclusion(subject, text, count))
    return out


_FAILURE = {
    "retries_exhausted": "retries ran out",
    "flow_budget_exceeded": "the flow ran out of time",
}


def _failure_lessons(evidence: Evidence, min_count: int) -> list[Conclusion]:
    total: Counter[str] = Counter(run.flow for run in evidence.runs)
    failed: Counter[tuple[str, str, str | None]] = Counter(
        (run.flow, run.error_code or "failed", run.error_step) for run in evidence.runs if run.status == "failed"
    )
    out = []
    for (flow, code, step_id), count in failed.items():
        if count < min_count:
            continue
        where = f" at step `{step_id}`" if step_id else ""
        subject = f"Flow `{flow}` failed{where}"
        text = f"{subject} in {count} of {_runs(total[flow])}: {_FAILURE.get(code, code)}."
        out.append(Conclusion(subject, text, count))
    return out


def conclude(evidence: Evidence, *, min_count: int = 2, limit: int = 12, known: str = "") -> list[Conclusion]:
    """The strongest ``limit`` lessons, leaving out any whose subject already appears in ``known``."""
    causes = [
        *_ensure_lessons(evidence, min_count),
        *_schema_lessons(evidence, min_count),
        *_budget_lessons(evidence, min_count),
    ]
    explained = {c.function for c in causes}
    lessons = [*_failure_lessons(evidence, min_count), *causes, *_retry_lessons(evidence, min_count, explained)]
    fresh = [c for c in lessons if c.subject not in known]
    # Stable order: strongest first, then by subject, so equal evidence gives an identical file.
    return sorted(fresh, key=lambda c: (-c.weight, c.subject))[:limit]
