"""stratum.parallel and stratum.race: results, failures, and cancellation that really stops."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    Failure,
    ParallelFailure,
    ParallelValidationFailed,
    Success,
    contract,
    flow,
    infer,
    parallel,
    race,
)
from stratum.clients import CompletionRequest
from stratum.testing import Reply, ScriptedClient, prompt_text, virtual_time
from stratum.testing.openai_server import Served


@contract
class Topic(BaseModel):
    name: str
    kind: Literal["fast", "slow", "broken"]


@infer(intent="Name the topic of the text")
def topic(text: str) -> Topic: ...


def by_text(latency: dict[str, float]) -> ScriptedClient:
    """A scripted client answering each text after the latency given for it ("boom..." raises)."""

    def respond(request: CompletionRequest) -> object:
        text = next(t for t in latency if f'text: "{t}"' in prompt_text(request))
        if text.startswith("boom"):
            return ProviderDown(text)  # the scripted client raises exception instances
        return Reply(f'{{"name": "{text}", "kind": "fast"}}', latency_s=latency[text])

    client = ScriptedClient(respond=respond)
    stratum.configure(client=client, default_model="test-model")
    return client


class ProviderDown(Exception):
    """Stands for a provider error that is not transient (it reaches the caller unchanged)."""


async def fails(message: str) -> object:
    raise ProviderDown(message)


async def value(result: object, delay: float = 0.0) -> object:
    if delay:
        await asyncio.sleep(delay)  # stands for a branch's own work
    return result


# -- require="all" ------------------------------------------------------------


async def test_all_returns_a_tuple_in_input_order_whatever_order_the_branches_finish() -> None:
    client = by_text({"one": 0.15, "two": 0.0, "three": 0.08})
    result = await parallel(topic(text="one"), topic(text="two"), topic(text="three"))
    assert isinstance(result, tuple)
    assert [t.name for t in result] == ["one", "two", "three"]
    assert len(client.requests) == 3


async def test_all_raises_the_first_failure_itself_and_cancels_the_other_branches(live_tasks: Any) -> None:
    client = by_text({"slow-a": 5.0, "boom": 0.0, "slow-b": 5.0})
    before = live_tasks()
    with pytest.raises(ProviderDown) as info:
        await parallel(topic(text="slow-a"), topic(text="boom"), topic(text="slow-b"))
    assert str(info.value) == "boom"
    assert client.cancelled == 2  # both in-flight requests were interrupted, not left running
    assert client.in_flight == 0
    assert live_tasks() == before
    # Every call still left its trace record: two cancelled, one failed.
    errors = sorted(r.error.type for r in stratum.trace.all_records() if r.error)
    assert errors == ["CancelledError", "CancelledError", "ProviderDown"]


async def test_all_raises_a_group_only_when_several_branches_failed() -> None:
    with pytest.raises(ParallelFailure) as info:
        await parallel(fails("a"), value(1), fails("c"))
    group = info.value
    assert group.require == "all"
    assert group.indices == (0, 2)
    assert [str(e) for e in group.exceptions] == ["a", "c"]
    assert isinstance(group, ExceptionGroup) and isinstance(group, stratum.StratumRuntimeError)


async def test_a_failure_group_can_be_handled_with_except_star() -> None:
    handled = []
    try:
        await parallel(fails("a"), fails("b"))
    except* ProviderDown as group:
        handled = [str(e) for e in group.exceptions]
    assert handled == ["a", "b"]


# -- require="any" ------------------------------------------------------------


async def test_any_returns_the_first_success_and_cancels_the_losers(live_tasks: Any) -> None:
    client = by_text({"slow-a": 5.0, "quick": 0.02, "slow-b": 5.0})
    before = live_tasks()
    winner = await parallel(topic(text="slow-a"), topic(text="quick"), topic(text="slow-b"), require="any")
    assert winner.name == "quick"
    assert client.cancelled == 2
    assert live_tasks() == before


async def test_any_skips_failures_until_a_branch_succeeds() -> None:
    assert await parallel(fails("a"), value("late", 0.02), fails("c"), require="any") == "late"


async def test_any_raises_every_failure_when_all_branches_fail() -> None:
    with pytest.raises(ParallelFailure) as info:
        await parallel(fails("a"), fails("b"), fails("c"), require="any")
    assert (info.value.require, info.value.indices, info.value.succeeded) == ("any", (0, 1, 2), 0)
    assert [str(e) for e in info.value.exceptions] == ["a", "b", "c"]


# -- require=N ----------------------------------------------------------------


@virtual_time  # the branches finish exactly in the order of their latencies
async def test_n_returns_the_first_n_successes_in_completion_order_and_cancels_the_rest() -> None:
    client = by_text({"third": 0.2, "first": 0.0, "never": 5.0, "second": 0.1})
    result = await parallel(
        topic(text="third"), topic(text="first"), topic(text="never"), topic(text="second"), require=2
    )
    assert [t.name for t in result] == ["first", "second"]
    assert client.cancelled == 2  # "third" and "never" were still waiting


async def test_n_raises_as_soon_as_n_successes_are_out_of_reach() -> None:
    client = by_text({"boom-1": 0.0, "boom-2": 0.0, "slow": 5.0})
    with pytest.raises(ParallelFailure) as info:
        await parallel(topic(text="boom-1"), topic(text="slow"), topic(text="boom-2"), require=2)
    assert (info.value.require, info.value.indices, info.value.succeeded) == (2, (0, 2), 0)
    assert client.cancelled == 1  # "slow" was interrupted, not waited for


# -- require=0 ----------------------------------------------------------------


async def test_zero_waits_for_every_branch_and_reports_each_outcome_in_input_order() -> None:
    result = await parallel(value("a", 0.03), fails("b"), value("c"), require=0)
    assert result[0] == Success("a") and result[2] == Success("c")
    assert isinstance(result[1], Failure) and str(result[1].error) == "b"
    assert [o.ok for o in result] == [True, False, True]


# -- validate -----------------------------------------------------------------


async def test_validate_false_raises_parallel_validation_failed_with_the_results() -> None:
    with pytest.raises(ParallelValidationFailed) as info:
        await parallel(value(1), value(2), validate=lambda results: sum(results) > 10)
    assert info.value.results == (1, 2)
    assert await parallel(value(1), value(2), validate=lambda results: sum(results) == 3) == (1, 2)


async def test_validate_may_be_async_and_sees_what_any_would_return() -> None:
    seen = []

    async def check(result: object) -> bool:
        seen.append(result)
        return False

    with pytest.raises(ParallelValidationFailed) as info:
        await parallel(value("x"), require="any", validate=check)
    assert seen == ["x"] and info.value.results == ("x",)


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize("require", ["some", -1, 4, True, 1.5])
async def test_an_impossible_require_is_a_clear_error_and_closes_the_coroutines(require: object) -> None:
    coros = [value(1), value(2), value(3)]
    with pytest.raises(ValueError, match="require must be"):
        await parallel(*coros, require=require)  # type: ignore[arg-type]
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CLOSED for c in coros)


async def test_passing_a_function_instead_of_a_call_is_a_clear_type_error() -> None:
    pending = value(1)
    with pytest.raises(TypeError, match=r"argument 1 is not awaitable.*call it first"):
        await parallel(pending, topic)  # type: ignore[arg-type]
    assert inspect.getcoroutinestate(pending) == inspect.CORO_CLOSED


async def test_nothing_to_run_gives_an_empty_result_for_all_and_zero() -> None:
    assert await parallel() == ()
    assert await parallel(require=0) == []
    with pytest.raises(ValueError):
        await parallel(require="any")
    with pytest.raises(ValueError):
        await race()


# -- concurrency, scope, cancellation -------------------------------------------


async def test_every_branch_is_in_flight_at_once_not_one_after_another(wait_until: Any) -> None:
    client = by_text({f"t{i}": 0.0 for i in range(5)})
    client.hold()
    running = asyncio.create_task(parallel(*(topic(text=f"t{i}") for i in range(5))))
    await wait_until(lambda: client.in_flight == 5)  # run one after another, only one would ever be
    client.release()
    result = await running
    assert [t.name for t in result] == [f"t{i}" for i in range(5)]
    assert client.max_in_flight == 5


async def test_branches_run_inside_the_callers_flow() -> None:
    by_text({"a": 0.0, "b": 0.0})

    @flow
    async def both() -> tuple[Topic, Topic]:
        return await parallel(topic(text="a"), topic(text="b"))

    await both()
    flow_ids = {r.flow_id for r in stratum.trace.all_records()}
    assert len(flow_ids) == 1 and None not in flow_ids


async def test_cancelling_the_caller_cancels_every_branch(live_tasks: Any, wait_until: Any) -> None:
    client = by_text({"a": 5.0, "b": 5.0, "c": 5.0})
    before = live_tasks()
    outer = asyncio.ensure_future(parallel(topic(text="a"), topic(text="b"), topic(text="c")))
    await wait_until(lambda: len(client.requests) == 3)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert client.cancelled == 3
    assert live_tasks() == before


# -- race -----------------------------------------------------------------------


async def test_race_returns_the_first_to_finish_and_cancels_the_others(live_tasks: Any) -> None:
    client = by_text({"slow": 5.0, "quick": 0.01})
    before = live_tasks()
    winner = await race(topic(text="slow"), topic(text="quick"))
    assert winner.name == "quick"
    assert client.cancelled == 1
    assert live_tasks() == before


async def test_race_ignores_branches_that_fail_before_the_winner() -> None:
    assert await race(fails("early"), value("winner", 0.02)) == "winner"


async def test_race_reraises_the_last_error_with_the_others_attached() -> None:
    with pytest.raises(ProviderDown) as info:
        await race(fails("first"), _late_failure("last"))
    err = info.value
    assert str(err) == "last"
    assert [str(e) for e in err.race_failures] == ["first"]  # type: ignore[attr-defined]
    assert any("first" in note for note in err.__notes__)


async def _late_failure(message: str) -> object:
    await asyncio.sleep(0.02)
    raise ProviderDown(message)


# -- through LiteLLM ------------------------------------------------------------


def served_by_text(delays: dict[str, float]) -> Callable[[dict[str, Any]], Served]:
    def respond(body: dict[str, Any]) -> Served:
        text = next(t for t in delays if f'text: "{t}"' in prompt_text(body))
        return Served(content={"name": text, "kind": "slow"}, delay_s=delays[text])

    return respond


async def test_parallel_through_litellm_sends_the_requests_concurrently(
    through_litellm: Any, warm_litellm: Any, wait_until: Any) -> None:
    with through_litellm(served_by_text({f"t{i}": 0.0 for i in range(4)})) as server:
        await warm_litellm()
        server.hold()
        running = asyncio.create_task(parallel(*(topic(text=f"t{i}") for i in range(4))))
        await wait_until(lambda: server.in_flight == 4)  # four open HTTP requests at the same moment
        server.release()
        result = await running
    assert [t.name for t in result] == ["t0", "t1", "t2", "t3"]
    assert server.max_in_flight == 4


async def test_race_through_litellm_closes_the_losing_http_requests(
    live_tasks: Any, wait_until: Any, through_litellm: Any, warm_litellm: Any,
) -> None:
    with through_litellm(served_by_text({"slow-a": 5.0, "quick": 0.1, "slow-b": 5.0})) as server:
        await warm_litellm()
        before = live_tasks()
        winner = await race(topic(text="slow-a"), topic(text="quick"), topic(text="slow-b"))
        assert winner.name == "quick"
        # The server saw both losing clients hang up during their 5 s delay.
        await wait_until(lambda: server.abandoned == 2)
        assert server.answered == 2  # the warm-up and the winner
        assert live_tasks() == before


def test_every_primitive_is_a_public_name_of_stratum() -> None:
    for name in ("Failure", "Probabilistic", "Success", "debate", "parallel", "race", "refine"):
        assert name in stratum.__all__
        assert getattr(stratum, name) is getattr(stratum, name)  # resolved once, then the same object
