"""The transient-retry policy, pinned once for the four seams that share it.

``stratum._retry`` is private on purpose (it is no API), and this is the one
test module that imports a private module: the executor, the LiteLLM client,
the OTLP exporter and the webhook sink all read ``Retry-After`` and back off
through it, and its edge cases (HTTP dates, ``retry-after-ms``, nonsense)
are cheaper to pin here once than through four servers.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from stratum._retry import ceiling, full_jitter, pause, retry_after

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def at_now() -> float:
    return NOW.timestamp()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": ""}, None),
        ({"x-other": "1"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_milliseconds(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after(headers, now=at_now) == expected


def test_retry_after_reads_an_http_date_against_the_clock() -> None:
    later = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    earlier = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    assert retry_after({"retry-after": later}, now=at_now) == pytest.approx(30.0)
    assert retry_after({"retry-after": earlier}, now=at_now) == 0.0


def test_retry_after_treats_a_date_without_zone_as_gmt() -> None:
    assert retry_after({"retry-after": "Tue, 01 Jan 2030 12:00:10 -0000"}, now=at_now) == pytest.approx(10.0)


def test_retry_after_matches_header_names_in_any_case_through_httpx_headers() -> None:
    assert retry_after(httpx.Headers({"Retry-After": "4"})) == 4.0
    assert retry_after(httpx.Headers({"Retry-After-Ms": "250"})) == 0.25


def test_headers_that_misbehave_give_no_advice() -> None:
    class Odd(dict[str, str]):
        def get(self, key: str, default: object = None) -> str:
            raise RuntimeError("not really headers")

    assert retry_after(Odd(x="1")) is None


def test_the_backoff_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    assert [ceiling(n, base_s=0.5, cap_s=8.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_full_jitter_draws_uniformly_below_the_ceiling() -> None:
    random.seed(13)
    draws = [full_jitter(3, base_s=0.5, cap_s=8.0) for _ in range(2000)]
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert min(draws) < 0.1 and max(draws) > 1.9  # the whole range, not a fixed pause
    assert 0.9 < sum(draws) / len(draws) < 1.1


def test_a_pause_follows_the_servers_advice_up_to_the_cap() -> None:
    assert pause(1, 2.0, base_s=0.5, cap_s=8.0) == 2.0
    assert pause(1, 3600.0, base_s=0.5, cap_s=8.0) == 8.0  # an hour asked, the cap waited


def test_a_pause_never_loops_tightly_on_advice_to_retry_at_once() -> None:
    assert pause(3, 0.0, base_s=0.5, cap_s=8.0) == 1.0  # half the backoff ceiling at least


def test_without_advice_a_pause_is_full_jitter_below_the_ceiling() -> None:
    random.seed(7)
    draws = [pause(3, None, base_s=0.5, cap_s=8.0) for _ in range(500)]
    assert all(0.0 <= d <= 2.0 for d in draws) and max(draws) - min(draws) > 1.5


def test_a_pause_that_would_not_end_before_the_deadline_is_none() -> None:
    assert pause(1, 5.0, base_s=0.5, cap_s=8.0, left_s=2.0) is None  # give up instead of sleeping past it
    assert pause(1, 5.0, base_s=0.5, cap_s=8.0, left_s=6.0) == 5.0
    assert pause(1, 3600.0, base_s=0.5, cap_s=8.0, left_s=9.0) == 8.0
    assert pause(1, None, base_s=0.5, cap_s=8.0, left_s=0.0) is None
