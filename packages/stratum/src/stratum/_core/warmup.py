"""One-time warm-up of a client for a model: off the event loop, and off every budget's clock.

A client's first request in a process can do seconds of blocking work: LiteLLM imports itself,
loads its tokenizer and builds its pydantic schemas. Done on the event loop inside a call, that
work would freeze every task and spend the call's time budget before a byte is sent. A client
may therefore have ``warm(model)``: synchronous, run once per client and model in a worker thread.
A call waits for it with the clocks of its budget (and of its flows) stopped, the way a pending
review stops them, and its trace record says how long it waited (``warmup_ms``).

``stratum.warmup()`` does the same ahead of time, blocking, for servers that want it at start-up;
``configure(warm=True)`` starts it in the background.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

from . import scope

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import Future

    from .budget import Envelope

__all__ = ["ready", "start_warming", "wait_warm"]

LOGGER = "stratum.warmup"  # the logging module loads with the first failure it reports

_MAX_KEPT = 1024  # (client, model) pairs remembered; beyond it the oldest is forgotten (and warmed again)
_lock = threading.Lock()
# (id(client), model) -> (client, its warm-up). The client is kept so that its id is not reused.
_started: dict[tuple[int, str], tuple[Any, Future[None]]] = {}


def start_warming(client: Any, model: str) -> Future[None] | None:
    """The warm-up of ``client`` for ``model``, started now if it was not yet; None if it has none."""
    warm = getattr(client, "warm", None)
    if not callable(warm):
        return None
    key = (id(client), model)
    found = _started.get(key)  # every call asks: the common answer needs no lock (a dict read is atomic)
    if found is not None and found[0] is client:
        return found[1]
    with _lock:
        found = _started.get(key)
        if found is not None and found[0] is client:
            return found[1]
        from concurrent.futures import Future  # deferred: `import stratum` stays light

        future: Future[None] = Future()
        if len(_started) >= _MAX_KEPT:
            _started.pop(next(iter(_started)))
        _started[key] = (client, future)
    threading.Thread(target=_run, args=(warm, model, future), name="stratum-warmup", daemon=True).start()
    return future


def _run(warm: Any, model: str, future: Future[None]) -> None:
    try:
        warm(model)
    except Exception:  # the call itself will meet (and report) whatever is wrong
        import logging

        logging.getLogger(LOGGER).debug("warming up for %s failed", model, exc_info=True)
    finally:
        future.set_result(None)


async def ready(client: Any, model: str, *, envelope: Envelope, flow: scope.FlowScope | None) -> float:
    """Wait until ``client`` is warm for ``model``; the milliseconds waited (0.0 when it already was)."""
    future = start_warming(client, model)
    if future is None or future.done():
        return 0.0
    import asyncio  # the running loop's; already loaded

    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: Future[None]) -> None:
        # Called in the warm-up's thread (or here, if it is already done). A loop closed
        # meanwhile has nobody waiting; the warm-up itself is never cancelled by a waiter.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, woken)

    started = time.perf_counter()
    future.add_done_callback(wake)
    with scope.clock_stopped(flow, envelope):
        await woken
    return (time.perf_counter() - started) * 1000.0


def _settle(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def wait_warm(client: Any, models: tuple[str, ...], timeout_s: float | None) -> None:
    """Warm ``client`` up for ``models`` now, blocking (``stratum.warmup``); ``TimeoutError`` past ``timeout_s``."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    for model in models:
        future = start_warming(client, model)
        if future is not None:
            future.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
