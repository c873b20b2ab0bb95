"""cache="session" and cache="global" (SQLite), single flight, and damaged entries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, BudgetExceeded, StratumConfigError, StratumWarning, cache_key, contract, flow, infer
from stratum.cache import SQLiteCacheStore, default_store
from stratum.clients import LiteLLMClient
from stratum.testing import Reply, ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer
from stratum.trace import SpanData


@contract
class Answer(BaseModel):
    text: str
    score: float


def reply(text: str = "hi", score: float = 0.9) -> dict[str, object]:
    return {"text": text, "score": score}


@contract
class Sourced(BaseModel):  # Answer's fields plus one: a different contract hash
    text: str
    score: float
    source: str


limits = {"min_score": 0.5}


@infer(intent="Answer {question}", ensure=lambda r: r.score > limits["min_score"], cache="global", retries=1)
def answer(question: str) -> Answer: ...


@infer(intent="Answer {question}", ensure=lambda r: r.score > limits["min_score"], cache="session", retries=1)
def remember(question: str) -> Answer: ...


@infer(intent="Answer {question}", cache="none")
def fresh(question: str) -> Answer: ...


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STRATUM_CACHE_DIR", str(tmp_path / "default-cache"))
    limits["min_score"] = 0.5
    yield
    default_store().close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteCacheStore]:
    sqlite = SQLiteCacheStore(tmp_path / "cache.sqlite3")
    stratum.configure(cache_store=sqlite)
    yield sqlite
    sqlite.close()


# -- session ---------------------------------------------------------------------------
async def test_a_session_cache_serves_the_second_identical_call_in_a_flow(scripted: ScriptedClient) -> None:
    scripted.push(reply("first"), reply("second"))

    @flow
    async def twice() -> tuple[Answer, Answer]:
        return await remember(question="q"), await remember(question="q")

    one, two = await twice()
    assert one == two and one is not two  # equal values, separate instances
    assert len(scripted.requests) == 1
    miss, hit = stratum.trace.all_records()
    assert (miss.cache_hit, hit.cache_hit) == (False, True)
    assert (hit.cost_usd, hit.attempts, hit.input_tokens) == (0.0, 0, None)
    assert hit.output == miss.output and hit.flow_id == miss.flow_id


async def test_a_session_cache_lives_for_one_flow_call_and_its_nested_flows(scripted: ScriptedClient) -> None:
    scripted.push(reply("a"), reply("b"))

    @flow
    async def inner() -> Answer:
        return await remember(question="q")

    @flow
    async def outer() -> tuple[Answer, Answer]:
        return await remember(question="q"), await inner()

    first, nested = await outer()
    assert first == nested and len(scripted.requests) == 1  # the nested flow shares the session
    second_flow, _ = await outer()
    assert second_flow.text == "b" and len(scripted.requests) == 2  # a new flow call, a new session


async def test_a_session_cache_outside_a_flow_caches_nothing(scripted: ScriptedClient) -> None:
    scripted.push(reply("a"), reply("b"))
    assert (await remember(question="q")).text == "a"
    assert (await remember(question="q")).text == "b"
    assert [r.cache_hit for r in stratum.trace.all_records()] == [False, False]


# -- keys ----------------------------------------------------------------------------
def test_the_key_changes_with_inputs_intent_context_model_and_contract(scripted: ScriptedClient) -> None:
    base = cache_key(answer, question="q")
    assert cache_key(answer, question="q") == base
    assert cache_key(answer, question="other") != base

    @infer(intent="Answer briefly {question}", ensure=lambda r: r.score > limits["min_score"], cache="global")
    def other_intent(question: str) -> Answer: ...

    @infer(intent="Answer {question}", context="Be terse.", ensure=lambda r: r.score > limits["min_score"])
    def with_context(question: str) -> Answer: ...

    @infer(intent="Answer {question}", ensure=lambda r: r.score > limits["min_score"], model="other-model")
    def other_model(question: str) -> Answer: ...

    @infer(intent="Answer {question}", ensure=lambda r: r.score > limits["min_score"])
    def other_contract(question: str) -> Sourced: ...

    keys = {cache_key(fn, question="q") for fn in (other_intent, with_context, other_model, other_contract)}
    assert len(keys) == 4 and base not in keys
    assert len(base) == 64


def _answerer(temperature: float) -> Any:
    # One qualified name for both: only the temperature tells them apart.
    @infer(intent="Answer {question}", cache="global", temperature=temperature)
    def answer_at(question: str) -> Answer: ...

    return answer_at


async def test_calls_at_different_temperatures_do_not_share_an_entry(
    via_litellm: LocalOpenAIServer, store: SQLiteCacheStore
) -> None:
    cold, hot = _answerer(0.0), _answerer(1.5)
    assert cold.__qualname__ == hot.__qualname__
    via_litellm.push(reply("cold"), reply("hot"))
    assert (await cold(question="q")).text == "cold"
    assert (await hot(question="q")).text == "hot"
    assert (await cold(question="q")).text == "cold"  # and each keeps its own
    assert len(via_litellm.requests) == 2
    assert cache_key(cold, question="q") != cache_key(hot, question="q")


async def test_two_functions_with_the_same_intent_do_not_share_an_entry(
    via_litellm: LocalOpenAIServer, store: SQLiteCacheStore
) -> None:
    @infer(intent="Answer {question}", cache="global")
    def first(question: str) -> Answer: ...

    @infer(intent="Answer {question}", cache="global")
    def second(question: str) -> Answer: ...

    via_litellm.push(reply("first"), reply("second"))
    assert (await first(question="q")).text == "first"
    assert (await second(question="q")).text == "second"
    assert len(via_litellm.requests) == 2


async def test_two_endpoints_serving_the_same_model_name_do_not_share_an_entry(store: SQLiteCacheStore) -> None:
    with LocalOpenAIServer([reply("from a")]) as a, LocalOpenAIServer([reply("from b")]) as b:
        stratum.configure(
            client=LiteLLMClient(api_base=a.url, api_key="sk-local-test"), default_model="openai/gpt-4o-mini"
        )
        assert (await answer(question="q")).text == "from a"
        key_a = cache_key(answer, question="q")
        stratum.configure(client=LiteLLMClient(api_base=b.url, api_key="sk-local-test"))
        assert (await answer(question="q")).text == "from b"
        assert cache_key(answer, question="q") != key_a
        assert (len(a.requests), len(b.requests)) == (1, 1)


def test_the_key_follows_the_clients_sampling_defaults_but_not_its_api_key() -> None:
    base = "http://127.0.0.1:9/v1"
    stratum.configure(client=LiteLLMClient(api_base=base, api_key="sk-one"), default_model="openai/gpt-4o-mini")
    first = cache_key(answer, question="q")
    stratum.configure(client=LiteLLMClient(api_base=base, api_key="sk-two"))
    assert cache_key(answer, question="q") == first  # a rotated key keeps the cache
    stratum.configure(client=LiteLLMClient(api_base=base, api_key="sk-two", top_p=0.1))
    assert cache_key(answer, question="q") != first


# -- global (SQLite) -----------------------------------------------------------------------
async def test_a_global_cache_hit_sends_no_request_and_costs_nothing(
    scripted: ScriptedClient, store: SQLiteCacheStore
) -> None:
    scripted.push(Reply(content='{"text": "hi", "score": 0.9}', cost_usd=0.002))
    first = await answer(question="q")
    second = await answer(question="q")
    assert first == second and len(scripted.requests) == 1
    miss, hit = stratum.trace.all_records()
    assert (miss.cache_hit, miss.cost_usd) == (False, 0.002)
    assert (hit.cache_hit, hit.cost_usd, hit.attempts) == (True, 0.0, 0)
    assert hit.compiled_prompt_hash == miss.compiled_prompt_hash


async def test_a_global_cache_outlives_the_store_object(scripted: ScriptedClient, tmp_path: Path) -> None:
    scripted.push(reply("kept"))
    path = tmp_path / "shared.sqlite3"
    first_store = SQLiteCacheStore(path)
    stratum.configure(cache_store=first_store)
    await answer(question="q")
    first_store.close()
    second_store = SQLiteCacheStore(path)  # as a new process would open it
    stratum.configure(cache_store=second_store)
    assert (await answer(question="q")).text == "kept"
    assert len(scripted.requests) == 1
    second_store.close()


async def test_the_default_store_lives_in_stratum_cache_dir(scripted: ScriptedClient, tmp_path: Path) -> None:
    scripted.push(reply())
    await answer(question="q")
    await answer(question="q")
    assert (tmp_path / "default-cache" / "cache.sqlite3").is_file()
    assert len(scripted.requests) == 1


def test_without_stratum_cache_dir_the_default_is_dot_stratum_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRATUM_CACHE_DIR")
    monkeypatch.chdir(tmp_path)
    assert default_store().path == tmp_path / ".stratum" / "cache.sqlite3"


async def test_a_cached_value_that_now_fails_ensure_is_a_miss_and_is_replaced(
    scripted: ScriptedClient, store: SQLiteCacheStore
) -> None:
    scripted.push(reply("old", 0.6), reply("new", 0.95))
    await answer(question="q")
    limits["min_score"] = 0.8  # the same predicate source now rejects the cached 0.6
    assert (await answer(question="q")).text == "new"
    assert (await answer(question="q")).text == "new"
    assert len(scripted.requests) == 2
    assert [r.cache_hit for r in stratum.trace.all_records()] == [False, False, True]


async def test_a_corrupt_entry_is_a_miss_with_a_warning_and_is_replaced(
    scripted: ScriptedClient, store: SQLiteCacheStore
) -> None:
    key = cache_key(answer, question="q")
    await store.set(key, b"\x00not json")
    scripted.push(reply("repaired"))
    with pytest.warns(StratumWarning, match="unreadable cache entry"):
        assert (await answer(question="q")).text == "repaired"
    assert b"repaired" in (await store.get(key) or b"")
    assert (await answer(question="q")).text == "repaired"
    assert len(scripted.requests) == 1


@pytest.mark.parametrize(
    "entry",
    [
        b'{"v": 1, "contract": "0000", "output": {"text": "x", "score": 1}}',  # another contract
        b'{"v": 99, "output": {}}',  # another format version
        b'[1, 2]',
        None,  # filled in below: right contract, output that does not parse
    ],
)
async def test_entries_that_do_not_fit_the_contract_are_misses(
    scripted: ScriptedClient, store: SQLiteCacheStore, entry: bytes | None
) -> None:
    if entry is None:
        entry = json.dumps({"v": 1, "contract": answer.spec.output.hash, "output": {"text": 5}}).encode()
    await store.set(cache_key(answer, question="q"), entry)
    scripted.push(reply())
    with pytest.warns(StratumWarning, match="unreadable cache entry"):
        assert (await answer(question="q")).text == "hi"


async def test_an_unreadable_database_file_is_a_miss_with_a_warning(scripted: ScriptedClient, tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    broken = SQLiteCacheStore(path)
    stratum.configure(cache_store=broken)
    scripted.push(reply("a"), reply("b"))
    with pytest.warns(StratumWarning) as warned:
        assert (await answer(question="q")).text == "a"
    assert sorted(str(w.message).split(" failed to ")[1][:5] for w in warned) == ["read ", "write"]
    assert (await answer(question="q")).text == "b"  # still working, warned once
    broken.close()


async def test_entries_expire_after_their_ttl(scripted: ScriptedClient, tmp_path: Path) -> None:
    now = [1000.0]
    store = SQLiteCacheStore(tmp_path / "ttl.sqlite3", ttl_s=60, clock=lambda: now[0])
    stratum.configure(cache_store=store)
    scripted.push(reply("a"), reply("b"))
    await answer(question="q")
    now[0] += 59
    assert (await answer(question="q")).text == "a"
    now[0] += 2
    assert (await answer(question="q")).text == "b"
    store.close()


async def test_the_store_keeps_at_most_max_entries(tmp_path: Path) -> None:
    store = SQLiteCacheStore(tmp_path / "small.sqlite3", max_entries=3)
    store._SWEEP_EVERY = 1  # sweep on every write
    for i in range(5):
        await store.set(f"k{i}", b"v")
    assert [await store.get(f"k{i}") for i in range(5)] == [None, None, b"v", b"v", b"v"]
    store.close()


async def test_a_store_that_cannot_write_still_returns_the_result(scripted: ScriptedClient) -> None:
    class ReadOnly:
        async def get(self, key: str) -> bytes | None:
            return None

        async def set(self, key: str, value: bytes) -> None:
            raise PermissionError("read-only")

        async def delete(self, key: str) -> None: ...

    stratum.configure(cache_store=ReadOnly())
    scripted.push(reply("ok"))
    with pytest.warns(StratumWarning, match="failed to write"):
        assert (await answer(question="q")).text == "ok"


async def test_oversized_results_are_not_stored(scripted: ScriptedClient, store: SQLiteCacheStore) -> None:
    huge = "a" * (1 << 20)  # an entry over 1 MiB: a runaway output must not fill the store
    scripted.push(reply(huge), reply("b"))
    assert (await answer(question="q")).text == huge
    assert (await answer(question="q")).text == "b"


def test_configure_rejects_a_store_without_get_set_delete() -> None:
    with pytest.raises(StratumConfigError, match="cache_store"):
        stratum.configure(cache_store={"not": "a store"})


def test_store_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SQLiteCacheStore(tmp_path / "x", ttl_s=0)
    with pytest.raises(ValueError):
        SQLiteCacheStore(tmp_path / "x", max_entries=0)


# -- single flight ---------------------------------------------------------------------
async def test_two_concurrent_identical_calls_send_one_request(
    scripted: ScriptedClient, store: SQLiteCacheStore
) -> None:
    scripted.latency_s = 0.05
    scripted.push(reply("once"))
    results = await asyncio.gather(*(answer(question="q") for _ in range(5)))
    assert {r.text for r in results} == {"once"}
    assert len(scripted.requests) == 1
    assert sorted(r.cache_hit for r in stratum.trace.all_records()) == [False] + [True] * 4


async def test_concurrent_identical_calls_in_one_flow_share_one_session_request(scripted: ScriptedClient) -> None:
    scripted.latency_s = 0.05
    scripted.push(reply("once"))

    @flow
    async def burst() -> list[Answer]:
        return list(await asyncio.gather(*(remember(question="q") for _ in range(3))))

    assert {a.text for a in await burst()} == {"once"}
    assert len(scripted.requests) == 1


async def test_when_the_leading_call_fails_a_waiting_call_sends_its_own(
    scripted: ScriptedClient, store: SQLiteCacheStore
) -> None:
    scripted.latency_s = 0.05
    scripted.push(reply("bad", 0.1), reply("bad", 0.1), reply("good"))  # the leader exhausts its retries
    first, second = await asyncio.gather(answer(question="q"), answer(question="q"), return_exceptions=True)
    assert isinstance(first, stratum.PostconditionFailed)
    assert isinstance(second, Answer) and second.text == "good"
    assert len(scripted.requests) == 3


async def test_a_waiting_call_keeps_its_own_time_budget(
    scripted: ScriptedClient, store: SQLiteCacheStore, wait_until: Any,
) -> None:
    scripted.push(reply("slow"))

    def asker(budget: Budget | None) -> Any:
        # One qualified name for both: only the budget tells them apart.
        @infer(intent="Answer {question}", cache="global", budget=budget)
        def ask(question: str) -> Answer: ...

        return ask

    patient, impatient = asker(None), asker(Budget(ms=50))
    assert cache_key(impatient, question="q") == cache_key(patient, question="q")  # the budget is not in the key
    scripted.hold()  # the leader's answer comes only when the test says so
    leader = asyncio.create_task(patient(question="q"))
    await wait_until(lambda: scripted.in_flight == 1)
    with pytest.raises(BudgetExceeded) as caught:
        async with asyncio.timeout(30):  # without its budget, it would wait for the held leader forever
            await impatient(question="q")
    assert caught.value.axis == "time" and "identical call in flight" in (caught.value.detail or "")
    assert len(scripted.requests) == 1  # the impatient call sent nothing of its own
    scripted.release()
    assert (await leader).text == "slow"  # giving up did not cancel the leader


async def test_cancelling_a_waiting_call_does_not_cancel_the_leader(
    scripted: ScriptedClient, store: SQLiteCacheStore, wait_until: Any) -> None:
    scripted.push(reply("leader"))
    scripted.hold()  # the leader's answer comes only after the follower is cancelled
    leader = asyncio.create_task(answer(question="q"))
    follower = asyncio.create_task(answer(question="q"))
    await wait_until(lambda: scripted.in_flight == 1)
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    scripted.release()
    assert (await leader).text == "leader"
    assert scripted.cancelled == 0 and len(scripted.requests) == 1


# -- spans and the LiteLLM path ---------------------------------------------------------
async def test_a_cache_hit_span_says_cache_hit_with_zero_cost(
    scripted: ScriptedClient, store: SQLiteCacheStore
) -> None:
    collected: list[SpanData] = []

    class Collect:
        def export(self, span: SpanData) -> None:
            collected.append(span)

    stratum.configure(tracer=Collect())
    scripted.push(Reply(content='{"text": "hi", "score": 0.9}', cost_usd=0.001))
    await answer(question="q")
    await answer(question="q")
    miss, hit = (dict(s.attributes) for s in collected)
    assert (miss["stratum.cache_hit"], miss["stratum.cost_usd"]) == (False, 0.001)
    assert (hit["stratum.cache_hit"], hit["stratum.cost_usd"], hit["stratum.attempts"]) == (True, 0.0, 0)
    assert "gen_ai.usage.input_tokens" not in hit


async def test_through_litellm_a_cache_hit_sends_no_http_request(
    via_litellm: LocalOpenAIServer, store: SQLiteCacheStore
) -> None:
    via_litellm.push(reply("from the server"))
    assert (await answer(question="q")).text == "from the server"
    assert (await answer(question="q")).text == "from the server"
    assert len(via_litellm.requests) == 1
    assert [r.cache_hit for r in stratum.trace.all_records()] == [False, True]


async def test_through_litellm_a_session_cache_hit_sends_no_http_request(via_litellm: LocalOpenAIServer) -> None:
    via_litellm.push(reply("session"))

    @flow
    async def twice() -> list[Answer]:
        return [await remember(question="q"), await remember(question="q")]

    assert [a.text for a in await twice()] == ["session", "session"]
    assert len(via_litellm.requests) == 1


# -- a cache that cannot answer in time -------------------------------------------------
@contextlib.contextmanager
def _write_locked(path: Path, *, before_the_store_opens: bool) -> Iterator[None]:
    """Another connection holding the file's write lock (as another process would).

    Held on a file the store already uses (WAL), it blocks writes; held on a
    fresh file before the store opens it, it blocks everything, since the
    store must first switch the file to WAL.
    """
    import sqlite3

    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        if before_the_store_opens:
            locker.execute("CREATE TABLE IF NOT EXISTS other (x)")
        locker.execute("BEGIN EXCLUSIVE")
        if before_the_store_opens:
            locker.execute("INSERT INTO other VALUES (1)")
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


@pytest.mark.parametrize("before_the_store_opens", [False, True], ids=["writes-blocked", "everything-blocked"])
async def test_a_write_locked_sqlite_cache_is_a_miss_within_the_calls_budget(
    via_litellm: LocalOpenAIServer, warm_litellm: Any, tmp_path: Path, before_the_store_opens: bool
) -> None:
    via_litellm.push({"result": True})
    await warm_litellm()  # LiteLLM's first call in a process sets itself up for seconds
    path = tmp_path / "locked.sqlite3"
    store = SQLiteCacheStore(path, timeout_s=60)  # left alone, it would wait a minute for the lock
    stratum.configure(cache_store=store)
    if not before_the_store_opens:
        await store.set("warm", b"the file exists, in WAL mode")

    @infer(intent="Answer {question}", cache="global", budget=Budget(ms=1000))
    def budgeted(question: str) -> Answer: ...

    via_litellm.push(reply("from the model"))
    try:
        with (
            _write_locked(path, before_the_store_opens=before_the_store_opens),
            pytest.warns(StratumWarning, match="did not answer within"),
        ):
            async with asyncio.timeout(20):  # not a speed assertion: the stall would be 60 s
                assert (await budgeted(question="q")).text == "from the model"
    finally:
        store.close()
    assert len(via_litellm.requests) == 2  # the warm-up, and this call's own
    assert stratum.trace.all_records()[-1].ok


async def test_without_a_time_budget_a_stalled_cache_waits_at_most_cache_timeout_s(
    scripted: ScriptedClient, tmp_path: Path
) -> None:
    path = tmp_path / "locked.sqlite3"
    store = SQLiteCacheStore(path, timeout_s=60)
    stratum.configure(cache_store=store, cache_timeout_s=0.2)
    scripted.push(reply("from the model"))
    try:
        with (
            _write_locked(path, before_the_store_opens=True),
            pytest.warns(StratumWarning, match="did not answer within 0.2"),
        ):
            async with asyncio.timeout(20):  # not a speed assertion: the stall would be 60 s
                assert (await answer(question="q")).text == "from the model"
    finally:
        store.close()


# -- several processes ----------------------------------------------------------------------
_WORKER = """
    import asyncio, sys
    from stratum.cache import SQLiteCacheStore

    async def main(path, worker):
        store = SQLiteCacheStore(path, timeout_s=10)
        for i in range(150):
            await store.set(f"w{worker}-{i}", f"value-{worker}-{i}".encode())
            # read what every worker wrote so far: readers and writers interleave
            await store.get(f"w{(worker + 1) % 4}-{i // 2}")
        missing = [i for i in range(150) if await store.get(f"w{worker}-{i}") != f"value-{worker}-{i}".encode()]
        store.close()
        print(len(missing))

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _start_worker(path: Path, worker: int) -> subprocess.Popen[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    command = [sys.executable, "-c", textwrap.dedent(_WORKER), str(path), str(worker)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


async def test_several_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "multi.sqlite3"
    processes = [_start_worker(path, worker) for worker in range(4)]
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == "0"
    store = SQLiteCacheStore(path)
    values: list[Any] = [await store.get(f"w{w}-{i}") for w in range(4) for i in range(150)]
    assert all(v is not None for v in values) and len(values) == 600
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
