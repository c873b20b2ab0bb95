"""The transient-retry policy, written once for every seam that retries.

The executor (provider errors), the LiteLLM client, the OTLP exporter and the
webhook review sink all retry transient failures the same way:

- ``retry_after(headers)``: how long the server asked to wait, from
  ``retry-after-ms`` (milliseconds), else ``retry-after`` as delay-seconds or
  an HTTP date; None when it gave no usable advice;
- ``full_jitter(attempt, base_s=, cap_s=)``: exponential backoff with full
  jitter, a uniform draw in ``[0, ceiling(attempt, base_s=, cap_s=)]`` where
  the ceiling is ``min(cap_s, base_s * 2 ** (attempt - 1))``;
- ``pause(attempt, advised, base_s=, cap_s=, left_s=)``: the two combined,
  the one rule every seam waits by. The server's advice is followed, but
  never past ``cap_s`` (a ``Retry-After: 3600`` waits the cap, not the hour)
  and never below half the backoff ceiling (no tight loop on
  ``Retry-After: 0``); without advice, full jitter. A pause that would not end
  within ``left_s`` (the caller's deadline) is None: give up rather than sleep
  past it.

Header values that are neither a number nor an HTTP date (``Retry-After:
soon``) are no advice, never an error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ceiling", "full_jitter", "pause", "retry_after"]


def retry_after(headers: Mapping[str, Any] | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds a response's headers ask to wait before retrying (never negative), or None.

    ``headers`` is read with lower-case names (``httpx.Headers`` match any
    case). ``now`` is the wall clock an HTTP date is compared with.
    """
    if not headers:
        return None
    try:
        ms, value = headers.get("retry-after-ms"), headers.get("retry-after")
    except Exception:  # a provider SDK's own header object that does not behave: no advice
        return None
    millis = _number(ms)
    if millis is not None:
        return max(0.0, millis / 1000.0)
    if not value:
        return None
    seconds = _number(value)
    if seconds is None:
        seconds = _until(str(value), now)
    return None if seconds is None else max(0.0, seconds)


def ceiling(attempt: int, *, base_s: float, cap_s: float) -> float:
    """The largest pause before retry number ``attempt`` (1 for the first retry)."""
    return float(min(cap_s, base_s * 2 ** (attempt - 1)))


def full_jitter(attempt: int, *, base_s: float, cap_s: float) -> float:
    """A pause drawn uniformly below ``ceiling``: concurrent clients do not retry in step."""
    import random  # deferred: only a retry needs it

    return random.uniform(0, ceiling(attempt, base_s=base_s, cap_s=cap_s))


def pause(
    attempt: int, advised: float | None, *, base_s: float, cap_s: float, left_s: float | None = None
) -> float | None:
    """Seconds to wait before retry number ``attempt`` (see the module docstring), or None to give up."""
    import random

    top = ceiling(attempt, base_s=base_s, cap_s=cap_s)
    wait = random.uniform(0, top) if advised is None else min(cap_s, max(advised, top / 2))
    if left_s is not None and wait >= left_s:
        return None
    return wait


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _until(text: str, now: Callable[[], float]) -> float | None:
    """Seconds from ``now()`` to an HTTP date (RFC 9110: always GMT)."""
    import email.utils  # deferred: only an HTTP-date Retry-After needs it
    from datetime import UTC

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive: it still means GMT
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now()
