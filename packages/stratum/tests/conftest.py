"""Shared fixtures: a clean runtime per test, no way out of 127.0.0.1, and the suite's helpers.

Helpers a user of stratum would want too live in ``stratum.testing``
(``prompt_text``, ``AwaitableQueueSink``); the ones only this suite needs are
fixtures here, so test modules never import each other or this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

# LiteLLM downloads its price map at import time unless told to use the
# bundled copy, and some models' tokenizers on first use unless offline; the
# suite must never leave the machine.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.pop("STRATUM_DEBUG", None)

import pytest

import stratum
from stratum.clients import LiteLLMClient, OpenAICompatible
from stratum.testing import ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer

_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _is_local(host: Any) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        raise ConnectionRefusedError(f"test suite: network access to {address!r} is blocked")
    return _real_connect(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local(host):
        raise socket.gaierror(f"test suite: name lookup of {host!r} is blocked")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Accidental real LLM calls fail fast instead of reaching a provider."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    stratum.reset_defaults()
    stratum.configure(retry_backoff_base_s=0.01, retry_backoff_max_s=0.05)
    stratum.trace.clear()
    yield
    stratum.reset_defaults()
    stratum.trace.clear()


#: Skip reasons of tests that need a server the machine lacks start with this;
#: the end of the run lists them loudly (CI turns them into failures instead).
MISSING_SERVICE = "missing service:"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if MISSING_SERVICE in reason:
            text = reason.split(MISSING_SERVICE, 1)[1].strip()
            reasons[text] = reasons.get(text, 0) + 1
    if reasons:
        total = sum(reasons.values())
        terminalreporter.section(f"NOT RUN: {total} tests need a server this machine lacks", sep="!", red=True)
        for text, count in sorted(reasons.items()):
            terminalreporter.line(f"{count} x {text}", red=True)


@pytest.fixture
def scripted() -> ScriptedClient:
    """A scripted client already configured as the default, model "test-model"."""
    client = ScriptedClient()
    stratum.configure(client=client, default_model="test-model")
    return client


@pytest.fixture
def server() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer() as srv:
        yield srv


@pytest.fixture
def via_litellm(server: LocalOpenAIServer) -> LocalOpenAIServer:
    """Route calls through LiteLLM to the local server as model openai/gpt-4o-mini."""
    stratum.configure(
        client=LiteLLMClient(api_base=server.url, api_key="sk-local-test"),
        default_model="openai/gpt-4o-mini",
    )
    return server


@pytest.fixture
async def via_direct(server: LocalOpenAIServer) -> AsyncIterator[LocalOpenAIServer]:
    """Route calls through Stratum's own OpenAICompatible client to the local server, as gpt-4o-mini.

    LiteLLM's price map is loaded first (the runtime's warm-up does this
    off the loop), so the first call already knows the model's prices.
    """
    client = OpenAICompatible(server.url, "sk-local-test")
    await asyncio.to_thread(client.warm, "gpt-4o-mini")
    stratum.configure(client=client, default_model="gpt-4o-mini")
    yield server
    await client.aclose()


# -- helpers of the composition tests, as fixtures ------------------------------
_LITELLM_DIR = f"{os.sep}litellm{os.sep}"


def _live_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    out = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is not current and not (code and _LITELLM_DIR in code.co_filename):
            out.add(task)
    return out


@pytest.fixture
def live_tasks() -> Callable[[], set[asyncio.Task[Any]]]:
    """Tasks other than the current one.

    LiteLLM starts its own fire-and-forget logging tasks after a successful
    response; those are LiteLLM's, not branches Stratum left behind.
    """
    return _live_tasks


async def _wait_until(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        for _ in iter(predicate, True):  # calls predicate() until it returns True
            await asyncio.sleep(0.005)


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    """Poll ``predicate`` until true, for at most ``within_s`` seconds.

    The state it reads may be changed by the test server's own thread, which
    cannot set an asyncio event of this loop; hence polling, bounded. The
    bound is generous: it is reached only when the awaited state never comes.
    """
    return _wait_until


@contextlib.contextmanager
def _through_litellm(respond: Callable[[dict[str, Any]], Any]) -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer([{"result": True}], respond=respond) as server:
        stratum.configure(
            client=LiteLLMClient(api_base=server.url, api_key="sk-local-test"),
            default_model="openai/gpt-4o-mini",
        )
        yield server


@pytest.fixture
def through_litellm() -> Callable[..., contextlib.AbstractContextManager[LocalOpenAIServer]]:
    """Like ``via_litellm``, with answers computed from each request body: ``with through_litellm(respond):``.

    Concurrent requests arrive in no fixed order, so a queue of answers would
    not say which request gets which; ``respond`` decides from the prompt.
    The first request is answered ``{"result": true}`` (see ``warm_litellm``).
    """
    return _through_litellm


async def _warm_litellm() -> None:
    @stratum.infer(intent="Warm up")
    def ping(text: str) -> bool: ...

    await ping(text="warm-up")
    stratum.trace.clear()


@pytest.fixture
def warm_litellm() -> Callable[[], Awaitable[None]]:
    """Import LiteLLM and open its client once, so timings measure the calls themselves."""
    return _warm_litellm


def _now() -> float:
    return asyncio.get_running_loop().time()


@pytest.fixture
def now() -> Callable[[], float]:
    """The running loop's clock: virtual seconds in a ``@virtual_time`` test."""
    return _now
