"""The engine's :class:`~stratum_mcp.engine.Checker`: contracts via JSON Schema, then ensure expressions.

A result is first checked against its output contract (missing fields, wrong
types, enum values, bounds), every problem reported with its field path and
the actual value. Only a result of the right shape has its ensure
expressions evaluated; an expression that cannot be evaluated (a missing
field, a limit hit) is a violation saying so, never a silent ``False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp._messages import describe_schema, json_type, preview, render_path, suggest
from stratum_mcp._problems import Violation
from stratum_mcp.errors import EvaluationError
from stratum_mcp.expressions import CompiledExpression, FileProbe, evaluate
from stratum_mcp.spec import Contract, FieldType, Function, fields_schema

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["ResultChecker"]

_MAX_SCHEMA_VIOLATIONS = 20


class ResultChecker:
    """Checks results and inputs; ``files`` backs ``file_exists``/``file_contains``.

    ``clock`` measures each ensure expression's ``eval_seconds`` (see :func:`~stratum_mcp.expressions.evaluate`).
    """

    def __init__(
        self, *, files: FileProbe | None = None, limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._files = files
        self._limits = limits
        self._clock = clock

    def fields_violations(self, fields: Any, value: Any, *, kind: str) -> list[Violation]:
        # Closed: an input the flow does not declare is most likely a typo, and is reported as one.
        return _schema_violations(_validator_for(tuple(fields), closed=True), value, kind)

    def contract_violations(self, contract: Contract, result: Any) -> list[Violation]:
        # Open: extra fields in a result are harmless and ignored.
        return _schema_violations(_validator_for(contract.fields, closed=False), result, "schema")

    def condition(self, expression: CompiledExpression, variables: dict[str, Any]) -> bool:
        """Whether ``expression`` (a ``skip_if`` or ``exit_criterion``) holds; raises if it cannot be evaluated."""
        return evaluate(expression, variables, files=self._files, limits=self._limits, clock=self._clock).passed

    def ensure_violations(self, function: Function, result: Any, inputs: Any) -> list[Violation]:
        violations = []
        variables = {"result": result, "inputs": inputs if isinstance(inputs, dict) else {}}
        for expression in function.ensure:
            try:
                evaluation = evaluate(expression, variables, files=self._files, limits=self._limits, clock=self._clock)
            except EvaluationError as exc:
                violations.append(Violation("ensure", expression.source, f"could not be evaluated: {exc}"))
                continue
            if not evaluation.passed:
                violations.append(
                    Violation("ensure", expression.source, "evaluated to false", dict(evaluation.observed) or None)
                )
        return violations


@lru_cache(maxsize=256)
def _validator_for(fields: tuple[tuple[str, FieldType], ...], *, closed: bool) -> Validator:
    # Imported here: jsonschema costs ~0.15 s to import, and start-up should not pay it.
    from jsonschema import Draft202012Validator

    schema = fields_schema(fields)
    if closed:
        schema["additionalProperties"] = False
    return Draft202012Validator(schema)


def _schema_violations(validator: Validator, value: Any, kind: str) -> list[Violation]:
    """One violation per problem, each naming its field path, what was expected and what was sent."""
    violations: list[Violation] = []
    for raw_error in validator.iter_errors(value):
        error: Any = raw_error  # jsonschema's stubs type these fields as possibly unset; here they are set
        path = list(error.absolute_path)
        properties = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    violations.append(Violation(kind, render_path([*path, name]), "required field is missing",
                                                expected=describe_schema(properties.get(name))))
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(properties)
            for name, sent in error.instance.items():
                if name not in known:
                    hint = suggest(name, known)
                    expected = f"one of the declared fields: {', '.join(known)}" if known else "no fields"
                    violations.append(Violation(kind, render_path([*path, name]),
                                                "unknown field" + (f"; {hint}" if hint else ""),
                                                preview(sent), expected))
            continue
        where = render_path(path) if path else "(whole value)"
        if error.validator == "type":
            expected = error.validator_value
            message = f"expected {expected}, got {json_type(error.instance)}"
        elif error.validator == "enum":
            message = f"must be one of {', '.join(repr(v) for v in error.validator_value)}"
        else:
            message = error.message[:200]
        violations.append(Violation(kind, where, message, preview(error.instance), describe_schema(error.schema)))
        if len(violations) >= _MAX_SCHEMA_VIOLATIONS:
            break
    return _sorted(violations)


def _sorted(violations: Sequence[Violation]) -> list[Violation]:
    return sorted(violations, key=lambda v: v.where)
