"""configure()/reset_defaults() and the shipped scripted client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

import stratum
from stratum import StratumConfigError, contract, get_config, infer
from stratum.clients import BaseClient, CompletionRequest, CompletionResponse, LiteLLMClient
from stratum.testing import ScriptedClient, ScriptExhausted, VirtualTimeLoop


@contract
class Out(BaseModel):
    value: int


@infer(intent="x")
def f(text: str) -> Out: ...


def test_configure_keeps_unspecified_values_and_reset_restores_defaults() -> None:
    stratum.configure(default_model="a")
    stratum.configure(max_transient_retries=1)
    assert (get_config().default_model, get_config().max_transient_retries) == ("a", 1)
    stratum.reset_defaults()
    assert (get_config().default_model, get_config().max_transient_retries) == (None, 4)


def test_configure_accepts_the_litellm_module_and_router_like_objects() -> None:
    import litellm

    stratum.configure(client=litellm)
    assert isinstance(get_config().client, LiteLLMClient)

    class RouterLike:
        async def acompletion(self, **kwargs: object) -> None: ...

    stratum.configure(client=RouterLike())
    assert isinstance(get_config().client, LiteLLMClient)


def test_configure_rejects_an_object_that_is_not_a_client() -> None:
    with pytest.raises(StratumConfigError, match="not a client"):
        stratum.configure(client=object())


async def test_scripted_client_records_requests_and_answers_from_a_function() -> None:
    client = ScriptedClient(respond=lambda request: {"value": len(request.messages)})
    stratum.configure(client=client, default_model="m")
    assert (await f(text="x")).value == 2
    assert client.requests[0].function == "f"


async def test_scripted_client_out_of_answers_fails_loudly() -> None:
    stratum.configure(client=ScriptedClient(), default_model="m")
    with pytest.raises(ScriptExhausted, match="no response scripted"):
        await f(text="x")


async def test_a_client_with_only_complete_is_enough() -> None:
    class Minimal:  # no model_info, no count_tokens: the runtime does without prices
        async def complete(self, request: CompletionRequest) -> CompletionResponse:
            return CompletionResponse(content='{"value": 7}')

    stratum.configure(client=Minimal(), default_model="m")
    assert (await f(text="x")).value == 7


def test_base_client_knows_nothing_about_models() -> None:
    class Mine(BaseClient):
        async def complete(self, request: CompletionRequest) -> CompletionResponse:
            return CompletionResponse(content='{"value": 1}')

    client = Mine()
    stratum.configure(client=client)
    assert get_config().client is client  # a full client is used as it is
    assert client.model_info("m") is None and client.count_tokens("m", []) is None


async def test_scripted_client_holds_requests_in_flight_until_released(wait_until: Any) -> None:
    client = ScriptedClient(respond=lambda _r: {"value": 1})
    stratum.configure(client=client, default_model="m")
    client.hold()
    calls = [asyncio.create_task(f(text=str(i))) for i in range(3)]
    await wait_until(lambda: client.in_flight == 3)
    assert not any(call.done() for call in calls)
    client.release()
    assert [out.value for out in await asyncio.gather(*calls)] == [1, 1, 1]
    assert (client.in_flight, client.max_in_flight) == (0, 3)
    assert (await f(text="later")).value == 1  # released: later requests are not held
    assert client.max_in_flight == 3


async def test_scripted_client_counts_a_request_cancelled_while_held(wait_until: Any) -> None:
    client = ScriptedClient([{"value": 1}])
    stratum.configure(client=client, default_model="m")
    client.hold()
    call = asyncio.create_task(f(text="x"))
    await wait_until(lambda: client.in_flight == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (client.cancelled, client.in_flight, client.max_in_flight) == (1, 0, 1)


def test_the_virtual_time_loop_jumps_to_the_next_timer_and_stands_still_while_code_runs() -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        seen = [loop.time()]
        await asyncio.gather(asyncio.sleep(3600), asyncio.sleep(1))
        seen.append(loop.time())
        sum(range(200_000))  # work on the loop's thread takes no virtual time
        seen.append(loop.time())
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.25):
                await asyncio.Event().wait()
        seen.append(loop.time())
        return seen

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        assert runner.run(scenario()) == [0.0, 3600.0, 3600.0, 3600.25]


# -- configure(): checked values, and None to go back to the default -------------------
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("default_model", ""),
        ("default_model", 42),
        ("test_mode", "yes"),
        ("sample_n", 0),
        ("sample_n", True),
        ("max_transient_retries", -1),
        ("max_transient_retries", 1.5),
        ("retry_backoff_base_s", -0.1),
        ("retry_backoff_max_s", "8"),
        ("retry_backoff_max_s", float("nan")),
        ("max_output_tokens", 0),
        ("trace_capacity", 0),
        ("cache_timeout_s", 0),
        ("tracer", object()),
        ("cache_store", {"not": "a store"}),
        ("review_sink", object()),
    ],
)
def test_configure_refuses_a_bad_value_with_a_config_error_and_changes_nothing(option: str, value: object) -> None:
    stratum.configure(default_model="kept", sample_n=7)
    before = get_config()
    good = {"trace_capacity": 50} if option != "trace_capacity" else {"sample_n": 3}
    with pytest.raises(StratumConfigError, match=option):
        stratum.configure(**good, **{option: value})
    assert get_config() == before  # the good value given with the bad one was not applied either


def test_configure_with_none_puts_an_option_back_to_its_default() -> None:
    client = ScriptedClient()
    stratum.configure(client=client, default_model="m", max_output_tokens=100, sample_n=9, max_transient_retries=1)
    stratum.configure(default_model=None, max_output_tokens=None, sample_n=None)
    config = get_config()
    assert (config.default_model, config.max_output_tokens, config.sample_n) == (None, None, 5)
    assert (config.client, config.max_transient_retries) == (client, 1)  # left out: kept
    stratum.configure(client=None)
    assert get_config().client is None


# -- reset_defaults() forgets which warnings were given --------------------------------
async def test_after_reset_defaults_a_failing_cache_store_is_warned_about_again() -> None:
    class Broken:
        async def get(self, key: str) -> bytes | None:
            raise OSError("disk gone")

        async def set(self, key: str, value: bytes) -> None:
            raise OSError("disk gone")

        async def delete(self, key: str) -> None: ...

    @infer(intent="x", cache="global")
    def cached(text: str) -> Out: ...

    store = Broken()
    for _ in range(2):
        stratum.reset_defaults()
        stratum.configure(client=ScriptedClient([{"value": 1}]), default_model="m", cache_store=store)
        with pytest.warns(stratum.StratumWarning, match="failed to (read|write)"):
            await cached(text="x")


async def test_after_reset_defaults_an_unsampled_stable_function_is_warned_about_again() -> None:
    for _ in range(2):
        stratum.reset_defaults()
        stratum.configure(client=ScriptedClient([{"value": 1}]), default_model="m", test_mode=True)
        with pytest.warns(stratum.StratumWarning, match="never sampled"):
            await f(text="x")
