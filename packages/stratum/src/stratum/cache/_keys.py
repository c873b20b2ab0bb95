"""The key of a cached call and the format of an entry, versioned together.

A key is the SHA-256 of everything that can change the answer: the compiled
prompt (the exact messages sent: intent, context, inputs, postconditions,
contract schema), the contract hash, the model, the client's identity (its
endpoint and sampling defaults, never its credentials), the temperature and
the function's qualified name. An entry is a small JSON document carrying the
output and what it was computed for, so a reader can refuse an entry written
for another contract.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .._json import canonical_json

__all__ = ["MAX_ENTRY_BYTES", "call_key", "decode_entry", "encode_entry"]

#: Bumped when the key derivation or the entry format changes.
KEY_VERSION = 2
#: Entries larger than this are not stored (a runaway output should not fill the store).
MAX_ENTRY_BYTES = 1 << 20


def call_key(
    messages: Sequence[Mapping[str, Any]],
    *,
    contract_hash: str,
    model: str,
    function: str,
    temperature: float | None,
    client: str,
) -> str:
    """The cache key of one call (see the module docstring), hashed."""
    parts = {
        "v": KEY_VERSION,
        "messages": messages,
        "contract": contract_hash,
        "model": model,
        "function": function,
        "temperature": temperature,
        "client": client,
    }
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()


def encode_entry(*, contract_hash: str, model: str, prompt_hash: str, output: Any) -> bytes | None:
    """An entry holding ``output`` (JSON-able), or None when it is too large to store."""
    entry = {
        "v": KEY_VERSION,
        "contract": contract_hash,
        "model": model,
        "prompt_hash": prompt_hash,
        "created_at": time.time(),
        "output": output,
    }
    data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data if len(data) <= MAX_ENTRY_BYTES else None


def decode_entry(raw: bytes, contract_hash: str) -> Any:
    """The JSON output an entry holds; ``ValueError`` if it is not an entry for this contract."""
    entry = json.loads(raw)
    if not isinstance(entry, dict) or entry.get("v") != KEY_VERSION or "output" not in entry:
        raise ValueError("not a Stratum cache entry")
    if entry.get("contract") != contract_hash:
        raise ValueError(f"entry was written for contract {entry.get('contract')!r}")
    return entry["output"]
