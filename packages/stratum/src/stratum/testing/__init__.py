"""Fakes for your own tests: no model, no network, no provider bill.

``ScriptedClient`` answers from a queue (or a function of the request) and
records every request it saw::

    from stratum.testing import ScriptedClient

    client = ScriptedClient([
        {"label": "positive", "confidence": 0.4, "reasoning": "unsure"},   # fails ensure
        {"label": "positive", "confidence": 0.9, "reasoning": "clear"},
    ])
    stratum.configure(client=client, default_model="test-model")
    result = await classify(text="Great!")
    assert len(client.requests) == 2

``in_flight``/``max_in_flight`` and ``hold()``/``release()`` on both fakes
let a test see concurrency without timing it. ``VirtualTimeLoop`` (and the
``@virtual_time`` test decorator) runs a test on a clock that moves only when
every task waits, so time budgets and review timeouts are exact and instant.
``prompt_text(request)`` is the text a model was asked (retry feedback and
attachment included); ``AwaitableQueueSink`` lets a test wait for the review
a flow asks for and answer it. Real servers on 127.0.0.1 for the HTTP paths:
``stratum.testing.openai_server`` (an OpenAI-compatible endpoint for the
LiteLLM path) and ``stratum.testing.otlp_receiver`` (an OTLP/HTTP receiver for
the exporter). ``LocalPostgres`` starts a throwaway PostgreSQL server on
127.0.0.1 (durable flows on Postgres). See ``docs/testing.md``.
"""

import typing as _typing

from .._faces import lazy_exports as _lazy_exports
from ..clients._protocol import TransientError
from ._prompts import prompt_text
from ._scripted import Reply, ScriptedClient, ScriptExhausted
from ._virtual_time import VirtualTimeLoop, virtual_time

if _typing.TYPE_CHECKING:
    from . import openai_server, otlp_receiver
    from ._postgres import LocalPostgres
    from ._reviews import AwaitableQueueSink

# Loaded on first use: the servers bring threads and an HTTP stack, the sink
# the human-review layer.
_LAZY = {
    "AwaitableQueueSink": "._reviews",
    "LocalPostgres": "._postgres",
    "openai_server": ".openai_server",
    "otlp_receiver": ".otlp_receiver",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

__all__ = [
    "AwaitableQueueSink",
    "LocalPostgres",
    "Reply",
    "ScriptExhausted",
    "ScriptedClient",
    "TransientError",
    "VirtualTimeLoop",
    "openai_server",
    "otlp_receiver",
    "prompt_text",
    "virtual_time",
]
