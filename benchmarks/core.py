"""Core runtime numbers: import time, per-call overhead, concurrency, LiteLLM path.

Prints figures; asserts nothing. Targets (from the project's issues):
import < 150 ms; runtime overhead < 100 us per @infer call; 1,000 concurrent
scripted calls with 200 ms latency < 0.5 s wall; LiteLLM path within 10% of
raw ``litellm.acompletion`` against the same local server.
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

from pydantic import BaseModel

import stratum
from stratum import contract, infer
from stratum.clients import CompletionRequest, CompletionResponse, LiteLLMClient
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

    def median_ms(stmt: str) -> tuple[float, float]:
        subprocess.run([sys.executable, "-c", stmt], env=env, check=True)  # warm bytecode caches
        times = [
            float(subprocess.run([sys.executable, "-c", probe.format(stmt=stmt)], env=env, capture_output=True,
                                 text=True, check=True).stdout)
            for _ in range(runs)
        ]  # fmt: skip
        return statistics.median(times), min(times)

    total, best = median_ms("import stratum")
    pyd, _ = median_ms("import pydantic; from pydantic import BaseModel")
    leaked = subprocess.run(
        [sys.executable, "-c", "import sys, stratum; print('litellm' in sys.modules)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"import stratum: median {total:.1f} ms, best {best:.1f} ms over {runs} runs (target < 150 ms)")
    print(f"  of which pydantic alone: {pyd:.1f} ms; litellm imported: {leaked}")


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
    stratum.trace.clear()


def bench_litellm(calls: int = 300) -> None:
    import litellm

    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        client = LiteLLMClient(api_base=url, api_key="sk-bench")
        stratum.configure(client=client, default_model="openai/gpt-4o-mini")
        ctx = stratum.compile_prompt(classify, text="Great product")
        fmt = {"type": "json_schema", "json_schema": {"name": "Sentiment", "schema": classify.spec.output.strict,
                                                      "strict": True}}  # fmt: skip

        async def raw() -> None:
            await litellm.acompletion(model="openai/gpt-4o-mini", messages=ctx.messages(), response_format=fmt,
                                      api_base=url, api_key="sk-bench", num_retries=0, max_retries=0)  # fmt: skip

        async def ours() -> None:
            await classify(text="Great product")

        async def measure() -> tuple[float, float]:
            for _ in range(30):  # warm both paths (connection pools, caches)
                await raw()
                await ours()
            a: list[float] = []
            b: list[float] = []
            for _ in range(calls):  # interleaved so drift hits both equally
                t = time.perf_counter()
                await raw()
                a.append(time.perf_counter() - t)
                t = time.perf_counter()
                await ours()
                b.append(time.perf_counter() - t)
            return statistics.median(a) * 1000, statistics.median(b) * 1000

        raw_ms, ours_ms = asyncio.run(measure())
        print(f"LiteLLM path, local server: raw acompletion {raw_ms:.2f} ms, @infer {ours_ms:.2f} ms "
              f"per call (median of {calls}); @infer / raw = {ours_ms / raw_ms:.3f} (target <= 1.10)")  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)


_SERVER = f"""
import sys, json
from stratum.testing.openai_server import LocalOpenAIServer
answer = json.loads({ANSWER!r})
srv = LocalOpenAIServer(respond=lambda body: answer).start()
print(srv.url, flush=True)
sys.stdin.read()
"""


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s)")
    bench_import()
    asyncio.run(bench_overhead())
    asyncio.run(bench_concurrency())
    bench_litellm()


if __name__ == "__main__":
    main()
