"""Durable flows: what a checkpoint costs, on SQLite and on PostgreSQL.

Prints figures; asserts nothing. A client that answers at once isolates the
runtime's own cost: a plain @infer call inside a plain @flow, against the
same call as a durable step (a DBOS step, the request note before sending,
the outcome written as JSON). Then how many durable runs one process starts
per second. PostgreSQL runs on a throwaway local server when its binaries
are installed (``stratum.testing.LocalPostgres``), with fsync off: the
numbers show Stratum's and DBOS's work, not a disk's.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from pydantic import BaseModel

import stratum
from stratum import compute, contract, flow, infer
from stratum.clients import CompletionRequest, CompletionResponse
from stratum.testing import LocalPostgres

STEPS = 50
RUNS = 100


@contract
class Answer(BaseModel):
    label: str
    score: float


@infer(intent="Label {text}")
def label(text: str) -> Answer: ...


@compute
async def normalise(answer: Answer) -> Answer:
    return answer


class NullClient:
    def __init__(self) -> None:
        self._response = CompletionResponse(content='{"label": "ok", "score": 0.9}', model="m", input_tokens=10,
                                            output_tokens=5)  # fmt: skip

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        return self._response


@flow
async def plain(n: int) -> None:
    for i in range(n):
        await normalise(await label(text=str(i)))


@flow(durable=True)
async def durable(n: int) -> None:
    for i in range(n):
        await normalise(await label(text=str(i)))


@flow(durable=True)
async def tiny(i: int) -> int:
    return i


async def per_call_us(fn: object, repeats: int = 3) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn(STEPS)  # type: ignore[operator]
        timings.append((time.perf_counter() - started) / (2 * STEPS) * 1e6)  # two calls per iteration
    return statistics.median(timings)


async def bench(database: str, title: str) -> None:
    stratum.configure(durable=stratum.durable.dbos(database, poll_interval_s=0.2, recovery_poll_s=0.5))
    await durable(1)  # launch, migrations, first registrations
    base = await per_call_us(plain)
    checkpointed = await per_call_us(durable)
    print(f"{title}: plain call {base:8.0f} us | durable step {checkpointed:8.0f} us | overhead "
          f"{checkpointed - base:8.0f} us per step")  # fmt: skip
    started = time.perf_counter()
    handles = [await stratum.durable.start(tiny, i, flow_id=f"{title}-{i}") for i in range(RUNS)]
    launched = time.perf_counter() - started
    await asyncio.gather(*(h.result(timeout_s=120) for h in handles))
    finished = time.perf_counter() - started
    print(f"{title}: {RUNS / launched:8.0f} runs started per second | {RUNS / finished:8.0f} started and finished "
          "per second")  # fmt: skip
    await stratum.durable.shutdown()


async def main() -> None:
    stratum.configure(client=NullClient(), default_model="m")
    with tempfile.TemporaryDirectory(prefix="stratum-bench-") as folder:
        await bench(f"sqlite:///{Path(folder) / 'durable.sqlite'}", "sqlite")
    if LocalPostgres.find() is None:
        print("postgres: skipped (PostgreSQL is not installed)")
        return
    with LocalPostgres() as server:
        await bench(server.url("bench"), "postgres")


if __name__ == "__main__":
    asyncio.run(main())
