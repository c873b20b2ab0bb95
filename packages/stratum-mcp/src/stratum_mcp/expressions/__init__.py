"""The ensure-expression language: Python-like, checked up front, run without ``eval``.

An expression reads ``result`` (the step's output) and ``inputs`` (the step's
resolved inputs)::

    result.confidence > 0.7
    len(result.items) > 0
    result.status in ('ok', 'partial')
    all(x > 0 for x in result.scores)
    file_exists(result.path) and file_contains(result.path, 'def main')

:func:`compile_expression` parses and checks an expression against an
allow-list (see :mod:`._checker`) and is called when a spec is validated, so a
bad expression is a validation error before any flow starts.
:func:`evaluate` runs a compiled expression under the bounds of
:class:`~stratum_mcp.Limits` (see :mod:`._interpreter`). Errors are
raised, never turned into ``False``. :data:`FUNCTIONS` lists every function
an expression may call; ``file_exists`` and ``file_contains`` read through a
:class:`FileProbe`, which :class:`ProjectFiles` fences to the project root.

>>> expr = compile_expression("result.n * 2 == 4", {"result": None})
>>> evaluate(expr, {"result": {"n": 2}}).passed
True
"""

from stratum_mcp.expressions._expression import CompiledExpression, Evaluation, compile_expression, evaluate
from stratum_mcp.expressions._functions import FUNCTIONS, FileProbe
from stratum_mcp.expressions._project_files import ProjectFiles

__all__ = [
    "FUNCTIONS",
    "CompiledExpression",
    "Evaluation",
    "FileProbe",
    "ProjectFiles",
    "compile_expression",
    "evaluate",
]
