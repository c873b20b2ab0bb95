"""A small OTLP/HTTP JSON span exporter: a bounded queue and one sender thread.

``export(span)`` only appends to a bounded queue (when full, the oldest span
is dropped and counted) and returns. A daemon thread takes batches of up to
``max_batch_size`` spans, every ``flush_interval_s`` or as soon as a batch
is full, and POSTs them to ``<endpoint>/v1/traces``. Sending never happens
on the caller's thread or event loop, and nothing it does raises into user
code: problems are counted in ``stats()`` and logged on the
``stratum.exporters.otlp`` logger.

Failed sends are retried with exponential backoff and full jitter on 429,
5xx (except 501 and 505) and connection errors, honouring ``Retry-After``
up to ``retry_max_s``, for at most ``max_retry_s`` per batch. Any other status (400, 401, 403,
404, 413...) is permanent: the batch is dropped with one warning per status.
``shutdown()`` (run at interpreter exit, and by ``stratum.shutdown()``)
sends what is queued within its deadline, then stops.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._retry import pause, retry_after
from ...exceptions import StratumConfigError
from ..spans import SpanData
from .encoding import encode_request, resource_attributes

__all__ = ["ExportStats", "OTLPExporter", "shutdown_all"]

# The logger keeps the name it is documented under (docs/observability.md).
log = logging.getLogger("stratum.exporters.otlp")

_PERMANENT_5XX = frozenset({501, 505})
_live: weakref.WeakSet[OTLPExporter] = weakref.WeakSet()
_exit_hook_lock = threading.Lock()
_exit_hook_registered = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportStats:
    """Counters of one exporter since it was created."""

    #: spans waiting in the queue now
    queued: int
    #: spans the receiver accepted
    exported: int
    #: oldest spans pushed out of a full queue
    dropped_queue_full: int
    #: spans in batches given up on (permanent error, retries exhausted, shutdown deadline)
    dropped_failed: int
    #: spans handed over after shutdown
    dropped_after_shutdown: int
    #: spans the receiver reported as rejected in a partial success
    rejected: int
    #: POST attempts that were retried
    retries: int

    @property
    def dropped(self) -> int:
        return self.dropped_queue_full + self.dropped_failed + self.dropped_after_shutdown


class _Permanent(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class OTLPExporter:
    """Batches finished spans and POSTs them as OTLP/HTTP JSON.

    Usually built with ``stratum.exporters.otel(...)``::

        exporter = OTLPExporter("http://localhost:4318", service_name="tickets")
        stratum.configure(tracer=exporter)
    """

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        service_name: str = "stratum",
        *,
        resource: Mapping[str, Any] | None = None,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        flush_interval_s: float = 1.0,
        timeout_s: float = 10.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        max_retry_s: float = 60.0,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        for name, number in (
            ("flush_interval_s", flush_interval_s), ("timeout_s", timeout_s), ("retry_initial_s", retry_initial_s),
            ("retry_max_s", retry_max_s), ("max_retry_s", max_retry_s), ("shutdown_timeout_s", shutdown_timeout_s),
        ):  # fmt: skip
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not number > 0:
                raise ValueError(f"{name} must be a positive number, got {number!r}")
        if not (isinstance(max_queue_size, int) and max_queue_size >= 1):
            raise ValueError(f"max_queue_size must be an int >= 1, got {max_queue_size!r}")
        if not (isinstance(max_batch_size, int) and max_batch_size >= 1):
            raise ValueError(f"max_batch_size must be an int >= 1, got {max_batch_size!r}")
        _refuse_grpc_port(endpoint)
        self.url = endpoint
        self._headers = {"Content-Type": "application/json", **dict(headers or {})}
        self._resource = resource_attributes(service_name, resource)
        self._max_queue = max_queue_size
        self._max_batch = max_batch_size
        self._interval = flush_interval_s
        self._timeout = timeout_s
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._max_retry = max_retry_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self._reset_state()
        self._exported = self._dropped_queue = self._dropped_failed = self._dropped_closed = 0
        self._rejected = self._retries = 0
        self._warned: set[str] = set()
        # Imported and built here, on the configuring thread, not in the sender
        # thread: a fork must never copy a half-imported module into the child.
        import httpx

        self._httpx = httpx
        self._client: Any = self._new_client()
        _live.add(self)
        _register_exit_hook()

    def _reset_state(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._queue: collections.deque[SpanData] = collections.deque()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._deadline: float | None = None
        self._accepted = 0  # spans ever queued
        self._settled = 0  # spans that left: sent, or dropped for any reason
        self._flush_to = 0  # send without waiting for the interval until settled reaches this

    def __repr__(self) -> str:
        return f"OTLPExporter({self.url!r})"

    # -- caller side ----------------------------------------------------------
    def export(self, span: SpanData) -> None:
        """Queue a finished span; never blocks on the network, never raises."""
        with self._cv:
            if self._closed:
                self._dropped_closed += 1
                return
            if self._thread is None:
                self._start()
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self._dropped_queue += 1
                self._settled += 1
            self._queue.append(span)
            self._accepted += 1
            # Wake the sender when a batch starts (its interval begins) or fills up.
            if len(self._queue) == 1 or len(self._queue) == self._max_batch:
                self._cv.notify_all()  # flush() callers wait on the same condition

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Send everything queued so far; True if all of it was delivered within ``timeout_s``."""
        with self._cv:
            target, dropped = self._accepted, self._dropped_queue + self._dropped_failed
            self._flush_to = max(self._flush_to, target)
            self._cv.notify_all()
            settled = self._cv.wait_for(lambda: self._settled >= target, timeout_s)
            return settled and self._dropped_queue + self._dropped_failed == dropped

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Send what is queued within ``timeout_s``, then stop; True if all of it was delivered.

        Spans exported afterwards are dropped (and counted).
        """
        timeout = self.shutdown_timeout_s if timeout_s is None else max(0.0, timeout_s)
        with self._cv:
            dropped = self._dropped_queue + self._dropped_failed
            if not self._closed:
                self._closed = True
                self._deadline = time.monotonic() + timeout
                self._flush_to = self._accepted
            thread = self._thread
            self._cv.notify_all()
        if thread is not None:
            thread.join(max(0.0, (self._deadline or 0.0) - time.monotonic()) + 0.5)
        else:
            self._client.close()  # never started: the sender thread would have closed it
        with self._cv:
            return self._settled >= self._accepted and self._dropped_queue + self._dropped_failed == dropped

    def stats(self) -> ExportStats:
        with self._cv:
            return ExportStats(
                queued=len(self._queue),
                exported=self._exported,
                dropped_queue_full=self._dropped_queue,
                dropped_failed=self._dropped_failed,
                dropped_after_shutdown=self._dropped_closed,
                rejected=self._rejected,
                retries=self._retries,
            )

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stratum-otlp-exporter", daemon=True)
        self._thread.start()

    # -- sender thread --------------------------------------------------------
    def _new_client(self) -> Any:
        return self._httpx.Client(headers=self._headers, timeout=self._timeout)

    def _run(self) -> None:
        with self._client as client:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                sent = False
                try:
                    sent = self._send(client, batch)
                except Exception:  # a bug here must not kill the thread silently
                    log.exception("OTLP export failed unexpectedly; %d span(s) dropped", len(batch))
                with self._cv:
                    if sent:
                        self._exported += len(batch)
                    else:
                        self._dropped_failed += len(batch)
                    self._settled += len(batch)
                    self._cv.notify_all()

    def _next_batch(self) -> list[SpanData] | None:
        with self._cv:
            due = time.monotonic() + self._interval
            while True:
                urgent = self._closed or self._settled < self._flush_to or len(self._queue) >= self._max_batch
                if self._queue and (urgent or time.monotonic() >= due):
                    break
                if self._closed:
                    return None  # closed and nothing left
                self._cv.wait(max(0.0, due - time.monotonic()) if self._queue else None)
                if not self._queue:
                    due = time.monotonic() + self._interval
            if self._deadline is not None and time.monotonic() >= self._deadline:
                # Past the shutdown deadline: what is left is dropped, not sent.
                left = len(self._queue)
                self._queue.clear()
                self._dropped_failed += left
                self._settled += left
                self._cv.notify_all()
                return None
            size = min(len(self._queue), self._max_batch)
            return [self._queue.popleft() for _ in range(size)]

    def _send(self, client: Any, batch: list[SpanData]) -> bool:
        body = encode_request(batch, self._resource)
        started = time.monotonic()
        failures = 0
        while True:
            timeout = self._timeout
            if self._deadline is not None:
                timeout = min(timeout, self._deadline - time.monotonic())
                if timeout <= 0:
                    self._warn_once("deadline", "shutdown deadline reached; %d span(s) not sent", len(batch))
                    return False
            try:
                self._post(client, body, timeout)
                return True
            except _Permanent as exc:
                self._warn_once(
                    f"status-{exc.status}", "OTLP receiver %s refused spans permanently (%s); dropping %d span(s)",
                    self.url, exc, len(batch),
                )  # fmt: skip
                return False
            except _Retryable as exc:
                failures += 1
                limit = started + self._max_retry
                if self._deadline is not None:
                    limit = min(limit, self._deadline)
                wait = pause(
                    failures, exc.retry_after, base_s=self._retry_initial, cap_s=self._retry_max,
                    left_s=limit - time.monotonic(),
                )  # fmt: skip
                if wait is None:
                    self._warn_once(
                        "gave-up", "OTLP export to %s failed (%s); dropping %d span(s)", self.url, exc, len(batch)
                    )
                    return False
                self._pause(wait)

    def _pause(self, seconds: float) -> None:
        """Back off, but never past a shutdown deadline (which may be set meanwhile)."""
        end = time.monotonic() + seconds
        with self._cv:
            self._retries += 1
            while True:
                stop = end if self._deadline is None else min(end, self._deadline)
                left = stop - time.monotonic()
                if left <= 0:
                    return
                self._cv.wait(left)

    def _post(self, client: Any, body: bytes, timeout: float) -> None:
        try:
            response = client.post(self.url, content=body, timeout=timeout)
        except self._httpx.HTTPError as exc:  # connection refused/reset, timeouts
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status < 300:
            self._check_partial_success(response.content)
            self._warned.discard("gave-up")  # a later outage deserves its own warning
            return
        text = response.text[:300]
        if status == 429 or (500 <= status < 600 and status not in _PERMANENT_5XX):
            raise _Retryable(f"HTTP {status}", retry_after(response.headers))
        raise _Permanent(status, text)

    def _check_partial_success(self, content: bytes) -> None:
        if not content:
            return
        try:
            partial = json.loads(content).get("partialSuccess") or {}
            rejected = int(partial.get("rejectedSpans") or 0)
        except (ValueError, AttributeError, TypeError):
            return
        if rejected:
            with self._cv:
                self._rejected += rejected
            self._warn_once("partial", "OTLP receiver rejected %d span(s): %s", rejected, partial.get("errorMessage"))

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning(message, *args)


def _refuse_grpc_port(endpoint: str) -> None:
    """Port 4317 is OTLP/gRPC by convention: posting OTLP/HTTP there drops every span. Refused up front."""
    import urllib.parse

    try:
        port = urllib.parse.urlsplit(endpoint).port
    except ValueError:
        return  # not a URL this check can read; sending will say what is wrong
    if port == 4317:
        raise StratumConfigError(
            f"OTLP endpoint {endpoint}: 4317 is OTLP/gRPC, and this exporter speaks OTLP/HTTP (JSON); "
            "use http://localhost:4318 (the collector's OTLP/HTTP port)"
        )


def shutdown_all(timeout_s: float = 5.0) -> bool:
    """Shut every live exporter down within one shared deadline."""
    deadline = time.monotonic() + timeout_s
    ok = True
    for exporter in list(_live):
        ok = exporter.shutdown(max(0.0, deadline - time.monotonic())) and ok
    return ok


def _at_exit() -> None:
    for exporter in list(_live):
        exporter.shutdown()


def _register_exit_hook() -> None:
    global _exit_hook_registered
    with _exit_hook_lock:
        if not _exit_hook_registered:
            atexit.register(_at_exit)
            _exit_hook_registered = True


def _after_fork_in_child() -> None:
    # The sender thread does not survive a fork; the child starts its own on
    # its first span, and does not resend what the parent had queued.
    for exporter in list(_live):
        exporter._reset_state()
        exporter._client = exporter._new_client()  # the parent's pooled connections are not ours


os.register_at_fork(after_in_child=_after_fork_in_child)
