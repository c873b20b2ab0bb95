"""The flow scope: what nested calls inherit without explicit passing.

A ``@flow`` call opens a ``FlowScope`` (flow id, budget envelope, session
cache, the ``asyncio.Timeout`` of its time budget) in a ``ContextVar``. Tasks
copy their context when created, so concurrent branches of one flow see the
same scope and never another flow's. While a flow waits on a person,
``clock_stopped(flow)`` holds the time budget of it and of every flow around it.

A durable flow's scope also carries a ``Journal`` (``stratum._core.journal``),
inherited by the flows it calls; ``active_journal()`` is what the executor
asks, and ``journal_suspended()`` hides it inside a step.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .budget import Envelope

if TYPE_CHECKING:
    import asyncio

    from .journal import Journal

__all__ = [
    "FlowScope",
    "active_journal",
    "clock_stopped",
    "current",
    "current_review_id",
    "enter",
    "journal_suspended",
    "leave",
    "note_review",
    "restore_elapsed",
]

SESSION_CACHE_LIMIT = 1024


@dataclass(slots=True)
class _Pause:
    """Per flow scope: concurrent waits in one flow stop its clock once."""

    count: int = 0
    restart_envelope: Callable[[], float] | None = None
    timer_when: float | None = None
    paused_at: float = 0.0


@dataclass(slots=True, kw_only=True, eq=False)
class FlowScope:
    flow_id: str
    name: str
    envelope: Envelope
    parent: FlowScope | None = None
    #: Context annotations of this flow and every flow around it, outermost first.
    context: tuple[str, ...] = ()
    #: Memoised results for cache="session"; bounded, least recently used dropped.
    session_cache: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    #: The flow's time budget as the ``asyncio.Timeout`` it runs under (None
    #: without a time budget); ``clock_stopped`` holds it while a human decides.
    timeout: asyncio.Timeout | None = None
    #: Set in a durable flow (and the flows it calls): steps and reviews are journaled.
    journal: Journal | None = None
    _pause: _Pause = field(default_factory=_Pause, init=False, repr=False)


_current: contextvars.ContextVar[FlowScope | None] = contextvars.ContextVar("stratum_flow_scope", default=None)


def current() -> FlowScope | None:
    """The innermost flow scope of the running task, or None outside flows."""
    return _current.get()


def enter(scope: FlowScope) -> contextvars.Token[FlowScope | None]:
    return _current.set(scope)


def leave(token: contextvars.Token[FlowScope | None]) -> None:
    _current.reset(token)


_suspended: contextvars.ContextVar[bool] = contextvars.ContextVar("stratum_journal_suspended", default=False)


def active_journal() -> Journal | None:
    """The journal calls made here go through: the flow's, unless inside a step."""
    flow = _current.get()
    if flow is None or flow.journal is None or _suspended.get():
        return None
    return flow.journal


@contextmanager
def journal_suspended() -> Iterator[None]:
    """Inside, calls run as in a plain flow: the step around them is what is journaled."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


# (flow_id, review_id) of the latest human decision in this line of execution
# (see stratum.hitl._tracking for what this link means in traces).
_last_review: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "stratum_last_review", default=None
)


def note_review(flow: FlowScope | None, review_id: str) -> None:
    """Remember ``review_id`` for the calls that follow it in this flow."""
    if flow is not None:
        _last_review.set((flow.flow_id, review_id))


def current_review_id(flow: FlowScope | None) -> str | None:
    """The id of the latest review decided earlier in ``flow`` in this context."""
    last = _last_review.get()
    if flow is None or last is None or last[0] != flow.flow_id:
        return None
    return last[1]


# -- a flow's clock stands still while it waits on a person ----------------------
@contextmanager
def clock_stopped(flow: FlowScope | None, envelope: Envelope | None = None) -> Iterator[None]:
    """Inside, the time budget of ``flow`` and of every enclosing flow does not run.

    A flow waiting on a human (``await_human``) is not spending its time budget:
    the envelope's start and deadline and the flow's ``asyncio.Timeout`` move
    later by the time spent inside. ``envelope`` (a call's own, and those it is
    nested in) stops too: a call waiting for the one-time warm-up is not
    spending its budget either. Waits overlapping in one flow stop its clock
    once. Must be entered on the event loop the flow runs on.
    """
    stopped: list[FlowScope] = []
    node = flow
    while node is not None:
        _stop(node)
        stopped.append(node)
        node = node.parent
    held = {id(n.envelope) for n in stopped}
    restarts = [env.pause() for env in (envelope.chain() if envelope else ()) if id(env) not in held]
    try:
        yield
    finally:
        for restart in reversed(restarts):
            restart()
        for node in reversed(stopped):
            _restart(node)


def _stop(node: FlowScope) -> None:
    import asyncio  # the running loop's clock; already loaded when a flow runs

    pause = node._pause
    pause.count += 1
    if pause.count > 1:
        return
    pause.restart_envelope = node.envelope.pause()
    pause.paused_at = asyncio.get_running_loop().time()
    pause.timer_when = None
    timer = node.timeout
    if timer is not None and timer.when() is not None:
        try:
            when = timer.when()
            timer.reschedule(None)
            pause.timer_when = when
        except RuntimeError:
            pass  # the flow already returned; a task it started outlived it


def _restart(node: FlowScope) -> None:
    import asyncio

    pause = node._pause
    pause.count -= 1
    if pause.count > 0:
        return
    if pause.restart_envelope is not None:
        pause.restart_envelope()
        pause.restart_envelope = None
    timer = node.timeout
    if timer is not None and pause.timer_when is not None:
        shift = asyncio.get_running_loop().time() - pause.paused_at
        with suppress(RuntimeError):  # the flow already returned
            timer.reschedule(pause.timer_when + shift)


def restore_elapsed(flow: FlowScope, seconds: float) -> None:
    """Count ``seconds`` of the flow's own time as spent already (a run recovered after a crash).

    The envelope's start and deadline, and the flow's ``asyncio.Timeout``, move
    earlier so that at least ``seconds`` have elapsed; time already counted
    is not counted twice.
    """
    import asyncio

    envelope = flow.envelope
    shift = seconds - (asyncio.get_running_loop().time() - envelope.started)
    if shift <= 0:
        return
    envelope.started -= shift
    if envelope.deadline is not None:
        envelope.deadline -= shift
    pause = flow._pause
    if pause.count > 0:
        if pause.timer_when is not None:
            pause.timer_when -= shift
        return
    timer = flow.timeout
    if timer is not None and timer.when() is not None:
        with suppress(RuntimeError):  # the flow already returned
            timer.reschedule(timer.when() - shift)  # type: ignore[operator]
