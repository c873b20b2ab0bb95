"""Virtual time for tests of time budgets and timeouts: ``VirtualTimeLoop`` and ``@virtual_time``.

Stratum measures time on the running event loop's clock (``loop.time()``):
budget envelopes read it, and the ``asyncio.timeout`` that enforces a budget
or a review timeout is scheduled on it. ``VirtualTimeLoop`` is an asyncio
loop whose clock stands still while any task can run and, when every task is
waiting, jumps straight to the next timer. A 150 ms flow budget then runs
out after exactly 150 ms of virtual time, a reviewer can "take an hour" in
no real time, and machine load cannot change the outcome::

    import asyncio
    from stratum.testing import VirtualTimeLoop

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        runner.run(scenario())

``@virtual_time`` does that for an ``async def`` test, and keeps its
signature, so pytest still hands it its fixtures::

    @virtual_time
    async def test_a_slow_model_runs_out_of_the_flow_budget(scripted) -> None:
        ...   # asyncio.get_running_loop().time() reads virtual seconds here

Only for code whose waiting happens on the loop itself (``ScriptedClient``,
``QueueReviewSink``, ``asyncio`` primitives): while the loop waits for a
thread or a socket, a pending timer would fire at once instead of in real
time, so real servers belong with the ordinary loop.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

__all__ = ["VirtualTimeLoop", "virtual_time"]

P = ParamSpec("P")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` only moves when nothing is ready to run.

    The clock starts at 0.0.
    """

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def _jump(self, seconds: float) -> None:
        self._now += seconds


class _JumpingSelector(selectors.DefaultSelector):
    """Polls instead of blocking until a timer, and moves the loop's clock to that timer."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # asyncio passes the time left until its next timer (0 when callbacks are
        # ready, None when no timer is set: then only I/O can wake the loop).
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        ready = super().select(0)
        if not ready:
            self._loop._jump(timeout)
        return ready


def virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an ``async def`` test on a fresh ``VirtualTimeLoop`` (as a plain function: fixtures still apply)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run
