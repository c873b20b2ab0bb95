"""``given`` and ``ensure`` predicates, read against the signature and the return contract.

Nothing here calls a predicate. What a predicate reads is found in its
source (the lambda's or def's AST, located by ``stratum._core.source``) or,
when the source cannot be read, in its bytecode (``LOAD_ATTR`` after a load
of the first parameter). A predicate whose code cannot be inspected at all
(a builtin, a C function, a ``functools.partial``) is skipped, never
rejected. So is one that rebinds its parameter (``lambda r: all(r.ok for r in
r.items)``: the inner ``r`` is another value), and one whose located source
does not match its code (the file changed after import).

- ``given``: every parameter it takes must be a parameter of the function.
- ``ensure`` fields: ``r.confidnce`` must be a field (or an attribute) of the
  contract, nested contracts included (``r.address.city``).
- ``ensure`` values: ``r.label == "postive"`` compares a ``Literal`` (or
  ``str``/``int`` enum) field with a value outside its allowed set.
"""

from __future__ import annotations

import ast
import enum
import sys
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from ...exceptions import StratumCompileError
from .. import source
from ..conditions import Condition
from ..contracts import OutputSpec
from .findings import compile_error, location, suggest

__all__ = ["check_ensure", "check_given"]

_PRIMITIVES = (str, int, float, bool)


def check_given(owner: str, conditions: Sequence[Condition], parameters: Sequence[str]) -> None:
    for cond in conditions:
        unknown = [p for p in cond.params if p not in parameters]
        if not unknown:
            continue
        listed = ", ".join(f"`{p}`" for p in unknown)
        shown = _whole(cond)
        raise compile_error(
            "@infer",
            owner,
            f"given `{shown}` takes {listed}, not {'a parameter' if len(unknown) == 1 else 'parameters'} "
            f"of {owner.rpartition('.')[2]} (its parameters: {', '.join(parameters) or 'none'})",
            rule="given-parameter",
            source=shown,
            suggestion=suggest(unknown[0], parameters),
            where=_where(cond),
        )


def check_ensure(owner: str, conditions: Sequence[Condition], output: OutputSpec) -> None:
    root: Any = output.model.model_fields["result"].annotation if output.wrapped else output.model
    for cond in conditions:
        if not cond.params:
            continue
        try:
            _check_one(owner, cond, cond.params[0], root)
        except StratumCompileError:
            raise
        except Exception:  # a predicate this reading cannot follow is skipped, never refused
            continue


def _check_one(owner: str, cond: Condition, param: str, root: Any) -> None:
    reads = _reads(cond, param)
    if reads is None:
        return
    for path in reads:
        _check_path(owner, cond, param, root, path)
    if cond.node is not None:
        for path, values in _comparisons(cond.node, param):
            _check_values(owner, cond, param, root, path, values)


# -- what a predicate reads -------------------------------------------------------------------
def _reads(cond: Condition, param: str) -> tuple[tuple[str, ...], ...] | None:
    """The attribute paths the predicate reads from ``param``, or None when that cannot be known."""
    code = getattr(cond.fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    if cond.node is None:
        return _bytecode_reads(code, param)
    if _rebinds(cond.node, param):
        return None
    names = _all_names(code)
    # The AST located for this code must be the code's own: every attribute it reads is in co_names.
    if any(part not in names for path in cond.reads for part in path):
        return None
    return cond.reads


def _rebinds(node: ast.AST, param: str) -> bool:
    """Whether ``param`` names another value somewhere inside (a comprehension's or a nested function's)."""
    args = getattr(node, "args", None)
    own = {id(a) for a in ast.walk(args)} if isinstance(args, ast.arguments) else set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == param and isinstance(sub.ctx, (ast.Store, ast.Del)):
            return True
        if isinstance(sub, ast.arg) and sub.arg == param and id(sub) not in own:
            return True
        if isinstance(sub, (ast.Global, ast.Nonlocal)) and param in sub.names:
            return True
    return False


def _all_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _all_names(const)
    return names


def _bytecode_reads(code: types.CodeType, param: str) -> tuple[tuple[str, ...], ...] | None:
    """``LOAD_FAST param`` then ``LOAD_ATTR a``, ``LOAD_ATTR b``...: the path ``(a, b)``."""
    if not code.co_varnames or code.co_varnames[0] != param or param in code.co_cellvars:
        return None
    import dis

    paths: list[tuple[str, ...]] = []
    chain: list[str] | None = None
    for ins in dis.get_instructions(code):
        if ins.opname in ("STORE_FAST", "DELETE_FAST") and ins.argval == param:
            return None
        if ins.opname.startswith("LOAD_FAST"):
            loaded = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
            _flush(paths, chain)
            chain = [] if loaded[-1] == param else None
            continue
        method = ins.opname == "LOAD_METHOD" or (_METHOD_BIT and ins.opname == "LOAD_ATTR" and (ins.arg or 0) & 1)
        if chain is not None and ins.opname == "LOAD_ATTR" and not method:
            chain.append(str(ins.argval))
            continue
        _flush(paths, chain)
        chain = None
    _flush(paths, chain)
    return tuple(paths)


# Python 3.12 folded LOAD_METHOD into LOAD_ATTR, marking a method load in the argument's low bit.
_METHOD_BIT = sys.version_info >= (3, 12)


def _flush(paths: list[tuple[str, ...]], chain: list[str] | None) -> None:
    if chain and tuple(chain) not in paths:
        paths.append(tuple(chain))


def _comparisons(node: ast.AST, param: str) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    """``r.a.b == const``, ``const != r.a.b``, ``r.a.b in (c1, c2)``: the path and the constants."""
    body = node.body if isinstance(node, ast.Lambda) else node
    for sub in ast.walk(body) if isinstance(body, ast.AST) else ():
        if not isinstance(sub, ast.Compare):
            continue
        operands = [sub.left, *sub.comparators]
        for left, op, right in zip(operands, sub.ops, operands[1:], strict=False):
            if isinstance(op, (ast.Eq, ast.NotEq)):
                for a, b in ((left, right), (right, left)):
                    path, value = _chain(a, param), _constant(b)
                    if path is not None and value is not _NOT_CONSTANT:
                        yield path, [value]
            elif isinstance(op, (ast.In, ast.NotIn)):
                path = _chain(left, param)
                if path is not None and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
                    values = [_constant(e) for e in right.elts]
                    if values and all(v is not _NOT_CONSTANT for v in values):
                        yield path, values


_NOT_CONSTANT = object()


def _constant(node: ast.AST) -> Any:
    return node.value if isinstance(node, ast.Constant) else _NOT_CONSTANT


def _chain(node: ast.AST, param: str) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == param:
        return tuple(reversed(parts))  # () is the result itself (a Literal return type)
    return None


# -- checking a path against the contract -----------------------------------------------------
def _check_path(owner: str, cond: Condition, param: str, root: Any, path: tuple[str, ...]) -> None:
    annotation = root
    for depth, attr in enumerate(path):
        cls = _checkable(annotation)
        if cls is None or attr.startswith("_"):
            return
        if issubclass(cls, BaseModel):
            if attr in cls.model_fields:
                annotation = cls.model_fields[attr].annotation
                continue
            if hasattr(cls, attr) or attr in getattr(cls, "model_computed_fields", {}):
                return  # a property or method: what it returns is not followed
            candidates = list(cls.model_fields)
            what = f"contract {cls.__name__} has no field `{attr}` (its fields: {', '.join(candidates)})"
        else:
            if hasattr(cls, attr):
                return
            candidates = [a for a in dir(cls) if not a.startswith("_")]
            what = f"{cls.__name__} has no attribute `{attr}`"
        read = ".".join((param, *path[: depth + 1]))
        raise compile_error(
            "@infer",
            owner,
            f"ensure `{cond.source}` reads `{read}`, but {what}",
            rule="ensure-field",
            source=cond.source,
            suggestion=suggest(attr, candidates),
            where=_where(cond),
        )


def _check_values(owner: str, cond: Condition, param: str, root: Any, path: tuple[str, ...], values: list[Any]) -> None:
    annotation = _resolve(root, path)
    if annotation is None:
        return
    allowed = _allowed(annotation)
    if allowed is None:
        return
    for value in values:
        if any(value == a for a in allowed):
            continue
        listed = ", ".join(repr(a) for a in allowed)
        read = ".".join((param, *path))
        text = [str(a) for a in allowed if isinstance(a, str)]
        raise compile_error(
            "@infer",
            owner,
            f"ensure `{cond.source}` compares `{read}` with {value!r}, a value it never takes (it is one of {listed})",
            rule="ensure-value",
            source=cond.source,
            suggestion=suggest(value, text) if isinstance(value, str) else None,
            where=_where(cond),
        )


def _resolve(root: Any, path: tuple[str, ...]) -> Any:
    annotation = root
    for attr in path:
        cls = _checkable(annotation)
        if cls is None or not issubclass(cls, BaseModel) or attr not in cls.model_fields:
            return None
        annotation = cls.model_fields[attr].annotation
    return annotation


def _allowed(annotation: Any) -> list[Any] | None:
    """The values a ``Literal`` or ``str``/``int`` enum annotation admits (None added when optional)."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            optional = len(members) < len(get_args(annotation))
            if len(members) != 1:
                return None
            annotation = members[0]
        else:
            break
    if get_origin(annotation) is Literal:
        values = list(get_args(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum) and issubclass(annotation, (str, int)):
        values = [member.value for member in annotation]
    else:
        return None
    return [*values, None] if optional else values


def _checkable(annotation: Any) -> type | None:
    """The class whose attributes a path may be checked against, or None to stop checking."""
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return None
            annotation = members[0]
        else:
            break
    if annotation in _PRIMITIVES:
        return typing.cast(type, annotation)
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    if annotation.model_config.get("extra") == "allow":
        return None  # any attribute may exist
    if getattr(annotation, "__getattr__", None) is not getattr(BaseModel, "__getattr__", None):
        return None  # the model answers attributes itself
    return annotation


def _whole(cond: Condition) -> str:
    """A lambda's whole text (``lambda txt: bool(txt)``: its parameters matter here), else its shown source."""
    found = source.find_lambda(cond.fn) if isinstance(cond.node, ast.Lambda) else None
    return (found[0].segment(found[1]) if found else None) or cond.source


def _where(cond: Condition) -> tuple[str | None, int | None]:
    filename, lineno = location(cond.fn)
    return filename, getattr(cond.node, "lineno", None) or lineno
