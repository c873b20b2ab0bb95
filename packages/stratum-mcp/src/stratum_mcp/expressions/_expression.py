"""The ensure-expression language: Python-like, checked up front, run without ``eval``.

An expression reads ``result`` (the step's output) and ``inputs`` (the step's
resolved inputs)::

    result.confidence > 0.7
    len(result.items) > 0
    result.status in ('ok', 'partial')
    all(x > 0 for x in result.scores)
    file_exists(result.path) and file_contains(result.path, 'def main')

:func:`compile_expression` parses and checks an expression against an
allow-list (see :mod:`.checker`) and is called when a spec is validated, so a
bad expression is a validation error before any flow starts.
:func:`evaluate` runs a compiled expression under the bounds of
:class:`~stratum_mcp.limits.Limits` (see :mod:`.interpreter`). Errors are
raised, never turned into ``False``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stratum_mcp.errors import EvaluationError, ExpressionRejected, LimitExceeded
from stratum_mcp.expressions.checker import check
from stratum_mcp.expressions.functions import FUNCTIONS, FileProbe
from stratum_mcp.expressions.interpreter import Interpreter
from stratum_mcp.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "FUNCTIONS",
    "CompiledExpression",
    "Evaluation",
    "FileProbe",
    "compile_expression",
    "evaluate",
]


@dataclass(frozen=True, eq=False)
class CompiledExpression:
    """An expression that passed every compile-time check."""

    source: str
    tree: ast.Expression = field(repr=False)
    observe: Mapping[int, str] = field(repr=False)


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation: the truth value and what the expression looked at."""

    passed: bool
    value: Any
    observed: Mapping[str, Any]


def compile_expression(
    source: str,
    roots: Mapping[str, frozenset[str] | None],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> CompiledExpression:
    """Check ``source`` and return it compiled; raise :class:`ExpressionRejected` if it is not allowed.

    ``roots`` names the variables the expression may read, each with its known
    fields (or ``None`` when they are not known)::

        expr = compile_expression("result.score > 0.5", {"result": frozenset({"score"})})
    """
    if not isinstance(source, str):
        raise ExpressionRejected("an ensure expression must be a string")
    tree, observe = check(source, roots, limits)
    return CompiledExpression(source=source, tree=tree, observe=observe)


def evaluate(
    expression: CompiledExpression,
    variables: Mapping[str, Any],
    *,
    files: FileProbe | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Evaluation:
    """Run ``expression`` against ``variables``; raise :class:`EvaluationError` if it cannot finish.

    >>> expr = compile_expression("result.n * 2 == 4", {"result": None})
    >>> evaluate(expr, {"result": {"n": 2}}).passed
    True
    """
    interpreter = Interpreter(variables, limits=limits, files=files, observe=expression.observe)
    try:
        value = interpreter.run(expression.tree.body)
    except EvaluationError:
        raise
    except RecursionError:
        raise LimitExceeded("nesting depth", 0) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # Python's own arithmetic and comparison errors, e.g. 1 / 0 or [1] < 'a'.
        raise EvaluationError(f"{type(exc).__name__}: {exc}") from None
    return Evaluation(passed=interpreter.truthy(value), value=value, observed=dict(interpreter.observed))
