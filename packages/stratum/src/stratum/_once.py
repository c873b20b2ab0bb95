"""Memory of what was done once per process (a warning given), kept in one place.

Every "warn once" in the library remembers its keys in a ``Once``, so that
``reset_defaults()`` can forget all of them with ``reset_all()`` and a test
that expects a warning gets it whatever ran before::

    _unpriced = Once()
    if _unpriced.first(model):
        warnings.warn(...)
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable

__all__ = ["Once", "reset_all"]

_all: weakref.WeakSet[Once] = weakref.WeakSet()


class Once:
    """A bounded set of keys; past ``limit`` keys nothing more is remembered (and so is done again)."""

    def __init__(self, limit: int = 1024) -> None:
        self._keys: set[Hashable] = set()
        self._limit = limit
        self._lock = threading.Lock()
        _all.add(self)

    def first(self, key: Hashable) -> bool:
        """True the first time ``key`` is seen (since the last reset); remembers it."""
        with self._lock:
            if key in self._keys:
                return False
            if len(self._keys) < self._limit:
                self._keys.add(key)
            return True

    def add(self, key: Hashable) -> None:
        with self._lock:
            if len(self._keys) < self._limit:
                self._keys.add(key)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._keys

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


def reset_all() -> None:
    """Forget every key of every ``Once`` (``reset_defaults()``)."""
    for once in list(_all):
        once.clear()
