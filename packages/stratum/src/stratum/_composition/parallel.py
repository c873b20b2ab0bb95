"""``parallel``: run calls concurrently and combine them by a rule.

Branches run as tasks of one ``asyncio.TaskGroup`` (see
``stratum._core.branches``). A branch that is no longer needed is cancelled,
and the call returns only after every cancelled branch has finished
unwinding, so an abandoned LLM request is really closed and no task outlives
the call::

    sentiment, topics, summary = await stratum.parallel(
        classify(text=t), extract_topics(text=t), summarise(text=t),
    )

Branches inherit the caller's flow scope (flow id, budget envelope), so
their spending is charged to the flow that started them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from .._core.branches import Success, Tally, checked, close, run_branches
from ..exceptions import ParallelFailure, ParallelValidationFailed

__all__ = ["parallel"]

Require = Literal["all", "any"] | int


async def parallel(
    *coros: Awaitable[Any],
    require: Require = "all",
    validate: Callable[[Any], Any] | None = None,
) -> Any:
    """Run ``coros`` concurrently and combine them according to ``require``.

    - ``"all"`` (default): a tuple of every result, in input order. The first
      failure cancels the other branches and is raised as it is (a
      ``ParallelFailure`` group only if several had already failed).
    - ``"any"``: the first result to arrive; the rest are cancelled. If every
      branch fails, ``ParallelFailure`` holds every failure.
    - ``N`` (int >= 1): a list of the first ``N`` results, in the order they
      arrived; the rest are cancelled. ``ParallelFailure`` as soon as ``N``
      successes are out of reach.
    - ``0``: wait for every branch; a list of ``Success(value)`` or
      ``Failure(error)`` in input order. A failed branch raises nothing.

    ``validate(result)`` (sync or async) sees what would be returned; a false
    answer raises ``ParallelValidationFailed`` carrying it.

    >>> import stratum
    >>> async def ok(x): return x
    >>> async def bad(): raise ValueError("no")
    >>> stratum.run(stratum.parallel(ok(1), ok(2)))
    (1, 2)
    >>> stratum.run(stratum.parallel(ok(1), bad(), require=0))
    [Success(value=1), Failure(error=ValueError('no'))]
    """
    awaitables = checked(coros, "parallel")
    n = len(awaitables)
    valid_int = isinstance(require, int) and not isinstance(require, bool) and 0 <= require <= n
    if not (require == "all" or (require == "any" and n > 0) or valid_int):
        close(awaitables)
        raise ValueError(
            f"parallel(): require must be 'all', 'any' or an int in [0, {n}] for {n} awaitable(s), got {require!r}"
        )
    need = n if require == "all" else 1 if require == "any" else int(require)
    if require == "all":
        tally = await run_branches(awaitables, lambda t: t.failed > 0)
    elif require == 0:
        tally = await run_branches(awaitables, lambda t: False)
    else:
        tally = await run_branches(awaitables, lambda t: t.succeeded >= need or n - t.failed < need)
    result = _combine(tally, require, need)
    if validate is not None:
        verdict = validate(result)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if not verdict:
            raise ParallelValidationFailed(result if isinstance(result, (tuple, list)) else (result,))
    return result


def _combine(tally: Tally, require: Require, need: int) -> Any:
    if require == 0:
        return list(tally.outcomes)
    failures = tally.failures()
    if require == "all":
        if len(failures) == 1:
            raise failures[0][1]
        if failures:
            raise ParallelFailure(require, failures, tally.succeeded)
        return tuple(o.value for o in tally.outcomes if isinstance(o, Success))
    winners = [o.value for i in tally.order if isinstance(o := tally.outcomes[i], Success)][:need]
    if len(winners) < need:
        raise ParallelFailure(require, failures, tally.succeeded)
    return winners[0] if require == "any" else winners
