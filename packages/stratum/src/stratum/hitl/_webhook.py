"""``WebhookReviewSink``: POST each review to a URL; decisions come back via ``resolve``.

The POST body is ``PendingReview.to_dict()`` as JSON: ``review_id``,
``question``, ``trigger``, ``artifacts``, ``options``, ``decision_type``,
``decision_schema`` (JSON Schema of a valid value), ``created_at``,
``expires_at``, ``flow_id``. An ``Idempotency-Key`` header carries the review
id, so a receiver can drop the duplicates that retries may cause.

Connection errors, timeouts, 408, 429 and 5xx are retried with exponential
backoff and full jitter (``Retry-After`` is honoured, up to the cap: the
rule of ``stratum._retry.pause``); any
other status fails at once. The whole delivery runs inside the review's own
``timeout``. httpx is imported on first use, not with ``stratum``.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .._retry import pause, retry_after
from ..exceptions import HITLDeliveryError
from ._queue import QueueReviewSink
from ._review import PendingReview

__all__ = ["WebhookReviewSink"]

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_KEEP_BODY = 500


class WebhookReviewSink(QueueReviewSink):
    """Announce reviews to an HTTP endpoint; resolve them like a ``QueueReviewSink``.

    ::

        reviews = WebhookReviewSink("https://ops.example.com/hooks/review",
                                    headers={"Authorization": f"Bearer {token}"})
        stratum.configure(review_sink=reviews)

        # in the endpoint that receives the reviewer's answer
        await reviews.resolve(body["review_id"], body["value"], reviewer=body["user"])

    A review that cannot be delivered after ``max_attempts`` fails its
    ``await_human`` with ``HITLDeliveryError`` (``attempts``, ``status``).
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        request_timeout_s: float = 10.0,
        max_pending: int = 1000,
    ) -> None:
        super().__init__(max_pending=max_pending)
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"WebhookReviewSink: url must be an http(s) URL with a host, got {url!r}")
        if max_attempts < 1 or backoff_base_s < 0 or backoff_max_s < 0 or request_timeout_s <= 0:
            raise ValueError("WebhookReviewSink: max_attempts >= 1, backoffs >= 0 and request_timeout_s > 0 required")
        self.url = url
        self.headers = dict(headers or {})
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.request_timeout_s = request_timeout_s

    async def emit(self, review: PendingReview) -> None:
        # Registered before the POST: a fast reviewer may answer before it returns.
        await super().emit(review)
        try:
            await self._post(review)
        except BaseException:
            self._forget(review)
            raise

    async def _post(self, review: PendingReview) -> None:
        import httpx  # first use only: `import stratum` stays fast

        body = json.dumps(review.to_dict(), ensure_ascii=False).encode("utf-8")
        headers = {
            "content-type": "application/json",
            "user-agent": "stratum-hitl",
            "idempotency-key": review.review_id,
            **self.headers,
        }
        status: int | None = None
        reason = ""
        async with httpx.AsyncClient(timeout=self.request_timeout_s, follow_redirects=False) as client:
            for attempt in range(1, self.max_attempts + 1):
                wait: float | None = None
                try:
                    async with client.stream("POST", self.url, content=body, headers=headers) as response:
                        status = response.status_code
                        if 200 <= status < 300:
                            return
                        reason = f"HTTP {status}: {await _head(response)}"
                        if status not in _RETRY_STATUS:
                            raise HITLDeliveryError(
                                review.review_id, type(self).__name__, reason, attempts=attempt, status=status
                            )
                        wait = retry_after(response.headers)
                except httpx.TransportError as exc:
                    status = None
                    reason = f"{type(exc).__name__}: {exc}"
                if attempt < self.max_attempts:
                    # No deadline here: the whole delivery runs inside the review's own timeout.
                    await asyncio.sleep(
                        pause(attempt, wait, base_s=self.backoff_base_s, cap_s=self.backoff_max_s) or 0.0
                    )
        raise HITLDeliveryError(
            review.review_id, type(self).__name__, reason, attempts=self.max_attempts, status=status
        )


async def _head(response: Any) -> str:
    """The first bytes of an error body; a hostile endpoint cannot make us hold more."""
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= _KEEP_BODY:
            break
    return kept[:_KEEP_BODY].decode("utf-8", "replace").strip()

