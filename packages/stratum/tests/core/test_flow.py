"""@flow scopes, @compute interchangeability, and the sync shim."""

from __future__ import annotations

import asyncio
import inspect
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import StratumCompileError, compute, contract, flow, infer
from stratum.testing import ScriptedClient


@contract
class Route(BaseModel):
    team: Literal["billing", "tech"]


@infer(intent="Route the ticket")
def route_llm(text: str) -> Route: ...


@compute
async def route_rules(text: str) -> Route:
    return Route(team="billing" if "refund" in text else "tech")


def make_flow(step):  # type: ignore[no-untyped-def]
    @flow
    async def triage(text: str) -> Route:
        return await step(text=text)

    return triage


async def test_infer_and_async_compute_are_interchangeable_in_a_flow(scripted: ScriptedClient) -> None:
    scripted.push({"team": "billing"})
    via_model = await make_flow(route_llm)("refund please")
    via_rules = await make_flow(route_rules)("refund please")
    assert via_model == via_rules and type(via_model) is type(via_rules)


def test_compute_keeps_the_functions_nature_and_signature() -> None:
    @compute
    def sync_step(x: int) -> int:
        return x + 1

    assert sync_step(1) == 2
    assert not inspect.iscoroutinefunction(sync_step)
    assert inspect.iscoroutinefunction(route_rules)
    assert inspect.signature(route_rules) == inspect.signature(route_llm)


def test_flow_on_a_sync_function_is_a_compile_error() -> None:
    with pytest.raises(StratumCompileError, match="async def"):

        @flow
        def not_async() -> None: ...


async def test_calls_in_a_flow_share_its_flow_id_and_tasks_inherit_it(scripted: ScriptedClient) -> None:
    scripted.push({"team": "tech"}, {"team": "tech"}, {"team": "billing"})

    @flow
    async def fan_out() -> None:
        await route_llm(text="a")
        await asyncio.gather(route_llm(text="b"), route_llm(text="refund"))

    await fan_out()
    ids = {r.flow_id for r in stratum.trace.all_records()}
    assert len(ids) == 1 and None not in ids


async def test_concurrent_flows_never_mix_their_scopes(scripted: ScriptedClient) -> None:
    scripted.respond = lambda _r: {"team": "tech"}
    seen: dict[str, set[str | None]] = {}

    @flow
    async def one(name: str) -> None:
        for _ in range(3):
            await route_llm(text=name)
            await asyncio.sleep(0)

    await asyncio.gather(*(one(n) for n in "abcd"))
    for record in stratum.trace.all_records():
        seen.setdefault(record.inputs["text"], set()).add(record.flow_id)
    assert all(len(ids) == 1 for ids in seen.values())
    assert len({next(iter(ids)) for ids in seen.values()}) == 4


async def test_calls_outside_a_flow_have_no_flow_id(scripted: ScriptedClient) -> None:
    scripted.push({"team": "tech"})
    await route_llm(text="x")
    assert stratum.trace.all_records()[-1].flow_id is None


def test_run_drives_a_coroutine_from_sync_code(scripted: ScriptedClient) -> None:
    scripted.push({"team": "tech"})
    assert stratum.run(route_llm(text="x")) == Route(team="tech")


async def test_run_inside_a_running_loop_raises_instead_of_hanging() -> None:
    coro = route_rules(text="x")
    with pytest.raises(RuntimeError, match="inside a running event loop"):
        stratum.run(coro)
