"""A client's one-time warm-up: once per client and model, off the event loop, never charged to a budget.

The client here is the user's own (``warm(model)`` is the optional part of the client protocol
that LiteLLMClient implements); its warm-up blocks until the test lets it go, so the tests decide
how long it takes without timing anything.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, contract, flow, infer
from stratum.clients import CompletionRequest, CompletionResponse
from stratum.testing import ScriptedClient, virtual_time


@contract
class Label(BaseModel):
    label: Literal["a", "b"]


@infer(intent="Label it", budget=Budget(ms=100))
def label(text: str) -> Label: ...


@infer(intent="Label it", model="other")
def label_with_another_model(text: str) -> Label: ...


class SlowToWarm(ScriptedClient):
    """A scripted client whose first use of a model blocks (in its own thread) until released."""

    def __init__(self) -> None:
        super().__init__(respond=lambda _request: {"label": "a"})
        self.released = threading.Event()
        self.warmed: list[tuple[str, str]] = []  # (model, thread name)

    def warm(self, model: str) -> None:
        self.released.wait(10)
        self.warmed.append((model, threading.current_thread().name))

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        assert any(m == request.model for m, _ in self.warmed), "a request was sent before its warm-up ended"
        return await super().complete(request)


@virtual_time
async def test_the_time_a_call_waits_for_the_warm_up_is_not_charged_to_its_budget() -> None:
    client = SlowToWarm()
    stratum.configure(client=client, default_model="m")

    @flow(budget=Budget(ms=200))
    async def pipeline() -> Label:
        return await label(text="x")

    running = asyncio.create_task(pipeline())
    await asyncio.sleep(3600)  # an hour of (virtual) time passes while the client warms up
    client.released.set()
    assert (await running).label == "a"  # neither the call's 100 ms nor the flow's 200 ms ran out
    (record,) = stratum.trace.records(function="label")
    assert record.warmup_ms > 0 and client.warmed == [("m", "stratum-warmup")]  # in a thread of its own


async def test_concurrent_first_calls_share_one_warm_up_per_model() -> None:
    client = SlowToWarm()
    stratum.configure(client=client, default_model="m")
    calls = [asyncio.create_task(label(text=str(i))) for i in range(3)]
    calls.append(asyncio.create_task(label_with_another_model(text="x")))
    await asyncio.sleep(0)
    client.released.set()
    await asyncio.gather(*calls)
    assert sorted(model for model, _ in client.warmed) == ["m", "other"]
    await label(text="later")
    assert stratum.trace.all_records()[-1].warmup_ms == 0.0 and len(client.warmed) == 2


def test_stratum_warmup_does_it_ahead_of_the_first_call() -> None:
    client = SlowToWarm()
    client.released.set()
    stratum.configure(client=client, default_model="m")
    stratum.warmup()
    assert client.warmed == [("m", "stratum-warmup")]
    stratum.run(label(text="x"))
    assert stratum.trace.all_records()[-1].warmup_ms == 0.0


async def test_configure_warm_starts_the_warm_up_in_the_background(
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    client = SlowToWarm()
    stratum.configure(client=client, default_model="m", warm=True)  # returns at once
    assert client.warmed == []
    client.released.set()
    await wait_until(lambda: client.warmed == [("m", "stratum-warmup")])


def test_warmup_without_a_model_says_what_is_missing() -> None:
    stratum.configure(client=ScriptedClient())
    with pytest.raises(stratum.StratumConfigError):
        stratum.warmup()
