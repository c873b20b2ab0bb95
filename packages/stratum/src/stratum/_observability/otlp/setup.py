"""``otel(...)``: an OTLP exporter built from arguments and the standard variables.

Arguments left out fall back to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used
as is), ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended),
``OTEL_EXPORTER_OTLP_HEADERS`` (``k1=v1,k2=v2``) and ``OTEL_SERVICE_NAME``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .exporter import OTLPExporter

__all__ = ["otel"]

DEFAULT_ENDPOINT = "http://localhost:4318"
_TRACES_PATH = "/v1/traces"


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

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OTLP endpoint must be an http(s) URL with a host, got {url!r}")
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
