"""``race``: the first branch to succeed wins; the others are cancelled.

Built on the same engine as ``parallel`` (``stratum._core.branches``): the
losers are cancelled and have finished unwinding before ``race`` returns, so
their LLM requests are really closed::

    fastest = await stratum.race(ask_small(q=q), ask_large(q=q))
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from .._core.branches import Failure, Success, checked, run_branches

__all__ = ["race"]


async def race(*coros: Awaitable[Any]) -> Any:
    """The result of the first branch to finish without raising; the rest are cancelled.

    If every branch raises, the last error is re-raised; the earlier ones are
    attached to it as ``error.race_failures`` (a tuple, in the order they
    happened) and summarised in its notes.

    >>> import asyncio, stratum
    >>> async def slow(): await asyncio.sleep(1); return "slow"
    >>> async def fast(): return "fast"
    >>> stratum.run(stratum.race(slow(), fast()))
    'fast'
    """
    awaitables = checked(coros, "race")
    if not awaitables:
        raise ValueError("race() needs at least one awaitable")
    tally = await run_branches(awaitables, lambda t: t.succeeded >= 1)
    for i in tally.order:
        outcome = tally.outcomes[i]
        if isinstance(outcome, Success):
            return outcome.value
    errors = [o.error for i in tally.order if isinstance(o := tally.outcomes[i], Failure)]
    last, others = errors[-1], tuple(errors[:-1])
    last.race_failures = others  # type: ignore[attr-defined]
    if others:
        listed = "; ".join(f"{type(e).__name__}: {str(e)[:200]}" for e in others)
        last.add_note(f"race(): the {len(others)} other branch(es) failed first: {listed}")
    raise last
