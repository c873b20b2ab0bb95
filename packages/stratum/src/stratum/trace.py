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

import typing as _typing

from ._faces import lazy_exports as _lazy_exports
from ._observability.records import ErrorInfo, TraceRecord, TraceStore, all_records, clear, records, store

if _typing.TYPE_CHECKING:
    from ._observability.spans import (
        KIND_CLIENT,
        KIND_INTERNAL,
        STATUS_ERROR,
        STATUS_UNSET,
        Span,
        SpanData,
        SpanEvent,
        Tracer,
        current_span,
    )

# The span machinery loads with the first tracer (or the first use of these names), not with `import stratum`.
_LAZY = {
    "KIND_CLIENT": "._observability.spans",
    "KIND_INTERNAL": "._observability.spans",
    "STATUS_ERROR": "._observability.spans",
    "STATUS_UNSET": "._observability.spans",
    "Span": "._observability.spans",
    "SpanData": "._observability.spans",
    "SpanEvent": "._observability.spans",
    "Tracer": "._observability.spans",
    "current_span": "._observability.spans",
}

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

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
