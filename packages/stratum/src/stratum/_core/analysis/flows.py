"""A ``@flow``'s body, read for two warnings: budgets that cannot all be met, calls that could overlap.

The body's AST is read; nothing in it runs. An awaited call counts when its
callee is a plain name (or ``module.name``) that resolves, through the
function's closure or globals, to an @infer (or @refine) function; a name the
flow binds itself never counts. When a callee is not defined yet (the flow
comes first in its module), the reading waits for the flow's first call.

- **budget sufficiency**: the budgets of two or more @infer calls the flow
  always awaits one after another (its top-level statements, and the bodies
  of ``with`` and ``try`` among them; never a branch of an ``if``, a loop or
  a handler) add up to more than the flow's own budget on an axis, so a
  later call may be stopped by ``BudgetExceeded`` before it starts. A call
  whose budget is at least the flow's is not counted: its budget limits
  nothing, as if it had none (and calls without one are never counted).
- **sequential independence**: two or more consecutive statements each bind
  the result of an awaited @infer call (``a = await f(...)``), none uses a
  name an earlier one bound, and they call different functions (a repeated
  call may be waiting for a cache): they could run together under
  ``stratum.parallel``.

Both are ``StratumWarning``s, shown once and attributed to the line they are
about, so ``warnings.filterwarnings("ignore", message=..., module=...)``
silences one (docs/checks.md).
"""

from __future__ import annotations

import ast
import builtins
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...exceptions import StratumCompileError
from .. import source
from ..budget import Budget
from ..calls import InferFunction
from ..spec import InferSpec
from .findings import warn

__all__ = ["FlowCheck", "check_flow"]

_UNRESOLVED = object()


@dataclass(frozen=True, slots=True)
class _Call:
    """One awaited call of an @infer function in the flow's body."""

    node: ast.Call
    name: str
    spec: InferSpec


class FlowCheck:
    """The reading of one flow, done at decoration or, if a callee is not defined yet, at its first call."""

    __slots__ = ("budget", "due", "func")

    def __init__(self, func: Any, budget: Budget | None) -> None:
        self.func = func
        self.budget = budget
        self.due = True

    def run(self, *, final: bool = True) -> bool:
        """Read the flow and warn; False (and still due) when a callee is not defined yet and not ``final``."""
        try:
            return self._run(final)
        except Warning:  # a warning turned into an error by the user's filters
            raise
        except Exception:  # a body this reading cannot follow gets no warning; the flow itself is fine
            self.due = False
            return True

    def _run(self, final: bool) -> bool:
        found = source.find_def(self.func)
        if found is None:
            self.due = False
            return True
        file, node = found
        calls: dict[int, _Call] = {}
        for call in (c for block in _blocks(node.body) for stmt in block for c in _direct_awaits(stmt)):
            callee = _callee(self.func, call.func)
            if callee is _UNRESOLVED:
                if not final:
                    return False
                continue
            spec = _spec_of(callee)
            if spec is not None:
                calls[id(call)] = _Call(call, _name(call.func), spec)
        self.due = False
        owner = self.func.__qualname__
        module = getattr(self.func, "__module__", None)
        if self.budget is not None:
            _budget_sufficiency(file, node, owner, module, self.budget, calls)
        _sequential_independence(file, node, owner, module, calls)
        return True


def check_flow(func: Any, budget: Budget | None) -> FlowCheck | None:
    """Read the flow now; return the check still due at its first call, or None when it is done."""
    check = FlowCheck(func, budget)
    return None if check.run(final=False) else check


# -- the body ---------------------------------------------------------------------------------
def _blocks(body: list[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """Every statement list of the flow (bodies of compound statements), nested functions and classes excluded.

    Only statements are visited, never expressions: reading a flow stays cheap.
    """
    yield body
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list) and inner:
                yield from _blocks(inner)
        for part in [*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())]:
            yield from _blocks(part.body)


def _name(expr: ast.expr) -> str:
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        return f"{expr.value.id}.{expr.attr}"
    return expr.id if isinstance(expr, ast.Name) else "?"


def _callee(func: Any, expr: ast.expr) -> Any:
    """What ``expr`` names, read from the closure or globals without running anything; None if not a plain name."""
    if isinstance(expr, ast.Name):
        return _lookup(func, expr.id)
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        owner = _lookup(func, expr.value.id)
        if isinstance(owner, types.ModuleType):
            return vars(owner).get(expr.attr)
    return None


def _lookup(func: Any, name: str) -> Any:
    code = func.__code__
    if name in code.co_varnames or name in code.co_cellvars:
        return None  # bound by the flow itself
    if name in code.co_freevars:
        cell = func.__closure__[code.co_freevars.index(name)]
        try:
            return cell.cell_contents
        except ValueError:  # not assigned yet
            return _UNRESOLVED
    if name in func.__globals__:
        return func.__globals__[name]
    return None if hasattr(builtins, name) else _UNRESOLVED


def _spec_of(callee: Any) -> InferSpec | None:
    if isinstance(callee, InferFunction):
        try:
            return callee.spec
        except StratumCompileError:  # reported where the function is declared
            return None
    # A @refine function (stratum._composition) wraps one; only stratum's own objects are read, from
    # their __dict__, so no user code (a property, a __getattr__) runs.
    if type(callee).__module__.startswith("stratum."):
        spec = getattr(callee, "__dict__", {}).get("spec")
        return spec if isinstance(spec, InferSpec) else None
    return None


def _straight_line(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that run whenever the flow runs to its end."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _straight_line(stmt.body)
        elif isinstance(stmt, (ast.Try, ast.TryStar)):
            yield from _straight_line(stmt.body)
            yield from _straight_line(stmt.finalbody)


def _direct_awaits(stmt: ast.stmt) -> list[ast.Call]:
    """``await f()`` as the whole value of a statement (or the items of a tuple of them)."""
    if not isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign, ast.Return)) or stmt.value is None:
        return []
    items = stmt.value.elts if isinstance(stmt.value, ast.Tuple) else [stmt.value]
    return [i.value for i in items if isinstance(i, ast.Await) and isinstance(i.value, ast.Call)]


def _budget_sufficiency(
    file: source.SourceFile,
    node: ast.AsyncFunctionDef | ast.FunctionDef,
    owner: str,
    module: str | None,
    budget: Budget,
    calls: dict[int, _Call],
) -> None:
    counted = [calls[id(c)] for stmt in _straight_line(node.body) for c in _direct_awaits(stmt) if id(c) in calls]
    over: list[str] = []
    for axis, unit in (("usd", "$"), ("ms", "ms")):
        limit = getattr(budget, axis)
        if limit is None:
            continue
        # A call's budget at or above the flow's limits nothing (the flow's envelope binds first): such a
        # call counts like one without a budget, which this check never counts either.
        spent = [(c, getattr(c.spec.budget, axis)) for c in counted if c.spec.budget is not None]
        spent = [(c, v) for c, v in spent if v is not None and v < limit]
        total = sum(v for _, v in spent)
        if len(spent) < 2 or total <= limit * (1 + 1e-9):
            continue
        parts = " + ".join(f"{c.name} {_amount(v, unit)} (line {c.node.lineno})" for c, v in spent)
        over.append(f"{axis}: {parts} = {_amount(total, unit)} > {_amount(limit, unit)}")
    if not over:
        return
    where = (file.filename, node.lineno)
    shown = next(
        (
            file.segment(k)
            for d in node.decorator_list
            if isinstance(d, ast.Call)
            for k in d.keywords
            if k.arg == "budget"
        ),
        None,
    ) or f"budget={budget!r}"
    warn(
        "@flow",
        owner,
        f"the budgets of the @infer calls it always awaits add up to more than its own `{shown}` ("
        + "; ".join(over)
        + "): a later call may stop with BudgetExceeded before it starts; raise the flow's budget or lower "
        "the calls'",
        rule="budget-sufficiency",
        source=shown,
        where=where,
        module=module,
    )


def _amount(value: float, unit: str) -> str:
    return f"${value:g}" if unit == "$" else f"{value:g} ms"


def _sequential_independence(
    file: source.SourceFile,
    node: ast.AsyncFunctionDef | ast.FunctionDef,
    owner: str,
    module: str | None,
    calls: dict[int, _Call],
) -> None:
    for body in _blocks(node.body):
        group: list[tuple[ast.stmt, _Call]] = []  # consecutive, independent so far
        bound: set[str] = set()  # the names the group's statements bound
        for stmt in body:
            call = _bound_call(stmt, calls)
            if call is not None and not (_names(stmt) & bound) and all(c.spec is not call.spec for _, c in group):
                group.append((stmt, call))
                bound |= _targets(stmt)
                continue
            if len(group) >= 2:
                _warn_sequential(file, owner, module, group)
            group, bound = ([(stmt, call)], _targets(stmt)) if call is not None else ([], set())
        if len(group) >= 2:
            _warn_sequential(file, owner, module, group)


def _warn_sequential(
    file: source.SourceFile, owner: str, module: str | None, group: list[tuple[ast.stmt, _Call]]
) -> None:
    first, last = group[0][0], group[-1][0]
    shown = "; ".join(file.segment(stmt) or "" for stmt, _ in group)
    names = ", ".join(f"{c.name}(...)" for _, c in group)
    warn(
        "@flow",
        owner,
        f"`{shown}` awaits {len(group)} independent @infer calls one after another (lines {first.lineno}-"
        f"{last.end_lineno or last.lineno}); none uses another's result, so they could run together: "
        f"`... = await stratum.parallel({names})`",
        rule="sequential-independence",
        source=shown,
        where=(file.filename, first.lineno),
        module=module,
    )


def _bound_call(stmt: ast.stmt, calls: dict[int, _Call]) -> _Call | None:
    """The @infer call of ``x = await f(...)`` (a plain name, or names unpacked), else None."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and stmt.simple:
        target, value = stmt.target, stmt.value
    else:
        return None
    names = [target] if isinstance(target, ast.Name) else list(target.elts) if isinstance(target, ast.Tuple) else []
    if not names or not all(isinstance(n, ast.Name) for n in names):
        return None
    if isinstance(value, ast.Await) and isinstance(value.value, ast.Call):
        return calls.get(id(value.value))
    return None


def _targets(stmt: ast.stmt) -> set[str]:
    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else getattr(stmt, "target", None)
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} if target is not None else set()


def _names(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
