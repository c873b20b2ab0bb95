"""Durable runs in one process: ids, handles, steps, typed errors, the operator command."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, compute, contract, flow, infer
from stratum.clients import ModelInfo
from stratum.testing import ScriptedClient


@contract
class Summary(BaseModel):
    text: str
    words: int


@infer(intent="Summarise {text}")
def summarise(text: str) -> Summary: ...


@compute
async def shout(summary: Summary) -> str:
    return summary.text.upper()


@flow(durable=True, budget=Budget(usd=1.0))
async def digest(text: str) -> str:
    return await shout(await summarise(text=text))


@flow(durable=True)
async def refuses(text: str) -> str:
    raise stratum.PreconditionFailed("refuses", "text is never good enough", {"text": text})


class Opaque:
    """A value the durable layer cannot store: no return annotation, not JSON, not picklable."""

    def __reduce__(self) -> Any:
        raise TypeError("not picklable")


@compute
async def make_opaque() -> Any:
    return Opaque()


@flow(durable=True)
async def keeps_opaque() -> str:
    await make_opaque()
    return "unreachable"


@pytest.fixture
def client() -> ScriptedClient:
    prices = ModelInfo(input_usd_per_token=1e-7, output_usd_per_token=4e-7)
    scripted = ScriptedClient(respond=lambda request: {"text": "short", "words": 1}, model_info=prices)
    stratum.configure(client=scripted, default_model="test-model")
    return scripted


async def test_a_durable_flow_returns_like_a_plain_one_and_records_each_call_as_a_step(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    handle = await stratum.durable.start(digest, "a long text", flow_id="digest-1")
    assert handle.flow_id == "digest-1"
    assert await handle.result(timeout_s=30) == "SHORT"
    status = await handle.status()
    assert status.status == "success" and status.name.endswith(".digest") and status.executor_id == "slot-0"
    steps = await stratum.durable.steps("digest-1")
    assert [(s.name, s.ok) for s in steps] == [("summarise", True), ("shout", True)]
    assert steps[0].cost_usd is not None and steps[0].cost_usd > 0
    (record,) = stratum.trace.records(function="summarise")
    assert record.flow_id == "digest-1" and not record.extra.get("restored")


async def test_starting_the_same_flow_id_twice_attaches_instead_of_running_again(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    first = await stratum.durable.start(digest, "text", flow_id="same")
    await first.result(timeout_s=30)
    second = await stratum.durable.start(digest, "text", flow_id="same")
    assert await second.result(timeout_s=30) == "SHORT"
    assert len(client.requests) == 1
    attached = await stratum.durable.attach("same")
    assert (await attached.status()).status == "success"


async def test_a_flow_id_already_used_with_other_arguments_is_a_conflict(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    await (await stratum.durable.start(digest, "text", flow_id="taken")).result(timeout_s=30)
    with pytest.raises(stratum.FlowConflict) as info:
        await stratum.durable.start(digest, "other text", flow_id="taken")
    assert info.value.flow_id == "taken" and info.value.existing.endswith(".digest")
    with pytest.raises(stratum.FlowConflict) as other:
        await stratum.durable.start(refuses, "text", flow_id="taken")
    assert other.value.requested.endswith(".refuses")


async def test_calling_a_durable_flow_directly_runs_it_under_a_generated_id(
    durable_sqlite: str, client: ScriptedClient
) -> None:
    assert await digest("text") == "SHORT"
    (run,) = await stratum.durable.list_flows()
    assert run.status == "success" and len(run.flow_id) == 36
    assert [r.flow_id for r in await stratum.durable.list_flows(status="error")] == []


async def test_a_failed_run_raises_its_typed_error_through_its_handle(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(refuses, "text", flow_id="no")
    with pytest.raises(stratum.PreconditionFailed) as info:
        await handle.result(timeout_s=30)
    assert info.value.function == "refuses" and info.value.inputs == {"text": "text"}
    status = await handle.status()
    assert status.status == "error" and status.error is not None and status.error.startswith("PreconditionFailed")


async def test_an_outcome_that_cannot_be_stored_is_a_checkpoint_error(durable_sqlite: str) -> None:
    with pytest.raises(stratum.CheckpointError) as info:
        await keeps_opaque()
    assert info.value.step.endswith("make_opaque") and "not picklable" in info.value.reason


async def test_an_unknown_flow_id_is_flow_not_found(durable_sqlite: str, client: ScriptedClient) -> None:
    await digest("text")  # the database exists
    with pytest.raises(stratum.FlowNotFound) as info:
        await stratum.durable.attach("nope")
    assert info.value.flow_id == "nope"
    assert isinstance(info.value, LookupError)


async def test_without_a_backend_a_durable_flow_is_a_config_error() -> None:
    with pytest.raises(stratum.StratumConfigError):
        await digest("text")


async def test_without_a_url_runs_are_kept_under_dot_stratum_readable_by_the_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: ScriptedClient
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUM_DURABLE_URL", raising=False)
    monkeypatch.delenv("STRATUM_CACHE_DIR", raising=False)
    stratum.configure(durable=stratum.durable.dbos(poll_interval_s=0.05, recovery_poll_s=0.1))
    try:
        assert await digest("text") == "SHORT"
    finally:
        await stratum.durable.shutdown()
    home = tmp_path / ".stratum"
    assert (home / "durable.sqlite").is_file()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


async def test_stratum_durable_url_in_the_environment_chooses_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: ScriptedClient
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRATUM_DURABLE_URL", f"sqlite:///{tmp_path / 'from-env.sqlite'}")
    stratum.configure(durable=stratum.durable.dbos(poll_interval_s=0.05, recovery_poll_s=0.1))
    try:
        await (await stratum.durable.start(digest, "text", flow_id="env")).result(timeout_s=30)
    finally:
        await stratum.durable.shutdown()
    assert (tmp_path / "from-env.sqlite").is_file()
    assert not (tmp_path / ".stratum" / "durable.sqlite").exists()
    listed = await asyncio.to_thread(run_cli, f"sqlite:///{tmp_path / 'from-env.sqlite'}", "flows", "list", "--json")
    assert [run["flow_id"] for run in json.loads(listed.stdout)] == ["env"]


def test_a_bad_backend_setting_is_refused_at_once() -> None:
    with pytest.raises(stratum.StratumConfigError):
        stratum.durable.dbos("mysql://nope")
    with pytest.raises(stratum.StratumConfigError):
        stratum.durable.dbos(app_name="Has Spaces")
    with pytest.raises(stratum.StratumConfigError):
        stratum.configure(durable=object())  # type: ignore[arg-type]
    with pytest.raises(stratum.StratumCompileError):
        flow(durable="yes")  # type: ignore[call-overload]


async def test_concurrent_durable_runs_keep_their_own_steps(durable_sqlite: str, client: ScriptedClient) -> None:
    handles = [await stratum.durable.start(digest, f"text {i}", flow_id=f"many-{i}") for i in range(5)]
    results = await asyncio.gather(*(h.result(timeout_s=30) for h in handles))
    assert results == ["SHORT"] * 5
    for i in range(5):
        assert [s.name for s in await stratum.durable.steps(f"many-{i}")] == ["summarise", "shout"]


def run_cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, "-m", "stratum", "--db", database, *args], capture_output=True, text=True, timeout=120, env=env
    )


async def test_the_flows_command_lists_shows_and_cancels_runs(durable_sqlite: str, client: ScriptedClient) -> None:
    await (await stratum.durable.start(digest, "text", flow_id="shown")).result(timeout_s=30)
    listed = await asyncio.to_thread(run_cli, durable_sqlite, "flows", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["flow_id"] == "shown" and run["status"] == "success"
    table = await asyncio.to_thread(run_cli, durable_sqlite, "flows", "list")
    assert table.stdout.splitlines()[0].split() == ["FLOW", "NAME", "STATUS", "CREATED", "UPDATED"]
    shown = await asyncio.to_thread(run_cli, durable_sqlite, "flows", "show", "shown", "--json")
    assert [s["name"] for s in json.loads(shown.stdout)["steps"]] == ["summarise", "shout"]
    finished = await asyncio.to_thread(run_cli, durable_sqlite, "flows", "cancel", "shown")
    assert finished.returncode == 4  # already finished: nothing to cancel
    missing = await asyncio.to_thread(run_cli, durable_sqlite, "flows", "show", "nope")
    assert missing.returncode == 3
