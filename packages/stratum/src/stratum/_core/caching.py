"""Result caching for @infer: ``cache="none" | "session" | "global"``.

- ``session``: remembered for one top-level ``@flow`` call (flows it calls
  share it), in memory, bounded. Outside a flow there is no session, so
  nothing is cached.
- ``global``: persistent, in the store picked with
  ``configure(cache_store=...)``; by default SQLite under
  ``$STRATUM_CACHE_DIR`` (``.stratum/`` in the working directory).

The key is the SHA-256 of the compiled prompt (the messages whose short hash
is ``compiled_prompt_hash``: intent, context, inputs, postconditions), the
contract hash and the model, so changing any of them misses. A cached value
is re-validated against the contract and re-checked with ``ensure`` before it
is returned; one that fails is a miss, and the fresh result replaces it. A
hit sends no request and leaves a trace record with ``cache_hit=True`` and
zero cost. Concurrent identical calls in one process send one request
(single flight); the others wait for it and count as hits::

    @infer(intent="Summarise {text}", cache="global")
    def summarise(text: str) -> Summary: ...

    stratum.cache.key_for(summarise, text="...")   # the key a call would use
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from . import scope
from .budget import Envelope
from .cache_stores import CacheStore, RedisCacheStore, SQLiteCacheStore, default_store
from .compiler import ContextObject, compile_prompt
from .conditions import check_ensure
from .config import get_config
from .contracts import canonical_json
from .exceptions import StratumWarning
from .spec import InferSpec

__all__ = ["CacheStore", "RedisCacheStore", "SQLiteCacheStore", "cache_key", "key_for"]

#: Bumped when the key derivation or the entry format changes.
_KEY_VERSION = 1
#: Entries larger than this are not stored (a runaway output should not fill the store).
MAX_ENTRY_BYTES = 1 << 20

_MISS = object()  # not in the store, or no longer acceptable
_CORRUPT = object()  # in the store but unreadable: deleted, then a miss
_warned: set[tuple[int, str]] = set()
# Calls in flight, per event loop: futures belong to the loop that made them.
_flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Future[bytes | None]]]
_flights = weakref.WeakKeyDictionary()


def cache_key(spec: InferSpec, ctx: ContextObject, model: str) -> str:
    """The cache key of one call: prompt, contract and model, hashed."""
    parts = {"v": _KEY_VERSION, "messages": ctx.messages(), "contract": spec.output.hash, "model": model}
    material = canonical_json(parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def key_for(fn: Any, /, **inputs: Any) -> str:
    """The key ``fn(**inputs)`` would be cached under (e.g. to delete it from a store)."""
    ctx = compile_prompt(fn, **inputs)
    model = fn.spec.model or get_config().default_model
    if not model:
        raise ValueError(f"{fn.spec.qualname}: no model; the cache key includes the model")
    return cache_key(fn.spec, ctx, model)


async def through_cache(
    spec: InferSpec,
    ctx: ContextObject,
    model: str,
    envelope: Envelope,
    state: Any,
    run: Callable[[], Awaitable[Any]],
) -> Any:
    """Serve the call from the cache, or ``run()`` it once and remember the result."""
    key = cache_key(spec, ctx, model)
    store: Any
    if spec.cache == "session":
        root = _root(scope.current())
        if root is None:
            return await run()
        store, flight = _SessionStore(root.session_cache), ("session", root.flow_id, key)
    else:
        store = get_config().cache_store or default_store()
        flight = ("global", str(id(store)), key)
    flights = _flights.setdefault(asyncio.get_running_loop(), {})
    while True:
        value = await _lookup(spec, store, key, state)
        if value is not _MISS:
            return value
        pending = flights.get(flight)
        if pending is None:
            break
        entry = await _wait_for_leader(pending, envelope, spec.qualname)
        if entry is not None:
            value = await _accept(spec, entry, state)
            if value is not _MISS and value is not _CORRUPT:
                return value
        # The leader failed (or its value fails here): look again, maybe lead.
    leader: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
    flights[flight] = leader
    try:
        value = await run()
        entry = _encode(spec, ctx, model, value)
        leader.set_result(entry)
        if entry is not None:
            await _guarded(store, "write", store.set(key, entry))
        return value
    finally:
        if not leader.done():
            leader.set_result(None)
        if flights.get(flight) is leader:
            del flights[flight]


def _root(flow: scope.FlowScope | None) -> scope.FlowScope | None:
    while flow is not None and flow.parent is not None:
        flow = flow.parent
    return flow


async def _wait_for_leader(pending: asyncio.Future[bytes | None], envelope: Envelope, function: str) -> bytes | None:
    """Wait for the identical call in flight, within this call's own time budget."""
    left = envelope.remaining_seconds()
    try:
        async with asyncio.timeout(left) as deadline:
            # shield: a waiter that gives up must not cancel the leader's result.
            return await asyncio.shield(pending)
    except TimeoutError:
        if deadline.expired():
            raise envelope.exceeded("time", function, detail="waiting for an identical call in flight") from None
        raise


async def _lookup(spec: InferSpec, store: Any, key: str, state: Any) -> Any:
    raw = await _guarded(store, "read", store.get(key))
    if raw is None or raw is _MISS:
        return _MISS
    value = await _accept(spec, raw, state)
    if value is _CORRUPT:
        await _guarded(store, "delete", store.delete(key))
        return _MISS
    return value


async def _accept(spec: InferSpec, raw: bytes, state: Any) -> Any:
    """Decode an entry and check it as if the model had just returned it."""
    try:
        value = _decode(spec, raw)
    except Exception as exc:  # any malformed entry is a miss, never a crash
        warnings.warn(
            f"{spec.qualname}: ignoring an unreadable cache entry ({type(exc).__name__}: {str(exc)[:200]}); "
            "it will be replaced",
            StratumWarning,
            stacklevel=2,
        )
        return _CORRUPT
    if await check_ensure(spec.ensure, value):
        return _MISS  # still valid JSON, but no longer acceptable: the fresh result replaces it
    state.cache_hit = True
    state.cost_usd = 0.0
    return value


def _encode(spec: InferSpec, ctx: ContextObject, model: str, value: Any) -> bytes | None:
    entry = {
        "v": _KEY_VERSION,
        "contract": spec.output.hash,
        "model": model,
        "prompt_hash": ctx.prompt_hash(),
        "created_at": time.time(),
        "output": spec.output.dump(value),
    }
    data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data if len(data) <= MAX_ENTRY_BYTES else None


def _decode(spec: InferSpec, raw: bytes) -> Any:
    entry = json.loads(raw)
    if not isinstance(entry, dict) or entry.get("v") != _KEY_VERSION or "output" not in entry:
        raise ValueError("not a Stratum cache entry")
    if entry.get("contract") != spec.output.hash:
        raise ValueError(f"entry was written for contract {entry.get('contract')!r}")
    output = entry["output"]
    return spec.output.parse(json.dumps({"result": output} if spec.output.wrapped else output))


async def _guarded(store: Any, what: str, operation: Awaitable[Any]) -> Any:
    """Run a store operation; a failing store is a miss with a warning, never a crash."""
    try:
        return await operation
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        marker = (id(store), f"{what}:{type(exc).__name__}")
        if marker not in _warned:
            if len(_warned) < 1024:
                _warned.add(marker)
            warnings.warn(
                f"cache store {store!r} failed to {what} ({type(exc).__name__}: {str(exc)[:200]}); "
                "the call goes to the model instead",
                StratumWarning,
                stacklevel=2,
            )
        return _MISS


class _SessionStore:
    """The flow scope's memo as a store: bounded, least recently used dropped."""

    def __init__(self, memo: OrderedDict[str, Any]) -> None:
        self._memo = memo

    async def get(self, key: str) -> bytes | None:
        raw = self._memo.get(key)
        if raw is not None:
            self._memo.move_to_end(key)
        return raw

    async def set(self, key: str, value: bytes) -> None:
        self._memo[key] = value
        self._memo.move_to_end(key)
        while len(self._memo) > scope.SESSION_CACHE_LIMIT:
            self._memo.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._memo.pop(key, None)
