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

import json.encoder
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..._version import __version__
from ..spans import STATUS_UNSET, SpanData, SpanEvent

__all__ = ["encode_request", "resource_attributes"]

SCOPE_NAME = "stratum"
# Bounds on one attribute value, so one huge input cannot make a huge request.
_MAX_STRING = 4096
_MAX_ARRAY = 128
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# A C function: JSON-quotes a str, leaving non-ASCII as is.
_quote: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_keys: dict[str, str] = {}


def _key(key: str) -> str:
    # Attribute keys repeat on every span: quote each once (bounded).
    quoted = _keys.get(key)
    if quoted is None:
        quoted = _quote(key)
        if len(_keys) < 1024:
            _keys[key] = quoted
    return quoted


def _value(value: Any) -> str:
    """An ``AnyValue`` as JSON text."""
    kind = type(value)
    if kind is str:
        return '{"stringValue":' + _quote(value if len(value) <= _MAX_STRING else value[:_MAX_STRING]) + "}"
    if kind is bool:  # before int: bool is an int subclass
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return '{"intValue":"' + str(value) + '"}'
        return '{"stringValue":"' + str(value) + '"}'
    if kind is float:
        if math.isfinite(value):
            return '{"doubleValue":' + repr(value) + "}"
        return '{"doubleValue":"' + ("NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")) + '"}'
    if isinstance(value, (list, tuple)):
        return '{"arrayValue":{"values":[' + ",".join(_value(v) for v in value[:_MAX_ARRAY]) + "]}}"
    if isinstance(value, Mapping):
        return '{"kvlistValue":{"values":[' + _attributes(value) + "]}}"
    # Subclasses (IntEnum, str-based enums) travel as their plain value.
    if isinstance(value, bool):
        return _value(bool(value))
    if isinstance(value, int):
        return _value(int(value))
    if isinstance(value, float):
        return _value(float(value))
    if isinstance(value, str):
        return _value(str.__str__(value))
    return _value(str(value))


_pairs: dict[tuple[str, Any], str] = {}
_PAIRS_LIMIT = 4096
_PAIR_VALUE_CHARS = 128


def _pair(key: str, value: Any) -> str:
    kind = type(value)
    if kind is bool or (kind is str and len(value) <= _PAIR_VALUE_CHARS):
        # Most string attributes repeat span after span (function, model,
        # provider, contract hash): encode each pair once, within a bound.
        text = _pairs.get((key, value))
        if text is None:
            text = f'{{"key":{_key(key)},"value":{_value(value)}}}'
            if len(_pairs) >= _PAIRS_LIMIT:
                _pairs.clear()
            _pairs[(key, value)] = text
        return text
    if kind is int and _INT64_MIN <= value <= _INT64_MAX:
        return f'{{"key":{_key(key)},"value":{{"intValue":"{value}"}}}}'
    return f'{{"key":{_key(key)},"value":{_value(value)}}}'


def _attributes(attributes: Mapping[str, Any]) -> str:
    return ",".join(_pair(k, v) for k, v in attributes.items() if v is not None)


def _event(event: SpanEvent) -> str:
    out = '{"timeUnixNano":"' + str(event.time_ns) + '","name":' + _quote(event.name)
    if event.attributes:
        out += ',"attributes":[' + _attributes(event.attributes) + "]"
    return out + "}"


def _span(span: SpanData) -> str:
    text = (
        f'{{"traceId":{_quote(span.trace_id)},"spanId":{_quote(span.span_id)},"name":{_quote(span.name)},'
        f'"kind":{int(span.kind)},"startTimeUnixNano":"{int(span.start_ns)}","endTimeUnixNano":"{int(span.end_ns)}",'
        f'"attributes":[{_attributes(span.attributes)}]'
    )
    if span.parent_span_id:
        text += f',"parentSpanId":{_quote(span.parent_span_id)}'
    if span.events:
        text += f',"events":[{",".join(_event(e) for e in span.events)}]'
    if span.status_code != STATUS_UNSET:
        message = f',"message":{_quote(span.status_message)}' if span.status_message else ""
        text += f',"status":{{"code":{int(span.status_code)}{message}}}'
    return text + "}"


def resource_attributes(service_name: str, extra: Mapping[str, Any] | None = None) -> str:
    """The resource every span is reported under (``service.name`` plus SDK facts), as JSON text."""
    base: dict[str, Any] = {
        "service.name": service_name,
        "telemetry.sdk.name": "stratum",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
    }
    return _attributes({**base, **(extra or {})})


def encode_request(spans: Iterable[SpanData], resource: str) -> bytes:
    """One ``ExportTraceServiceRequest`` holding ``spans``, as UTF-8 JSON.

    Written as text rather than through ``json.dumps`` of nested dicts: the
    sender thread shares the interpreter with the traced program, and this
    is several times cheaper per span.
    """
    scope = '{"name":' + _quote(SCOPE_NAME) + ',"version":' + _quote(__version__) + "}"
    body = (
        '{"resourceSpans":[{"resource":{"attributes":[' + resource + ']},"scopeSpans":[{"scope":' + scope
        + ',"spans":[' + ",".join(_span(s) for s in spans) + "]}]}]}"
    )  # fmt: skip
    return body.encode("utf-8")
