"""Bulk jobs: items per second and client CPU per item, against a plain asyncio.gather of the same calls.

Prints figures; asserts nothing. Each configuration runs ``--items`` calls of
one ``@infer`` function (``_bulk_app.tag``):

- ``gather``: ``asyncio.gather`` of the calls in this process, at most
  ``PER_PROCESS`` at once; no durability;
- ``sqlite embedded``: ``stratum.durable.map`` on SQLite, the submitting
  process running the items itself;
- ``postgres N workers``: the submitter only submits; N ``stratum worker``
  processes on a throwaway local PostgreSQL (fsync off) run the items.

Twice: with a scripted client that answers at once (the engine's overhead
alone) and through the local OpenAI-compatible server answering after
``--latency-ms``. CPU is user + system time of every client process
(submitter and workers), divided by the items. Usage::

    python benchmarks/bulk.py [--items 10000] [--workers 1,2,4] [--latency-ms 50]

Under ``run_all.py`` the default is 2,000 items, to fit its 15 minutes a script.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(HERE))

import _bulk_app  # noqa: E402 -- after the path that finds it
from _report import row  # noqa: E402

import stratum  # noqa: E402
from stratum.testing import LocalPostgres  # noqa: E402
from stratum.testing.openai_server import LocalOpenAIServer, Served  # noqa: E402


def cpu_s() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


LABEL = [""]


def report(title: str, items: int, wall_s: float, cpu: float) -> None:
    print(f"{title:<28} {items / wall_s:9.1f} items/s {cpu / items * 1e3:9.2f} ms CPU/item", flush=True)
    row("bulk", f"{title}, {LABEL[0]}", f"{items / wall_s:.0f} items/s, {cpu / items * 1e3:.1f} ms CPU/item",
        note=f"{items} items")  # fmt: skip


async def gather(items: int) -> None:
    gate = asyncio.Semaphore(_bulk_app.PER_PROCESS)

    async def one(n: int) -> object:
        async with gate:
            return await _bulk_app.tag(n=n)

    await asyncio.gather(*(one(n) for n in range(items)))


async def submit(database: str, items: int, *, run_here: bool) -> None:
    stratum.configure(durable=stratum.durable.dbos(database, queues=None if run_here else ()))
    try:
        handle = await stratum.durable.map(_bulk_app.tag, list(range(items)), queue=_bulk_app.queue,
                                           job_id=f"bench-{uuid.uuid4().hex[:8]}", progress=False)  # fmt: skip
        outcomes = await handle.results(timeout_s=3600)
        failed = sum(1 for o in outcomes if not o.ok)
        if failed:
            print(f"  ({failed} items failed)")
    finally:
        await stratum.durable.shutdown()


def workers(database: str, n: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    command = [sys.executable, "-m", "stratum", "--db", database, "worker", "--queue", _bulk_app.queue.name,
               "--import", "_bulk_app"]  # fmt: skip
    return [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(n)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        p.wait(60)


async def measure(title: str, items: int, run: object, started: list[subprocess.Popen[bytes]] | None = None) -> None:
    cpu, wall = cpu_s(), time.perf_counter()
    await run  # type: ignore[misc]
    elapsed = time.perf_counter() - wall
    if started:
        stop(started)  # their CPU is counted once they are reaped
    report(title, items, elapsed, cpu_s() - cpu)


async def suite(label: str, items: int, counts: list[int], postgres: LocalPostgres | None) -> None:
    print(f"-- {label}, {items} items", flush=True)
    LABEL[0] = label
    _bulk_app.configure_client()
    await measure("gather", items, gather(items))
    with tempfile.TemporaryDirectory(prefix="stratum-bench-") as folder:
        await measure("sqlite embedded", items, submit(f"sqlite:///{Path(folder) / 'd.sqlite'}", items, run_here=True))
    if postgres is None:
        print("postgres: skipped (PostgreSQL is not installed)")
        return
    for n in counts:
        database = postgres.url(f"bench_{uuid.uuid4().hex[:8]}")
        # The database exists (and the worker processes have started) before the clock starts.
        await submit(database, 1, run_here=True)
        started = workers(database, n)
        await asyncio.sleep(5)
        await measure(f"postgres {n} worker(s)", items, submit(database, items, run_here=False), started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    under_run_all = os.environ.get("STRATUM_BENCH_ROWS") == "1"
    parser.add_argument("--items", type=int, default=2_000 if under_run_all else 10_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n]
    postgres = LocalPostgres() if LocalPostgres.find() is not None else None
    if postgres is not None:
        postgres.__enter__()
    try:
        os.environ.pop("BENCH_SERVER", None)
        await suite("scripted client", args.items, counts, postgres)
        delay = args.latency_ms / 1000

        with LocalOpenAIServer(respond=lambda body: Served({"tag": "t"}, delay_s=delay)) as server:
            os.environ["BENCH_SERVER"] = server.url
            await suite(f"local server at {args.latency_ms:g} ms", args.items, counts, postgres)
    finally:
        if postgres is not None:
            postgres.__exit__(None, None, None)


if __name__ == "__main__":
    asyncio.run(main())
