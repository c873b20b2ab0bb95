"""Span exporters. ``otel(...)`` sends spans to any OTLP/HTTP receiver::

    import stratum

    stratum.configure(tracer=stratum.exporters.otel(
        endpoint="http://localhost:4318",          # Jaeger, Tempo, an OTel Collector...
        headers={"x-honeycomb-team": "..."},       # whatever the backend authenticates with
        service_name="ticket-triage",
    ))
    ...
    stratum.shutdown()   # also runs at interpreter exit: sends what is queued

No OpenTelemetry SDK and no protobuf are needed: spans are encoded as
OTLP/JSON and POSTed with httpx (installed with LiteLLM). Arguments left
out fall back to the standard variables ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
(used as is), ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended),
``OTEL_EXPORTER_OTLP_HEADERS`` (``k1=v1,k2=v2``) and ``OTEL_SERVICE_NAME``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from ..config import get_config
from ..exceptions import StratumWarning
from .otlp import ExportStats, OTLPExporter, shutdown_all

__all__ = ["ExportStats", "OTLPExporter", "otel", "shutdown"]

DEFAULT_ENDPOINT = "http://localhost:4318"
_TRACES_PATH = "/v1/traces"
_grpc_port_warned = False


def otel(
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    service_name: str | None = None,
    **options: Any,
) -> OTLPExporter:
    """An OTLP/HTTP JSON exporter for ``configure(tracer=...)``.

    ``endpoint`` is the receiver's base URL; ``/v1/traces`` is appended
    unless the URL already ends with it. ``options`` tune batching and
    retries (see ``OTLPExporter``): ``max_queue_size``, ``max_batch_size``,
    ``flush_interval_s``, ``timeout_s``, ``retry_initial_s``,
    ``retry_max_s``, ``max_retry_s``, ``shutdown_timeout_s``, ``resource``.

    >>> exporter = otel("http://localhost:4318", service_name="docs")
    >>> exporter.url
    'http://localhost:4318/v1/traces'
    """
    url = _traces_url(endpoint)
    if headers is None:
        headers = _env_headers(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "stratum"
    return OTLPExporter(url, headers, name, **options)


def _traces_url(endpoint: str | None) -> str:
    if endpoint is None:
        direct = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if direct:
            return _checked(direct)
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT
    url = endpoint.rstrip("/")
    if not url.endswith(_TRACES_PATH):
        url += _TRACES_PATH
    return _checked(url)


def _checked(url: str) -> str:
    import urllib.parse  # deferred: import stratum stays cheap

    global _grpc_port_warned
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OTLP endpoint must be an http(s) URL with a host, got {url!r}")
    if parts.port == 4317 and not _grpc_port_warned:
        _grpc_port_warned = True
        warnings.warn(
            f"OTLP endpoint {url} uses port 4317, the OTLP/gRPC port; this exporter speaks OTLP/HTTP, "
            "which receivers usually serve on 4318",
            StratumWarning,
            stacklevel=3,
        )
    return url


def _env_headers(raw: str) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS``: comma-separated ``key=value``, values URL-encoded."""
    import urllib.parse

    out: dict[str, str] = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = urllib.parse.unquote(value.strip())
    return out


def shutdown(timeout_s: float = 5.0) -> bool:
    """Send every queued span and stop the exporters, within ``timeout_s`` in total.

    A custom tracer configured with ``configure(tracer=...)`` has its own
    ``shutdown()`` called too, if it has one. Runs by itself at interpreter exit; call it earlier where exit hooks do
    not run (``os._exit``, some serverless runtimes). Blocking: inside an
    event loop use ``await asyncio.to_thread(stratum.shutdown)``. Returns
    True if nothing was left unsent.

    >>> import stratum
    >>> stratum.shutdown()
    True
    """
    ok = shutdown_all(timeout_s)
    tracer = get_config().tracer
    if tracer is not None and not isinstance(tracer, OTLPExporter):
        close = getattr(tracer, "shutdown", None)
        if callable(close):  # called without arguments, like an OpenTelemetry SDK exporter's
            ok = close() is not False and ok
    return ok
