"""The engine under every concurrent primitive: branches in one TaskGroup.

``run_branches`` starts each awaitable as a task of an ``asyncio.TaskGroup``,
records each outcome as it arrives, and stops as soon as ``decided`` says the
answer is known: the remaining branches are cancelled, and the group is left
only after they have finished unwinding. That is what makes a cancelled LLM
request really stop (the client's ``await`` is interrupted and its
connection closed) and what guarantees no task outlives the call.

``parallel`` and ``race`` (``stratum._composition``), quorum voting,
stability sampling and debate rounds are all built on it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

__all__ = ["Failure", "Outcome", "Success", "Tally", "checked", "close", "gather_all", "run_branches"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Success(Generic[T]):
    """A branch that returned ``value``."""

    value: T
    ok: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Failure:
    """A branch that raised ``error``."""

    error: Exception
    ok: ClassVar[bool] = False


Outcome = Success[Any] | Failure


@dataclass(slots=True, kw_only=True)
class Tally:
    """Outcomes so far: ``outcomes[i]`` for input ``i`` (None: not finished)."""

    outcomes: list[Outcome | None]
    #: input positions in the order the branches finished
    order: list[int]
    succeeded: int = 0
    failed: int = 0

    def failures(self) -> list[tuple[int, Exception]]:
        """``(position, error)`` of every failed branch, in input order."""
        return [(i, o.error) for i, o in enumerate(self.outcomes) if isinstance(o, Failure)]


async def run_branches(awaitables: list[Awaitable[Any]], decided: Callable[[Tally], bool]) -> Tally:
    """Run every awaitable concurrently until ``decided(tally)`` or all have finished."""
    tally = Tally(outcomes=[None] * len(awaitables), order=[])
    if not awaitables:
        return tally
    done = asyncio.Event()

    async def branch(index: int, awaitable: Awaitable[Any]) -> None:
        outcome: Outcome
        try:
            outcome = Success(await awaitable)
        except Exception as exc:  # a failed branch is an outcome, not a crash of the group
            outcome = Failure(exc)
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if current is None or current.cancelling():
                raise  # this branch is being stopped (by the group or the caller's cancellation)
            # What the branch awaited was cancelled by someone else: a failure like any other.
            error = RuntimeError(f"branch {index} was cancelled from inside")
            error.__cause__ = exc
            outcome = Failure(error)
        tally.outcomes[index] = outcome
        if outcome.ok:
            tally.succeeded += 1
        else:
            tally.failed += 1
        tally.order.append(index)
        if len(tally.order) == len(awaitables) or decided(tally):
            done.set()

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(branch(i, a)) for i, a in enumerate(awaitables)]
        await done.wait()
        for task in tasks:
            task.cancel()  # a no-op for finished tasks; the group waits for the rest
    return tally


async def gather_all(awaitables: list[Awaitable[Any]]) -> list[Any]:
    """Every result in input order; the first failure cancels the rest and is raised.

    Branches that failed in the same instant (all N voters of a quorum failing
    the same precondition) do not turn into a group: the first one is raised
    and the others are named in its notes.
    """
    tally = await run_branches(awaitables, lambda t: t.failed > 0)
    if tally.failed:
        errors = [o.error for i in tally.order if isinstance(o := tally.outcomes[i], Failure)]
        first = errors[0]
        if len(errors) > 1:
            listed = "; ".join(f"{type(e).__name__}: {str(e)[:200]}" for e in errors[1:])
            first.add_note(f"{len(errors) - 1} concurrent branch(es) failed at the same time: {listed}")
        raise first
    return [o.value for o in tally.outcomes if isinstance(o, Success)]


def checked(items: Iterable[Any], name: str) -> list[Awaitable[Any]]:
    """The items as a list, or ``TypeError`` (closing them all) if one is not awaitable."""
    listed = list(items)
    for i, item in enumerate(listed):
        if not inspect.isawaitable(item):
            close(listed)
            hint = "; call it first, e.g. f(x=...)" if callable(item) else ""
            raise TypeError(f"{name}(): argument {i} is not awaitable: {item!r}{hint}")
    return listed


def close(items: Iterable[Any]) -> None:
    """Close coroutines that will never run, so Python does not warn they were never awaited."""
    for item in items:
        if inspect.iscoroutine(item):
            item.close()
