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
OTLP/JSON and POSTed with httpx. Arguments left out fall back to the standard
variables ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is),
``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended),
``OTEL_EXPORTER_OTLP_HEADERS`` (``k1=v1,k2=v2``) and ``OTEL_SERVICE_NAME``.
See ``docs/observability.md``.
"""

from ._core.tracing import shutdown
from ._observability.otlp.exporter import ExportStats, OTLPExporter
from ._observability.otlp.setup import otel

__all__ = ["ExportStats", "OTLPExporter", "otel", "shutdown"]
