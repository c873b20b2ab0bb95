"""Cost of tracing and of cache hits.

1. Tracing overhead: the same @infer call (scripted client, no network, so
   only runtime cost is measured) with no tracer, and with the OTLP exporter
   sending to a real receiver on 127.0.0.1. The difference is what tracing
   adds per call (target: < 20 us); the sender thread runs meanwhile, so its
   encoding work competes for the same interpreter and is included.
2. Cache hit latency: a whole @infer call served from the cache (no request),
   for the in-memory session cache, SQLite, and Redis (a redis-server is
   started on 127.0.0.1 if one is installed; otherwise this says so).

Prints numbers only; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from _report import row
from pydantic import BaseModel

import stratum
from stratum import contract, flow, infer
from stratum.cache import RedisCacheStore, SQLiteCacheStore
from stratum.testing import ScriptedClient

CALLS = 1000
ROUNDS = 15


@contract
class Verdict(BaseModel):
    label: str
    confidence: float


@infer(intent="Judge {text}", ensure=lambda r: r.confidence > 0.5)
def judge(text: str) -> Verdict: ...


@infer(intent="Judge {text}", ensure=lambda r: r.confidence > 0.5, cache="global")
def judge_cached(text: str) -> Verdict: ...


@infer(intent="Judge {text}", ensure=lambda r: r.confidence > 0.5, cache="session")
def judge_session(text: str) -> Verdict: ...


@flow
async def one_step(text: str) -> Verdict:
    return await judge(text=text)


def configure_client() -> None:
    client = ScriptedClient(respond=lambda request: {"label": "ok", "confidence": 0.9}, max_requests_kept=1)
    stratum.configure(client=client, default_model="openai/gpt-4o-mini", trace_capacity=1000)


async def per_call_us(call: Callable[[], Awaitable[Any]], calls: int = CALLS) -> float:
    """Mean wall time of one call over ``calls`` calls, in microseconds."""
    gc.collect()  # start each round with the same garbage: none
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


def use_tracer(tracer: Any) -> None:
    stratum.reset_defaults()
    configure_client()
    if tracer is not None:
        stratum.configure(tracer=tracer)


class Discard:
    """A tracer that drops every span: the cost of building spans, without exporting."""

    def export(self, span: Any) -> None:
        pass


_RECEIVER = """
import sys
from stratum.testing.otlp_receiver import LocalOTLPReceiver
receiver = LocalOTLPReceiver(max_requests_kept=1).start()
print(receiver.endpoint, flush=True)
sys.stdin.read()
receiver.stop()
"""


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    """An OTLP receiver in its own process, so its work is not counted as ours."""
    command = [sys.executable, "-c", _RECEIVER]
    receiver = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    return receiver, receiver.stdout.readline().strip()


async def tracing_overhead(endpoint: str) -> None:
    print("Tracing overhead per call (scripted client, no network; receiver in its own process)")
    exporter = stratum.exporters.otel(endpoint, service_name="bench", max_queue_size=1_000_000)
    for label, call in (("@infer", lambda: judge(text="x")), ("@flow + @infer", lambda: one_step("x"))):
        samples: dict[str, list[float]] = {"off": [], "spans only": [], "exporter": []}
        tracers = {"off": None, "spans only": Discard(), "exporter": exporter}
        for tracer in tracers.values():  # warm up each mode
            use_tracer(tracer)
            await per_call_us(call, 300)
        for _ in range(ROUNDS):  # interleaved, so drift in machine load hits every mode alike
            for name, tracer in tracers.items():
                use_tracer(tracer)
                samples[name].append(await per_call_us(call))
        # The fastest round is the one least disturbed by other work on the machine.
        off, spans_only, on = (min(samples[n]) for n in ("off", "spans only", "exporter"))
        print(
            f"  {label:<15} off {off:7.1f} us | spans built, discarded {spans_only:7.1f} us (+{spans_only - off:5.1f})"
            f" | OTLP exporter {on:7.1f} us (+{on - off:5.1f} us/call)"
        )
        row("tracing", f"{label}: OTLP exporter overhead", f"+{on - off:.0f} us/call", "< 20 us",
            f"spans only +{spans_only - off:.0f} us; off {off:.0f} us")  # fmt: skip
    await asyncio.to_thread(exporter.shutdown, 30.0)
    stats = exporter.stats()
    print(f"  exporter: {stats.exported} spans exported, {stats.dropped} dropped, {stats.retries} retries")
    stratum.reset_defaults()


async def fastest_us(call: Callable[[], Awaitable[Any]], calls: int = 300, rounds: int = 9) -> float:
    await per_call_us(call, 50)  # warm up
    return min([await per_call_us(call, calls) for _ in range(rounds)])


async def cache_hits(redis_url: str | None, workdir: Path) -> None:
    print("Cache hit latency (a whole @infer call answered from the cache; fastest of 9 rounds)")
    configure_client()
    print(f"  no cache, scripted model (for comparison) {await fastest_us(lambda: judge(text='x')):7.1f} us/call")

    @flow
    async def session_hits() -> float:
        await judge_session(text="x")
        return await fastest_us(lambda: judge_session(text="x"))

    print(f"  session (in memory)  {await session_hits():7.1f} us/call")

    sqlite = SQLiteCacheStore(workdir / "bench.sqlite3")
    stratum.configure(cache_store=sqlite)
    await judge_cached(text="x")
    print(f"  SQLite               {await fastest_us(lambda: judge_cached(text='x')):7.1f} us/call")
    print(f"    of which store.get {await fastest_us(lambda: sqlite.get('missing-key')):7.1f} us")
    sqlite.close()

    if redis_url is None:
        print("  Redis: skipped (redis-server is not installed; apt-get install -y redis-server)")
        return
    redis = RedisCacheStore(redis_url)
    stratum.configure(cache_store=redis)
    await judge_cached(text="x")
    print(f"  Redis (loopback)     {await fastest_us(lambda: judge_cached(text='x')):7.1f} us/call")
    print(f"    of which store.get {await fastest_us(lambda: redis.get('missing-key')):7.1f} us")
    await redis.aclose()


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*command, "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.terminate()
    return None, None


def main() -> int:
    print(f"python {sys.version.split()[0]}; tracing: {CALLS} calls x {ROUNDS} rounds per mode, fastest round shown")
    receiver, endpoint = start_receiver()
    try:
        asyncio.run(tracing_overhead(endpoint))
    finally:
        receiver.communicate("", timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        process, url = start_redis(workdir)
        try:
            asyncio.run(cache_hits(url, workdir))
        finally:
            if process is not None:
                process.terminate()
                process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
