"""``@refine(until=..., feedback=...)`` callables that call a model.

``until`` and ``feedback`` are the host's judgement of a result: they run in
this process between model calls, outside the loop's retries, and their cost
is nobody's budget. One that calls an @infer function (an LLM judge) is a
compile error. Found through the names the callables' code loads as globals
or from their closure (``LOAD_GLOBAL``/``LOAD_DEREF``, nested code included),
resolved without running anything; ``functools.partial`` and bound methods
are looked through. A name not defined yet is checked again at the first call.
"""

from __future__ import annotations

import builtins
import functools
import types
from collections.abc import Iterator
from typing import Any

from ...exceptions import StratumCompileError
from ..calls import InferFunction
from ..spec import InferSpec
from .findings import compile_error, location

__all__ = ["RefineCheck", "check_refine"]

_UNRESOLVED = object()


class RefineCheck:
    """The check of one @refine declaration, still due at its first call when a name was not defined yet."""

    __slots__ = ("callables", "due", "owner")

    def __init__(self, owner: str, callables: dict[str, Any]) -> None:
        self.owner = owner
        self.callables = callables
        self.due = True

    def run(self, *, final: bool = True) -> bool:
        for role, fn in self.callables.items():
            try:
                found = list(_references(fn))
            except Exception:  # code this reading cannot follow is skipped, never refused
                continue
            for name, value, where in found:
                if value is _UNRESOLVED:
                    if not final:
                        return False
                    continue
                if _is_infer(value):
                    self.due = False
                    shown = _shown(fn)
                    raise compile_error(
                        "@refine",
                        self.owner,
                        f"{role} `{shown}` calls the @infer function `{name}`; until and feedback judge a result "
                        "in this process and must not call a model (their calls would escape the loop's "
                        "retries and budget): check the result in code, or make the judgement a step of a @flow",
                        rule="refine-calls-infer",
                        source=shown,
                        where=where,
                    )
        self.due = False
        return True


def check_refine(owner: str, until: Any, feedback: Any) -> RefineCheck | None:
    """Check now; return the check still due at the first call, or None when it is done (or raise)."""
    check = RefineCheck(owner, {"until": until, "feedback": feedback})
    return None if check.run(final=False) else check


def _is_infer(value: Any) -> bool:
    if isinstance(value, InferFunction):
        return True
    # A @refine function (stratum._composition) wraps one: read from its __dict__, running no user code.
    return type(value).__module__.startswith("stratum.") and isinstance(
        getattr(value, "__dict__", {}).get("spec"), InferSpec
    )


def _unwrap(fn: Any) -> Any:
    for _ in range(8):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        else:
            break
    return fn


def _references(fn: Any) -> Iterator[tuple[str, Any, tuple[str | None, int | None]]]:
    """Every global or closure name ``fn``'s code loads, with what it names now."""
    fn = _unwrap(fn)
    if _is_infer(fn):
        yield getattr(fn, "__qualname__", "?"), fn, location(fn)
        return
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return
    import dis

    globs = getattr(fn, "__globals__", {})
    closure = dict(zip(code.co_freevars, getattr(fn, "__closure__", None) or (), strict=False))
    for inner in _codes(code):
        for ins in dis.get_instructions(inner):
            name = ins.argval if isinstance(ins.argval, str) else None
            if name is None:
                continue
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                value = globs.get(name, _UNRESOLVED)
                if value is _UNRESOLVED and hasattr(builtins, name):
                    continue
            elif ins.opname == "LOAD_DEREF" and name in closure:
                try:
                    value = closure[name].cell_contents
                except ValueError:
                    value = _UNRESOLVED
            else:
                continue
            yield name, value, (inner.co_filename, ins.positions.lineno if ins.positions else inner.co_firstlineno)


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _shown(fn: Any) -> str:
    from ..conditions import describe

    try:
        return describe(fn, "refine").source
    except StratumCompileError:
        return getattr(fn, "__qualname__", repr(fn))
