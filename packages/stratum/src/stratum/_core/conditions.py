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
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import PreconditionFailed, StratumCompileError, Violation
from . import opacity, source

__all__ = ["Condition", "check_ensure", "check_given", "describe"]

_REPR_LIMIT = 80


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    fn: Callable[..., Any]
    source: str
    params: tuple[str, ...]
    #: attribute paths read from the first parameter, e.g. (("confidence",),)
    reads: tuple[tuple[str, ...], ...]
    #: the lambda or def the predicate was made from, when its source is readable
    node: ast.AST | None = field(default=None, repr=False, compare=False)


def describe(fn: Callable[..., Any], role: str) -> Condition:
    if not callable(fn):
        raise StratumCompileError(f"{role} condition {fn!r} is not callable")
    try:
        params = tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = ()
    node, text = _locate(fn)
    reads: tuple[tuple[str, ...], ...] = ()
    if node is not None and params:
        reads = _attribute_reads(node, params[0])
    return Condition(fn=fn, source=text, params=params, reads=reads, node=node)


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
    if getattr(fn, "__name__", None) == "<lambda>":
        lam = source.find_lambda(fn)
        if lam is None:
            return None, fallback
        return lam[1], lam[0].segment(lam[1].body) or fallback
    found = source.find_def(fn)
    if found is None:
        return None, fallback
    file, node = found
    doc = inspect.getdoc(fn)
    if doc:
        return node, doc.strip().splitlines()[0]
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return node, file.segment(body[0].value) or fallback
    return node, fallback


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
