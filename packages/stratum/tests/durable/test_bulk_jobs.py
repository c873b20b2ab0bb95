"""Bulk jobs in one process (embedded SQLite): outcomes in order, typed failures, ids, bad input, the cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import stratum
from stratum import compute, contract, flow, infer
from stratum.cache import SQLiteCacheStore
from stratum.testing import ScriptedClient, prompt_text

queue = stratum.durable.Queue("in-process", worker_concurrency=8, poll_interval_s=0.02)
other_queue = stratum.durable.Queue("in-process-other", poll_interval_s=0.02)


@pytest.fixture
def durable_queues() -> tuple[str, ...]:
    """This process runs the tasks of the jobs it submits (embedded mode)."""
    return (queue.name, other_queue.name)

#: Labels the ensure below refuses (changed by a test: a cached value it now refuses is asked again).
REFUSED: set[str] = {"refused"}


@contract
class Label(BaseModel):
    label: str


@infer(intent="Label the ticket {text}", ensure=lambda out: out.label not in REFUSED, retries=0)
def label(text: str) -> Label: ...


@infer(intent="Label the ticket {text}", cache="global", ensure=lambda out: out.label not in REFUSED, retries=0)
def cached_label(text: str) -> Label: ...


@compute
async def shout(text: str, times: int = 1) -> str:
    return text.upper() * times


@compute
async def keep(value: Any) -> str:
    return repr(value)


@flow
async def label_then_shout(text: str) -> str:
    found = await label(text=text)
    return await shout(found.label, 2)


def answer(request: Any) -> dict[str, str]:
    text = prompt_text(request).split("Label the ticket ", 1)[1].split("\n", 1)[0].strip()
    return {"label": "refused" if "bad" in text else text.lower()}


@pytest.fixture
def client() -> ScriptedClient:
    scripted = ScriptedClient(respond=answer)
    stratum.configure(client=scripted, default_model="test-model")
    return scripted


async def test_results_come_in_input_order_with_typed_failures_and_never_a_drop(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    texts = [f"T{i}" if i % 7 else f"bad {i}" for i in range(60)]
    handle = await stratum.durable.map(label, texts, queue=queue, job_id="labels-1")
    outcomes = await handle.results(timeout_s=60)
    assert len(outcomes) == len(texts)
    for text, outcome in zip(texts, outcomes, strict=True):
        if text.startswith("bad"):
            assert isinstance(outcome, stratum.Failure) and isinstance(outcome.error, stratum.PostconditionFailed)
            assert outcome.error.function == "label" and outcome.error.violations[0].kind == "ensure"
        else:
            assert outcome == stratum.Success(Label(label=text.lower()))
    progress = await handle.progress()
    assert (progress.total, progress.done, progress.failed, progress.pending) == (60, 51, 9, 0)
    assert progress.failures == {"PostconditionFailed": 9} and progress.finished and progress.eta_s == 0


async def test_as_completed_streams_each_item_once_as_it_finishes(durable_sqlite: str, client: ScriptedClient) -> None:
    handle = await stratum.durable.map(label, [f"S{i}" for i in range(40)], queue=queue, job_id="stream")
    seen = [(index, outcome) async for index, outcome in handle.as_completed(timeout_s=60)]
    assert sorted(index for index, _ in seen) == list(range(40))
    assert all(outcome == stratum.Success(Label(label=f"s{index}")) for index, outcome in seen)


async def test_running_the_same_job_id_again_attaches_and_sends_nothing_again(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    texts = [f"A{i}" for i in range(20)]
    first = await (await stratum.durable.map(label, texts, queue=queue, job_id="again")).results(timeout_s=60)
    sent = len(client.requests)
    again = await stratum.durable.map(label, texts, queue=queue, job_id="again")
    assert await again.results(timeout_s=60) == first
    assert len(client.requests) == sent == 20
    attached = await stratum.durable.job("again")
    assert (await attached.progress()).done == 20


async def test_a_job_id_reused_with_another_function_queue_or_items_is_a_conflict(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    await (await stratum.durable.map(label, ["x", "y"], queue=queue, job_id="taken")).results(timeout_s=60)
    attempts = {
        "the job runs another function": lambda: stratum.durable.map(shout, ["x", "y"], queue=queue, job_id="taken"),
        "the job has other items": lambda: stratum.durable.map(label, ["x", "z"], queue=queue, job_id="taken"),
        "the job's items are on queue in-process": lambda: stratum.durable.map(
            label, ["x", "y"], queue=other_queue, job_id="taken"
        ),
        "the job has no budget": lambda: stratum.durable.map(
            label, ["x", "y"], queue=queue, job_id="taken", budget=stratum.Budget(usd=1)
        ),
    }
    for reason, attempt in attempts.items():
        with pytest.raises(stratum.JobConflict) as info:
            await attempt()
        assert info.value.job_id == "taken" and info.value.reason == reason
        assert info.value.existing.endswith(":label")


async def test_an_item_the_function_cannot_take_is_refused_before_anything_is_written(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    cases: list[tuple[Any, list[Any], int]] = [
        (label, ["fine", 42], 1),  # text: str
        (shout, [{"text": "a"}, {"text": "b", "loud": True}], 1),  # no parameter "loud"
        (shout, [{"times": 2}], 0),  # text is required
        (keep, ["fine", lambda: None], 1),  # cannot be stored
    ]
    for n, (fn, items, bad) in enumerate(cases):
        with pytest.raises(stratum.InvalidItem) as info:
            await stratum.durable.map(fn, items, queue=queue, job_id=f"bad-{n}")
        assert (info.value.job_id, info.value.index) == (f"bad-{n}", bad)
        with pytest.raises(stratum.JobNotFound):
            await stratum.durable.job(f"bad-{n}")
    assert len(client.requests) == 0


async def test_a_function_that_is_not_stratums_or_not_at_module_level_is_refused(durable_sqlite: str) -> None:
    async def local(text: str) -> str:
        return text

    with pytest.raises(TypeError):
        await stratum.durable.map(local, ["a"], queue=queue)
    with pytest.raises(TypeError, match="module level"):
        await stratum.durable.map(compute(local), ["a"], queue=queue)
    with pytest.raises(ValueError, match="usd"):
        await stratum.durable.map(label, ["a"], queue=queue, budget=stratum.Budget(ms=100))
    with pytest.raises(ValueError, match="job_id"):
        await stratum.durable.map(label, ["a"], queue=queue, job_id="a/b")


async def test_compute_and_flow_functions_run_too_and_mappings_are_keyword_arguments(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    shouted = await stratum.durable.map(shout, [{"text": "ab", "times": 2}, {"text": "c"}], queue=queue)
    assert await shouted.results(timeout_s=60) == [stratum.Success("ABAB"), stratum.Success("C")]
    flowed = await stratum.durable.map(label_then_shout, ["Q1", "bad one"], queue=queue)
    ok, failed = await flowed.results(timeout_s=60)
    assert ok == stratum.Success("Q1Q1")
    assert isinstance(failed, stratum.Failure) and isinstance(failed.error, stratum.PostconditionFailed)


async def test_repeated_inputs_hit_the_global_cache_and_a_hit_ensure_now_refuses_is_asked_again(
    durable_sqlite: str, client: ScriptedClient, tmp_path: Path
) -> None:
    stratum.configure(cache_store=SQLiteCacheStore(tmp_path / "cache.sqlite"))
    texts = ["same", "other", "same", "same", "other"] * 4
    first = await (await stratum.durable.map(cached_label, texts, queue=queue, job_id="c1")).results(timeout_s=60)
    assert all(o.ok for o in first) and len(client.requests) == 2  # one request per distinct input
    REFUSED.add("other")  # the cached answer for "other" no longer passes ensure
    try:
        client.respond = lambda request: {"label": "fresh"}
        again = await (await stratum.durable.map(cached_label, texts, queue=queue, job_id="c2")).results(timeout_s=60)
    finally:
        REFUSED.discard("other")
    assert ["other" in prompt_text(r) for r in list(client.requests)[2:]] == [True]
    assert {o.value.label for o in again if isinstance(o, stratum.Success)} == {"same", "fresh"}


async def test_a_progress_bar_is_drawn_only_for_a_terminal_or_when_asked(
    durable_sqlite: str, client: ScriptedClient, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = await stratum.durable.map(label, ["p1", "p2"], queue=queue, job_id="quiet")  # stdout is not a TTY
    await quiet.results(timeout_s=60)
    assert capsys.readouterr().out == ""
    shown = await stratum.durable.map(label, ["p3", "p4"], queue=queue, job_id="shown", progress=True)
    await shown.wait(timeout_s=60)
    async with asyncio.timeout(10):
        while "2/2" not in (out := capsys.readouterr().out):
            await asyncio.sleep(0.05)  # the bar refreshes on its own clock
    assert "job shown" in out


def cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "stratum", "--db", database, *args], capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip


async def test_the_jobs_command_lists_and_shows_counts_spend_and_failures_by_type(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    texts = ["ok 1", "bad 2", "ok 3", "bad 4", "ok 5"]
    await (await stratum.durable.map(label, texts, queue=queue, job_id="shown-job")).results(timeout_s=60)
    listed = await asyncio.to_thread(cli, durable_sqlite, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["job_id"], row["done"], row["failed"], row["total"]) == ("shown-job", 3, 2, 5)
    shown = await asyncio.to_thread(cli, durable_sqlite, "jobs", "show", "shown-job")
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split(":", 1) for line in shown.stdout.splitlines() if ":" in line)
    assert lines["state"].strip() == "finished" and lines["failed"].strip() == "2"
    assert "PostconditionFailed  2" in shown.stdout
    as_json = json.loads((await asyncio.to_thread(cli, durable_sqlite, "jobs", "show", "shown-job", "--json")).stdout)
    assert as_json["failures"] == {"PostconditionFailed": 2} and as_json["rate_per_s"] is not None
    missing = await asyncio.to_thread(cli, durable_sqlite, "jobs", "show", "no-such-job")
    assert missing.returncode == 3 and "no-such-job" in missing.stderr
