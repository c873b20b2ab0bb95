"""Helpers shared by the composition tests (parallel, race, quorum, debate, refine)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import stratum
from stratum.clients import CompletionRequest, LiteLLMClient
from stratum.testing.openai_server import LocalOpenAIServer

_LITELLM_DIR = f"{os.sep}litellm{os.sep}"


def live_tasks() -> set[asyncio.Task[Any]]:
    """Tasks other than the current one.

    LiteLLM starts its own fire-and-forget logging tasks after a successful
    response; those are LiteLLM's, not branches Stratum left behind.
    """
    current = asyncio.current_task()
    out = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is not current and not (code and _LITELLM_DIR in code.co_filename):
            out.add(task)
    return out


async def wait_until(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    """Poll ``predicate`` until true, for at most ``within_s`` seconds.

    The state it reads may be changed by the test server's own thread, which
    cannot set an asyncio event of this loop; hence polling, bounded. The
    bound is generous: it is reached only when the awaited state never comes.
    """
    async with asyncio.timeout(within_s):
        for _ in iter(predicate, True):  # calls predicate() until it returns True
            await asyncio.sleep(0.005)


def prompt(request: CompletionRequest) -> str:
    """The instruction text of a request (the user turn), attachment included."""
    content = request.messages[1]["content"]
    return content if isinstance(content, str) else "\n".join(part["text"] for part in content)


def body_prompt(body: dict[str, Any]) -> str:
    """The same for a request body received by the local OpenAI-compatible server."""
    content = body["messages"][1]["content"]
    return content if isinstance(content, str) else "\n".join(part["text"] for part in content)


@contextlib.contextmanager
def through_litellm(respond: Callable[[dict[str, Any]], Any]) -> Iterator[LocalOpenAIServer]:
    """Like the ``via_litellm`` fixture, with answers computed from each request body.

    Concurrent requests arrive in no fixed order, so a queue of answers would
    not say which request gets which; ``respond`` decides from the prompt.
    The first request is answered ``{"result": true}`` (see ``warm_litellm``).
    """
    with LocalOpenAIServer([{"result": True}], respond=respond) as server:
        stratum.configure(
            client=LiteLLMClient(api_base=server.url, api_key="sk-local-test"),
            default_model="openai/gpt-4o-mini",
        )
        yield server


async def warm_litellm() -> None:
    """Import LiteLLM and open its client once, so timings measure the calls themselves."""

    @stratum.infer(intent="Warm up")
    def ping(text: str) -> bool: ...

    await ping(text="warm-up")
    stratum.trace.clear()
