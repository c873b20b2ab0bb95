"""Result caching for @infer: ``cache="none" | "session" | "global"``.

- ``session``: remembered for one top-level ``@flow`` call (flows it calls
  share it), in memory, bounded. Outside a flow there is no session, so
  nothing is cached.
- ``global``: persistent, in the store picked with
  ``configure(cache_store=...)``; by default SQLite under
  ``$STRATUM_CACHE_DIR`` (``.stratum/`` in the working directory).

The key is the SHA-256 of the compiled prompt (the messages whose short hash
is ``compiled_prompt_hash``: intent, context, inputs, postconditions), the
contract hash, the model, the client's identity (endpoint and sampling
defaults, see ``client_identity``), the temperature and the function's
qualified name (``stratum.cache._keys``), so changing any of them misses. A
cached value
is re-validated against the contract and re-checked with ``ensure`` before it
is returned; one that fails is a miss, and the fresh result replaces it. A
hit sends no request and leaves a trace record with ``cache_hit=True`` and
zero cost. Concurrent identical calls in one process send one request
(single flight); the others wait for it and count as hits::

    @infer(intent="Summarise {text}", cache="global")
    def summarise(text: str) -> Summary: ...

    stratum.cache_key(summarise, text="...")   # the key a call would use
"""

from __future__ import annotations

import asyncio
import json
import warnings
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from .._once import Once
from ..cache._keys import call_key, decode_entry, encode_entry
from ..cache._stores import CacheStore, SessionStore, default_store, time_limit
from ..exceptions import StratumConfigError, StratumWarning
from . import scope
from .budget import Envelope
from .compiler import ContextObject, compile_prompt
from .conditions import check_ensure
from .config import get_config, resolve_client
from .spec import InferSpec

__all__ = ["cache_key", "through_cache"]

_MISS = object()  # not in the store, or no longer acceptable
#: Under a time budget, one store operation may take at most this share of
#: what is left: a stalled cache leaves the model most of the budget.
_BUDGET_SHARE = 0.25
_CORRUPT = object()  # in the store but unreadable: deleted, then a miss
_warned = Once()  # (store, kind of failure) already warned about; reset_defaults() forgets
# Calls in flight, per event loop: futures belong to the loop that made them.
_flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Future[bytes | None]]]
_flights = weakref.WeakKeyDictionary()


def cache_key(fn: Any, /, **inputs: Any) -> str:
    """The key ``fn(**inputs)`` would be cached under, e.g. to delete it from a store.

    >>> # await store.delete(stratum.cache_key(summarise, text="..."))
    """
    ctx = compile_prompt(fn, **inputs)
    model = fn.spec.model or get_config().default_model
    if not model:
        raise StratumConfigError(f"{fn.spec.qualname}: no model; the cache key includes the model")
    return _key(fn.spec, ctx, model)


def _key(spec: InferSpec, ctx: ContextObject, model: str) -> str:
    return call_key(
        ctx.messages(),
        contract_hash=spec.output.hash,
        model=model,
        function=f"{spec.module}.{spec.qualname}",
        temperature=spec.temperature,
        client=client_identity(resolve_client(model)),
    )


def client_identity(client: Any) -> str:
    """What about the client can change an answer: its ``cache_identity()``, else its class.

    ``LiteLLMClient`` answers with its endpoint and sampling defaults (never
    its credentials), so two endpoints serving the same model name never
    share an entry.
    """
    own = getattr(client, "cache_identity", None)
    if callable(own):
        return str(own())
    cls = type(client)
    return f"{cls.__module__}.{cls.__qualname__}"


async def through_cache(
    spec: InferSpec,
    ctx: ContextObject,
    model: str,
    *,
    envelope: Envelope,
    run: Callable[[], Awaitable[Any]],
) -> tuple[Any, bool]:
    """Serve the call from the cache, or ``run()`` it once and remember the result.

    Returns the value and whether it came from the cache (a hit).
    """
    key = _key(spec, ctx, model)
    store: CacheStore
    if spec.cache == "session":
        root = _root(scope.current())
        if root is None:
            return await run(), False
        store, flight = SessionStore(root.session_cache, scope.SESSION_CACHE_LIMIT), ("session", root.flow_id, key)
    else:
        store = get_config().cache_store or default_store()
        if getattr(store, "persistent", True) is False:
            _warn_not_persistent(spec, store)
        flight = ("global", str(id(store)), key)
    flights = _flights.setdefault(asyncio.get_running_loop(), {})
    while True:
        value = await _lookup(spec, store, key, envelope)
        if value is not _MISS:
            return value, True
        pending = flights.get(flight)
        if pending is None:
            break
        entry = await _wait_for_leader(pending, envelope, spec.qualname)
        if entry is not None:
            value = await _accept(spec, entry)
            if value is not _MISS and value is not _CORRUPT:
                return value, True
        # The leader failed (or its value fails here): look again, maybe lead.
    leader: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
    flights[flight] = leader
    try:
        value = await run()
        entry = encode_entry(
            contract_hash=spec.output.hash, model=model, prompt_hash=ctx.prompt_hash(), output=spec.output.dump(value)
        )
        leader.set_result(entry)
        if entry is not None:
            await _guarded(store, "write", lambda: store.set(key, entry), envelope)
        return value, False
    finally:
        if not leader.done():
            leader.set_result(None)
        if flights.get(flight) is leader:
            del flights[flight]


def _warn_not_persistent(spec: InferSpec, store: CacheStore) -> None:
    if not _warned.first(("not persistent", spec.qualname)):
        return
    warnings.warn(
        StratumWarning(
            f"{spec.qualname} declares cache=\"global\", but the configured store {store!r} does not persist: "
            "its results are forgotten when the process ends; configure a persistent one "
            "(configure(cache_store=SQLiteCacheStore(path)) or RedisCacheStore(url)), or declare cache=\"session\"",
            rule="cache-not-persistent",
            function=spec.qualname,
            source='cache="global"',
        ),
        stacklevel=2,
    )


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


async def _lookup(spec: InferSpec, store: CacheStore, key: str, envelope: Envelope) -> Any:
    raw = await _guarded(store, "read", lambda: store.get(key), envelope)
    if raw is None or raw is _MISS:
        return _MISS
    value = await _accept(spec, raw)
    if value is _CORRUPT:
        await _guarded(store, "delete", lambda: store.delete(key), envelope)
        return _MISS
    return value


async def _accept(spec: InferSpec, raw: bytes) -> Any:
    """Decode an entry and check it as if the model had just returned it."""
    try:
        output = decode_entry(raw, spec.output.hash)
        value = spec.output.parse(json.dumps({"result": output} if spec.output.wrapped else output))
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
    return value


async def _guarded(
    store: CacheStore, what: str, operation: Callable[[], Awaitable[Any]], envelope: Envelope
) -> Any:
    """Run a store operation in the time it may take; a store that fails or stalls is a miss, never a crash.

    The limit is ``configure(cache_timeout_s=...)`` and, under a time budget,
    never more than a quarter of what is left of it.
    """
    if isinstance(store, SessionStore):  # memory: nothing to wait for
        return await operation()
    limit = get_config().cache_timeout_s
    left = envelope.remaining_seconds()
    if left is not None:
        limit = min(limit, left * _BUDGET_SHARE)
        if limit <= 0:  # the budget is spent: the call fails or returns now, without the store
            return _MISS
    try:
        with time_limit(limit):  # a store on another thread gives up by then on its own
            async with asyncio.timeout(limit):
                return await operation()
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except TimeoutError:  # ours, or the store's own when it gave up in the time it had
        outcome = "the call goes to the model instead" if what == "read" else "it is skipped"
        _warn_once(
            store, f"{what}:stalled", f"cache store {store!r} did not answer within {limit:.3g}s ({what}); {outcome}"
        )
        return _MISS
    except BaseException as exc:
        _warn(store, what, exc)
        return _MISS


def _warn(store: CacheStore, what: str, exc: BaseException) -> None:
    _warn_once(
        store, f"{what}:{type(exc).__name__}",
        f"cache store {store!r} failed to {what} ({type(exc).__name__}: {str(exc)[:200]}); "
        "the call goes to the model instead",
    )  # fmt: skip


def _warn_once(store: CacheStore, kind: str, message: str) -> None:
    if _warned.first((id(store), kind)):
        warnings.warn(message, StratumWarning, stacklevel=3)
