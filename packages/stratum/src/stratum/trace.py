"""Trace records and spans: what every call did, and the tree a flow made.

Every ``@infer`` call, success or failure, leaves a ``TraceRecord`` in a
bounded in-memory store (10,000 by default, oldest dropped), whatever the
export settings::

    stratum.trace.all_records()             # every record, oldest first
    stratum.trace.records(function="classify", flow_id=fid)
    stratum.trace.clear()

With ``configure(tracer=...)`` flows, ``@infer`` and ``@compute`` calls also
make spans. A tracer is any object with ``export(span: SpanData)``
(``Tracer``); ``stratum.exporters.otel(...)`` sends them over OTLP.
``current_span()`` is the open span of the running task, e.g. to put its
``trace_id`` in a log line. See ``docs/observability.md``.
"""

from ._observability.records import ErrorInfo, TraceRecord, TraceStore, all_records, clear, records, store
from ._observability.spans import (
    KIND_CLIENT,
    KIND_INTERNAL,
    STATUS_ERROR,
    STATUS_UNSET,
    Span,
    SpanData,
    SpanEvent,
    Tracer,
)
from ._observability.spans import current as current_span

__all__ = [
    "ErrorInfo",
    "KIND_CLIENT",
    "KIND_INTERNAL",
    "STATUS_ERROR",
    "STATUS_UNSET",
    "Span",
    "SpanData",
    "SpanEvent",
    "TraceRecord",
    "TraceStore",
    "Tracer",
    "all_records",
    "clear",
    "current_span",
    "records",
    "store",
]
