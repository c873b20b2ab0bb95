"""Trace records: one per @infer call, @compute step in a flow and review, success or failure, always kept.

Records live in a bounded in-memory store (default 10,000, oldest dropped),
whatever the export settings::

    stratum.trace.all_records()             # every record, oldest first
    stratum.trace.records(function="classify", flow_id=fid, kind="infer")
    stratum.trace.clear()

``record.to_json()`` uses the execution-model spec's field names (``input``
for the ``inputs`` attribute), in its order, then the rest.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["ErrorInfo", "TraceRecord", "TraceStore", "all_records", "clear", "records", "store"]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    type: str
    message: str


#: What made a record: an @infer call, a @compute step inside a flow, or an ``await_human`` review.
RecordKind = Literal["infer", "compute", "review"]

#: The execution-model spec's fields, in its order: ``to_dict()`` starts with them.
SPEC_FIELDS = (
    "function", "model", "input", "compiled_prompt_hash", "contract_hash", "attempts", "output", "duration_ms",
    "cost_usd", "cache_hit",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceRecord:
    """What one call did. ``error`` is set when it failed.

    An @infer call fills every field; a @compute step (``kind="compute"``)
    has no model, prompt, attempts or cost. ``warmup_ms`` is the time the
    call waited for the client's one-time warm-up, which its budget did not count.
    """

    function: str
    model: str | None
    inputs: Mapping[str, Any]
    opaque_inputs: tuple[str, ...]
    compiled_prompt_hash: str | None
    contract_hash: str | None
    attempts: int
    output: Any
    duration_ms: float
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    cache_hit: bool
    retry_reasons: tuple[str, ...]
    flow_id: str | None
    review_id: str | None
    error: ErrorInfo | None
    started_at: datetime
    transient_retries: int = 0
    response_model: str | None = None
    temperature: float | None = None
    kind: RecordKind = "infer"
    warmup_ms: float = 0.0
    #: The provider reported usage no honest one would: more output tokens
    #: than the request's ``max_tokens``, or negative tokens or cost.
    impossible_usage: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: the spec's fields first, by its names (``input``), then ours."""
        data = asdict(self)
        data["input"] = dict(data.pop("inputs"))
        data["started_at"] = self.started_at.isoformat()
        data["extra"] = dict(self.extra)
        return {**{name: data.pop(name) for name in SPEC_FIELDS}, **data}

    def to_json(self) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)


class TraceStore:
    """A bounded, thread-safe ring of records with simple queries."""

    def __init__(self, capacity: int) -> None:
        self._lock = threading.Lock()
        self._records: collections.deque[TraceRecord] = collections.deque(maxlen=capacity)
        self.dropped = 0
        self._listeners: list[Callable[[TraceRecord], None]] = []

    def resize(self, capacity: int) -> None:
        with self._lock:
            if capacity != self._records.maxlen:
                kept = list(self._records)[-capacity:]
                self.dropped += len(self._records) - len(kept)
                self._records = collections.deque(kept, maxlen=capacity)

    def append(self, record: TraceRecord) -> None:
        with self._lock:
            if len(self._records) == self._records.maxlen:
                self.dropped += 1
            self._records.append(record)
            listeners = tuple(self._listeners)
        for listener in listeners:
            listener(record)

    def subscribe(self, listener: Callable[[TraceRecord], None]) -> Callable[[], None]:
        """Call ``listener(record)`` for every new record; returns an unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def all(self) -> list[TraceRecord]:
        with self._lock:
            return list(self._records)

    def query(
        self, function: str | None = None, flow_id: str | None = None, kind: RecordKind | None = None
    ) -> list[TraceRecord]:
        with self._lock:
            return [
                r
                for r in self._records
                if (function is None or r.function == function or r.function.endswith("." + function))
                and (flow_id is None or r.flow_id == flow_id)
                and (kind is None or r.kind == kind)
            ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.dropped = 0

    def __len__(self) -> int:
        return len(self._records)


_store = TraceStore(10_000)


def store() -> TraceStore:
    return _store


def all_records() -> list[TraceRecord]:
    """Every kept record, oldest first."""
    return _store.all()


def records(
    function: str | None = None, flow_id: str | None = None, kind: RecordKind | None = None
) -> list[TraceRecord]:
    """Records filtered by function (qualified or bare name), flow id and/or kind (infer, compute, review)."""
    return _store.query(function=function, flow_id=flow_id, kind=kind)


def clear() -> None:
    """Drop every kept record."""
    _store.clear()
