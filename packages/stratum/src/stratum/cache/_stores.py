"""Where cached results live: SQLite (default) or Redis for ``cache="global"``, memory for a session.

A store is any object with three async methods over opaque bytes::

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes) -> None: ...
    async def delete(self, key: str) -> None: ...

Pick one with ``configure(cache_store=...)``::

    stratum.configure(cache_store=SQLiteCacheStore("/var/cache/app/stratum.sqlite3", ttl_s=86_400))
    stratum.configure(cache_store=RedisCacheStore("redis://cache:6379/0", ttl_s=3600))

With none configured, a ``SQLiteCacheStore`` is opened on first use at
``$STRATUM_CACHE_DIR/cache.sqlite3`` (``.stratum/`` in the working directory
when the variable is unset). A store whose entries end with the process
says so with ``persistent = False`` (``SQLiteCacheStore(":memory:")`` does):
``cache="global"`` on it warns once per function.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ..exceptions import StratumConfigError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "CacheStore",
    "RedisCacheStore",
    "SQLiteCacheStore",
    "SessionStore",
    "default_cache_dir",
    "default_store",
    "time_limit",
]

T = TypeVar("T")


@runtime_checkable
class CacheStore(Protocol):
    """Three async methods over opaque bytes; see the module docstring."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes) -> None: ...
    async def delete(self, key: str) -> None: ...


# Seconds the store operation about to run may take, set by the caller (the
# caching layer, from the call's time budget). A store working on another
# thread cannot be cancelled from the loop; it reads this to give up in time
# on its own, instead of holding its thread after the caller stopped waiting.
_time_limit: contextvars.ContextVar[float | None] = contextvars.ContextVar("stratum_cache_time_limit", default=None)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Operations started inside this block should give up after ``seconds``."""
    token = _time_limit.set(seconds)
    try:
        yield
    finally:
        _time_limit.reset(token)


def _check_ttl(ttl_s: float | None) -> None:
    if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or ttl_s <= 0):
        raise ValueError(f"ttl_s must be a positive number of seconds or None, got {ttl_s!r}")


def default_cache_dir() -> Path:
    """``$STRATUM_CACHE_DIR``, or ``.stratum`` under the working directory."""
    return Path(os.environ.get("STRATUM_CACHE_DIR") or ".stratum").resolve()


_defaults: dict[Path, SQLiteCacheStore] = {}
_defaults_lock = threading.Lock()


def default_store() -> SQLiteCacheStore:
    """The SQLite store in the default cache directory (one per directory and process)."""
    path = default_cache_dir() / "cache.sqlite3"
    with _defaults_lock:
        store = _defaults.get(path)
        if store is None:
            if len(_defaults) >= 16:  # bounded: the directory rarely changes within a process
                _defaults.pop(next(iter(_defaults)))
            store = _defaults[path] = SQLiteCacheStore(path)
        return store


class SQLiteCacheStore:
    """An embedded store: one SQLite file, safe for several processes at once.

    The database runs in WAL mode, so readers never wait for a writer and
    writers wait for each other at most ``timeout_s``, or less when the call
    has less time left (see ``configure(cache_timeout_s=...)``). Queries run
    on one worker thread per store, off the event loop. Entries expire after
    ``ttl_s`` (None: never); beyond ``max_entries`` the oldest are removed.

    >>> store = SQLiteCacheStore(".stratum/cache.sqlite3", ttl_s=86_400)
    """

    _SWEEP_EVERY = 256

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        ttl_s: float | None = None,
        max_entries: int = 100_000,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_ttl(ttl_s)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be an int >= 1, got {max_entries!r}")
        self.path = Path(path) if path is not None else default_cache_dir() / "cache.sqlite3"
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pid = -1
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Any = None
        self._writes = 0

    def __repr__(self) -> str:
        return f"SQLiteCacheStore({str(self.path)!r})"

    @property
    def persistent(self) -> bool:
        """False for ``SQLiteCacheStore(":memory:")``, whose entries end with the process."""
        return str(self.path) != ":memory:"

    async def get(self, key: str) -> bytes | None:
        return await self._run(self._get, key)

    async def set(self, key: str, value: bytes) -> None:
        await self._run(self._set, key, value)

    async def delete(self, key: str) -> None:
        await self._run(self._delete, key)

    def close(self) -> None:
        """Close the connection and stop the worker thread (reopened on next use)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.submit(self._close_connection).result()
            executor.shutdown(wait=True)

    # -- worker thread ------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        limit = _time_limit.get()
        deadline = None if limit is None else time.monotonic() + limit
        return await asyncio.get_running_loop().run_in_executor(self._worker(), self._within, deadline, fn, args)

    def _within(self, deadline: float | None, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``fn`` on the worker thread, waiting for another writer's lock no later than ``deadline``."""
        wait_s = self._timeout_s
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:  # queued behind a slow operation until the caller stopped waiting
                raise TimeoutError("the cache operation's time ran out before it started")
            wait_s = min(wait_s, left)
        import sqlite3

        try:
            conn = self._connection(wait_s)
            conn.execute(f"PRAGMA busy_timeout = {max(1, int(wait_s * 1000))}")
            return fn(*args)
        except sqlite3.OperationalError as exc:
            # Another connection held the lock for all the time this operation had.
            if deadline is not None and time.monotonic() >= deadline and "locked" in str(exc):
                raise TimeoutError("the cache operation's time ran out waiting for a lock") from exc
            raise

    def _worker(self) -> ThreadPoolExecutor:
        with self._lock:
            # After a fork the parent's thread and connection do not exist here.
            if self._executor is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._conn = None
                from concurrent.futures import ThreadPoolExecutor  # deferred: import stratum stays cheap

                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stratum-cache-sqlite")
            return self._executor

    def _connection(self, wait_s: float | None = None) -> Any:
        if self._conn is None:
            import sqlite3  # deferred: most programs never use the global cache

            wait_s = self._timeout_s if wait_s is None else wait_s
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=wait_s, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {max(1, int(wait_s * 1000))}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS stratum_cache ("
                    "key TEXT PRIMARY KEY, value BLOB NOT NULL, created_at REAL NOT NULL, expires_at REAL)"
                )
                conn.execute("CREATE INDEX IF NOT EXISTS stratum_cache_created ON stratum_cache (created_at)")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _get(self, key: str) -> bytes | None:
        row = self._connection().execute(
            "SELECT value, expires_at FROM stratum_cache WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        value, expires_at = row
        if expires_at is not None and expires_at <= self._clock():
            return None
        return bytes(value)

    def _set(self, key: str, value: bytes) -> None:
        now = self._clock()
        expires = now + self.ttl_s if self.ttl_s is not None else None
        conn = self._connection()
        conn.execute(
            "INSERT OR REPLACE INTO stratum_cache (key, value, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (key, value, now, expires),
        )
        self._writes += 1
        # First write of each process too: short-lived processes must not grow the file forever.
        if (self._writes - 1) % self._SWEEP_EVERY == 0:
            self._sweep(conn, now)

    def _sweep(self, conn: Any, now: float) -> None:
        conn.execute("DELETE FROM stratum_cache WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        (count,) = conn.execute("SELECT COUNT(*) FROM stratum_cache").fetchone()
        if count > self.max_entries:
            conn.execute(
                "DELETE FROM stratum_cache WHERE key IN "
                "(SELECT key FROM stratum_cache ORDER BY created_at ASC LIMIT ?)",
                (count - self.max_entries,),
            )

    def _delete(self, key: str) -> None:
        self._connection().execute("DELETE FROM stratum_cache WHERE key = ?", (key,))


class RedisCacheStore:
    """A shared store for several processes and machines (``pip install 'stratum-py[redis]'``).

    Keys are ``prefix + key``; with ``ttl_s`` set Redis expires them itself.
    Each event loop gets its own connection pool of at most
    ``max_connections``; a Redis that does not answer within ``timeout_s`` (or the
    call's shorter cache time limit, ``configure(cache_timeout_s=...)``)
    makes the call a cache miss, not a failure.

    >>> store = RedisCacheStore("redis://127.0.0.1:6379/0", ttl_s=3600)
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        ttl_s: float | None = None,
        prefix: str = "stratum:cache:",
        timeout_s: float = 1.0,
        max_connections: int = 32,
    ) -> None:
        import importlib.util

        if importlib.util.find_spec("redis") is None:
            raise StratumConfigError("RedisCacheStore needs the redis package: pip install 'stratum-py[redis]'")
        _check_ttl(ttl_s)
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {url!r}")
        self.url = url
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        # redis.asyncio connections belong to the loop that opened them.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"RedisCacheStore({self.url!r})"

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import redis.asyncio as aioredis  # deferred: an optional extra

            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self._max_connections,
                timeout=self._timeout_s,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
            )
            client = self._clients[loop] = aioredis.Redis(connection_pool=pool)
        return client

    async def get(self, key: str) -> bytes | None:
        value = await self._client().get(self.prefix + key)
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes) -> None:
        px = None if self.ttl_s is None else max(1, int(self.ttl_s * 1000))
        await self._client().set(self.prefix + key, value, px=px)

    async def delete(self, key: str) -> None:
        await self._client().delete(self.prefix + key)

    async def aclose(self) -> None:
        """Close this event loop's connections."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose(close_connection_pool=True)


class SessionStore:
    """A flow scope's memo as a store: bounded, least recently used dropped."""

    def __init__(self, memo: OrderedDict[str, bytes], limit: int) -> None:
        self._memo = memo
        self._limit = limit

    async def get(self, key: str) -> bytes | None:
        raw = self._memo.get(key)
        if raw is not None:
            self._memo.move_to_end(key)
        return raw

    async def set(self, key: str, value: bytes) -> None:
        self._memo[key] = value
        self._memo.move_to_end(key)
        while len(self._memo) > self._limit:
            self._memo.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._memo.pop(key, None)
