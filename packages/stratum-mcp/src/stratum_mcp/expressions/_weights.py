"""How many values a value holds, nested ones included: the size every built value and every comparison is held to.

Length alone does not bound the work: ``[[0] * 10000] * 10000`` is a list of
10,000 items, but comparing two of them visits 10^8 values, in C, holding the
interpreter lock, so no step or time check runs until it is over (and one
more level of nesting makes it half an hour). A value's *weight* counts every
value reachable from it, itself included, once per path: a scalar weighs 1,
``[1, 2]`` weighs 3, ``{"a": 1}`` weighs 3 (keys count), and a list that repeats one inner list 10,000 times
weighs 10,000 times the inner list. A string weighs one more for every
:data:`CHARS_PER_VALUE` characters it holds: comparing two equal strings is a
``memcmp`` of their whole length, so ``[[s] * 9] * 9999 == [[t] * 9] * 9999``
with ``s == t`` of 100,000 characters each would otherwise be 90,000 "values"
and 36 GB of memory compared, for about a second in one C call. Shared parts are what repetition makes,
and the interpreter records the weight of what it builds, so weighing a built
value looks its parts up instead of walking them again.

Weighing is itself bounded: it stops as soon as the weight passes the cap,
and it charges the meter for the walk, so weighing a large input costs no
more than the operation it guards would have been allowed to.

Depth is bounded too: comparing, hashing or printing nested containers
recurses in C once per level, and how deep C may go before Python gives up
differs between Python versions (3.13 allows far more than 3.11). A value
nested deeper than ``max_depth`` is refused before any such operation, the
same way on every version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratum_mcp.errors import LimitExceeded

__all__ = ["CHARS_PER_VALUE", "CONTAINERS", "Weights"]

#: Values that hold other values. Strings and ranges are single values: comparing them costs no nested walk.
CONTAINERS = (list, tuple, dict, set, frozenset)
#: Characters of a string that count as one value: comparing them costs about as much as visiting a value.
CHARS_PER_VALUE = 64
#: Items of a container scanned per step charged while weighing.
_SCAN_PER_STEP = 64


def _scalar(value: Any) -> int:
    """The weight of a value that holds no others: 1, and for a string one more per ``CHARS_PER_VALUE`` characters."""
    return 1 + len(value) // CHARS_PER_VALUE if isinstance(value, str) else 1


class Weights:
    """Weights of the values one evaluation sees, remembered by identity, each at most ``cap + 1``."""

    def __init__(self, cap: int, charge: Callable[[int], None], max_depth: int = 100) -> None:
        self.cap = cap
        self.max_depth = max_depth
        self._charge = charge
        # id -> (the value itself, kept alive so its id is not reused; its weight; its depth)
        self._known: dict[int, tuple[Any, int, int]] = {}

    def record(self, value: Any, weight: int, depth: int = 1) -> None:
        """Remember the weight (and depth) of a value the interpreter has just built."""
        if isinstance(value, CONTAINERS):
            self._known[id(value)] = (value, min(weight, self.cap + 1), depth)

    def _lookup(self, value: Any) -> tuple[int, int] | None:
        known = self._known.get(id(value))
        return (known[1], known[2]) if known is not None and known[0] is value else None

    def _deep(self, depth: int) -> None:
        if depth > self.max_depth:
            raise LimitExceeded("nesting depth", self.max_depth, depth)

    def of(self, value: Any) -> int:
        """The weight of ``value``, or ``cap + 1`` for anything heavier (then weighing stopped early).

        Raises :class:`LimitExceeded` ("nesting depth") for a value nested deeper than ``max_depth``.
        """
        if not isinstance(value, CONTAINERS):
            return _scalar(value)
        known = self._lookup(value)
        if known is not None:
            return known[0]
        total = 0
        deepest = 1
        pending: list[tuple[Any, int]] = [(value, 1)]
        while pending and total <= self.cap:
            item, depth = pending.pop()
            known = self._lookup(item) if item is not value else None
            if known is not None:
                total += known[0]
                deepest = max(deepest, depth - 1 + known[1])
                self._deep(deepest)
                continue
            self._deep(depth)
            deepest = max(deepest, depth)
            keys = len(item) if isinstance(item, dict) else 0
            if total + 1 + keys + len(item) > self.cap:
                total = self.cap + 1  # every member weighs at least 1: over the cap without looking further
                break
            members = list(item.values()) if isinstance(item, dict) else item
            self._charge(1 + (keys + len(members)) // _SCAN_PER_STEP)
            nested = [m for m in members if isinstance(m, CONTAINERS)]
            strings = [m for m in members if isinstance(m, str)]
            if keys:  # keys are compared too, when a lookup finds an equal hash
                strings += [k for k in item if isinstance(k, str)]
            extra = sum([len(m) // CHARS_PER_VALUE for m in strings])
            total += 1 + keys + len(members) - len(nested) + extra
            pending.extend((m, depth + 1) for m in nested)
        weight = min(total, self.cap + 1)
        self.record(value, weight, deepest)  # over the cap, the depth seen so far: the weight refuses it anyway
        return weight

    def depth_of(self, value: Any) -> int:
        """How deep ``value`` nests (a scalar is 0, ``[]`` is 1), as far as it has been weighed."""
        if not isinstance(value, CONTAINERS):
            return 0
        known = self._lookup(value)
        if known is None:
            self.of(value)
            known = self._lookup(value)
        return known[1] if known is not None else 1
