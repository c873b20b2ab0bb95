"""The webhook sink against a real HTTP receiver on 127.0.0.1: retry, backoff, and the way back."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

from stratum import HITLDeliveryError, HITLTimeoutError, HumanReviewContext, ReviewNotPending, await_human
from stratum.hitl import WebhookReviewSink


@dataclass(frozen=True)
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Receiver:
    """An HTTP endpoint answering each POST with the next scripted (status, headers).

    With ``hold_after=n``, every POST after the first ``n`` is recorded and
    never answered; its connection closes at ``release()``.
    """

    def __init__(
        self, script: list[tuple[int, dict[str, str]]], default: int = 200, hold_after: int | None = None
    ) -> None:
        self.script = list(script)
        self.default = default
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with receiver._arrived:
                    status, headers = receiver.script.pop(0) if receiver.script else (receiver.default, {})
                    receiver.received.append(
                        Received(time.monotonic(), self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    receiver._arrived.notify_all()
                    held = hold_after is not None and len(receiver.received) > hold_after
                if held:
                    receiver._released.wait(30)
                    return  # never answered: the connection just closes
                payload = b'{"ok": true}' if status < 300 else b"temporarily unavailable"
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/review"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)  # quick shutdown

    def release(self) -> None:
        self._released.set()

    def wait_for(self, count: int, within_s: float = 5.0) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, within_s):
                raise TimeoutError(f"only {len(self.received)} of {count} POSTs arrived")
            return list(self.received)


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def make(script: list[tuple[int, dict[str, str]]], default: int = 200, hold_after: int | None = None) -> Receiver:
        receiver = Receiver(script, default, hold_after)
        receiver.thread.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.release()
        receiver.server.shutdown()
        receiver.server.server_close()


async def test_a_failed_post_is_retried_and_the_decision_comes_back_through_resolve(receiver_factory: Any) -> None:
    receiver = receiver_factory([(503, {})])  # then 200
    sink = WebhookReviewSink(receiver.url, headers={"Authorization": "Bearer s3cret"}, backoff_base_s=0.01)
    ask = asyncio.create_task(
        await_human(
            HumanReviewContext("Ship the release?", artifacts={"version": "1.4.0"}),
            Literal["ship", "hold"],
            options=["ship", "hold"],
            timeout=30,
            sink=sink,
        )
    )
    first, second = await asyncio.to_thread(receiver.wait_for, 2)
    assert first.body == second.body  # the retry sends the same review
    body = second.body
    review_id = body["review_id"]
    assert body["question"] == "Ship the release?"
    assert body["options"] == ["ship", "hold"]
    assert body["artifacts"] == {"version": "1.4.0"}
    assert body["decision_schema"] == {"enum": ["ship", "hold"], "type": "string"}
    assert body["expires_at"] is not None
    assert second.path == "/hooks/review"
    assert second.headers["authorization"] == "Bearer s3cret"
    assert second.headers["idempotency-key"] == review_id
    assert second.headers["content-type"] == "application/json"

    assert [item["review_id"] for item in sink.pending()] == [review_id]
    await sink.resolve(review_id, "ship", reviewer="release-manager")
    decision = await asyncio.wait_for(ask, 5)
    assert (decision.value, decision.reviewer, decision.review_id) == ("ship", "release-manager", review_id)
    assert len(receiver.received) == 2


async def test_retry_after_is_honoured_between_attempts(receiver_factory: Any) -> None:
    receiver = receiver_factory([(429, {"Retry-After": "0.3"})])
    sink = WebhookReviewSink(receiver.url, backoff_base_s=0.001)
    ask = asyncio.create_task(await_human("Go?", bool, timeout=30, sink=sink))
    first, second = await asyncio.to_thread(receiver.wait_for, 2)
    # A lower bound on the wait the endpoint asked for, not a speed limit: load only lengthens it.
    assert second.at - first.at >= 0.28
    await sink.resolve(first.body["review_id"], True)
    assert (await asyncio.wait_for(ask, 5)).value is True


async def test_a_client_error_is_not_retried_and_fails_the_review(receiver_factory: Any) -> None:
    receiver = receiver_factory([(400, {})])
    sink = WebhookReviewSink(receiver.url, backoff_base_s=0.001)
    with pytest.raises(HITLDeliveryError) as info:
        await asyncio.wait_for(await_human("Go?", bool, sink=sink), 5)
    err = info.value
    assert (err.status, err.attempts, err.sink) == (400, 1, "WebhookReviewSink")
    assert "temporarily unavailable" in err.reason  # the head of the error body
    assert len(receiver.received) == 1
    assert sink.pending() == []
    with pytest.raises(ReviewNotPending):
        await sink.resolve(err.review_id, True)


async def test_an_unreachable_endpoint_fails_after_max_attempts() -> None:
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookReviewSink(f"http://127.0.0.1:{port}/hook", max_attempts=3, backoff_base_s=0.001)
    with pytest.raises(HITLDeliveryError) as info:
        await asyncio.wait_for(await_human("Go?", bool, sink=sink), 5)
    assert (info.value.attempts, info.value.status) == (3, None)
    assert "ConnectError" in info.value.reason


async def test_delivery_retries_stop_when_the_review_times_out(receiver_factory: Any, live_tasks: Any) -> None:
    # The first POST fails; its retry is left unanswered until the review times out.
    receiver = receiver_factory([], default=503, hold_after=1)
    sink = WebhookReviewSink(receiver.url, max_attempts=1000, backoff_base_s=0.02, backoff_max_s=0.05)
    before = live_tasks()
    with pytest.raises(HITLTimeoutError) as info:
        # Generous, not a speed limit: the one retry only has to be sent within it.
        await await_human("Go?", bool, timeout=1.0, sink=sink)
    assert info.value.timeout_s == 1.0
    assert live_tasks() == before  # the delivery ended with the review: no retry can follow
    receiver.release()
    assert len(receiver.received) == 2  # the first POST and the retry the timeout cut short
    assert sink.pending() == []


def test_the_webhook_url_must_be_http_or_https() -> None:
    for bad in ("ftp://example.com/hook", "not a url", "http:///nohost"):
        with pytest.raises(ValueError):
            WebhookReviewSink(bad)
    with pytest.raises(ValueError):
        WebhookReviewSink("http://127.0.0.1/hook", max_attempts=0)
