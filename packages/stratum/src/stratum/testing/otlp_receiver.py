"""A real OTLP/HTTP JSON receiver on 127.0.0.1, for tests and benchmarks::

    from stratum.testing.otlp_receiver import Answer, LocalOTLPReceiver

    with LocalOTLPReceiver([Answer(status=503)]) as receiver:
        stratum.configure(tracer=stratum.exporters.otel(receiver.endpoint))
        ...
        spans = receiver.wait_for_spans(3, timeout_s=5)
"""

from ._otlp_receiver import Answer, LocalOTLPReceiver, Received

__all__ = ["Answer", "LocalOTLPReceiver", "Received"]
