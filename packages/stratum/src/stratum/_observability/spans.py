"""Spans: the tree of work a flow did, handed to the configured tracer.

With ``configure(tracer=...)`` set, each ``@flow`` call opens a span, and each
``@infer`` call (and ``@compute`` call inside a flow) opens a child of
whatever span is current (the hooks that open them are in
``stratum._core.tracing``). The current span lives in a ``ContextVar``:
tasks copy their context when created, so concurrent branches
(``asyncio.gather``, ``TaskGroup``, ``parallel``) are siblings under their
caller's span and never see another flow's spans.

A tracer is any object with ``export(span: SpanData) -> None`` (``Tracer``)
that returns quickly and does not raise; ``stratum.exporters.otel(...)`` is
the built-in one. A minimal in-memory tracer for tests::

    class Collect:
        def __init__(self):
            self.spans = []

        def export(self, span):
            self.spans.append(span)

    stratum.configure(tracer=Collect())

With no tracer configured, nothing here runs beyond one ``is None`` check
per call.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..exceptions import Violation
from .attributes import error_type, infer_attributes
from .records import TraceRecord

__all__ = [
    "KIND_CLIENT",
    "KIND_INTERNAL",
    "STATUS_ERROR",
    "STATUS_UNSET",
    "Span",
    "SpanData",
    "SpanEvent",
    "Tracer",
    "attempt_failed",
    "current",
    "current_span",
    "end_infer",
    "new_trace_id",
    "start_infer",
]

# Documented name (a failing tracer is logged here): it stays "stratum.spans".
log = logging.getLogger("stratum.spans")

# OTLP enum values (opentelemetry/proto/trace/v1/trace.proto).
KIND_INTERNAL = 1
KIND_CLIENT = 3
STATUS_UNSET = 0
STATUS_ERROR = 2

# Bounds: a span is held until it ends and then queued for export.
_MAX_EVENTS = 128
_MAX_MESSAGE_CHARS = 2000
_MAX_VIOLATIONS_PER_EVENT = 20


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A timestamped note on a span, e.g. one failed attempt."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanData:
    """A finished span, as a tracer receives it.

    Ids are lowercase hex (32 chars for the trace, 16 for spans), as W3C
    Trace Context and OTLP/JSON write them. Times are unix nanoseconds.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    events: tuple[SpanEvent, ...] = ()
    status_code: int = STATUS_UNSET
    status_message: str | None = None


@runtime_checkable
class Tracer(Protocol):
    """Where finished spans go: ``export`` must return quickly and should not raise."""

    def export(self, span: SpanData) -> None: ...


class Span:
    """An open span. It becomes the current span until ``end()``.

    ``trace_id`` and ``span_id`` identify it (e.g. to correlate log lines with
    the trace); ``add_event`` notes something on it.
    """

    __slots__ = ("_token", "_tracer", "events", "kind", "name", "parent_span_id", "span_id", "start_ns", "trace_id")

    def __init__(
        self,
        name: str,
        kind: int,
        tracer: Tracer,
        *,
        trace_id: str | None = None,
        parent_span_id: str | None = None,
    ) -> None:
        # An explicit trace_id continues a recorded trace (a durable run recovered elsewhere).
        parent = _current.get() if trace_id is None else None
        self.trace_id: str = trace_id or (parent.trace_id if parent is not None else _new_id(16))
        self.parent_span_id: str | None = parent.span_id if parent is not None else parent_span_id
        self.span_id: str = _new_id(8)
        self.name = name
        self.kind = kind
        self.start_ns = time.time_ns()
        self.events: list[SpanEvent] = []
        self._tracer = tracer
        self._token: contextvars.Token[Span | None] | None = _current.set(self)

    def add_event(self, name: str, attributes: Mapping[str, Any]) -> None:
        if len(self.events) < _MAX_EVENTS:
            self.events.append(SpanEvent(name, time.time_ns(), attributes))

    def end(self, attributes: Mapping[str, Any], error: BaseException | None = None) -> None:
        """Close the span, restore its parent as current, and hand it to the tracer."""
        end_ns = time.time_ns()
        token, self._token = self._token, None
        if token is None:
            return  # already ended
        with contextlib.suppress(ValueError):  # ended from another context: nothing to restore here
            _current.reset(token)
        status, message = STATUS_UNSET, None
        if error is not None:
            status, message = STATUS_ERROR, _clip(str(error)) or type(error).__name__
            attributes = {**attributes, "error.type": error_type(error)}
            self.add_event("exception", {"exception.type": error_type(error), "exception.message": _clip(str(error))})
        data = SpanData(
            trace_id=self.trace_id, span_id=self.span_id, parent_span_id=self.parent_span_id, name=self.name,
            kind=self.kind, start_ns=self.start_ns, end_ns=end_ns, attributes=attributes, events=tuple(self.events),
            status_code=status, status_message=message,
        )  # fmt: skip
        try:
            self._tracer.export(data)
        except Exception:  # a tracer must never break the traced code
            log.warning("tracer %r failed to export a span", self._tracer, exc_info=True)


_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("stratum_span", default=None)


def current() -> Span | None:
    """The open span of the running task, or None."""
    return _current.get()


current_span = current  # its public name, ``stratum.trace.current_span``


def _new_id(size: int) -> str:
    # Random, not secret: ids only need to be unique (OpenTelemetry's own SDK
    # does the same), and this is several times cheaper than os.urandom.
    # The random module is reseeded in a forked child.
    value = random.getrandbits(size * 8)
    while not value:  # an all-zero id is invalid in W3C Trace Context
        value = random.getrandbits(size * 8)
    return value.to_bytes(size, "big").hex()


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."


# -- hooks used by the executor --------------------------------------------------
def start_infer(qualname: str, tracer: Tracer) -> Span:
    return Span(f"infer {qualname}", KIND_CLIENT, tracer)


def new_trace_id() -> str:
    """A fresh W3C trace id (32 hex chars)."""
    return _new_id(16)


def end_infer(span: Span, record: TraceRecord, error: BaseException | None) -> None:
    span.end(infer_attributes(record), error)


def attempt_failed(attempt: int, violations: Sequence[Violation], prompt_hash: str) -> None:
    """Record one rejected attempt as an event on the current @infer span."""
    span = _current.get()
    if span is None or span.kind != KIND_CLIENT:
        return
    shown = violations[:_MAX_VIOLATIONS_PER_EVENT]
    span.add_event(
        "stratum.attempt.failed",
        {
            "stratum.attempt": attempt,
            "stratum.compiled_prompt_hash": prompt_hash,
            "stratum.violations": [_clip(v.message) for v in shown],
            "stratum.violation_kinds": [v.kind for v in shown],
        },
    )
