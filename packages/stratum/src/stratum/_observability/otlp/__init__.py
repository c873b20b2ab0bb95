"""OTLP/HTTP JSON export: the exporter, its encoding, and ``otel()``."""
