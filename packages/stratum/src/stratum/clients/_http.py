"""A lean HTTP/1.1 client for one origin: keep-alive connections on asyncio's own transports.

``OpenAICompatible`` sends every request through ``Pool.post(body)``. Measured
on the project's benchmark machine, one request through ``httpx.AsyncClient``
costs about a millisecond of client CPU and one through ``httpcore`` alone
about 0.6 ms, against under 0.1 ms here: httpx's layers (request and response
models, anyio, h11, two writes per request) are most of a call's cost once
the model answers quickly. So the common path is this small one, and httpx
stays for what only it does (HTTP/2, proxies; see ``HttpxPool``).

What it does: one ``POST`` per exchange, head and body in one write;
responses framed by ``Content-Length``, chunked transfer coding or the end of
the connection; gzip/deflate bodies decoded (it never asks for them); at most
``max_connections`` connections, later requests waiting in FIFO order;
idle connections reused most-recent-first and dropped after
``keepalive_s``; a kept-alive connection the server had already closed
retried once on a fresh one (nothing was answered on it, so nothing was
lost). A request whose caller is cancelled aborts its connection at once, so
the server sees the hang-up. What it does not: pipelining, HTTP/2, proxies,
redirects, ``Expect: 100-continue`` (interim 1xx answers are skipped).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ConnectionClosed", "HttpxPool", "Pool", "ProtocolError", "Reply"]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    #: Header names in lower case; repeated headers joined with ", ".
    headers: Mapping[str, str]
    body: bytes


class ConnectionClosed(ConnectionError):
    """The connection ended before a whole reply arrived; ``answered``: some of one had."""

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered


class ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.x reply this client can read."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; ``exchange`` sends a request and waits for its reply."""

    __slots__ = (
        "_body", "_buffer", "_chunk_left", "_headers", "_keepalive", "_length", "_status", "_trailers", "_waiter",
        "closed", "idle_since", "transport", "used",
    )  # fmt: skip

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = 0  # replies received on it: a reused connection may be one the server closed meanwhile
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[Reply, bool]] | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._headers: dict[str, str] | None = None
        self._length = -1  # body bytes expected; -1: until the connection closes
        self._chunk_left = -1  # bytes left of the current chunk; -1: not chunked
        self._trailers = False
        self._keepalive = True
        self._body = bytearray()

    # -- asyncio.Protocol -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            done = self._parse()
        except ProtocolError as exc:
            waiter.set_exception(exc)
            return
        if done is not None:
            waiter.set_result(done)

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers is not None and self._length == -1 and self._chunk_left == -1:
            waiter.set_result((self._reply(bytes(self._buffer)), False))  # a body framed by the close itself
            return
        answered = self._headers is not None or bool(self._buffer)
        waiter.set_exception(ConnectionClosed("the server closed the connection", answered=answered))

    # -- one exchange -------------------------------------------------------------
    async def exchange(self, data: bytes) -> tuple[Reply, bool]:
        """Send ``data`` (a whole request); the reply, and whether the connection can be reused."""
        assert self.transport is not None
        self._reset()
        self._buffer.clear()
        waiter: asyncio.Future[tuple[Reply, bool]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self.transport.write(data)
        try:
            return await waiter
        finally:
            self._waiter = None
            self.used += 1

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing --------------------------------------------------------------------
    def _parse(self) -> tuple[Reply, bool] | None:
        buffer = self._buffer
        while self._headers is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise ProtocolError("the reply's head is too large")
                return None
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            self._start(head)
        if self._chunk_left >= 0 or self._trailers:
            if not self._chunks():
                return None
            body = bytes(self._body)
        elif self._length >= 0:
            if len(buffer) < self._length:
                return None
            body = bytes(buffer[: self._length])
            del buffer[: self._length]
        else:
            return None  # until the connection closes
        headers = self._headers
        assert headers is not None
        keep = "close" not in headers.get("connection", "").lower() and not buffer and self._keepalive
        return self._reply(body), keep

    def _start(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            return  # an interim answer: the real one follows
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"not a header line: {line[:80]!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self._status, self._headers = status, headers
        self._keepalive = parts[0] == "HTTP/1.1"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunk_left = 0
        elif "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError(f"bad content-length {headers['content-length']!r}") from None
            if not 0 <= self._length <= _MAX_BODY:
                raise ProtocolError(f"content-length {self._length} is out of bounds")
        elif status in (204, 304):
            self._length = 0
        else:
            self._keepalive = False  # framed by the close: this connection ends with the body

    def _chunks(self) -> bool:
        """Move whole chunks from the buffer to the body; True once the last chunk and trailers are in."""
        buffer = self._buffer
        while True:
            if self._trailers:
                if buffer[:2] == b"\r\n":  # no trailers
                    del buffer[:2]
                    return True
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return False
                del buffer[: end + 4]
                return True
            if self._chunk_left > 0:
                take = min(self._chunk_left, len(buffer))
                self._body += buffer[:take]
                del buffer[:take]
                self._chunk_left -= take
                if self._chunk_left:
                    return False
                if len(self._body) > _MAX_BODY:
                    raise ProtocolError("the reply's body is too large")
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return False
            line = bytes(buffer[:line_end])
            del buffer[: line_end + 2]
            if not line:  # the CRLF that ends a chunk's data
                continue
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None
            if size == 0:
                self._trailers = True
            else:
                self._chunk_left = size

    def _reply(self, body: bytes) -> Reply:
        headers = self._headers or {}
        coding = headers.get("content-encoding", "").lower()
        if coding in ("gzip", "deflate") and body:
            try:
                body = zlib.decompress(body, 47 if coding == "gzip" else 15)
            except zlib.error as exc:
                raise ProtocolError(f"the {coding} body does not decode: {exc}") from None
        return Reply(self._status, headers, body)


class Pool:
    """Keep-alive connections to one origin, at most ``max_connections`` open at once.

    Bound to the event loop it is first used on (asyncio transports are).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        head: bytes,
        ssl: Any = None,
        max_connections: int,
        keepalive_s: float,
    ) -> None:
        self._host, self._port, self._ssl = host, port, ssl
        self._head = head  # the request line and fixed headers, ending just before Content-Length
        self._max = max_connections
        self._keepalive_s = keepalive_s
        self._idle: list[_Connection] = []
        self._open = 0  # connections open, being opened, or promised to a waiter
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._closed = False

    async def post(self, body: bytes) -> Reply:
        data = b"%sContent-Length: %d\r\n\r\n%s" % (self._head, len(body), body)
        conn = await self._acquire()
        while True:
            try:
                reply, reusable = await conn.exchange(data)
            except ConnectionClosed as exc:
                self._discard(conn)
                if conn.used > 1 and not exc.answered:
                    # A kept-alive connection the server had closed before reading this request.
                    conn = await self._acquire(fresh=True)
                    continue
                raise
            except BaseException:
                self._discard(conn)  # cancelled or failed mid-exchange: the connection's state is unknown
                raise
            if reusable and not self._closed:
                self._hand_on(conn)
            else:
                self._discard(conn)
            return reply

    async def aclose(self) -> None:
        self.abandon()

    def abandon(self) -> None:
        """Close the idle connections now; those in use close when their exchange ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):  # a transport of a loop already closed
                conn.abort()
        self._open -= len(idle)

    # -- the pool's bookkeeping -------------------------------------------------
    async def _acquire(self, *, fresh: bool = False) -> _Connection:
        loop = asyncio.get_running_loop()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if not conn.closed and loop.time() - conn.idle_since < self._keepalive_s:
                return conn
            conn.abort()
            self._free_slot()
        if self._open < self._max:
            self._open += 1
            return await self._connect()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            conn_or_slot = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed something just as the caller was cancelled
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                else:
                    self._hand_on(handed)
            raise
        if conn_or_slot is not None:
            return conn_or_slot
        return await self._connect()  # a slot was handed over: open a connection in it

    async def _connect(self) -> _Connection:
        """A new connection in a slot already counted in ``_open``."""
        loop = asyncio.get_running_loop()
        try:
            _transport, conn = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._ssl,
                server_hostname=self._host if self._ssl else None,
            )  # fmt: skip
        except BaseException:
            self._free_slot()
            raise
        return conn

    def _hand_on(self, conn: _Connection) -> None:
        """A live connection: to the first waiter, else to the idle stack."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = asyncio.get_running_loop().time()
        self._idle.append(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.abort()
        self._free_slot()

    def _free_slot(self) -> None:
        """A connection slot is free: the first waiter may open a connection in it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._open -= 1


class HttpxPool:
    """The same ``post(body)`` over one shared ``httpx.AsyncClient``: HTTP/2 and proxies."""

    def __init__(
        self, url: str, *, headers: Mapping[str, str], ssl: Any, max_connections: int, keepalive_s: float, http2: bool
    ) -> None:
        import httpx  # deferred: only this path needs it

        self._httpx = httpx
        self._url = httpx.URL(url)
        self._headers = dict(headers)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=keepalive_s
        )
        # No timeout here: the client's own asyncio.timeout covers the whole exchange.
        self._client = httpx.AsyncClient(limits=limits, http2=http2, timeout=None, verify=ssl or True)

    async def post(self, body: bytes) -> Reply:
        httpx = self._httpx
        try:
            response = await self._client.post(self._url, content=body, headers=self._headers)
        except httpx.RemoteProtocolError as exc:
            raise ConnectionClosed(str(exc), answered=False) from exc
        except httpx.TransportError as exc:
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()

    def abandon(self) -> None:
        """Forget the client: its connections belong to a loop that is gone (nothing can be awaited there)."""
