"""Trace records, spans and their attributes, and the OTLP exporter.

Private: programs use these through ``stratum.trace`` and ``stratum.exporters``."""
