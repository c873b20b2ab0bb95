"""``@infer(quorum=N, agree_on="field", threshold=K)``: N full @infer loops, then a vote.

The N invocations run concurrently, each with its own retries and
``ensure`` checks. An invocation that exhausts its retries casts no vote;
any other failure (the budget ran out, a precondition is false, the provider
rejected the request) cancels the others and is raised. If at least K
outputs agree on ``agree_on``, the agreeing output with the highest
``confidence`` field is returned (the first agreeing one when the contract
has no ``confidence``); otherwise ``ConsensusFailure`` carries all N
outputs and the vote counts::

    @infer(intent="Classify", quorum=5, agree_on="label", threshold=3)
    def classify(text: str) -> Sentiment: ...

The function's ``budget`` covers the whole quorum and is nested in the
caller's flow budget: all N invocations draw from the same envelope. Each
invocation leaves its own trace record; ``record.extra["quorum"]`` says which
quorum it belonged to, its vote, whether it ``agreed`` with the winning value
and whether it was the one ``chosen``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .._json import canonical_json
from .._observability.records import TraceRecord, store
from ..exceptions import ConsensusFailure, ContractFailure
from . import scope
from .branches import gather_all
from .budget import Envelope
from .executor import execute
from .spec import InferSpec

__all__ = ["run_quorum"]

Sink = Callable[[TraceRecord], None]


@dataclass(frozen=True, slots=True)
class _NoVote:
    """An invocation that exhausted its retries."""

    error: ContractFailure


async def run_quorum(
    spec: InferSpec,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    refine_feedback: str | None = None,
    envelope: Envelope | None = None,
    record_sink: Sink | None = None,
) -> Any:
    """Run ``spec.quorum`` full @infer loops concurrently and return the winning output."""
    assert spec.quorum is not None and spec.agree_on is not None and spec.threshold is not None
    size, field = spec.quorum, spec.agree_on
    if envelope is None:
        flow = scope.current()
        envelope = Envelope(spec.budget, spec.qualname, parent=flow.envelope if flow else None)
    # Records are held until the vote is known, then tagged and stored in
    # invocation order (also when the quorum is cut short by an error).
    held: list[TraceRecord | None] = [None] * size
    agreed: set[int] = set()
    chosen: int | None = None

    async def invocation(index: int) -> Any:
        def hold(record: TraceRecord) -> None:
            held[index] = record

        try:
            return await execute(
                spec, args, kwargs, refine_feedback=refine_feedback, envelope=envelope, record_sink=hold
            )
        except ContractFailure as exc:
            return _NoVote(exc)

    try:
        results = await gather_all([invocation(i) for i in range(size)])
        keys = [None if isinstance(r, _NoVote) else _key(spec, r) for r in results]
        counts: dict[str, int] = {}
        for key in keys:
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        # Most votes wins; on a tie, the value that was voted for first.
        winner = max(counts, key=lambda k: counts[k], default=None)
        if winner is None or counts[winner] < spec.threshold:
            outputs = [None if isinstance(r, _NoVote) else r for r in results]
            votes = {_shown(next(r for r, k in zip(results, keys, strict=True) if k == key), field): n
                     for key, n in counts.items()}  # fmt: skip
            errors = [r.error if isinstance(r, _NoVote) else None for r in results]
            raise ConsensusFailure(
                spec.qualname, outputs, votes, threshold=spec.threshold, agree_on=field, errors=errors
            )
        agreed.update(i for i, k in enumerate(keys) if k == winner)
        chosen = max(sorted(agreed), key=lambda i: _confidence(results[i]))
        return results[chosen]
    finally:
        group = uuid.uuid4().hex
        sink = record_sink or store().append
        for i, record in enumerate(held):
            if record is not None:
                vote = record.output.get(field) if isinstance(record.output, dict) else None
                tag = {"id": group, "index": i, "size": size, "agree_on": field, "vote": vote,
                       "agreed": i in agreed, "chosen": i == chosen}  # fmt: skip
                sink(replace(record, extra={**record.extra, "quorum": tag}))


def _key(spec: InferSpec, value: Any) -> str:
    return canonical_json(spec.output.dump(value)[spec.agree_on])


def _shown(value: Any, field: str) -> Any:
    """The vote as a mapping key: the field's value when hashable, else its JSON text."""
    raw = getattr(value, field)
    try:
        hash(raw)
    except TypeError:
        return canonical_json(value.model_dump(mode="json")[field])
    return raw


def _confidence(value: Any) -> float:
    """The output's ``confidence`` as a number; outputs without one rank lowest (stable order)."""
    found = getattr(value, "confidence", None)
    if isinstance(found, (int, float)) and not isinstance(found, bool) and math.isfinite(found):
        return float(found)
    return -math.inf
