"""Hard time and cost limits.

``Budget`` is what a user writes; an ``Envelope`` is the running account a
call or a flow draws from. Envelopes nest: a call inside a budgeted flow gets
a child envelope whose spending is charged to every ancestor too, and whose
remaining allowance is the tightest along the chain, so a per-call budget can
tighten the flow's limits but never escape them.

Time is read from the running event loop's clock (``loop_time``): the same
clock the ``asyncio.timeout`` that enforces a budget is scheduled on, so a
loop with a virtual clock (``stratum.testing.VirtualTimeLoop``) drives both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..exceptions import BudgetExceeded

__all__ = ["Budget", "Envelope", "loop_time"]


def loop_time() -> float:
    """The running event loop's clock (``loop.time()``), or ``time.monotonic()`` outside one.

    asyncio's own loop reads ``time.monotonic()``; a test loop may read a virtual clock.
    """
    import asyncio  # deferred: `import stratum` does not pay asyncio's import cost

    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class Budget:
    """Hard limits for a call or a flow: ``ms`` of wall time, ``usd`` of spend.

    >>> Budget(ms=500, usd=0.001)
    Budget(ms=500, usd=0.001)
    """

    ms: float | None = None
    usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("ms", "usd"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Budget.{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"Budget.{name} must be a positive finite number, got {value!r}")


class Envelope:
    """The running account of one budget scope (a call or a flow).

    Not thread-safe by design: envelopes live on one event loop, and asyncio
    only switches tasks at ``await``, so charge/read pairs are atomic.
    """

    __slots__ = (
        "_clock", "_paused", "_paused_at", "budget", "deadline", "name", "parent", "reserved_usd", "spent_usd",
        "started",
    )  # fmt: skip

    def __init__(
        self,
        budget: Budget | None,
        name: str,
        *,
        parent: Envelope | None = None,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        self.budget = budget
        self.name = name
        self.parent = parent
        self.spent_usd = 0.0
        #: Worst-case cost of requests in flight; concurrent calls reserve
        #: before sending so that together they cannot overshoot the limit.
        self.reserved_usd = 0.0
        self._clock = clock
        self._paused = 0  # pauses in force (overlapping waits stop the clock once)
        self._paused_at = 0.0
        self.started = clock()
        ms = budget.ms if budget else None
        self.deadline = None if ms is None else self.started + ms / 1000.0

    def chain(self) -> list[Envelope]:
        """This envelope and its ancestors, innermost first."""
        return self._chain()

    def _chain(self) -> list[Envelope]:
        chain: list[Envelope] = []
        node: Envelope | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    # -- time ---------------------------------------------------------------
    def remaining_seconds(self) -> float | None:
        """Seconds left before the tightest deadline in the chain, or None."""
        now = self._clock()
        left: float | None = None
        for env in self._chain():
            if env.deadline is not None:
                here = env.deadline - now
                left = here if left is None else min(left, here)
        return left

    def time_binding(self) -> Envelope | None:
        """The envelope whose deadline comes first (the one that would run out)."""
        best: Envelope | None = None
        for env in self._chain():
            if env.deadline is not None and (best is None or env.deadline < best.deadline):  # type: ignore[operator]
                best = env
        return best

    def pause(self) -> Callable[[], float]:
        """Stop this envelope's clock; the returned function restarts it.

        The time in between does not count against ``ms`` (a flow waiting on
        a human, a call waiting for the one-time warm-up, is not spending its
        time budget): the start and the deadline move later by the paused
        seconds, which the restart returns. Pauses may overlap: the clock
        stands still from the first pause to the last restart, once.
        """
        if self._paused == 0:
            self._paused_at = self._clock()
        self._paused += 1
        restarted = False

        def restart() -> float:
            nonlocal restarted
            if restarted:
                return 0.0
            restarted = True
            self._paused -= 1
            if self._paused:
                return 0.0
            paused = max(0.0, self._clock() - self._paused_at)
            self.started += paused
            if self.deadline is not None:
                self.deadline += paused
            return paused

        return restart

    # -- money --------------------------------------------------------------
    def remaining_usd(self) -> float | None:
        """USD left in the tightest envelope of the chain, or None if unlimited."""
        left: float | None = None
        for env in self._chain():
            if env.budget is not None and env.budget.usd is not None:
                here = env.budget.usd - env.spent_usd - env.reserved_usd
                left = here if left is None else min(left, here)
        return left

    def cost_binding(self) -> Envelope | None:
        best: Envelope | None = None
        best_left = math.inf
        for env in self._chain():
            if env.budget is not None and env.budget.usd is not None:
                here = env.budget.usd - env.spent_usd - env.reserved_usd
                if here < best_left:
                    best, best_left = env, here
        return best

    def charge(self, usd: float) -> None:
        """Record real spending on this envelope and every ancestor."""
        if usd <= 0:
            return
        for env in self._chain():
            env.spent_usd += usd

    def reserve(self, usd: float) -> None:
        """Hold ``usd`` against every limit in the chain until ``release``."""
        for env in self._chain():
            env.reserved_usd += usd

    def release(self, usd: float) -> None:
        for env in self._chain():
            env.reserved_usd = max(0.0, env.reserved_usd - usd)

    # -- enforcement --------------------------------------------------------
    def exceeded(self, axis: Literal["time", "cost"], function: str, detail: str | None = None) -> BudgetExceeded:
        """Build the error for ``axis`` naming the envelope that ran out."""
        if axis == "time":
            env = self.time_binding() or self
            limit = env.budget.ms if env.budget and env.budget.ms else 0.0
            spent = (self._clock() - env.started) * 1000.0
        else:
            env = self.cost_binding() or self
            limit = env.budget.usd if env.budget and env.budget.usd else 0.0
            spent = env.spent_usd
        return BudgetExceeded(axis, limit, spent, function=function, scope=env.name, detail=detail)

    def overspent(self, function: str) -> BudgetExceeded | None:
        """The error for a limit that recorded spending has already passed, or None.

        Reservations keep honest requests inside the limit; this catches what
        they cannot: a provider that reports more usage than the request
        allowed, or a model with no known price. ``spent`` is what was
        recorded, past the limit.
        """
        for env in self._chain():
            limit = env.budget.usd if env.budget is not None else None
            # A relative margin: the reservation arithmetic may round a hair above the limit.
            if limit is not None and env.spent_usd > limit * (1 + 1e-9):
                return BudgetExceeded(
                    "cost", limit, env.spent_usd, function=function, scope=env.name,
                    detail="the response cost more than the budget had left",
                )  # fmt: skip
        return None

    def check(self, function: str) -> None:
        """Raise ``BudgetExceeded`` if any limit in the chain is already used up."""
        left = self.remaining_seconds()
        if left is not None and left <= 0:
            raise self.exceeded("time", function)
        usd = self.remaining_usd()
        if usd is not None and usd <= 0:
            raise self.exceeded("cost", function)
