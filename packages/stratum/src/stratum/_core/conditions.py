"""``given`` and ``ensure`` predicates: their source text and specific violations.

A violation must tell the model exactly what failed, so each predicate is
described once at decoration: its own source text (the lambda's body, a
named function's docstring or single ``return`` expression) and the
attribute paths it reads from its argument. At run time a failure renders as::

    ensure `r.confidence > 0.7` failed (actual: confidence=0.42)

Predicates are ordinary Python callables written by the developer; they run
in the host process and are never sent to the model.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import PreconditionFailed, StratumCompileError, Violation
from . import opacity

__all__ = ["Condition", "check_ensure", "check_given", "describe"]

_REPR_LIMIT = 80


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    fn: Callable[..., Any]
    source: str
    params: tuple[str, ...]
    #: attribute paths read from the first parameter, e.g. (("confidence",),)
    reads: tuple[tuple[str, ...], ...]


def describe(fn: Callable[..., Any], role: str) -> Condition:
    if not callable(fn):
        raise StratumCompileError(f"{role} condition {fn!r} is not callable")
    try:
        params = tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = ()
    node, source = _locate(fn)
    reads: tuple[tuple[str, ...], ...] = ()
    if node is not None and params:
        reads = _attribute_reads(node, params[0])
    return Condition(fn=fn, source=source, params=params, reads=reads)


# -- evaluation ---------------------------------------------------------------
async def check_ensure(conditions: Sequence[Condition], value: Any, *, quote: bool = True) -> list[Violation]:
    """Evaluate every postcondition; return one violation per failure.

    ``quote=False`` keeps the model's text out of the messages (a call that
    carries opaque data): values read are shown only when they are numbers,
    booleans or None, and a predicate's exception by its type only. The
    violations' ``actual`` keeps the real values for the host.
    """
    violations: list[Violation] = []
    show = _short if quote else opacity.shown
    for cond in conditions:
        try:
            outcome = cond.fn(value)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        except Exception as exc:  # the predicate's own error is the message
            said = f": {exc}" if quote else ""
            violations.append(
                Violation(
                    kind="ensure",
                    message=f"ensure `{cond.source}` raised {type(exc).__name__}{said}",
                    condition=cond.source,
                    actual=_actual(cond, value),
                )
            )
            continue
        if not outcome:
            actual = _actual(cond, value)
            shown = ", ".join(f"{k}={show(v)}" for k, v in actual.items())
            message = f"ensure `{cond.source}` failed" + (f" (actual: {shown})" if shown else "")
            violations.append(Violation(kind="ensure", message=message, condition=cond.source, actual=actual))
    return violations


async def check_given(function: str, conditions: Sequence[Condition], inputs: Mapping[str, Any]) -> None:
    """Raise ``PreconditionFailed`` at the first False precondition."""
    for cond in conditions:
        outcome = cond.fn(**{name: inputs[name] for name in cond.params})
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if not outcome:
            raise PreconditionFailed(function, cond.source, inputs)


def _actual(cond: Condition, value: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if not cond.reads:  # the predicate uses its argument whole: show it whole
        found[cond.params[0] if cond.params else "result"] = value
    for path in cond.reads:
        current = value
        try:
            for part in path:
                current = getattr(current, part)
        except AttributeError:
            continue
        found[".".join(path)] = current
    return found


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


# -- source analysis ------------------------------------------------------------
def _locate(fn: Callable[..., Any]) -> tuple[ast.AST | None, str]:
    """Find the predicate's AST node and the text to show for it."""
    fallback = getattr(fn, "__qualname__", None) or repr(fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return None, fallback
    tree = _module_ast(code.co_filename)
    if tree is None:
        return None, fallback
    if fn.__name__ == "<lambda>":
        lam = _find_lambda(tree, code)
        if lam is None:
            return None, fallback
        return lam, _segment(code.co_filename, lam.body) or fallback
    node = _find_def(tree, code)
    if node is None:
        return None, fallback
    doc = inspect.getdoc(fn)
    if doc:
        return node, doc.strip().splitlines()[0]
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return node, _segment(code.co_filename, body[0].value) or fallback
    return node, fallback


@functools.lru_cache(maxsize=128)
def _parsed(filename: str, text: str) -> ast.AST | None:
    try:
        return ast.parse(text, filename)
    except (SyntaxError, ValueError):
        return None


def _module_ast(filename: str) -> ast.AST | None:
    lines = linecache.getlines(filename)
    return _parsed(filename, "".join(lines)) if lines else None


def _segment(filename: str, node: ast.AST) -> str | None:
    text = ast.get_source_segment("".join(linecache.getlines(filename)), node)
    return " ".join(text.split()) if text else None


def _find_lambda(tree: ast.AST, code: Any) -> ast.Lambda | None:
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno]
    if len(found) <= 1:
        return found[0] if found else None
    # Several lambdas on one line: the code's own column positions pick it.
    # (RESUME and the implicit return carry an empty 0..0 span; skip those.)
    cols = [
        p[2]
        for p in code.co_positions()
        if p[0] == code.co_firstlineno and p[2] is not None and p[3] is not None and p[3] > p[2]
    ]
    if cols:
        col = min(cols)
        inside = [n for n in found if n.body.col_offset <= col <= (n.body.end_col_offset or col)]
        if inside:
            return min(inside, key=lambda n: (n.end_col_offset or 0) - n.col_offset)
    return found[0]


def _find_def(tree: ast.AST, code: Any) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if code.co_firstlineno in (first, node.lineno):
                return node
    return None


def _attribute_reads(node: ast.AST, param: str) -> tuple[tuple[str, ...], ...]:
    paths: list[tuple[str, ...]] = []
    parents: dict[int, ast.AST] = {}
    for parent in ast.walk(node):
        for child in ast.iter_child_nodes(parent):
            parents[id(child)] = parent
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == param and isinstance(sub.ctx, ast.Load):
            chain: list[str] = []
            cur: ast.AST = sub
            while isinstance(parents.get(id(cur)), ast.Attribute):
                attr = parents[id(cur)]
                call = parents.get(id(attr))
                if isinstance(call, ast.Call) and call.func is attr:
                    break  # `r.label.startswith(...)` reads `label`, not the method
                cur = attr
                chain.append(attr.attr)  # type: ignore[attr-defined]
            if chain and tuple(chain) not in paths:
                paths.append(tuple(chain))
    return tuple(paths)
