"""Compile-time checks: parse with ``ast`` and accept only an allow-list of constructs.

Everything is decided here, before a flow starts: syntax, the node types, the
names an expression may read, the fields it reads from ``result`` (checked
against the output contract, with a suggestion for typos), the functions it
calls and their arity, how deeply comprehensions nest, and whether any
constant part is too big to compute. The interpreter then only ever sees
trees that passed.

Identifiers are NFKC-normalised by the Python parser, so ``__class__`` spelt
with fullwidth or mathematical look-alike letters arrives here as
``__class__`` and is refused like the real one; letters that do not fold to
ASCII (Cyrillic, say) are refused outright.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from stratum_mcp._limits import Limits
from stratum_mcp._messages import suggest
from stratum_mcp.errors import EvaluationError, ExpressionRejected
from stratum_mcp.expressions._functions import FUNCTIONS

__all__ = ["check"]

_MAX_DEPTH = 60
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_NO_CHILDREN_CHECK = (ast.Load, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_BIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_UNARY_OPS = (ast.Not, ast.USub, ast.UAdd)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp)
_CONSTANT_NODES = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List)
_FORBIDDEN_NAMES = {
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Starred: "star-unpacking",
    ast.DictComp: "dict comprehensions",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


def check(
    source: str, roots: Mapping[str, frozenset[str] | None], limits: Limits
) -> tuple[ast.Expression, dict[int, str]]:
    """Parse and check ``source``; return its tree and the nodes worth reporting on failure.

    ``roots`` maps each variable the expression may read to the set of its
    known fields, or ``None`` where the fields are not known in advance.
    """
    if len(source) > limits.expression_chars:
        raise ExpressionRejected(f"expression is {len(source)} characters; the limit is {limits.expression_chars}")
    if not source.strip():
        raise ExpressionRejected("expression is empty")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionRejected(f"syntax error: {exc.msg}", column=exc.offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionRejected(f"cannot parse expression: {type(exc).__name__}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > limits.expression_nodes:
        raise ExpressionRejected(f"expression has {nodes} parts; the limit is {limits.expression_nodes}")
    if _depth(tree) > _MAX_DEPTH:
        # Both the checker and the interpreter recurse once per level.
        raise ExpressionRejected(f"expression nests more than {_MAX_DEPTH} levels deep")
    checker = _Checker(roots, limits)
    checker.visit(tree.body, scopes=(), loops=0)
    _fold_constants(tree.body, limits)
    return tree, checker.observe


class _Checker:
    def __init__(self, roots: Mapping[str, frozenset[str] | None], limits: Limits) -> None:
        self.roots = roots
        self.limits = limits
        self.observe: dict[int, str] = {}

    def reject(self, node: ast.AST, message: str, suggestion: str | None = None) -> ExpressionRejected:
        column = getattr(node, "col_offset", None)
        return ExpressionRejected(message, column=None if column is None else column + 1, suggestion=suggestion)

    def visit(self, node: ast.AST, *, scopes: tuple[frozenset[str], ...], loops: int, top: bool = True) -> None:
        kind = type(node)
        if kind in _FORBIDDEN_NAMES:
            raise self.reject(node, f"{_FORBIDDEN_NAMES[kind]}: not allowed in ensure expressions")
        handler = getattr(self, f"_{kind.__name__}", None)
        if handler is None:
            raise self.reject(node, f"`{_snippet(node)}`: {kind.__name__} is not allowed in ensure expressions")
        handler(node, scopes, loops, top)

    def _children(self, nodes: list[Any], scopes: tuple[frozenset[str], ...], loops: int, top: bool) -> None:
        for child in nodes:
            if child is not None:
                self.visit(child, scopes=scopes, loops=loops, top=top)

    def _Constant(self, node: ast.Constant, scopes: Any, loops: int, top: bool) -> None:
        value = node.value
        if value is not None and not isinstance(value, bool | int | float | str):
            raise self.reject(node, f"{type(value).__name__} literals are not allowed")
        if isinstance(value, int) and value.bit_length() > self.limits.int_bits:
            raise self.reject(node, f"integer literal is larger than {self.limits.int_bits} bits")

    def _Name(self, node: ast.Name, scopes: tuple[frozenset[str], ...], loops: int, top: bool) -> None:
        if any(node.id in scope for scope in scopes):
            return
        if node.id in self.roots:
            if top:
                self.observe[id(node)] = node.id
            return
        if node.id in FUNCTIONS:
            raise self.reject(node, f"`{node.id}` is a function; call it, as in `{node.id}(...)`")
        known = [*self.roots, *(n for scope in scopes for n in scope)]
        raise self.reject(node, f"unknown name `{node.id}`", suggest(node.id, known))

    def _Attribute(self, node: ast.Attribute, scopes: Any, loops: int, top: bool) -> None:
        if not _IDENT.match(node.attr):
            raise self.reject(
                node, f"`.{node.attr}` is not a data field: fields are ASCII names that do not start with `_`"
            )
        if not isinstance(node.value, ast.Name | ast.Attribute | ast.Subscript):
            raise self.reject(node, f"`{_snippet(node)}`: fields can only be read from data such as `result`")
        if isinstance(node.value, ast.Name) and not any(node.value.id in s for s in scopes):
            fields = self.roots.get(node.value.id)
            if fields is not None and node.attr not in fields:
                raise self.reject(
                    node, f"`{node.value.id}` has no field `{node.attr}`", suggest(node.attr, sorted(fields))
                )
        if top:
            self.observe[id(node)] = _snippet(node)
        self.visit(node.value, scopes=scopes, loops=loops, top=False)

    def _Subscript(self, node: ast.Subscript, scopes: Any, loops: int, top: bool) -> None:
        if not isinstance(node.value, ast.Name | ast.Attribute | ast.Subscript | ast.Constant | ast.List):
            raise self.reject(node, f"`{_snippet(node)}`: only data can be indexed")
        if top:
            self.observe[id(node)] = _snippet(node)
        self.visit(node.value, scopes=scopes, loops=loops, top=False)
        index = node.slice
        if isinstance(index, ast.Slice):
            self._children([index.lower, index.upper, index.step], scopes, loops, False)
        else:
            self.visit(index, scopes=scopes, loops=loops, top=False)

    def _Call(self, node: ast.Call, scopes: Any, loops: int, top: bool) -> None:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else None
            hint = suggest(name, list(FUNCTIONS)) if name else None
            raise self.reject(node, f"`{_snippet(node.func)}` is not a function you can call here", hint)
        function = FUNCTIONS[node.func.id]
        if node.keywords:
            raise self.reject(node, f"{function.name}() takes no keyword arguments")
        if not function.min_args <= len(node.args) <= function.max_args:
            want = str(function.min_args) if function.min_args == function.max_args else (
                f"{function.min_args} to {function.max_args}"
            )
            raise self.reject(node, f"{function.name}() takes {want} argument(s), got {len(node.args)}")
        self._children(node.args, scopes, loops, top)

    def _Compare(self, node: ast.Compare, scopes: Any, loops: int, top: bool) -> None:
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if isinstance(op, ast.Is | ast.IsNot):
                pair = operands[i : i + 2]
                if not any(isinstance(o, ast.Constant) and o.value in (None, True, False) for o in pair):
                    raise self.reject(node, "`is` compares only with None, True or False; use `==`")
        if top:
            for operand in operands:
                if any(isinstance(n, ast.Name) for n in ast.walk(operand)):
                    self.observe.setdefault(id(operand), _snippet(operand))
        self._children(operands, scopes, loops, top)

    def _BinOp(self, node: ast.BinOp, scopes: Any, loops: int, top: bool) -> None:
        if not isinstance(node.op, _BIN_OPS):
            raise self.reject(node, f"operator {type(node.op).__name__} is not allowed")
        self._children([node.left, node.right], scopes, loops, top)

    def _UnaryOp(self, node: ast.UnaryOp, scopes: Any, loops: int, top: bool) -> None:
        if not isinstance(node.op, _UNARY_OPS):
            raise self.reject(node, f"operator {type(node.op).__name__} is not allowed")
        self.visit(node.operand, scopes=scopes, loops=loops, top=top)

    def _BoolOp(self, node: ast.BoolOp, scopes: Any, loops: int, top: bool) -> None:
        self._children(node.values, scopes, loops, top)

    def _IfExp(self, node: ast.IfExp, scopes: Any, loops: int, top: bool) -> None:
        self._children([node.test, node.body, node.orelse], scopes, loops, top)

    def _List(self, node: ast.List | ast.Tuple | ast.Set, scopes: Any, loops: int, top: bool) -> None:
        self._children(node.elts, scopes, loops, False)

    _Tuple = _List
    _Set = _List

    def _Dict(self, node: ast.Dict, scopes: Any, loops: int, top: bool) -> None:
        if any(key is None for key in node.keys):
            raise self.reject(node, "`**` unpacking is not allowed")
        self._children([*node.keys, *node.values], scopes, loops, False)

    def _comprehension_node(self, node: Any, scopes: tuple[frozenset[str], ...], loops: int, top: bool) -> None:
        inner = scopes
        for generator in node.generators:
            loops += 1
            if loops > self.limits.comprehension_depth:
                raise self.reject(
                    node, f"comprehensions nest {loops} loops deep; the limit is {self.limits.comprehension_depth}"
                )
            if generator.is_async:
                raise self.reject(node, "async comprehensions are not allowed")
            # The iterable is evaluated in the enclosing scope, as in Python.
            self.visit(generator.iter, scopes=inner, loops=loops - 1, top=top and inner is scopes)
            inner = (*inner, frozenset(self._targets(generator.target)))
            self._children(generator.ifs, inner, loops, False)
        self.visit(node.elt, scopes=inner, loops=loops, top=False)

    _ListComp = _comprehension_node
    _SetComp = _comprehension_node
    _GeneratorExp = _comprehension_node

    def _targets(self, target: ast.expr) -> list[str]:
        if isinstance(target, ast.Name):
            if not _IDENT.match(target.id):
                raise self.reject(target, f"loop variable `{target.id}` must be an ASCII name not starting with `_`")
            if target.id in FUNCTIONS or target.id in self.roots:
                raise self.reject(target, f"loop variable `{target.id}` would hide a name of the language")
            return [target.id]
        if isinstance(target, ast.Tuple):
            return [name for element in target.elts for name in self._targets(element)]
        raise self.reject(target, "loop targets must be names, as in `for x in ...` or `for k, v in ...`")


def _fold_constants(node: ast.expr, limits: Limits) -> None:
    """Compute every constant part now, so ``10**10**10`` fails at validate time."""
    from stratum_mcp.expressions._interpreter import Interpreter

    for child in ast.walk(node):
        if isinstance(child, ast.BinOp) and all(
            isinstance(n, (*_CONSTANT_NODES, *_NO_CHILDREN_CHECK)) for n in ast.walk(child)
        ):
            try:
                Interpreter({}, limits=limits, files=None, observe={}).run(child)
            except EvaluationError as exc:
                raise ExpressionRejected(f"`{_snippet(child)}` cannot be computed: {exc}") from None
            except (ArithmeticError, TypeError, ValueError) as exc:
                raise ExpressionRejected(f"`{_snippet(child)}` cannot be computed: {exc}") from None


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."
