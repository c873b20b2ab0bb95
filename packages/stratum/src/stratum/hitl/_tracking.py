"""How a review shows up in traces.

Two links, both by ``review_id``:

1. Every ``await_human`` call appends its own ``TraceRecord`` (function
   ``"await_human"``, the flow's ``flow_id``, the ``review_id``, the decision
   as ``output``, the wait as ``duration_ms``; ``error`` on a timeout).
2. After a review returns a decision, the ``@infer`` calls that follow it in
   the same flow and the same line of execution (the awaiting task and tasks
   it starts later) carry that ``review_id`` in their records, so a trace
   shows which model calls ran under which human decision. A later review
   replaces it; a sibling task that did not await it is not marked.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from .._core import scope
from .._observability.records import ErrorInfo, TraceRecord
from ._review import HumanDecision, PendingReview, as_json

__all__ = ["FUNCTION", "review_record"]

#: The ``function`` of a review's own trace record.
FUNCTION = "await_human"

def review_record(
    review: PendingReview,
    decision: HumanDecision[Any] | None,
    *,
    error: BaseException | None,
    flow: scope.FlowScope | None,
    started_at: datetime,
    t0: float,
    timeout_s: float | None,
) -> TraceRecord:
    """The trace record of one ``await_human`` call."""
    inputs: dict[str, Any] = {
        "question": review.context.question,
        "trigger": review.context.trigger,
        "options": review.to_dict()["options"],
        "artifacts": {k: as_json(v, k) for k, v in review.context.artifacts.items()},
    }
    extra: dict[str, Any] = {
        "decision_type": review.decision_type.name,
        "timeout_s": timeout_s,
        "review_state": review.state,
    }
    if decision is not None:
        extra["reviewer"] = decision.reviewer
        extra["auto"] = decision.reviewer == "auto" and review.state == "timed_out"
    return TraceRecord(
        function=FUNCTION,
        model=None,
        inputs=inputs,
        opaque_inputs=(),
        compiled_prompt_hash=None,
        contract_hash=review.decision_type.hash,
        attempts=0,
        output=None if decision is None else decision.to_dict(),
        duration_ms=(time.perf_counter() - t0) * 1000.0,
        cost_usd=None,
        input_tokens=None,
        output_tokens=None,
        cache_hit=False,
        retry_reasons=(),
        flow_id=flow.flow_id if flow else None,
        review_id=review.review_id,
        error=None if error is None else ErrorInfo(type(error).__name__, str(error)[:2000]),
        started_at=started_at,
        kind="review",
        extra=extra,
    )
