"""cache="global" on a real redis-server started on 127.0.0.1 by this module.

Without ``redis-server`` on PATH these tests are skipped, unless
``STRATUM_REQUIRE_REDIS=1`` (set in CI), in which case they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, StratumConfigError, StratumWarning, cache_key, contract, infer
from stratum.cache import RedisCacheStore
from stratum.testing import ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def _redis_server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of our own on a free loopback port: its URL and its process."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "missing service: redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("STRATUM_REQUIRE_REDIS") == "1":
            pytest.fail(message + "; STRATUM_REQUIRE_REDIS=1 requires it")
        pytest.skip(message)
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.02)  # polling a starting server, bounded by the deadline above
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.send_signal(signal.SIGCONT)  # a paused server cannot act on the terminate
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _redis_server(tmp_path_factory.mktemp("redis")) as (url, _process):
        yield url


@contract
class Answer(BaseModel):
    text: str
    score: float


@infer(intent="Answer {question}", ensure=lambda r: r.score > 0.5, cache="global", retries=0)
def answer(question: str) -> Answer: ...


def reply(text: str = "hi", score: float = 0.9) -> dict[str, object]:
    return {"text": text, "score": score}


@pytest.fixture
def redis_store(redis_url: str, request: pytest.FixtureRequest) -> RedisCacheStore:
    # A prefix per test keeps tests independent on one shared server.
    store = RedisCacheStore(redis_url, prefix=f"test:{request.node.name}:")
    stratum.configure(cache_store=store)
    return store


async def test_a_redis_hit_sends_no_request_and_costs_nothing(
    scripted: ScriptedClient, redis_store: RedisCacheStore
) -> None:
    scripted.push(reply("stored"))
    await answer(question="q")
    assert (await answer(question="q")).text == "stored"
    assert len(scripted.requests) == 1
    hit = stratum.trace.all_records()[-1]
    assert (hit.cache_hit, hit.cost_usd, hit.attempts) == (True, 0.0, 0)
    await redis_store.aclose()


async def test_another_store_object_on_the_same_server_sees_the_entry(
    scripted: ScriptedClient, redis_store: RedisCacheStore, redis_url: str
) -> None:
    scripted.push(reply("shared"))
    await answer(question="q")
    other = RedisCacheStore(redis_url, prefix=redis_store.prefix)  # as another process or machine would
    stratum.configure(cache_store=other)
    assert (await answer(question="q")).text == "shared"
    assert len(scripted.requests) == 1
    raw = await other.get(cache_key(answer, question="q"))
    assert raw is not None and b'"shared"' in raw
    await other.aclose()
    await redis_store.aclose()


async def test_redis_expires_entries_after_their_ttl(scripted: ScriptedClient, redis_url: str) -> None:
    # Long enough that the entry is surely still there when read back at once, on any load.
    store = RedisCacheStore(redis_url, prefix="test:ttl:", ttl_s=1.0)
    stratum.configure(cache_store=store)
    scripted.push(reply("a"), reply("b"))
    await answer(question="q")
    key = cache_key(answer, question="q")
    assert await store.get(key) is not None
    async with asyncio.timeout(5):
        while await store.get(key) is not None:
            await asyncio.sleep(0.05)
    assert (await answer(question="q")).text == "b"
    await store.aclose()


async def test_a_corrupt_redis_entry_is_a_miss_with_a_warning_and_is_replaced(
    scripted: ScriptedClient, redis_store: RedisCacheStore
) -> None:
    key = cache_key(answer, question="q")
    await redis_store.set(key, b"{truncated")
    scripted.push(reply("repaired"))
    with pytest.warns(StratumWarning, match="unreadable cache entry"):
        assert (await answer(question="q")).text == "repaired"
    assert (await answer(question="q")).text == "repaired"
    assert len(scripted.requests) == 1
    await redis_store.aclose()


async def test_a_redis_that_is_down_is_a_miss_with_a_warning(scripted: ScriptedClient) -> None:
    store = RedisCacheStore(f"redis://127.0.0.1:{_free_port()}/0", timeout_s=0.5)
    stratum.configure(cache_store=store)
    scripted.push(reply("a"), reply("b"))
    with pytest.warns(StratumWarning) as warned:
        assert (await answer(question="q")).text == "a"
    assert sorted(str(w.message).split(" failed to ")[1][:5] for w in warned) == ["read ", "write"]
    assert (await answer(question="q")).text == "b"  # warned once, still answering


async def test_a_redis_that_accepts_connections_but_never_answers_is_a_miss_within_the_budget(
    via_litellm: LocalOpenAIServer, warm_litellm: Any, tmp_path: Path
) -> None:
    via_litellm.push({"result": True})
    await warm_litellm()  # LiteLLM's first call in a process sets itself up for seconds

    # The budget leaves the model call room on a loaded machine; what is tested is that a cache
    # that never answers costs at most its share of it (a quarter), not the 30 s it would wait.
    @infer(intent="Answer {question}", cache="global", budget=Budget(ms=2000))
    def budgeted(question: str) -> Answer: ...

    with _redis_server(tmp_path) as (url, process):
        store = RedisCacheStore(url, timeout_s=30)  # left alone, it would wait 30 s for each reply
        stratum.configure(cache_store=store)
        await store.set("warm", b"a pooled connection, opened while the server answered")
        process.send_signal(signal.SIGSTOP)  # the kernel still accepts connections; nothing replies
        via_litellm.push(reply("from the model"))
        with pytest.warns(StratumWarning, match="did not answer within"):
            async with asyncio.timeout(20):  # not a speed assertion: the stall would be 30 s per operation
                assert (await budgeted(question="q")).text == "from the model"
        process.send_signal(signal.SIGCONT)
        await store.aclose()
    assert len(via_litellm.requests) == 2  # the warm-up, and this call's own
    assert stratum.trace.all_records()[-1].ok


def test_the_redis_store_works_across_event_loops(scripted: ScriptedClient, redis_store: RedisCacheStore) -> None:
    scripted.push(reply("loop one"))
    assert stratum.run(answer(question="q")).text == "loop one"
    assert stratum.run(answer(question="q")).text == "loop one"  # a new loop, a new connection pool
    assert len(scripted.requests) == 1


async def test_concurrent_identical_calls_on_redis_send_one_request(
    scripted: ScriptedClient, redis_store: RedisCacheStore
) -> None:
    scripted.latency_s = 0.05
    scripted.push(reply("once"))
    results = await asyncio.gather(*(answer(question="q") for _ in range(4)))
    assert {r.text for r in results} == {"once"} and len(scripted.requests) == 1
    await redis_store.aclose()


async def test_through_litellm_a_redis_hit_sends_no_http_request(
    via_litellm: LocalOpenAIServer, redis_store: RedisCacheStore
) -> None:
    via_litellm.push(reply("from the server"))
    await answer(question="q")
    assert (await answer(question="q")).text == "from the server"
    assert len(via_litellm.requests) == 1
    await redis_store.aclose()


def test_the_redis_store_needs_the_redis_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a))
    with pytest.raises(StratumConfigError, match=r"stratum-py\[redis\]"):
        RedisCacheStore()


@pytest.mark.parametrize("kwargs", [{"url": "http://127.0.0.1:6379"}, {"ttl_s": -1}])
def test_redis_store_settings_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RedisCacheStore(**kwargs)  # type: ignore[arg-type]
