"""Tool arguments, declared once and checked in one place, before any tool body runs.

Each tool lists its :class:`~._catalog.Param` values. :func:`input_schema` turns them into
the JSON Schema a client sees in ``tools/list`` (every parameter typed and
described, unknown arguments refused), and :func:`parse_arguments` checks a
call's arguments against the same declaration, raising
:class:`~stratum_mcp.errors.ArgumentsInvalid` with one violation per problem
(the argument, what was expected, what was sent), which the tools answer in
the server's JSON error format like every other mistake::

    params = (Param("flow_id", "string", "The flow_id returned by stratum_plan."),)  # declared in _catalog
    values = parse_arguments("stratum_audit", params, {"flow_id": 5})   # raises: expected string, got integer

An ``object`` or ``array`` argument sent as a string that holds one is
accepted and parsed: some clients send nested values as their JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stratum_mcp._messages import json_type, preview, suggest
from stratum_mcp._problems import Violation
from stratum_mcp.errors import ArgumentsInvalid, ArgumentTooLarge
from stratum_mcp.tools._catalog import Param

__all__ = ["input_schema", "parse_arguments"]

_CHECKS: dict[str, type | tuple[type, ...]] = {"string": str, "object": dict, "array": list}


def input_schema(params: Sequence[Param]) -> dict[str, Any]:
    """The JSON Schema of a tool's arguments, as ``tools/list`` publishes it."""
    return {
        "type": "object",
        "properties": {p.name: _schema(p) for p in params},
        "required": [p.name for p in params if p.required],
        "additionalProperties": False,
    }


def _schema(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"type": param.kind, "description": param.description}
    if param.enum is not None:
        out["enum"] = list(param.enum)
    if param.default is not None:
        out["default"] = param.default
    if param.kind == "array":
        out["items"] = dict(param.shape or {})
    elif param.kind == "object":
        out.update(param.shape or {"additionalProperties": True})
    return out


def parse_arguments(tool: str, params: Sequence[Param], arguments: Mapping[str, Any] | None,
                    *, max_bytes: int) -> dict[str, Any]:
    """The arguments by name, each of its declared type (``None`` for an absent optional one).

    Raises :class:`ArgumentsInvalid` listing every missing, unknown or
    mistyped argument, or :class:`ArgumentTooLarge` for an object sent as text
    longer than ``max_bytes``.
    """
    given = dict(arguments or {})
    declared = {p.name: p for p in params}
    values: dict[str, Any] = {}
    violations: list[Violation] = []
    for param in params:
        if given.get(param.name) is None:
            # An explicit null is taken as absent: clients fill optional arguments with null.
            if param.required:
                violations.append(Violation("argument", param.name, "required argument is missing",
                                            expected=_expected(param)))
            values[param.name] = param.default
            continue
        value = _coerce(param, given[param.name], max_bytes)
        if isinstance(value, Violation):
            violations.append(value)
        else:
            values[param.name] = value
    for name, value in given.items():
        if name not in declared:
            hint = suggest(name, list(declared))
            violations.append(Violation("argument", str(name)[:80], "unknown argument" + (f"; {hint}" if hint else ""),
                                        preview(value), f"one of the arguments: {', '.join(declared)}"))
    if violations:
        raise ArgumentsInvalid(tool, sorted(violations, key=lambda v: v.where))
    return values


def _expected(param: Param) -> str:
    return f"one of {', '.join(repr(v) for v in param.enum)}" if param.enum is not None else param.kind


def _coerce(param: Param, value: Any, max_bytes: int) -> Any:
    if isinstance(value, _CHECKS[param.kind]):
        if param.enum is not None and value not in param.enum:
            hint = suggest(str(value), list(param.enum))
            return Violation("argument", param.name, f"must be {_expected(param)}" + (f"; {hint}" if hint else ""),
                             preview(value), _expected(param))
        return value
    if param.kind in ("object", "array") and isinstance(value, str):
        if len(value) > max_bytes:
            raise ArgumentTooLarge(param.name, max_bytes, len(value))
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, _CHECKS[param.kind]):
            return parsed
        return Violation("argument", param.name, f"expected {param.kind}, got string (send the {param.kind} itself)",
                         preview(value), param.kind)
    return Violation("argument", param.name, f"expected {param.kind}, got {json_type(value)}", preview(value),
                     _expected(param))
