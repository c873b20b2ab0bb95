"""Core runtime numbers: import time, per-call overhead, concurrency (scripted client).

Prints figures; asserts nothing. Targets (from the project's issues):
``import stratum`` < 100 ms, pydantic's own import included (pydantic alone
is measured in the same run, interleaved); runtime overhead < 100 us per
@infer call; 1,000 concurrent scripted calls with 200 ms latency < 0.5 s
wall. The clients (direct, LiteLLM, the SDK floors) are compared in
``clients.py``.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from _report import row
from pydantic import BaseModel

import stratum
from stratum import contract, infer
from stratum.clients import CompletionRequest, CompletionResponse
from stratum.testing import ScriptedClient


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasoning: str


ANSWER = '{"label": "positive", "confidence": 0.9, "reasoning": "clear"}'


@infer(intent="Classify the emotional tone of customer feedback", ensure=lambda r: r.confidence > 0.7)
def classify(text: str) -> Sentiment: ...


class NullClient:
    """Answers instantly with a prebuilt response: isolates the runtime's own cost."""

    def __init__(self) -> None:
        self._response = CompletionResponse(content=ANSWER, model="m", input_tokens=10, output_tokens=10)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        return self._response


def bench_import(runs: int = 15) -> None:
    probe = "import time; t = time.perf_counter(); {stmt}; print((time.perf_counter() - t) * 1000)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    statements = {"stratum": "import stratum", "pydantic": "import pydantic; from pydantic import BaseModel"}

    def once(stmt: str) -> float:
        command = [sys.executable, "-c", probe.format(stmt=stmt)]
        return float(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)

    for stmt in statements.values():
        once(stmt)  # warm the bytecode caches
    times: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(runs):  # interleaved: the machine's load hits both alike
        for name, stmt in statements.items():
            times[name].append(once(stmt))
    total, pyd = statistics.median(times["stratum"]), statistics.median(times["pydantic"])
    leaked = subprocess.run(
        [sys.executable, "-c", "import sys, stratum; print(sorted({'litellm', 'httpx'} & set(sys.modules)))"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"import stratum: median {total:.1f} ms, best {min(times['stratum']):.1f} ms over {runs} runs "
          f"(target < 100 ms); pydantic alone: median {pyd:.1f} ms; litellm/httpx loaded: {leaked}")  # fmt: skip
    row("import", "import stratum (pydantic included)", f"{total:.0f} ms", "< 100 ms", f"median of {runs}")
    row("import", "import pydantic alone, same run", f"{pyd:.0f} ms", "", f"stratum's own: {total - pyd:.0f} ms")


async def bench_overhead(calls: int = 5000) -> None:
    client = NullClient()
    stratum.configure(client=client, default_model="m")
    request = CompletionRequest(model="m", messages=[], response_format={})
    for _ in range(200):  # warm-up
        await classify(text="warm")
    direct = []
    for _ in range(calls):
        t = time.perf_counter()
        await client.complete(request)
        direct.append(time.perf_counter() - t)
    through = []
    for i in range(calls):
        t = time.perf_counter()
        await classify(text=f"ticket {i}")
        through.append(time.perf_counter() - t)
    base, full = statistics.median(direct) * 1e6, statistics.median(through) * 1e6
    p95 = statistics.quantiles(through, n=20)[-1] * 1e6
    print(f"@infer overhead: median {full - base:.1f} us per call (p95 {p95:.1f} us), "
          f"{calls} calls, zero-latency client (target < 100 us)")  # fmt: skip
    row("per call", "@infer runtime overhead, zero-latency client", f"{full - base:.0f} us", "< 100 us",
        f"p95 {p95:.0f} us")  # fmt: skip
    stratum.trace.clear()


async def bench_concurrency(n: int = 1000, latency: float = 0.2) -> None:
    client = ScriptedClient(respond=lambda _r: ANSWER, latency_s=latency)
    stratum.configure(client=client, default_model="m")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    results = await asyncio.gather(*(classify(text=f"t{i}") for i in range(n)))
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{n} concurrent calls, {latency * 1000:.0f} ms simulated latency: wall {wall:.3f} s "
          f"(target < 0.5 s), peak RSS {peak / 1024:.1f} MiB (+{(peak - before) / 1024:.1f} MiB), "
          f"{len(results)} results")  # fmt: skip
    row("concurrency", f"{n:,} concurrent scripted calls, {latency * 1000:.0f} ms latency", f"{wall:.2f} s", "< 0.5 s")
    stratum.trace.clear()


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s)")
    bench_import()
    asyncio.run(bench_overhead())
    asyncio.run(bench_concurrency())


if __name__ == "__main__":
    main()
