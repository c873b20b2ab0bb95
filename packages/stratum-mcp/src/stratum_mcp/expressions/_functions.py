"""The functions an ensure expression may call, each with its arity and its cost.

These are the only callables in the language: there are no methods and no
user-defined functions. Every function that walks a collection charges the
interpreter for the walk, so bulk work counts against the step budget just as
a comprehension does.

A function sees the interpreter that calls it only as a :class:`Meter`: the
interpreter depends on this module, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stratum_mcp._limits import Limits
from stratum_mcp._messages import json_type
from stratum_mcp.errors import EvaluationError, LimitExceeded

__all__ = ["FUNCTIONS", "FileProbe", "Function", "Meter"]

_ITERABLE = (list, tuple, set, frozenset, dict, str, range)


class FileProbe(Protocol):
    """What ``file_exists`` and ``file_contains`` see: files under the project root only."""

    def exists(self, path: str) -> bool: ...

    def contains(self, path: str, text: str, *, charge: Callable[[int], None] | None = None) -> bool:
        """Whether the file contains ``text``; ``charge`` is told the steps each read cost."""
        ...


class Meter(Protocol):
    """What a function may use of the interpreter calling it: the bounds, the step meter, truth, the files."""

    @property
    def limits(self) -> Limits: ...

    def charge(self, steps: int = 1) -> None:
        """Count ``steps`` of work; raise :class:`LimitExceeded` once the step or time budget is spent."""
        ...

    def checked(self, value: Any) -> Any:
        """``value`` if it is within the size bounds; raise :class:`LimitExceeded` otherwise."""
        ...

    def weigh(self, value: Any) -> int:
        """How many values ``value`` holds, nested ones included."""
        ...

    def visits(self, count: int) -> None:
        """Allow one operation that visits ``count`` values in C (a sort, a comparison), or raise first."""
        ...

    def limit(self, what: str, maximum: float, value: float | None = None) -> LimitExceeded: ...

    def truthy(self, value: Any) -> bool: ...

    def files(self) -> FileProbe: ...


@dataclass(frozen=True)
class Function:
    """A callable of the expression language."""

    name: str
    min_args: int
    max_args: int
    impl: Callable[[Meter, Sequence[Any]], Any]
    doc: str


def _items(it: Meter, value: Any, fn: str) -> list[Any]:
    if not isinstance(value, _ITERABLE):
        raise EvaluationError(f"{fn}() needs an array, string or object, not {json_type(value)}")
    it.charge(len(value))
    return list(value)


def _str_arg(value: Any, fn: str) -> str:
    if not isinstance(value, str):
        raise EvaluationError(f"{fn}() needs a string, not {json_type(value)}")
    return value


def _len(it: Meter, args: Sequence[Any]) -> int:
    (value,) = args
    if not isinstance(value, _ITERABLE):
        raise EvaluationError(f"len() needs an array, string or object, not {json_type(value)}")
    return len(value)


def _all(it: Meter, args: Sequence[Any]) -> bool:
    return all(it.truthy(v) for v in _items(it, args[0], "all"))


def _any(it: Meter, args: Sequence[Any]) -> bool:
    return any(it.truthy(v) for v in _items(it, args[0], "any"))


def _numbers(it: Meter, value: Any, fn: str) -> list[int | float]:
    items = _items(it, value, fn)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise EvaluationError(f"{fn}() needs numbers, found {json_type(item)}")
    return items


def _sum(it: Meter, args: Sequence[Any]) -> int | float:
    start = args[1] if len(args) > 1 else 0
    total = sum(_numbers(it, args[0], "sum"), start)
    it.checked(total)
    return total


def _extreme(pick: Callable[..., Any], name: str) -> Callable[[Meter, Sequence[Any]], Any]:
    def impl(it: Meter, args: Sequence[Any]) -> Any:
        items = _items(it, args[0], name) if len(args) == 1 else list(args)
        if not items:
            raise EvaluationError(f"{name}() of an empty array")
        it.visits(sum(it.weigh(item) for item in items) if len(args) > 1 else it.weigh(args[0]))
        return pick(items)

    return impl


def _abs(it: Meter, args: Sequence[Any]) -> int | float:
    (value,) = _numbers(it, [args[0]], "abs")
    return abs(value)


def _round(it: Meter, args: Sequence[Any]) -> int | float:
    (value,) = _numbers(it, [args[0]], "round")
    if len(args) == 1:
        rounded: int = round(value)
        it.checked(rounded)
        return rounded
    digits = args[1]
    if isinstance(digits, bool) or not isinstance(digits, int) or not -20 <= digits <= 20:
        raise EvaluationError("round() digits must be an integer between -20 and 20")
    return round(value, digits)


def _sorted(it: Meter, args: Sequence[Any]) -> list[Any]:
    items = _items(it, args[0], "sorted")
    rounds = max(1, len(items).bit_length())
    it.charge(len(items) * rounds)
    weight = it.weigh(args[0])
    if weight > len(items) + 1:  # nested items: each comparison may walk them
        it.visits(weight * rounds)
    return sorted(items)


def _str(it: Meter, args: Sequence[Any]) -> str:
    (value,) = args
    # Only scalars: the text of a large nested value could be far bigger than the value.
    if value is not None and not isinstance(value, str | int | float | bool):
        raise EvaluationError(f"str() takes a string, number, boolean or null, not {json_type(value)}")
    text = str(value)
    it.checked(text)
    return text


def _int(it: Meter, args: Sequence[Any]) -> int:
    (value,) = args
    if not isinstance(value, str | int | float | bool):
        raise EvaluationError(f"int() takes a string, number or boolean, not {json_type(value)}")
    if isinstance(value, str) and len(value) > 400:
        raise EvaluationError("int() of a string longer than 400 characters")
    number = int(value)
    it.checked(number)
    return number


def _float(it: Meter, args: Sequence[Any]) -> float:
    (value,) = args
    if not isinstance(value, str | int | float | bool):
        raise EvaluationError(f"float() takes a string, number or boolean, not {json_type(value)}")
    if isinstance(value, str) and len(value) > 400:
        raise EvaluationError("float() of a string longer than 400 characters")
    return float(value)


def _bool(it: Meter, args: Sequence[Any]) -> bool:
    return it.truthy(args[0])


def _range(it: Meter, args: Sequence[Any]) -> range:
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, int):
            raise EvaluationError("range() takes integers")
    result = range(*args)
    if len(result) > it.limits.collection_items:
        raise it.limit("collection items", it.limits.collection_items, len(result))
    return result


def _string_fn(name: str, op: Callable[..., Any], arity: int) -> Callable[[Meter, Sequence[Any]], Any]:
    def impl(it: Meter, args: Sequence[Any]) -> Any:
        strings = [_str_arg(a, name) for a in args[:arity]]
        if arity == 1:
            # lower/upper/strip build a string (upper() can make one up to three times longer): refuse a
            # source already over the bound before building, and check what was built.
            it.checked(strings[0])
        it.charge(len(strings[0]) // 64)
        return it.checked(op(*strings))

    return impl


def _file_exists(it: Meter, args: Sequence[Any]) -> bool:
    return it.files().exists(_str_arg(args[0], "file_exists"))


def _file_contains(it: Meter, args: Sequence[Any]) -> bool:
    return it.files().contains(_str_arg(args[0], "file_contains"), _str_arg(args[1], "file_contains"),
                               charge=it.charge)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("len", 1, 1, _len, "number of items or characters"),
        Function("all", 1, 1, _all, "true when every item is true"),
        Function("any", 1, 1, _any, "true when some item is true"),
        Function("sum", 1, 2, _sum, "sum of numbers"),
        Function("min", 1, 8, _extreme(min, "min"), "smallest of an array, or of the arguments"),
        Function("max", 1, 8, _extreme(max, "max"), "largest of an array, or of the arguments"),
        Function("abs", 1, 1, _abs, "absolute value"),
        Function("round", 1, 2, _round, "round to an integer or to n digits"),
        Function("sorted", 1, 1, _sorted, "a sorted copy of an array"),
        Function("str", 1, 1, _str, "text of a scalar"),
        Function("int", 1, 1, _int, "integer from a number or text"),
        Function("float", 1, 1, _float, "number from text"),
        Function("bool", 1, 1, _bool, "truth value"),
        Function("range", 1, 3, _range, "integers, as in Python"),
        Function("lower", 1, 1, _string_fn("lower", str.lower, 1), "lower-case text"),
        Function("upper", 1, 1, _string_fn("upper", str.upper, 1), "upper-case text"),
        Function("strip", 1, 1, _string_fn("strip", str.strip, 1), "text without surrounding spaces"),
        Function("startswith", 2, 2, _string_fn("startswith", str.startswith, 2), "text starts with"),
        Function("endswith", 2, 2, _string_fn("endswith", str.endswith, 2), "text ends with"),
        Function("file_exists", 1, 1, _file_exists, "a file exists under the project root"),
        Function("file_contains", 2, 2, _file_contains, "a project file contains the text"),
    )
}
