"""An event loop with a virtual clock, for tests of time budgets and timeouts.

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

Only for code whose waiting happens on the loop itself (``ScriptedClient``,
``QueueReviewSink``, ``asyncio`` primitives): while the loop waits for a
thread or a socket, a pending timer would fire at once instead of in real
time, so real servers belong with the ordinary loop.
"""

from __future__ import annotations

import asyncio
import selectors

__all__ = ["VirtualTimeLoop"]


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
