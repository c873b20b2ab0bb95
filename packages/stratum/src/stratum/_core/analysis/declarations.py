"""The shape of a declaration: its body, its annotations, its decorator's arguments.

The errors here are found cheaply where the decorator runs (the body's
bytecode, the resolved annotations, the arguments' values); this module only
reads the source to say precisely what is wrong and where. The one check
that needs the source to find a mistake at all is the opaque f-string: an
``intent=f"... {note}"`` is already a plain string when the decorator sees it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from ...exceptions import StratumCompileError
from .. import source
from ..spec import Param
from .findings import compile_error, location, suggest

__all__ = [
    "body_error",
    "check_opaque_interpolation",
    "check_quorum",
    "not_async_error",
    "return_error",
    "unresolved_error",
]


def body_error(fn: Callable[..., Any], owner: str) -> StratumCompileError:
    found = source.find_def(fn)
    shown, where = None, location(fn)
    if found is not None:
        file, node = found
        body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        first = (body or node.body)[0]
        shown, where = file.segment(first), (file.filename, first.lineno)
    problem = "the body must be `...` (the model is the implementation)"
    problem += f", not `{shown}`" if shown else ""
    problem += "; use @compute for a function with a body"
    return compile_error("@infer", owner, problem, rule="infer-body", source=shown, where=where)


def return_error(fn: Callable[..., Any], owner: str, annotation: Any) -> StratumCompileError:
    found = source.find_def(fn)
    shown = None
    where = location(fn)
    written = getattr(fn, "__annotations__", {}).get("return")
    if found is not None and found[1].returns is not None:
        shown = found[0].segment(found[1].returns)
        # The source shows what was written, unless the annotation was set some other way.
        expected = written if isinstance(written, str) else getattr(written, "__name__", None)
        if shown is None or expected is None or expected not in shown:
            shown = None
        else:
            where = (found[0].filename, found[1].returns.lineno)
    text = shown or _type_text(annotation)
    hint = ""
    if isinstance(annotation, type) and not issubclass(annotation, BaseModel) and getattr(
        annotation, "__annotations__", None
    ):
        hint = f"; decorate class {annotation.__name__} with @contract"
    return compile_error(
        "@infer",
        owner,
        f"return annotation `{text}` is neither a contract nor one of str, int, float, bool, list[...], "
        f"Literal[...]{hint}",
        rule="return-type",
        source=text,
        where=where,
    )


def unresolved_error(fn: Callable[..., Any], owner: str, exc: NameError) -> StratumCompileError:
    """An annotation names something that is not defined (checked again at first call)."""
    name = getattr(exc, "name", None)
    found = source.find_def(fn)
    shown, where = None, location(fn)
    if found is not None and name:
        file, node = found
        for annotation in [a.annotation for a in ast.walk(node.args) if isinstance(a, ast.arg)] + [node.returns]:
            if annotation is not None and name in (file.segment(annotation) or ""):
                shown, where = file.segment(annotation), (file.filename, annotation.lineno)
                break
    globs = getattr(fn, "__globals__", {})
    candidates = [k for k, v in globs.items() if isinstance(v, type) and not k.startswith("_")]
    if shown is None or shown == name:
        problem = f"annotation `{name}` is not defined" if name else f"an annotation cannot be resolved: {exc}"
    else:
        problem = f"annotation `{shown}` names `{name}`, which is not defined"
    return compile_error(
        "@infer",
        owner,
        problem,
        rule="unresolved-annotation",
        source=shown,
        suggestion=suggest(name, candidates) if name else None,
        where=where,
    )


def not_async_error(func: Any) -> StratumCompileError:
    owner = getattr(func, "__qualname__", None) or repr(func)
    found = source.find_def(func) if callable(func) else None
    shown, where = None, location(func)
    if found is not None:
        file, node = found
        shown = " ".join(file.lines[node.lineno - 1].split()).removesuffix(":") or None
        where = (file.filename, node.lineno)
    problem = "a flow must be an `async def`" + (f", not `{shown}`" if shown else "")
    return compile_error("@flow", owner, problem, rule="flow-async", source=shown, where=where)


def check_quorum(
    fn: Callable[..., Any],
    owner: str,
    model: type[BaseModel] | None,
    *,
    quorum: int | None,
    agree_on: str | None,
    threshold: int | None,
) -> None:
    where = location(fn)

    def error(problem: str, shown: str, suggestion: str | None = None) -> StratumCompileError:
        return compile_error(
            "@infer", owner, problem, rule="quorum", source=shown, suggestion=suggestion, where=where
        )

    if quorum is None:
        if threshold is not None:
            raise error(f"`threshold={threshold!r}` needs `quorum=N`", f"threshold={threshold!r}")
        if agree_on is None:
            return
    elif isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
        raise error(f"`quorum={quorum!r}`: quorum must be an int >= 1", f"quorum={quorum!r}")
    elif agree_on is None or threshold is None:
        missing = " and ".join(n for n, v in (("agree_on=", agree_on), ("threshold=", threshold)) if v is None)
        raise error(f"`quorum={quorum}` needs both agree_on= and threshold= (missing {missing})", f"quorum={quorum}")
    if model is None or agree_on not in model.model_fields:
        fields = sorted(model.model_fields) if model is not None else []
        raise error(
            f"`agree_on={agree_on!r}` is not a field of the contract {fields}",
            f"agree_on={agree_on!r}",
            suggest(agree_on, fields) if isinstance(agree_on, str) else None,
        )
    if quorum is None:  # agree_on alone decides agreement for stability sampling and debate
        return
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= quorum:
        raise error(
            f"`threshold={threshold!r}` must be an int in [1, quorum={quorum}]",
            f"quorum={quorum}, threshold={threshold!r}",
        )


def check_opaque_interpolation(fn: Callable[..., Any], owner: str, params: Sequence[Param]) -> None:
    """``intent=f"... {note}"`` where ``note`` is an opaque parameter: the f-string ran at decoration."""
    secret = {p.name: p for p in params if p.opaque or p.opaque_fields}
    if not secret:
        return
    try:
        found = source.find_def(fn)
    except Exception:  # a source this reading cannot follow is skipped, never refused
        return
    if found is None:
        return
    file, node = found
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        arguments = [(k.arg, k.value) for k in decorator.keywords if k.arg in ("intent", "context")]
        if decorator.args:
            arguments.append(("intent", decorator.args[0]))
        for role, value in arguments:
            for fstring in (n for n in ast.walk(value) if isinstance(n, ast.JoinedStr)):
                for part in fstring.values:
                    if not isinstance(part, ast.FormattedValue):
                        continue
                    leaked = _opaque_read(part.value, secret)
                    if leaked is None:
                        continue
                    shown = file.segment(fstring)
                    raise compile_error(
                        "@infer",
                        owner,
                        f"{role} `{shown}` interpolates opaque {leaked} with an f-string; opaque values may only "
                        "travel as data in the attachment, never in instruction text (name the parameter in the "
                        "text instead, without braces)",
                        rule="opaque-interpolation",
                        source=shown,
                        where=(file.filename, fstring.lineno),
                    )


def _opaque_read(expr: ast.expr, secret: dict[str, Param]) -> str | None:
    """What opaque data ``{param.a.b}`` reads: the parameter, or a field holding (or inside) opaque data."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name) or expr.id not in secret:
        return None
    param = secret[expr.id]
    if param.opaque:
        return f"parameter `{param.name}`"
    read = ".".join(reversed(parts))
    if not read:
        return f"`{param.name}` (its type declares opaque fields)"
    # opaque_fields holds paths like "reasoning", "inner.reasoning", "notes[].text".
    for path in param.opaque_fields:
        if path == read or path.startswith((f"{read}.", f"{read}[")) or read.startswith(f"{path}."):
            return f"field `{param.name}.{read}`"
    return None


def _type_text(annotation: Any) -> str:
    import typing

    return annotation.__name__ if isinstance(annotation, type) else typing._type_repr(annotation)  # type: ignore[attr-defined]
