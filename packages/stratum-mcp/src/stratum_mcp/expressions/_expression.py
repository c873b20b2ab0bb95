"""An expression compiled once, at validate time, and evaluated against each reported result."""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp.errors import EvaluationError, ExpressionRejected, LimitExceeded
from stratum_mcp.expressions._checker import check
from stratum_mcp.expressions._functions import FileProbe
from stratum_mcp.expressions._interpreter import Interpreter

__all__ = ["CompiledExpression", "Evaluation", "compile_expression", "evaluate"]


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
    clock: Callable[[], float] = time.thread_time,
) -> Evaluation:
    """Run ``expression`` against ``variables``; raise :class:`EvaluationError` if it cannot finish.

    ``limits.eval_seconds`` is measured on ``clock``, by default the CPU time of
    the calling thread: an expression is stopped for the work it does, not
    because the machine is busy or another thread holds the interpreter lock.
    Tests pass a clock they control.

    >>> expr = compile_expression("result.n * 2 == 4", {"result": None})
    >>> evaluate(expr, {"result": {"n": 2}}).passed
    True
    """
    interpreter = Interpreter(variables, limits=limits, files=files, observe=expression.observe, clock=clock)
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
