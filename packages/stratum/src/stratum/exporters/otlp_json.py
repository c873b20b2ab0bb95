"""OTLP/JSON encoding of finished spans (an ``ExportTraceServiceRequest``).

The OTLP/HTTP JSON mapping is protobuf's JSON mapping with three
exceptions the specification spells out, all followed here:

- trace and span ids are lowercase hex strings, not base64;
- enum fields (span ``kind``, status ``code``) are integers;
- field names are lowerCamelCase.

And, from protobuf's mapping: 64-bit integers (times in unix nanoseconds,
``intValue`` attributes) are decimal strings; non-finite doubles are the
strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..spans import STATUS_UNSET, SpanData, SpanEvent

__all__ = ["encode_request", "resource_attributes"]

SCOPE_NAME = "stratum"
# Bounds on one attribute value, so one huge input cannot make a huge request.
_MAX_STRING = 4096
_MAX_ARRAY = 128
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"boolValue": value}
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return {"intValue": str(value)}
        return {"stringValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, str):
        return {"stringValue": value if len(value) <= _MAX_STRING else value[:_MAX_STRING]}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(v) for v in value[:_MAX_ARRAY]]}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _attributes(value)}}
    return {"stringValue": str(value)[:_MAX_STRING]}


def _attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": _value(v)} for k, v in attributes.items() if v is not None]


def _event(event: SpanEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"timeUnixNano": str(event.time_ns), "name": event.name}
    if event.attributes:
        out["attributes"] = _attributes(event.attributes)
    return out


def _span(span: SpanData) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": _attributes(span.attributes),
    }
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id
    if span.events:
        out["events"] = [_event(e) for e in span.events]
    if span.status_code != STATUS_UNSET:
        status: dict[str, Any] = {"code": span.status_code}
        if span.status_message:
            status["message"] = span.status_message
        out["status"] = status
    return out


def resource_attributes(service_name: str, extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The resource every span is reported under: ``service.name`` plus SDK facts."""
    from .. import __version__

    base: dict[str, Any] = {
        "service.name": service_name,
        "telemetry.sdk.name": "stratum",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
    }
    return _attributes({**base, **(extra or {})})


def encode_request(spans: Iterable[SpanData], resource: Sequence[dict[str, Any]]) -> bytes:
    """One ``ExportTraceServiceRequest`` holding ``spans``, as UTF-8 JSON."""
    from .. import __version__

    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": list(resource)},
                "scopeSpans": [
                    {
                        "scope": {"name": SCOPE_NAME, "version": __version__},
                        "spans": [_span(s) for s in spans],
                    }
                ],
            }
        ]
    }
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
