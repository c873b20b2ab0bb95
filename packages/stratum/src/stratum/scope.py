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

__all__ = ["FlowScope", "current", "enter", "leave"]

SESSION_CACHE_LIMIT = 1024


@dataclass(slots=True, eq=False)
class FlowScope:
    flow_id: str
    name: str
    envelope: Envelope
    parent: FlowScope | None = None
    #: Memoised results for cache="session"; bounded, least recently used dropped.
    session_cache: OrderedDict[str, Any] = field(default_factory=OrderedDict)
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
