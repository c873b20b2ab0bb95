"""MCP over stdio: the server's own thin transport around the SDK's server loop, and how it stops.

The SDK's server loop (``Server.run``) reads parsed messages from one stream and
writes messages to another; this module feeds both from the process's stdin
and stdout. It does what the SDK's stdio transport does (one JSON-RPC message
per line; file descriptors 0 and 1 pointed at the null device and stderr while
serving, so a stray read or print cannot touch the protocol), and three
things it does not:

* **Every request gets an answer.** A line the SDK cannot parse used to be
  dropped, leaving the client waiting for its own timeout. Some of those lines
  are valid JSON that the SDK's parser refuses (a lone surrogate such as
  ``"\\ud800"``, an integer of more than 4,300 digits, nesting deeper than about
  200 levels). Such a request is answered with a JSON-RPC parse error
  (-32700) carrying its ``id`` when the id can be read, so the client's call
  fails at once; a line that is not JSON at all gets -32700 with a null id,
  and JSON that is not a JSON-RPC message -32600. Notifications and responses
  are never answered, as JSON-RPC requires.
* **Stdin is read in a daemon thread**, not an anyio worker: a blocked read of
  an open stdin can then be abandoned, so SIGINT and SIGTERM stop the server
  at once instead of when the client closes the pipe.
* **SIGINT and SIGTERM stop it quietly**: the server loop is cancelled, calls
  still running get a short grace period, and :func:`serve` returns the exit
  status (130 after SIGINT, 0 after SIGTERM or end of input). Every answer
  already sent was persisted before it was sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import threading
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import mcp_types
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from stratum_mcp._config import ServerConfig
from stratum_mcp.tools._server import ToolRunner, build_server

__all__ = ["serve"]

log = logging.getLogger("stratum_mcp")

#: A request line longer than this is refused unread: the largest real one (a spec plus a 1 MiB result,
#: JSON-escaped) is well below it.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: How long calls still running at shutdown may take to finish before they are abandoned.
SHUTDOWN_GRACE_SECONDS = 0.5
_PARSE_ERROR = -32700
_INVALID_REQUEST = -32600
_READ_CHUNK = 64 * 1024


def serve(config: ServerConfig) -> int:
    """Serve MCP over stdio until the client closes stdin or a SIGINT/SIGTERM arrives; return the exit status.

    The store is closed before returning, unless a call was still running
    after the grace period (then the process is expected to exit).
    """
    with _Wire() as wire, ToolRunner(config) as tools:
        server = build_server(config, tools=tools)
        status = anyio.run(_serve, server, wire)
        wire.drain()
        left = tools.close(grace=SHUTDOWN_GRACE_SECONDS)
        if left:
            log.warning("stratum-mcp: stopped with %d tool call(s) still running; they were abandoned", left)
    return status


async def _serve(server: Any, wire: _Wire) -> int:
    stopped_by: list[int] = []
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    async with anyio.create_task_group() as group:
        group.start_soon(_watch_signals, group.cancel_scope, stopped_by)
        wire.start_reading(read_send, anyio.lowlevel.current_token())
        await server.run(read_receive, wire.writer(), server.create_initialization_options())
        group.cancel_scope.cancel()  # end of input: stop watching for signals
    return 130 if stopped_by == [signal.SIGINT] else 0


async def _watch_signals(scope: anyio.CancelScope, stopped_by: list[int]) -> None:
    try:
        receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
    except NotImplementedError:  # Windows: Ctrl+C stays a KeyboardInterrupt, which the CLI turns into 130
        return
    with receiver as signals:
        async for received in signals:
            stopped_by.append(received)
            scope.cancel()
            return


class _Wire:
    """The process's stdin and stdout, claimed for the protocol while serving."""

    def __init__(self) -> None:
        self._out: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    def __enter__(self) -> _Wire:
        # Private duplicates carry the protocol. They are never closed: an abandoned reader thread may
        # still be blocked on one, and a recycled descriptor number would hand it someone else's file.
        self.stdin = os.dup(0)
        self.stdout = os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        self._writer = threading.Thread(target=self._write_lines, name="stratum stdout", daemon=True)
        self._writer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.drain()
        with contextlib.suppress(OSError):
            os.dup2(self.stdout, 1)
            os.dup2(self.stdin, 0)

    # --- writing: one daemon thread, fed in order, so a client that stops reading cannot block a stop

    def writer(self) -> _LineWriter:
        return _LineWriter(self._out)

    def drain(self, timeout: float = 0.25) -> None:
        """Let the writer send what is queued (at most ``timeout`` seconds), then stop it."""
        if self._writer is not None:
            self._out.put(None)
            self._writer.join(timeout)
            self._writer = None

    def _write_lines(self) -> None:
        while (data := self._out.get()) is not None:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.stdout, view):]
            except OSError:
                return  # the client closed its end

    # --- reading: a daemon thread that parses each line and either passes it on or answers it

    def start_reading(self, messages: Any, token: anyio.lowlevel.EventLoopToken) -> None:
        def deliver(item: Callable[[], Any]) -> bool:
            try:
                anyio.from_thread.run(item, token=token)
            except Exception:
                return False  # the server loop has ended
            return True

        def read() -> None:
            try:
                for line in _lines(self.stdin):
                    message = self._parse(line)
                    if message is not None and not deliver(partial(messages.send, message)):
                        return
            finally:
                deliver(messages.aclose)

        threading.Thread(target=read, name="stratum stdin", daemon=True).start()

    def _parse(self, line: bytes | None) -> SessionMessage | None:
        """The message on ``line``; ``None`` after answering (or ignoring) a line that holds none."""
        if line is None:
            self._reply(None, _PARSE_ERROR, f"Parse error: the request is longer than {MAX_LINE_BYTES} bytes")
            return None
        text = line.decode("utf-8", errors="replace")
        if not text.strip():
            return None
        try:
            return SessionMessage(mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False))
        except ValidationError as exc:
            self._refuse(text, exc)
        return None

    def _refuse(self, text: str, error: ValidationError) -> None:
        unreadable = any(e["type"] == "json_invalid" for e in error.errors())
        reason = str(error.errors()[0]["msg"])[:200]
        data = _loose_json(text)
        log.warning("stratum-mcp: could not read a message (%s)", reason)
        if isinstance(data, dict):
            if "method" not in data and ("result" in data or "error" in data):
                return  # a response the SDK cannot read: nothing to answer
            if "method" in data and "id" not in data:
                return  # a notification: never answered
        if unreadable:
            self._reply(_request_id(data), _PARSE_ERROR, f"Parse error: the server cannot read this JSON: {reason}")
        else:
            self._reply(_request_id(data), _INVALID_REQUEST, f"Invalid Request: {reason}")

    def _reply(self, request_id: str | int | None, code: int, message: str) -> None:
        error = mcp_types.JSONRPCError(jsonrpc="2.0", id=request_id,
                                       error=mcp_types.ErrorData(code=code, message=message))
        self._out.put(error.model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8") + b"\n")


class _LineWriter:
    """The write side the SDK's server loop sends to: each message becomes one line on stdout."""

    def __init__(self, out: queue.SimpleQueue[bytes | None]) -> None:
        self._out = out
        self._closed = False

    async def send(self, item: SessionMessage, /) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
        self._out.put(data.encode("utf-8") + b"\n")

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> _LineWriter:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


def _lines(fd: int) -> Any:
    """Each line read from ``fd`` without its newline; ``None`` for a line over the bound (which is skipped)."""
    pending = bytearray()
    skipping = False
    while True:
        try:
            chunk = os.read(fd, _READ_CHUNK)
        except OSError:
            chunk = b""
        if not chunk:
            if pending and not skipping:
                yield bytes(pending)
            return
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if not skipping:
                pending += chunk[start:end]
                yield bytes(pending) if len(pending) <= MAX_LINE_BYTES else None
            pending.clear()
            skipping = False
            start = end + 1
        if not skipping:
            pending += chunk[start:]
            if len(pending) > MAX_LINE_BYTES:
                yield None
                pending.clear()
                skipping = True


class _BigInt(str):
    """An integer too long for Python to convert, kept as its digits."""


def _loose_json(text: str) -> Any:
    """``text`` parsed by Python's own JSON reader, which takes what the SDK's refuses; ``None`` if it cannot."""
    try:
        return json.loads(text, parse_int=lambda digits: int(digits) if len(digits) <= 4000 else _BigInt(digits))
    except (ValueError, RecursionError):
        return None


def _request_id(data: Any) -> str | int | None:
    """The request's id when it is one the answer can carry back; ``None`` otherwise."""
    if not isinstance(data, dict):
        return None
    value = data.get("id")
    if isinstance(value, bool | _BigInt):
        return None
    if isinstance(value, int) and abs(value) < 2**63:
        return value
    if isinstance(value, str) and len(value) <= 200:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot be written back
            return None
        return value
    return None
