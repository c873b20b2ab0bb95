"""Durable runs against real crashes: worker processes killed with SIGKILL, then recovered.

Every worker is a real process (forked from a preloaded host, see
``durable_worker.py``) calling a real OpenAI-compatible server on 127.0.0.1
through LiteLLM, with DBOS on SQLite or on a PostgreSQL server this suite
starts. The server's request log is the proof of what was (not) sent again.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import stratum
from stratum.testing import LocalPostgres, prompt_text
from stratum.testing.openai_server import LocalOpenAIServer, Served

# LiteLLM's prices for openai/gpt-4o-mini, and how the local server counts tokens.
IN_USD, OUT_USD = 1.5e-7, 6e-7


def kind_of(body: dict[str, Any]) -> tuple[str, ...]:
    text = prompt_text(body)
    if "Draft a reply" in text:
        return ("draft",)
    if "Polish the approved reply" in text:
        return ("polish",)
    marker = text.split("Step ", 1)[1].split("\n", 1)[0]  # the intent's line: "3 of run run-7"
    k, _, run = marker.partition(" of run ")
    return ("step", run.strip(), k.strip())


def answer(body: dict[str, Any]) -> Served:
    kind = kind_of(body)
    if kind[0] == "draft":
        return Served({"text": "We are sorry; your parcel ships today."}, delay_s=0.02)
    if kind[0] == "polish":
        return Served({"text": "We are sorry - your parcel ships today."}, delay_s=0.02)
    return Served({"result": f"{kind[1]}-{kind[2]}"}, delay_s=0.015)


def cost(body: dict[str, Any]) -> float:
    content = json.dumps(answer(body).content)
    return (len(json.dumps(body["messages"])) // 4) * IN_USD + max(1, len(content) // 4) * OUT_USD


def wait_for(predicate: Callable[[], bool], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within_s} s")
        time.sleep(0.005)  # polling another process's effects, bounded by the deadline


def result_of(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'durable.sqlite'}"
    server: LocalPostgres = request.getfixturevalue("local_postgres")
    return server.url(f"review_{uuid.uuid4().hex[:8]}")


def cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    command = [sys.executable, "-m", "stratum", "--db", database, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


async def test_a_review_survives_sigkill_and_is_resolved_from_another_process(
    worker_host: Any, database: str, tmp_path: Path
) -> None:
    spans = tmp_path / "spans.jsonl"
    with LocalOpenAIServer(respond=answer) as server:
        common = {"server": server.url, "db": database, "spans": str(spans), "ticket": "late parcel"}
        first = worker_host.fork("review_start", flow_id="ticket-1", out=str(tmp_path / "first.json"), **common)
        stratum.configure(durable=stratum.durable.dbos(database, queues=()))  # this process only reads and resolves
        try:
            review = await wait_for_review("ticket-1")
            assert review.context.question == "Send this reply?" and review.options == ("approve", "reject")
            assert [kind_of(b) for b in server.requests] == [("draft",)]
            os.kill(first, signal.SIGKILL)  # process 1 dies while the review waits
            assert worker_host.wait(first) == -signal.SIGKILL

            review_id = review.review_id
            resolved = cli(database, "reviews", "resolve", review_id, "approve", "--reviewer", "ana")  # process 2
            assert resolved.returncode == 0, resolved.stderr
            again = cli(database, "reviews", "resolve", review_id, "reject")
            assert again.returncode == 4  # decided already: not a second decision

            third = worker_host.fork("review_recover", flow_id="ticket-1", out=str(tmp_path / "third.json"), **common)
            assert worker_host.wait(third) == 0, result_of(tmp_path / "third.json")
            assert result_of(tmp_path / "third.json")["ok"] == {
                "sent": "We are sorry - your parcel ships today.", "reviewer": "ana"
            }  # fmt: skip
            # Exactly one request per completed step; the draft before the crash was not sent again.
            assert [kind_of(b) for b in server.requests] == [("draft",), ("polish",)]
            status = await (await stratum.durable.attach("ticket-1")).status()
            assert status.status == "success"
        finally:
            await stratum.durable.shutdown()

    # The recovered run continues the same trace; the restored step says so and the new one does not.
    lines = [json.loads(line) for line in spans.read_text().splitlines()]
    assert len({line["trace_id"] for line in lines}) == 1
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        by_pid.setdefault(line["pid"], []).append(line)
    before, after = (by_pid[pid] for pid in sorted(by_pid, key=lambda p: lines.index(by_pid[p][0])))
    assert [s["name"] for s in before] == ["infer draft_reply"]
    restored = {s["name"]: s["attributes"].get("stratum.checkpoint.restored", False) for s in after}
    assert restored == {"infer draft_reply": True, "infer polish_reply": False, "flow review_flow": False}


async def test_a_review_that_expires_while_no_process_runs_times_out_when_the_flow_recovers(
    worker_host: Any, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    with LocalOpenAIServer(respond=answer) as server:
        common = {"server": server.url, "db": database, "ticket": "late parcel", "env": {"REVIEW_TIMEOUT_S": 3}}
        first = worker_host.fork("review_start", flow_id="t-2", out=str(tmp_path / "a.json"), **common)
        stratum.configure(durable=stratum.durable.dbos(database, queues=()))  # this process only reads and resolves
        try:
            review = await wait_for_review("t-2")
            os.kill(first, signal.SIGKILL)
            worker_host.wait(first)
            assert review.expires_at is not None
            wait_for(lambda: time.time() > review.expires_at.timestamp())  # type: ignore[union-attr]
            late = cli(database, "reviews", "resolve", review.review_id, "approve")
            assert late.returncode == 4 and "timed_out" in late.stderr  # too late: refused, nothing delivered

            second = worker_host.fork("review_recover", flow_id="t-2", out=str(tmp_path / "b.json"), **common)
            assert worker_host.wait(second) == 0
            assert result_of(tmp_path / "b.json")["ok"] == {"sent": None, "reviewer": "auto"}  # on_timeout applied
            assert [kind_of(b) for b in server.requests] == [("draft",)]
        finally:
            await stratum.durable.shutdown()


def test_kill_9_at_random_points_of_a_five_step_flow_never_resends_a_completed_step(
    worker_host: Any, tmp_path: Path
) -> None:
    rng = random.Random(14)  # fixed: the kill points are random but the same on every run
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    runs: list[str] = []
    last_before_kill: dict[str, tuple[str, ...] | None] = {}
    with LocalOpenAIServer(respond=answer) as server:

        def of(run: str) -> list[tuple[str, ...]]:
            return [k for k in (kind_of(b) for b in list(server.requests)) if k[0] == "step" and k[1] == run]

        for i in range(20):
            run = f"run-{i:02d}"
            runs.append(run)
            out = tmp_path / f"chain-{i}.json"
            pid = worker_host.fork("chain", server=server.url, db=database, runs=list(runs), out=str(out))
            let_through = rng.randint(0, 5)
            in_flight = let_through < 5 and rng.random() < 0.5
            wanted = let_through + (1 if in_flight else 0)
            wait_for(lambda: len(of(run)) >= wanted or out.exists())  # noqa: B023 -- used at once
            if not in_flight:
                time.sleep(rng.uniform(0, 0.05))  # a random moment after the last answer, not a synchronisation
            os.kill(pid, signal.SIGKILL)
            worker_host.wait(pid)
            seen = of(run)
            last_before_kill[run] = seen[-1] if seen else None

        final = tmp_path / "final.json"
        pid = worker_host.fork("chain", server=server.url, db=database, runs=list(runs), out=str(final))
        assert worker_host.wait(pid) == 0, result_of(final)
        results = result_of(final)["ok"]
        requests = [(kind_of(b), cost(b)) for b in list(server.requests)]

    for run in runs:
        assert results[run] == [f"{run}-{k}" for k in range(1, 6)]  # every run completed
        counts = Counter(kind for kind, _ in requests if kind[1] == run)
        assert sorted(counts) == [("step", run, str(k)) for k in range(1, 6)]
        resent = {kind for kind, n in counts.items() if n > 1}
        # Only the request in flight at the kill may go out again, once; no completed step is re-sent.
        assert resent <= {last_before_kill[run]} and all(n <= 2 for n in counts.values())
        spent = sum(c for kind, c in requests if kind[1] == run)
        assert spent <= worker_host.budgets["five_steps"]


def test_a_recovered_run_spends_only_what_its_budget_has_left(worker_host: Any, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    with LocalOpenAIServer(respond=answer) as server:

        def of(run: str) -> list[tuple[tuple[str, ...], float]]:
            return [(kind, cost(b)) for b in list(server.requests) if (kind := kind_of(b))[1:2] == (run,)]

        clean = worker_host.fork("spend", server=server.url, db=database, run="clean", out=str(tmp_path / "c.json"))
        assert worker_host.wait(clean) == 0
        uncrashed = result_of(tmp_path / "c.json")["ok"]

        crashed = tmp_path / "crashed.json"
        pid = worker_host.fork("spend", server=server.url, db=database, run="crashed", out=str(crashed))
        wait_for(lambda: len(of("crashed")) >= 3)
        os.kill(pid, signal.SIGKILL)
        worker_host.wait(pid)
        sent_before = len(of("crashed"))
        pid = worker_host.fork("spend", server=server.url, db=database, run="crashed", out=str(crashed))
        assert worker_host.wait(pid) == 0
        recovered = result_of(crashed)["ok"]
        requests = of("crashed")

    budget = worker_host.budgets["spend"]
    steps_done = len(recovered) - 1  # the last item says where the budget stopped it
    assert recovered[:steps_done] == [f"crashed-{k}" for k in range(1, steps_done + 1)]
    assert uncrashed[-1].startswith(f"stopped at {len(uncrashed)}") and recovered[-1].startswith("stopped at")
    assert steps_done <= len(uncrashed) - 1  # the restart bought no extra step
    assert sum(c for _, c in requests) <= budget  # and the whole run, both processes, stayed within budget
    counts = Counter(kind for kind, _ in requests)
    assert sum(n - 1 for n in counts.values()) <= 1 and sent_before >= 3


def test_a_step_in_flight_at_the_crash_is_sent_again_and_its_lost_request_is_counted_and_charged(
    worker_host: Any, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    with LocalOpenAIServer(respond=answer) as server:
        server.hold()  # the first request stays in flight: the crash comes before its answer
        out = tmp_path / "run.json"
        pid = worker_host.fork("spend", server=server.url, db=database, run="held", out=str(out))
        wait_for(lambda: server.in_flight >= 1)
        os.kill(pid, signal.SIGKILL)
        worker_host.wait(pid)
        server.release()
        pid = worker_host.fork("spend", server=server.url, db=database, run="held", out=str(out))
        assert worker_host.wait(pid) == 0, result_of(out)
        result = result_of(out)
        counts = Counter(kind_of(b) for b in list(server.requests))

    assert counts[("step", "held", "1")] == 2  # at least once: the lost request went out again
    assert all(n == 1 for kind, n in counts.items() if kind != ("step", "held", "1"))
    (lost,) = result["lost"]
    assert lost["function"].endswith("step") and lost["attempts"] == 1 and lost["usd"] > 0
    steps_done = len(result["ok"]) - 1
    assert steps_done >= 1 and result["ok"][-1].startswith("stopped at")


async def wait_for_review(flow_id: str, within_s: float = 60) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = await stratum.reviews.pending(flow_id=flow_id)
        if found:
            return found[0]
        await asyncio.sleep(0.02)  # polling another process's effects, bounded by the deadline
    raise AssertionError(f"no review of {flow_id} within {within_s} s")


async def test_a_changed_prompt_fails_the_recovered_run_with_replay_mismatch(worker_host: Any, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    stratum.configure(durable=stratum.durable.dbos(database, queues=()))  # this process only reads and resolves
    with LocalOpenAIServer(respond=answer) as server:
        common = {"server": server.url, "db": database, "ticket": "late parcel"}
        first = worker_host.fork("review_start", flow_id="t-3", out=str(tmp_path / "a.json"), **common)
        await wait_for_review("t-3")  # the draft's checkpoint is committed: the review is the step after it
        os.kill(first, signal.SIGKILL)
        worker_host.wait(first)
        second = worker_host.fork(
            "review_recover", flow_id="t-3", out=str(tmp_path / "b.json"), env={"DRAFT_TONE": "friendly"}, **common
        )
        assert worker_host.wait(second) == 1
        failure = result_of(tmp_path / "b.json")
        assert len(server.requests) == 1  # nothing was sent under the changed code

    assert failure["error"] == "ReplayMismatch"
    fields = failure["fields"]
    assert fields["step"] == "draft_reply" and fields["field"] == "compiled_prompt_hash"
    assert fields["recorded"] != fields["current"] and fields["flow_id"] == "t-3"
    status = await (await stratum.durable.attach("t-3")).status()
    assert status.status == "error" and status.error is not None and status.error.startswith("ReplayMismatch")
    await stratum.durable.shutdown()


async def test_a_changed_contract_of_a_compute_step_fails_the_recovered_run_with_replay_mismatch(
    worker_host: Any, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    stratum.configure(durable=stratum.durable.dbos(database, queues=()))  # this process only reads and resolves
    with LocalOpenAIServer(respond=answer) as server:
        common = {"server": server.url, "db": database, "ticket": "late parcel again"}
        first = worker_host.fork("tally", flow_id="t-4", out=str(tmp_path / "a.json"), **common)
        await wait_for_review("t-4")  # the compute step's checkpoint is committed before the review
        os.kill(first, signal.SIGKILL)
        worker_host.wait(first)
        second = worker_host.fork(
            "tally", flow_id="t-4", out=str(tmp_path / "b.json"), env={"TALLY_CONTRACT": "v2"}, **common
        )
        assert worker_host.wait(second) == 1
        failure = result_of(tmp_path / "b.json")

    assert failure["error"] == "ReplayMismatch", failure
    fields = failure["fields"]
    assert fields["step"].endswith("count_words") and fields["field"] == "contract_hash"
    assert fields["recorded"] != fields["current"] and fields["flow_id"] == "t-4"
    await stratum.durable.shutdown()
