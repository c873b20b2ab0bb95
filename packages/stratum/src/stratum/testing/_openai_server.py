"""A real OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It runs its own event loop in a background thread, so it serves while the
test's loop is busy or blocked. Point LiteLLM at it with
``api_base=server.url`` and a ``model="openai/<name>"``::

    with LocalOpenAIServer([{"label": "positive"}, Served(status=429)]) as server:
        client = LiteLLMClient(api_base=server.url, api_key="test")

Each request takes the next scripted item (or calls ``respond(body)``). An
item is a dict/list (the assistant's JSON content), a str (content
verbatim), or a ``Served`` describing status, headers, delay, a whole body or a dropped
connection. Every parsed request body is kept in ``requests``.

``in_flight`` / ``max_in_flight`` count chat completions being answered
(now, and at most at once); ``abandoned`` counts those whose client hung up
first; ``connections`` counts the TCP connections accepted. ``hold()``
keeps requests waiting until ``release()`` (both safe from any thread), so a
test can see N requests in flight at once without relying on a delay::

    server.hold()
    running = asyncio.create_task(parallel(*calls))
    ...                                  # wait (bounded) until server.in_flight == len(calls)
    server.release()
    await running
    assert server.max_in_flight == len(calls)
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

__all__ = ["LocalOpenAIServer", "Served"]

_MAX_BODY = 8 * 1024 * 1024
_MAX_HEADER_LINES = 100
_SHORT_DELAY_S = 1.0


@dataclass(frozen=True, slots=True)
class Served:
    """How the server answers one request."""

    content: Any = None
    _: KW_ONLY
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str = "scripted error"
    delay_s: float = 0.0
    #: Close the connection without answering (a reset as the client sees it).
    drop: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: The whole response body, sent as it is instead of a completion built
    #: from ``content`` (a provider's malformed reply: ``{"choices": []}``).
    body: Any = None


class LocalOpenAIServer:
    def __init__(
        self,
        responses: Iterable[Any] = (),
        *,
        respond: Callable[[dict[str, Any]], Any] | None = None,
        max_requests_kept: int = 10_000,
        backlog: int = 4096,
    ) -> None:
        self._queue: collections.deque[Any] = collections.deque(responses)
        #: Answers a request body when the queue is empty; a test may replace it.
        self.respond = respond
        self.requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_requests_kept)
        #: Requests whose client hung up before the (delayed) answer was sent.
        self.abandoned = 0
        #: Requests answered (counted as the answer is written).
        self.answered = 0
        #: TCP connections accepted: requests over fewer connections were kept alive.
        self.connections = 0
        # Accept queue length: thousands of clients connecting at once must not wait on SYN retries.
        self._backlog = backlog
        # The counters below are changed on the server's thread and read on the
        # test's: a lock keeps in_flight and max_in_flight consistent together.
        self._lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight = 0
        self._gate: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- lifecycle ------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *responses: Any) -> None:
        self._queue.extend(responses)

    @property
    def in_flight(self) -> int:
        """Chat completion requests received and not yet answered (or abandoned by their client)."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most chat completion requests that were in flight at once."""
        with self._lock:
            return self._max_in_flight

    def hold(self) -> None:
        """Keep every request from now on waiting, in flight, until ``release()``."""
        with self._lock:
            if self._gate is None:
                self._gate = asyncio.Event()

    def release(self) -> None:
        """Let the held requests go on to their answers; later requests are not held."""
        with self._lock:
            gate, self._gate = self._gate, None
            loop = self._loop
        if gate is None:
            return
        if loop is None or loop.is_closed():
            gate.set()  # no server loop: nobody can be waiting on it
        else:
            loop.call_soon_threadsafe(gate.set)  # an asyncio.Event is set on its own loop

    def start(self) -> LocalOpenAIServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                serving = asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=self._backlog)
                self._server = loop.run_until_complete(serving)
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="local-openai-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("LocalOpenAIServer did not start within 10 s")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> LocalOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            # Server shutdown: end quietly so the stream protocol logs nothing.
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")  # one read for the whole head: thousands of clients at once
        except asyncio.IncompleteReadError as exc:
            if not exc.partial.strip():
                return False  # the client closed a kept-alive connection between requests
            raise
        except asyncio.LimitOverrunError:
            raise ValueError("request head too large") from None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        if len(lines) > _MAX_HEADER_LINES + 3:
            raise ValueError("too many header lines")
        headers: dict[str, str] = {}
        for raw in lines[1:]:
            if not raw:
                continue
            key, _, value = raw.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        body = await reader.readexactly(length) if length else b""
        if method == "GET" and path.rstrip("/").endswith("/models"):
            await self._write(writer, 200, {"object": "list", "data": []}, {})
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await self._write(writer, 404, {"error": {"message": f"no route {method} {path}"}}, {})
            return True
        request = json.loads(body or b"{}")
        self.requests.append(request)
        served = self._next(request)
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            gate = self._gate
        try:
            stayed = await self._wait_to_answer(reader, served, gate)
        finally:
            # Settled before the client can see the outcome: a test reading the
            # counters once its call has returned finds them up to date.
            with self._lock:
                self._in_flight -= 1
        if not stayed:
            self.abandoned += 1
            return False
        if served.drop:
            writer.transport.abort()
            return False
        if served.status >= 400:
            payload: dict[str, Any] = {"error": {"message": served.error, "type": "scripted", "code": served.status}}
        elif served.body is not None:
            payload = served.body
        else:
            payload = self._completion(request, served)
        self.answered += 1
        await self._write(writer, served.status, payload, served.headers)
        return True

    async def _wait_to_answer(self, reader: asyncio.StreamReader, served: Served, gate: asyncio.Event | None) -> bool:
        """Wait out a hold and the scripted delay; False if the client hung up meanwhile."""
        if gate is not None and await self._client_left(reader, gate.wait()):
            return False
        return not (served.delay_s and await self._left_within(reader, served.delay_s))

    async def _left_within(self, reader: asyncio.StreamReader, delay_s: float) -> bool:
        """Wait ``delay_s``; True if the client closed the connection first. No thread: cheap at 10,000.

        A delay of up to ``_SHORT_DELAY_S`` is slept whole and the connection looked at afterwards
        (the stream buffers a hang-up meanwhile): ten thousand at once then cost a timer each. A
        longer one is watched as it runs, so a hang-up is counted in ``abandoned`` at once.
        """
        if delay_s <= _SHORT_DELAY_S:
            await asyncio.sleep(delay_s)
            return reader.at_eof() or reader.exception() is not None
        hangup = asyncio.ensure_future(reader.read(1))
        try:
            done, _ = await asyncio.wait((hangup,), timeout=delay_s)
        finally:
            if not hangup.done():
                hangup.cancel()
                # The read must have unwound before the connection's next request is read.
                await asyncio.wait((hangup,))
        return bool(done) and not hangup.cancelled() and hangup.result() == b""

    async def _client_left(self, reader: asyncio.StreamReader, waiting: Awaitable[Any]) -> bool:
        """Wait for ``waiting`` (a delay, a hold); True if the client closed the connection first."""
        hangup = asyncio.ensure_future(reader.read(1))
        done = asyncio.ensure_future(waiting)
        try:
            await asyncio.wait((hangup, done), return_when=asyncio.FIRST_COMPLETED)
        finally:
            hangup.cancel()
            done.cancel()
            # The read must have unwound before the connection's next readline().
            await asyncio.wait((hangup, done))
        return not hangup.cancelled() and hangup.result() == b""

    def _next(self, request: dict[str, Any]) -> Served:
        if self._queue:
            item = self._queue.popleft()
        elif self.respond is not None:
            item = self.respond(request)
        else:
            return Served(status=500, error="LocalOpenAIServer: no response scripted")
        return item if isinstance(item, Served) else Served(content=item)

    def _completion(self, request: dict[str, Any], served: Served) -> dict[str, Any]:
        content = served.content
        if content is not None and not isinstance(content, str):
            content = json.dumps(content)
        prompt_tokens = served.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = max(1, len(json.dumps(request.get("messages", []))) // 4)
        completion_tokens = served.completion_tokens
        if completion_tokens is None:
            completion_tokens = max(1, len(content or "") // 4)
        return {
            "id": f"chatcmpl-{self.answered + 1}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "unknown"),
            # Sent by OpenAI (and Groq) on every completion; LiteLLM's Groq path reads it unconditionally.
            "service_tier": "default",
            "system_fingerprint": "fp_local",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def _write(
        self, writer: asyncio.StreamWriter, status: int, payload: Any, headers: Mapping[str, str]
    ) -> None:
        data = json.dumps(payload).encode()
        reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Status")
        head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()
