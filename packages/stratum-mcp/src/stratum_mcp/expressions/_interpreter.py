"""A bounded interpreter for checked expression trees.

It walks the ``ast`` that :mod:`stratum_mcp.expressions._checker` accepted and
never hands a string to ``eval``. Values are JSON data: fields are dictionary
keys, so ``result.__class__`` can only ever mean a key named ``__class__`` (and
the checker refuses it anyway). Every node visited costs a step; steps, time
(read from the clock it is given), integer size, string length, collection
length and the nested size of values (their weight, see :mod:`._weights`) are
bounded, and an operation whose result would break a bound is refused
*before* it runs, so ``10**10**10``, ``'a' * 10**10`` or
``[[0] * 10000] * 10000`` fail in microseconds instead of eating memory.

Operations that Python runs in C over a whole value (comparisons, ``in``,
``sorted``, ``min``, ``max``, slices) hold the interpreter lock until they
finish, so no step or clock check can interrupt them. Each is weighed first:
one operation may visit at most ``limits.value_items`` values, and is charged
a step for every :data:`VISITS_PER_STEP` of them, so no single operation runs
for more than a few milliseconds.
"""

from __future__ import annotations

import ast
import operator
import time
from collections.abc import Callable, Mapping
from typing import Any

from stratum_mcp._limits import Limits
from stratum_mcp._messages import json_type, preview
from stratum_mcp.errors import EvaluationError, LimitExceeded
from stratum_mcp.expressions._functions import FUNCTIONS, FileProbe
from stratum_mcp.expressions._weights import CONTAINERS, Weights

__all__ = ["VISITS_PER_STEP", "Interpreter"]

#: Values Python visits in C, for each evaluation step charged: a step of the interpreter costs about as
#: much time as 50 to 100 such visits, so this errs on the side of stopping early.
VISITS_PER_STEP = 16

_MAX_OBSERVED = 8

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_SEQUENCES = (str, list, tuple)


class Interpreter:
    """Evaluates one checked expression tree against some variables.

    ``observe`` maps nodes (by id) to the source text to report their values
    under, so a failed ensure can say what ``result.confidence`` actually was.
    """

    def __init__(
        self,
        variables: Mapping[str, Any],
        *,
        limits: Limits,
        files: FileProbe | None,
        observe: Mapping[int, str],
        clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.limits = limits
        self._variables = variables
        self._files = files
        self._observe = observe
        self._scopes: list[dict[str, Any]] = []
        self._steps = 0
        self._clock = clock
        self._deadline = clock() + limits.eval_seconds
        self._weights = Weights(limits.value_items, self.charge, limits.value_depth)
        self.observed: dict[str, Any] = {}

    # --- bookkeeping -------------------------------------------------------------------------

    def charge(self, steps: int = 1) -> None:
        """Count ``steps`` of work; raise once the step or time budget is spent."""
        self._steps += steps
        if self._steps > self.limits.eval_steps:
            raise self.limit("evaluation steps", self.limits.eval_steps, self._steps)
        # Reading the clock every node would double the cost of small expressions.
        if (steps > 1 or self._steps & 63 == 0) and self._clock() > self._deadline:
            raise self.limit("evaluation seconds", self.limits.eval_seconds)

    def limit(self, what: str, maximum: float, value: float | None = None) -> LimitExceeded:
        return LimitExceeded(what, maximum, value)

    def checked(self, value: Any) -> Any:
        """Return ``value`` if it is within the size bounds, else raise."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > self.limits.int_bits:
                raise self.limit("integer bits", self.limits.int_bits, value.bit_length())
        elif isinstance(value, str):
            if len(value) > self.limits.str_chars:
                raise self.limit("string length", self.limits.str_chars, len(value))
        elif isinstance(value, list | tuple | set | frozenset | dict) and len(value) > self.limits.collection_items:
            raise self.limit("collection items", self.limits.collection_items, len(value))
        return value

    def weigh(self, value: Any) -> int:
        """How many values ``value`` holds, nested ones included (at most ``value_items + 1``)."""
        return self._weights.of(value)

    def visits(self, count: int) -> None:
        """Allow one operation that visits ``count`` values in C, or raise before it runs."""
        cap = self.limits.value_items
        if count > cap:
            # cap + 1 is what weighing answers once it stops counting: the true size is unknown, only larger.
            raise self.limit("values visited by one operation", cap, None if count == cap + 1 else count)
        self.charge(count // VISITS_PER_STEP + 1)

    def building(self, weight: int) -> int:
        """Allow building a value of ``weight``, or raise before it is built."""
        cap = self.limits.value_items
        if weight > cap:
            raise self.limit("nested items", cap, None if weight == cap + 1 else weight)
        return weight

    def built(self, value: Any, weight: int) -> Any:
        """``value``, just built with ``weight`` (already allowed), remembered for later weighing.

        Its depth is one more than its deepest member's; one too deep is refused here, before any
        comparison could recurse through it.
        """
        if isinstance(value, CONTAINERS):
            members = value.values() if isinstance(value, dict) else value
            self.charge(1 + len(value) // VISITS_PER_STEP)
            distinct = {id(m): m for m in members if isinstance(m, CONTAINERS)}
            depth = 1 + max((self._weights.depth_of(m) for m in distinct.values()), default=0)
            if depth > self._weights.max_depth:
                raise self.limit("nesting depth", self._weights.max_depth, depth)
            self._weights.record(value, weight, depth)
        return value

    def truthy(self, value: Any) -> bool:
        return bool(value)

    def files(self) -> FileProbe:
        if self._files is None:
            raise EvaluationError("file helpers are not available here")
        return self._files

    # --- evaluation --------------------------------------------------------------------------

    def run(self, node: ast.expr) -> Any:
        self.charge()
        value = _DISPATCH[type(node)](self, node)
        label = self._observe.get(id(node))
        if label is not None and not self._scopes and len(self.observed) < _MAX_OBSERVED:
            self.observed[label] = preview(value)
        return value

    def _constant(self, node: ast.Constant) -> Any:
        return node.value

    def _name(self, node: ast.Name) -> Any:
        for scope in reversed(self._scopes):
            if node.id in scope:
                return scope[node.id]
        if node.id in self._variables:
            return self._variables[node.id]
        raise EvaluationError(f"`{node.id}` is not defined")

    def _attribute(self, node: ast.Attribute) -> Any:
        owner = self.run(node.value)
        if not isinstance(owner, dict):
            raise EvaluationError(f"cannot read field `{node.attr}` of {json_type(owner)} `{_src(node.value)}`")
        if node.attr not in owner:
            raise EvaluationError(f"`{_src(node.value)}` has no field `{node.attr}`")
        return owner[node.attr]

    def _subscript(self, node: ast.Subscript) -> Any:
        owner = self.run(node.value)
        if isinstance(node.slice, ast.Slice):
            if not isinstance(owner, _SEQUENCES):
                raise EvaluationError(f"cannot slice {json_type(owner)} `{_src(node.value)}`")
            parts = [None if p is None else self.run(p) for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if any(p is not None and (isinstance(p, bool) or not isinstance(p, int)) for p in parts):
                raise EvaluationError("slice bounds must be integers")
            self.charge(len(owner) // 64 + 1)
            return owner[slice(*parts)]
        key = self.run(node.slice)
        if isinstance(owner, dict):
            if not isinstance(key, str) or key not in owner:
                raise EvaluationError(f"`{_src(node.value)}` has no field {key!r}")
            return owner[key]
        if isinstance(owner, (*_SEQUENCES, range)):
            if isinstance(key, bool) or not isinstance(key, int):
                raise EvaluationError(f"index into `{_src(node.value)}` must be an integer")
            if not -len(owner) <= key < len(owner):
                raise EvaluationError(f"index {key} is out of range for `{_src(node.value)}` of length {len(owner)}")
            return owner[key]
        raise EvaluationError(f"cannot index {json_type(owner)} `{_src(node.value)}`")

    def _bool_op(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.run(operand)
            if isinstance(node.op, ast.And) != self.truthy(value):
                return value
        return value

    def _unary(self, node: ast.UnaryOp) -> Any:
        value = self.run(node.operand)
        if isinstance(node.op, ast.Not):
            return not self.truthy(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EvaluationError(f"unary minus/plus needs a number, not {json_type(value)}")
        return -value if isinstance(node.op, ast.USub) else +value

    def _bin_op(self, node: ast.BinOp) -> Any:
        left, right = self.run(node.left), self.run(node.right)
        return self.checked(_arith(self, node.op, left, right))

    def _compare(self, node: ast.Compare) -> bool:
        left = self.run(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.run(comparator)
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, list | tuple | set | frozenset | dict | str | range):
                    raise EvaluationError(f"`in` needs an array, string or object on the right, not {json_type(right)}")
                if isinstance(right, str) and not isinstance(left, str):
                    raise EvaluationError("`in` a string needs a string on the left")
                if isinstance(right, list | tuple):
                    self.visits(self.weigh(right))  # each item compared with `left`, at most all of `right`
                else:
                    self.charge(len(right) // 16 + 1)
                ok = (left in right) == isinstance(op, ast.In)
            else:
                if isinstance(left, CONTAINERS) and isinstance(right, CONTAINERS):
                    self.visits(min(self.weigh(left), self.weigh(right)))
                ok = bool(_COMPARE[type(op)](left, right))
            if not ok:
                return False
            left = right
        return True

    def _if_exp(self, node: ast.IfExp) -> Any:
        return self.run(node.body) if self.truthy(self.run(node.test)) else self.run(node.orelse)

    def _call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)  # the checker allows nothing else
        function = FUNCTIONS[node.func.id]
        args = [self.run(arg) for arg in node.args]
        return function.impl(self, args)

    def _list(self, node: ast.List | ast.Tuple) -> list[Any]:
        items = [self.run(e) for e in node.elts]
        weight = self.building(1 + sum(self.weigh(item) for item in items))
        return self.built(items, weight)  # type: ignore[no-any-return]

    def _set(self, node: ast.Set) -> set[Any]:
        items = self._list(node)  # type: ignore[arg-type]
        return self.built(set(items), self.weigh(items))  # type: ignore[no-any-return]

    def _dict(self, node: ast.Dict) -> dict[Any, Any]:
        pairs = [(self.run(k), self.run(v)) for k, v in zip(node.keys, node.values, strict=True) if k is not None]
        weight = self.building(1 + sum(self.weigh(k) + self.weigh(v) for k, v in pairs))
        return self.built(dict(pairs), weight)  # type: ignore[no-any-return]

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> Any:
        out: list[Any] = []
        weight = [1]
        self._loop(node, 0, out, weight)
        # Generators are evaluated eagerly into a list: nothing lazy ever leaves the interpreter.
        return self.built(set(out) if isinstance(node, ast.SetComp) else out, weight[0])

    def _loop(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp, index: int, out: list[Any],
              weight: list[int]) -> None:
        generator = node.generators[index]
        iterable = self.run(generator.iter)
        if not isinstance(iterable, list | tuple | set | frozenset | dict | str | range):
            raise EvaluationError(f"cannot loop over {json_type(iterable)} `{_src(generator.iter)}`")
        scope: dict[str, Any] = {}
        self._scopes.append(scope)
        try:
            for item in iterable:
                self.charge()
                _bind(generator.target, item, scope)
                if not all(self.truthy(self.run(cond)) for cond in generator.ifs):
                    continue
                if index + 1 < len(node.generators):
                    self._loop(node, index + 1, out, weight)
                else:
                    item = self.run(node.elt)
                    if len(out) + 1 > self.limits.collection_items:
                        raise self.limit("collection items", self.limits.collection_items, len(out) + 1)
                    weight[0] = self.building(weight[0] + self.weigh(item))
                    out.append(item)
        finally:
            self._scopes.pop()


def _bind(target: ast.expr, item: Any, scope: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        scope[target.id] = item
        return
    assert isinstance(target, ast.Tuple)  # the checker allows only names and tuples of names
    if not isinstance(item, list | tuple) or len(item) != len(target.elts):
        raise EvaluationError(f"cannot unpack {json_type(item)} into {len(target.elts)} names")
    for name, value in zip(target.elts, item, strict=True):
        _bind(name, value, scope)


def _arith(it: Interpreter, op: ast.operator, left: Any, right: Any) -> Any:
    """Apply ``op``, refusing up front anything whose result would break a bound."""
    limits = it.limits
    if isinstance(op, ast.Mult):
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, _SEQUENCES) and isinstance(times, int):
                size = len(seq) * max(times, 0)
                cap = limits.str_chars if isinstance(seq, str) else limits.collection_items
                if size > cap:
                    raise it.limit("string length" if isinstance(seq, str) else "collection items", cap, size)
                if isinstance(seq, str):
                    it.charge(size // 64 + 1)
                    return seq * times
                # The copies share their items: the result holds `times` times everything `seq` holds.
                weight = it.building(1 + (it.weigh(seq) - 1) * max(times, 0))
                it.charge(size // 64 + 1)
                return it.built(seq * times, weight)
        if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > limits.int_bits:
            raise it.limit("integer bits", limits.int_bits, left.bit_length() + right.bit_length())
    elif isinstance(op, ast.Pow):
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            bits = (left.bit_length() - 1) * right
            if bits > limits.int_bits:
                raise it.limit("integer bits", limits.int_bits, bits)
        value = left**right if _is_number(left) and _is_number(right) else _type_error("**", left, right)
        if isinstance(value, complex):
            raise EvaluationError("the power has no real value")
        return value
    elif isinstance(op, ast.Add) and isinstance(left, _SEQUENCES) and type(left) is type(right):
        cap = limits.str_chars if isinstance(left, str) else limits.collection_items
        size = len(left) + len(right)
        if size > cap:
            raise it.limit("string length" if isinstance(left, str) else "collection items", cap, size)
        it.charge(size // 64 + 1)
        if isinstance(left, str):
            return left + right  # type: ignore[operator]  # both strings, checked above
        weight = it.building(it.weigh(left) + it.weigh(right) - 1)
        return it.built(left + right, weight)  # type: ignore[operator]  # same sequence type on both sides
    elif isinstance(op, ast.Mod) and isinstance(left, str):
        # printf-style formatting can build huge strings from a tiny format ('%999999999d').
        raise EvaluationError("string formatting with % is not allowed")
    if not (_is_number(left) and _is_number(right)):
        return _type_error(_OP_SYMBOLS[type(op)], left, right)
    return _ARITH[type(op)](left, right)


def _type_error(symbol: str, left: Any, right: Any) -> Any:
    raise EvaluationError(f"cannot apply `{symbol}` to {json_type(left)} and {json_type(right)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _src(node: ast.expr) -> str:
    return ast.unparse(node)[:80]


_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_OP_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"
}
_DISPATCH: dict[type[ast.AST], Callable[[Interpreter, Any], Any]] = {
    ast.Constant: Interpreter._constant,
    ast.Name: Interpreter._name,
    ast.Attribute: Interpreter._attribute,
    ast.Subscript: Interpreter._subscript,
    ast.BoolOp: Interpreter._bool_op,
    ast.UnaryOp: Interpreter._unary,
    ast.BinOp: Interpreter._bin_op,
    ast.Compare: Interpreter._compare,
    ast.IfExp: Interpreter._if_exp,
    ast.Call: Interpreter._call,
    ast.List: Interpreter._list,
    ast.Tuple: Interpreter._list,
    ast.Set: Interpreter._set,
    ast.Dict: Interpreter._dict,
    ast.ListComp: Interpreter._comprehension,
    ast.SetComp: Interpreter._comprehension,
    ast.GeneratorExp: Interpreter._comprehension,
}
