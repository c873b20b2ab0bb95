"""Bulk jobs across real processes: a rate limit and a SIGKILL on SQLite, workers sharing PostgreSQL, a job budget.

Every process is real (forked from the preloaded host, ``durable_worker.py``)
and calls a real OpenAI-compatible server on 127.0.0.1 through LiteLLM. The
server's own log (what it received, and when) is the proof of the rate, of
what was in flight at once and of what was (not) sent twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from pydantic import BaseModel

import stratum
from stratum import contract, infer
from stratum.clients import LiteLLMClient
from stratum.testing import LocalPostgres, prompt_text
from stratum.testing.openai_server import LocalOpenAIServer, Served

# LiteLLM's prices for openai/gpt-4o-mini, and how the local server counts tokens.
IN_USD, OUT_USD = 1.5e-7, 6e-7


class Log:
    """What the server received: each item's number, and when (wall clock, as DBOS's limiter counts)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.arrivals: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Served:
        n = int(prompt_text(body).split("Tag item ", 1)[1].split(" ", 1)[0])
        with self._lock:
            self.arrivals.append((time.time(), n))
        return Served({"tag": f"t{n}"}, delay_s=self.delay_s)

    def items(self) -> list[int]:
        with self._lock:
            return [n for _, n in self.arrivals]

    def times(self) -> list[float]:
        with self._lock:
            return [t for t, _ in self.arrivals]


def wait_for(predicate: Callable[[], bool], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within_s} s")
        time.sleep(0.005)  # polling another process's effects, bounded by the deadline


def result_of(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def most_in_any_window(times: list[float], window_s: float) -> int:
    ordered = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.serial  # the rate the server sees is a timing bound: with the rest of the suite beside it, it is not
def test_a_rate_limited_job_killed_halfway_finishes_on_rerun_without_sending_an_item_twice(
    bulk_host: Any, tmp_path: Path
) -> None:
    limit, per_s = bulk_host.bulk["limited"]
    n = 500
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    log = Log()
    with LocalOpenAIServer(respond=log) as server:
        common = {"server": server.url, "db": database, "queue": "limited", "job_id": "tags-500", "n": n}
        first = bulk_host.fork("bulk_submit", out=str(tmp_path / "first.json"), **common)
        finished = tmp_path / "finished"

        half_at: list[float] = []

        def quiet_moment() -> bool:
            """Half done, nothing in flight or unrecorded; preferably with the limiter's window full for a while."""
            sent = log.times()
            if len(sent) < n // 2 or len(sent) > n - 2 * limit or server.in_flight or server.answered < len(sent):
                return False
            half_at[:] = half_at or [time.monotonic()]
            now = time.time()
            recent = [t for t in sent if t > now - per_s]
            # A full window holds `limit` starts: the next comes when the oldest ages out (or, where DBOS counts
            # whole seconds, at the next second). Kill well before either, if such a moment comes in 2 s.
            early = len(recent) < limit or now > min(recent) + per_s - 0.3 or now % 1.0 > 0.7
            if early and time.monotonic() < half_at[0] + 2:
                return False
            return recorded(database, "tags-500") == len(sent)

        wait_for(quiet_moment, within_s=90)
        killed_at = len(log.items())
        os.kill(first, signal.SIGKILL)  # the submitting process, which also runs the items, dies halfway
        assert bulk_host.wait(first) == -signal.SIGKILL
        assert not finished.exists()
        in_the_gap = set(log.items()[killed_at:])  # sent in the moment between the check and the kill

        again = bulk_host.fork("bulk_submit", out=str(tmp_path / "again.json"), **common)
        assert bulk_host.wait(again, within_s=120) == 0, result_of(tmp_path / "again.json")
        result = result_of(tmp_path / "again.json")["ok"]
        sent = log.items()
        times = log.times()

    assert result["tags"] == [f"t{i}" for i in range(n)]  # every item, in input order
    assert result["progress"]["done"] == n and result["progress"]["failed"] == 0
    counts = Counter(sent)
    assert sorted(counts) == list(range(n))
    twice = {item for item, k in counts.items() if k > 1}
    # Nothing finished was sent again; only a request that left in the instant between the check and the
    # kill (in flight when the process died) could be, and normally there is none.
    assert twice <= in_the_gap, f"sent twice: {sorted(twice)}"
    assert n // 2 <= killed_at < n
    # The server never saw more than the limit plus one window's worth in any window: the window's worth
    # covers the time between DBOS starting a task and its request reaching the server. Where DBOS's
    # clock counts whole seconds (SQLite under Python 3.11, see stratum.durable.Queue), its own count
    # already lets two windows' worth start around a second's edge: one window's worth more there.
    coarse_clock = sys.version_info < (3, 12)
    assert most_in_any_window(times, per_s) <= (3 if coarse_clock else 2) * limit


def executor_of(out: Path) -> str:
    """The executor id a ``stratum worker`` printed once it took tasks."""
    printed = out.with_name(out.name + ".stdout")
    wait_for(lambda: printed.exists() and "taking tasks" in printed.read_text(), within_s=60)
    line = next(line for line in printed.read_text().splitlines() if "taking tasks" in line)
    return line.removeprefix("stratum worker ").split(":", 1)[0]


async def pending_items() -> dict[int, str | None]:
    """The job items running now (PENDING in DBOS), by index, and the executor running each."""
    found = await stratum.durable.list_flows(status="pending", limit=1000)
    return {int(f.flow_id.rsplit("/", 1)[1]): f.executor_id for f in found if f.name == "stratum.job_item"}


def submitted(database: str, job_id: str) -> int:
    """Items of the job enqueued so far, read as another process would."""

    async def read() -> int:
        try:
            return (await (await stratum.durable.job(job_id)).progress()).submitted
        except (stratum.JobNotFound, sqlalchemy.exc.OperationalError):  # no job, or no database, yet
            return 0

    return asyncio.run(read())


def recorded(database: str, job_id: str) -> int:
    """Items of the job recorded as finished, read as another process (the CLI) would."""

    async def read() -> int:
        try:
            progress = await (await stratum.durable.job(job_id)).progress()
        except stratum.JobNotFound:
            return 0
        return progress.done + progress.failed

    stratum.configure(durable=stratum.durable.dbos(database, queues=()))  # reads; takes no task
    return asyncio.run(read())


@pytest.mark.timeout(120)  # a PostgreSQL server and four processes on a loaded machine
def test_three_workers_on_postgres_share_a_job_under_one_limit_and_finish_what_a_killed_or_stopped_one_left(
    bulk_host: Any, local_postgres: LocalPostgres, tmp_path: Path
) -> None:
    n, limit = 600, bulk_host.bulk["shared_concurrency"]
    database = local_postgres.url(f"bulk_{uuid.uuid4().hex[:8]}")
    log = Log(delay_s=0.02)
    with LocalOpenAIServer(respond=log) as server:
        common = {"server": server.url, "db": database, "queue": "shared"}
        # The submitter only submits (queues=[]); it creates the database, then the workers join.
        submitter = bulk_host.fork(
            "bulk_submit", out=str(tmp_path / "submit.json"), job_id="shared-600", n=n, queues=[], **common
        )
        workers: list[int] = []
        alive = {submitter}
        try:
            stratum.configure(durable=stratum.durable.dbos(database, queues=()))  # reads; takes no task
            wait_for(lambda: submitted(database, "shared-600") == n, within_s=60)
            outs = [tmp_path / f"w{k}.json" for k in range(3)]
            workers = [bulk_host.fork("bulk_worker", out=str(out), **common) for out in outs]
            alive |= set(workers)
            executors = {executor_of(out): pid for out, pid in zip(outs, workers, strict=True)}
            wait_for(lambda: len(log.items()) >= n // 3, within_s=60)
            server.hold()  # mid-job: the next requests wait at the server, until every slot has one in flight
            wait_for(lambda: server.in_flight >= limit, within_s=30)
            running = asyncio.run(pending_items())
            victim, _ = Counter(running.values()).most_common(1)[0]
            in_flight_there = {item for item, executor in running.items() if executor == victim}
            os.kill(executors[victim], signal.SIGKILL)  # the worker with the most tasks in flight dies
            assert bulk_host.wait(executors[victim]) == -signal.SIGKILL
            alive.discard(executors[victim])
            server.release()

            # Later, another worker is told to stop while its requests are held: past its grace (1 s here), it
            # hands its tasks back to the queue and exits; the last worker runs them.
            wait_for(lambda: len(log.items()) >= 2 * n // 3, within_s=60)
            server.hold()
            wait_for(lambda: server.in_flight >= limit, within_s=30)
            running = asyncio.run(pending_items())
            survivors = [pid for pid in workers if pid != executors[victim]]
            executor_by_pid = {pid: executor for executor, pid in executors.items()}
            stopping = max(survivors, key=lambda pid: list(running.values()).count(executor_by_pid[pid]))
            handed_back = {item for item, executor in running.items() if executor == executor_by_pid[stopping]}
            os.kill(stopping, signal.SIGTERM)
            assert bulk_host.wait(stopping, within_s=60) == 0
            alive.discard(stopping)
            server.release()

            assert bulk_host.wait(submitter, within_s=60) == 0, result_of(tmp_path / "submit.json")
            alive.discard(submitter)
            result = result_of(tmp_path / "submit.json")["ok"]
            (last,) = (pid for pid in survivors if pid != stopping)
            os.kill(last, signal.SIGTERM)  # nothing left in flight: it exits at once
            assert bulk_host.wait(last) == 0
            alive.clear()
        finally:
            server.release()  # (a failure while the requests were held)
            for pid in alive:  # a failed test leaves no process behind (the host, its own, reaps them)
                os.kill(pid, signal.SIGKILL)
        sent = log.items()
        max_in_flight, abandoned = server.max_in_flight, server.abandoned

    assert result["tags"] == [f"t{i}" for i in range(n)]
    assert (result["progress"]["done"], result["progress"]["failed"]) == (n, 0)  # each recorded once
    assert max_in_flight <= limit  # one limit across the three processes
    counts = Counter(sent)
    assert sorted(counts) == list(range(n))
    twice = {item for item, k in counts.items() if k > 1}
    # Exactly what the killed worker had in flight, and what the stopped one handed back, went out again,
    # once; the others finished it.
    assert in_flight_there and handed_back
    assert twice == in_flight_there | handed_back and all(counts[item] == 2 for item in twice)
    assert abandoned >= len(twice)


@contract
class Tag(BaseModel):
    tag: str


@infer(intent="Tag item {n} of the bulk job", retries=0)
def tag_item(n: int) -> Tag: ...


budgeted = stratum.durable.Queue("bulk-budgeted", worker_concurrency=4, poll_interval_s=0.02)


@pytest.fixture
def durable_queues() -> tuple[str, ...]:
    """The budgeted job's tasks run in this process (embedded mode)."""
    return (budgeted.name,)


async def test_a_job_budget_that_runs_out_leaves_spend_within_it_and_the_rest_budget_exceeded(
    durable_sqlite: str,
) -> None:
    log = Log()
    budget = 0.0001  # a request costs ~7e-6 USD and holds its worst case, ~4.5e-5 (64 output tokens), in flight
    with LocalOpenAIServer(respond=log) as server:
        stratum.configure(
            client=LiteLLMClient(api_base=server.url, api_key="sk-local-test"), default_model="openai/gpt-4o-mini",
            max_output_tokens=64, max_transient_retries=0,
        )  # fmt: skip
        handle = await stratum.durable.map(
            tag_item, list(range(40)), queue=budgeted, budget=stratum.Budget(usd=budget), job_id="budgeted"
        )
        outcomes = await handle.results(timeout_s=60)
        progress = await handle.progress()
        bodies = list(server.requests)

    served_usd = sum(
        (len(json.dumps(b["messages"])) // 4) * IN_USD + max(1, len(json.dumps({"tag": "t00"})) // 4) * OUT_USD
        for b in bodies
    )
    done = [o for o in outcomes if isinstance(o, stratum.Success)]
    failed = [o.error for o in outcomes if isinstance(o, stratum.Failure)]
    assert done and failed and len(done) + len(failed) == 40
    assert all(isinstance(error, stratum.BudgetExceeded) for error in failed)  # reported as such, none dropped
    assert all(error.limit == budget and error.spent <= budget for error in failed)
    assert len(bodies) == len(done)  # a refused item sent nothing
    assert progress.spent_usd <= budget and served_usd <= budget * 1.01
    assert progress.failures == {"BudgetExceeded": len(failed)} and progress.held_usd == 0
    worst_usd = max((len(json.dumps(b["messages"])) // 4) * IN_USD for b in bodies) + 64 * OUT_USD
    assert budget - progress.spent_usd < 2 * worst_usd  # it stopped because the budget ran out, not before
