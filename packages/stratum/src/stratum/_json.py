"""JSON forms and content hashes shared by every layer.

``canonical_json`` is the one text every hash in Stratum is taken over
(contract hashes, prompt hashes, cache keys, votes), so two layers can never
disagree on what "the same value" means.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pydantic

__all__ = ["any_adapter", "canonical_hash", "canonical_json", "json_value"]


@functools.cache
def any_adapter() -> pydantic.TypeAdapter[Any]:
    """One shared adapter for arbitrary values (building one costs ~60 us)."""
    return pydantic.TypeAdapter(Any)


def json_value(value: Any) -> Any:
    """The JSON-able form of ``value``: models dumped, everything else through pydantic."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    return any_adapter().dump_python(value, mode="json")


# Built once: json.dumps with these options would build an encoder on every call.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators: the form every hash is taken over."""
    return _canonical(value)


def canonical_hash(value: Any) -> str:
    """First 12 hex chars of SHA-256 of ``canonical_json(value)``."""
    import hashlib  # deferred: OpenSSL's start-up is a tenth of `import stratum`; the first contract pays it

    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:12]
