"""What of a client's settings may enter a cache key: what can change an answer, never a secret.

Every client's ``cache_identity()`` keeps its endpoint and sampling defaults
and leaves out credentials and transport settings (keys, tokens, headers,
timeouts): rotating an API key must not empty the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["kept_settings", "left_out"]

# Request settings that never change an answer, or are secrets.
_NOT_IN_KEYS = frozenset(
    {"api_key", "headers", "extra_headers", "timeout", "stream_timeout", "num_retries", "max_retries",
     "metadata", "client", "logger_fn", "mock_response"}
)  # fmt: skip
_SECRET_SUFFIXES = ("_key", "_token", "_secret", "_password", "_credentials")


def left_out(name: str) -> bool:
    """True for a setting that stays out of cache keys."""
    lowered = name.lower()
    return lowered in _NOT_IN_KEYS or lowered.endswith(_SECRET_SUFFIXES) or lowered in ("key", "token", "secret")


def kept_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as they enter a key, sorted, without the ones ``left_out``."""
    return {k: _value(v) for k, v in sorted(settings.items()) if not left_out(k)}


def _value(value: Any) -> Any:
    """A setting as it can enter a key: JSON data as it is, any other object by its type (never its id)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in value.items() if not left_out(str(k))}
    return f"<{type(value).__module__}.{type(value).__qualname__}>"
