"""A real OTLP/HTTP JSON receiver on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/traces`` from a thread, keeps every request, and can
be scripted to fail, so exporter behaviour (batching, retries, shutdown) is
checked against real HTTP::

    with LocalOTLPReceiver([Answer(status=503)]) as receiver:
        stratum.configure(tracer=stratum.exporters.otel(receiver.endpoint))
        ...
        spans = receiver.wait_for_spans(3, timeout_s=5)

Each request takes the next scripted ``Answer`` (default: 200 with an empty
JSON object). ``spans()`` flattens every span received so far.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Answer", "LocalOTLPReceiver", "Received"]

_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    _: KW_ONLY
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


class LocalOTLPReceiver:
    def __init__(self, answers: Iterable[Answer] = (), *, max_requests_kept: int = 10_000) -> None:
        self._answers: collections.deque[Answer] = collections.deque(answers)
        self.requests: collections.deque[Received] = collections.deque(maxlen=max_requests_kept)
        self._cv = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """The base URL an exporter is given (it appends ``/v1/traces``)."""
        return f"http://127.0.0.1:{self.port}"

    def push(self, *answers: Answer) -> None:
        with self._cv:
            self._answers.extend(answers)

    def start(self) -> LocalOTLPReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle's
            # algorithm and delayed ACKs add ~40 ms to every answer.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > _MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length)
                answer = receiver._next()
                if answer.delay_s:
                    receiver._stopping.wait(answer.delay_s)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._cv:
                    receiver.requests.append(Received(
                        path=self.path, headers=headers, body=body, status=answer.status, received_at=time.monotonic()
                    ))
                    receiver._cv.notify_all()
                payload = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read ``requests`` instead

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="local-otlp-receiver", daemon=True
        )
        self._thread.start()
        return self

    def release(self) -> None:
        """Answer every delayed request now (and later ones without delay)."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> LocalOTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self) -> Answer:
        with self._cv:
            return self._answers.popleft() if self._answers else Answer()

    # -- reading what arrived ---------------------------------------------------
    def accepted(self) -> list[Received]:
        """Requests answered with a 2xx status."""
        with self._cv:
            return [r for r in self.requests if r.status < 300]

    def spans(self) -> list[dict[str, Any]]:
        """Every span in every accepted request, in arrival order."""
        out: list[dict[str, Any]] = []
        for request in self.accepted():
            for resource in request.json().get("resourceSpans", []):
                for scope in resource.get("scopeSpans", []):
                    out.extend(scope.get("spans", []))
        return out

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        """Wait (bounded) until ``count`` requests arrived; return them all."""
        with self._cv:
            if not self._cv.wait_for(lambda: len(self.requests) >= count, timeout_s):
                raise TimeoutError(f"{len(self.requests)} of {count} OTLP request(s) arrived within {timeout_s}s")
            return list(self.requests)

    def wait_for_spans(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """Wait (bounded) until ``count`` spans were accepted; return them all."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while True:
                spans = self.spans()  # the condition's lock is re-entrant
                if len(spans) >= count:
                    return spans
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(spans)} of {count} span(s) arrived within {timeout_s}s")
                self._cv.wait(left)
