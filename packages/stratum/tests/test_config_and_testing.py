"""configure()/reset_defaults() and the shipped scripted client."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import stratum
from stratum import StratumConfigError, contract, get_config, infer
from stratum.clients import LiteLLMClient
from stratum.testing import ScriptedClient, ScriptExhausted


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
