"""What composition costs: engine overhead, concurrency, quorum and sampling (scripted client).

Prints numbers only. The scripted client answers in-process, so the figures
are Stratum's own overhead plus the simulated latency, never a network's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Literal

from pydantic import BaseModel

import stratum
from stratum import contract, infer
from stratum.testing import Reply, ScriptedClient

ANSWER = '{"label": "positive", "confidence": 0.9}'


@contract
class Label(BaseModel):
    label: Literal["positive", "negative"]
    confidence: float


@infer(intent="Classify")
def single(text: str) -> Label: ...


@infer(intent="Classify", quorum=5, agree_on="label", threshold=3)
def voted(text: str) -> Label: ...


@infer(intent="Classify", stable=False)
def sampled(text: str) -> Label: ...


def configure(latency_s: float = 0.0, **extra: object) -> None:
    stratum.reset_defaults()
    client = ScriptedClient(respond=lambda _r: Reply(ANSWER, latency_s=latency_s))
    stratum.configure(client=client, default_model="bench", trace_capacity=100_000, **extra)  # type: ignore[arg-type]


async def per_branch_overhead(n: int) -> tuple[float, float]:
    async def noop() -> int:
        return 1

    started = time.perf_counter()
    await asyncio.gather(*(noop() for _ in range(n)))
    gathered = time.perf_counter() - started
    started = time.perf_counter()
    await stratum.parallel(*(noop() for _ in range(n)))
    parallel = time.perf_counter() - started
    return gathered / n * 1e6, parallel / n * 1e6


async def timed(make: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await make()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


async def main() -> None:
    gathered, parallel = await per_branch_overhead(10_000)
    print(f"engine: {parallel:.1f} us per branch in parallel() vs {gathered:.1f} us in asyncio.gather (10,000 no-ops)")

    configure()
    one = await timed(lambda: single(text="x"), 200)
    quorum = await timed(lambda: voted(text="x"), 200)
    print(f"quorum=5 call (no latency): {quorum:.2f} ms median vs {one:.2f} ms for a single call")

    configure(test_mode=True, sample_n=5)
    sample = await timed(lambda: sampled(text="x"), 200)
    print(f"stable=False in test mode, sample_n=5 (no latency): {sample:.2f} ms median")

    configure(latency_s=0.1)
    for n in (1, 10, 50):
        started = time.perf_counter()
        await stratum.parallel(*(single(text=str(i)) for i in range(n)))
        took = time.perf_counter() - started
        print(f"parallel: {n:>2} calls of 100 ms each in {took * 1000:.0f} ms wall time (sequential: {n * 100} ms)")


if __name__ == "__main__":
    asyncio.run(main())
