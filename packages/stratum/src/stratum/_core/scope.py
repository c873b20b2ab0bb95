"""The flow scope: what nested calls inherit without explicit passing.

A ``@flow`` call opens a ``FlowScope`` (flow id, budget envelope, session
cache) in a ``ContextVar``. Tasks copy their context when created, so
concurrent branches of one flow see the same scope and never another flow's.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .budget import Envelope

__all__ = ["FlowScope", "current", "current_review_id", "enter", "leave", "note_review"]

SESSION_CACHE_LIMIT = 1024


@dataclass(slots=True, eq=False)
class FlowScope:
    flow_id: str
    name: str
    envelope: Envelope
    parent: FlowScope | None = None
    #: Memoised results for cache="session"; bounded, least recently used dropped.
    session_cache: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    #: Free slots for features layered on the scope (spans, reviews).
    extras: dict[str, Any] = field(default_factory=dict)


_current: contextvars.ContextVar[FlowScope | None] = contextvars.ContextVar("stratum_flow_scope", default=None)


def current() -> FlowScope | None:
    """The innermost flow scope of the running task, or None outside flows."""
    return _current.get()


def enter(scope: FlowScope) -> contextvars.Token[FlowScope | None]:
    return _current.set(scope)


def leave(token: contextvars.Token[FlowScope | None]) -> None:
    _current.reset(token)


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
