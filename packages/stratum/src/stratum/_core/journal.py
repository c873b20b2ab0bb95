"""The seam durable flows run through; ``stratum.durable`` implements it, ``_core`` only asks.

A durable flow's scope carries a ``Journal``. Inside it, the executor hands
each ``@infer`` call to ``journal.infer`` and each ``async`` ``@compute`` call
to ``journal.compute``, which run the call as a checkpointed step (or restore
its recorded outcome), and tells ``journal.before_request`` the worst case of
every request before it is sent, so a crash cannot hide money spent;
``await_human`` asks through ``journal.ask_human``. Inside a step the journal
is suspended (``scope.journal_suspended``), so the call runs as it always has.

``@flow(durable=True)`` records a ``DurableFlow`` here at decoration (no
durable backend is imported then); calling it hands the flow to the
configured ``DurableRunner`` (``configure(durable=stratum.durable.dbos())``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._observability.records import TraceRecord
    from ..hitl._decision import DecisionType
    from ..hitl._review import HumanDecision, HumanReviewContext, ReviewSink
    from .budget import Envelope
    from .scope import FlowScope
    from .spec import InferSpec

__all__ = ["DurableFlow", "DurableRunner", "Journal", "TraceParent", "durable_flows", "on_register", "register"]


@dataclass(frozen=True, slots=True)
class TraceParent:
    """Where a flow's span hangs: the trace it continues and the span it is a child of."""

    trace_id: str
    span_id: str | None = None


class Journal(Protocol):
    """Runs one durable flow's steps and reviews through a persistent log."""

    flow_id: str

    def infer(
        self,
        spec: InferSpec,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        refine_feedback: str | None,
        envelope: Envelope | None,
        record_sink: Callable[[TraceRecord], None] | None,
    ) -> Awaitable[Any]:
        """One @infer call as a step: run it (``executor.execute`` with the journal suspended) or restore it."""
        ...

    def compute(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Awaitable[Any]:
        """One ``async`` @compute call as a step; ``fn`` is the traced call itself."""
        ...

    async def before_request(self, reserved_usd: float) -> None:
        """Note, durably, that a request with this worst-case cost is about to be sent."""
        ...

    def ask_human(
        self,
        context: HumanReviewContext,
        kind: DecisionType,
        *,
        options: tuple[Any, ...] | None,
        timeout_s: float | None,
        fallback: tuple[bool, Any],
        sink: ReviewSink | None,
        flow: FlowScope,
    ) -> Awaitable[HumanDecision[Any]]:
        """``await_human`` in a durable flow: the review is stored and waited for durably."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class DurableFlow:
    """A ``@flow(durable=True)``: its stable name and how to run its body in a flow scope."""

    #: ``module.qualname``: the name its runs are recorded and recovered under.
    name: str
    qualname: str
    fn: Callable[..., Awaitable[Any]]
    #: Runs the body in a fresh flow scope with the given id, journal and trace parent.
    run: Callable[[tuple[Any, ...], Mapping[str, Any], str, Journal, TraceParent | None], Awaitable[Any]]


@runtime_checkable
class DurableRunner(Protocol):
    """What ``configure(durable=...)`` takes: it runs durable flows (``stratum.durable.dbos()``)."""

    def run_flow(self, flow: DurableFlow, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Awaitable[Any]: ...


_lock = threading.Lock()
_flows: dict[str, DurableFlow] = {}
_listeners: list[Callable[[DurableFlow], None]] = []


def register(flow: DurableFlow) -> None:
    """Record a durable flow (at decoration) and tell running backends about it."""
    with _lock:
        _flows[flow.name] = flow
        listeners = tuple(_listeners)
    for listener in listeners:
        listener(flow)


def durable_flows() -> list[DurableFlow]:
    """Every durable flow declared so far, in declaration order."""
    with _lock:
        return list(_flows.values())


def on_register(listener: Callable[[DurableFlow], None]) -> Callable[[], None]:
    """Call ``listener(flow)`` for flows declared from now on; returns an unsubscribe."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe
