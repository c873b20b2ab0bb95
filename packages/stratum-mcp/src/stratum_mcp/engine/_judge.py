"""Judging a reported result, and what a transition is given to judge with.

Every kind of report (a step, an iteration, a task) is judged the same way:
the contract first (a result of the wrong shape is not worth evaluating), then
the ensure expressions, then the step's time budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp._problems import Violation
from stratum_mcp.expressions import CompiledExpression
from stratum_mcp.spec import Contract, Function

__all__ = ["Checker", "Context", "Verdict", "judge"]

Verdict = Literal["schema_failed", "ensure_failed", "budget_exceeded"]


class Checker(Protocol):
    """Judges values against declared types and postconditions, and evaluates conditions."""

    def fields_violations(self, fields: Any, value: Any, *, kind: str) -> list[Violation]:
        """Violations of ``value`` against a tuple of ``(name, FieldType)``."""
        ...

    def contract_violations(self, contract: Contract, result: Any) -> list[Violation]: ...

    def ensure_violations(self, function: Function, result: Any, inputs: Any) -> list[Violation]: ...

    def condition(self, expression: CompiledExpression, variables: dict[str, Any]) -> bool:
        """Whether ``expression`` holds; raises :class:`~stratum_mcp.errors.EvaluationError` if it cannot say."""
        ...


@dataclass(frozen=True)
class Context:
    """What a transition needs from outside, as values: the time, a checker, the bounds.

    ``worktree_root`` is the directory task worktrees are created under (by
    the caller, after it saves the run); without it, ``isolation: worktree``
    cannot be dispatched.
    """

    now_ms: int
    checker: Checker
    limits: Limits = DEFAULT_LIMITS
    worktree_root: str | None = None


def judge(
    checker: Checker, function: Function, contract: Contract, result: Any, inputs: Any, started_ms: int, now_ms: int
) -> tuple[Verdict | None, list[Violation]]:
    """``(None, [])`` when ``result`` passes; else the first failing check and every violation found."""
    violations = checker.contract_violations(contract, result)
    status: Verdict | None = "schema_failed" if violations else None
    if not violations:
        violations = checker.ensure_violations(function, result, inputs)
        status = "ensure_failed" if violations else None
    if function.budget is not None and function.budget.ms is not None and now_ms - started_ms > function.budget.ms:
        took = now_ms - started_ms
        violations = [*violations, Violation("budget", "budget.ms", f"the step took {took} ms; its budget is "
                                             f"{function.budget.ms} ms", took)]
        status = status or "budget_exceeded"
    return status, violations
