"""Build typed contracts and functions from a loaded document, collecting every issue.

The builders never stop at the first problem: each one records a
:class:`SpecIssue` and carries on with what it can, so a single validation
reports everything. Parts with the wrong shape are skipped quietly here,
because the structural check has already reported them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratum_mcp._limits import Limits
from stratum_mcp._messages import render_path, suggest
from stratum_mcp._problems import SpecIssue
from stratum_mcp.errors import ExpressionRejected
from stratum_mcp.expressions import CompiledExpression, compile_expression
from stratum_mcp.spec._model import FIELD_TYPES, Budget, Contract, FieldType, Function

__all__ = [
    "as_map",
    "build_budget",
    "build_contracts",
    "build_fields",
    "build_functions",
    "build_retries",
    "compile_condition",
    "compile_ensure",
    "ensure_roots",
    "text_or_none",
    "value_fits",
]

Path = list[str | int]
_DEFAULT_RETRIES = 3


def as_map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def value_fits(value: Any, ftype: str) -> bool:
    """Whether a JSON value has JSON type ``ftype`` (an integer is also a number)."""
    if ftype == "string":
        return isinstance(value, str)
    if ftype == "boolean":
        return isinstance(value, bool)
    if ftype == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if ftype == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ftype == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def build_field(raw: Any, path: Path, issues: list[SpecIssue]) -> FieldType | None:
    """One field type, from the shorthand ``string`` or a mapping with ``type``."""
    if isinstance(raw, str):
        return FieldType(raw) if raw in FIELD_TYPES else None
    if not isinstance(raw, dict) or raw.get("type") not in FIELD_TYPES:
        return None
    ftype: str = raw["type"]
    where = render_path(path)
    items = properties = None
    if "items" in raw:
        if ftype != "array":
            issues.append(SpecIssue(f"{where}.items", "misplaced_key", f"`items` applies to arrays, not {ftype}"))
        items = build_field(raw["items"], [*path, "items"], issues)
    if "properties" in raw:
        if ftype != "object":
            issues.append(SpecIssue(f"{where}.properties", "misplaced_key",
                                    f"`properties` applies to objects, not {ftype}"))
        properties = build_fields(raw["properties"], [*path, "properties"], issues)
    enum = raw.get("enum") if isinstance(raw.get("enum"), list) else None
    if enum is not None:
        for index, option in enumerate(enum):
            if not value_fits(option, ftype):
                issues.append(SpecIssue(f"{where}.enum[{index}]", "enum_type",
                                        f"{option!r} is not a {ftype}, but the field's type is {ftype}"))
    low, high = (raw.get(k) if isinstance(raw.get(k), int | float) else None for k in ("min", "max"))
    if low is not None and high is not None and low > high:
        issues.append(SpecIssue(where, "bad_bounds", f"min ({low}) is greater than max ({high})"))
    return FieldType(
        type=ftype,
        description=raw.get("description") if isinstance(raw.get("description"), str) else None,
        enum=tuple(enum) if enum is not None else None,
        items=items,
        properties=properties,
        required=raw.get("required") is not False,
        min=low,
        max=high,
    )


def build_fields(raw: Any, path: Path, issues: list[SpecIssue]) -> tuple[tuple[str, FieldType], ...]:
    fields = []
    for name, spec in as_map(raw).items():
        ftype = build_field(spec, [*path, name], issues)
        if ftype is not None:
            fields.append((name, ftype))
    return tuple(fields)


def build_budget(raw: Any) -> Budget | None:
    if not isinstance(raw, dict):
        return None
    ms, usd = raw.get("ms"), raw.get("usd")
    return Budget(
        ms=ms if isinstance(ms, int) and not isinstance(ms, bool) else None,
        usd=float(usd) if isinstance(usd, int | float) and not isinstance(usd, bool) else None,
    )


def build_contracts(document: Mapping[str, Any], issues: list[SpecIssue]) -> dict[str, Contract]:
    return {
        name: Contract(name=name, fields=build_fields(raw, ["contracts", name], issues))
        for name, raw in as_map(document.get("contracts")).items()
    }


def build_functions(
    document: Mapping[str, Any], contracts: Mapping[str, Contract], issues: list[SpecIssue], limits: Limits
) -> dict[str, Function]:
    functions = {}
    for name, raw in as_map(document.get("functions")).items():
        if not isinstance(raw, dict):
            continue
        path: Path = ["functions", name]
        if raw.get("mode") == "gate":
            timeout = raw.get("timeout")
            functions[name] = Function(
                name=name, mode="gate", intent=text_or_none(raw.get("intent")) or "",
                input=build_fields(raw.get("input"), [*path, "input"], issues), output="", ensure=(), retries=0,
                budget=None, model=None,
                timeout=min(timeout, limits.gate_timeout_seconds) if isinstance(timeout, int) and timeout > 0 else None,
            )
            continue
        output = raw.get("output")
        contract = contracts.get(output) if isinstance(output, str) else None
        if isinstance(output, str) and contract is None:
            issues.append(SpecIssue(render_path([*path, "output"]), "unknown_contract",
                                    f"no contract named `{output}`", suggest(output, contracts)))
        inputs = build_fields(raw.get("input"), [*path, "input"], issues)
        roots = ensure_roots(contract, frozenset(name for name, _ in inputs))
        ensure = compile_ensure(raw.get("ensure"), [*path, "ensure"], roots, issues, limits)
        functions[name] = Function(
            name=name,
            mode=raw["mode"] if raw.get("mode") in ("infer", "compute") else "infer",
            intent=text_or_none(raw.get("intent")) or "",
            input=inputs,
            output=output if isinstance(output, str) else "",
            ensure=ensure,
            retries=build_retries(raw.get("retries", _DEFAULT_RETRIES), limits),
            budget=build_budget(raw.get("budget")),
            model=text_or_none(raw.get("model")),
            agent=text_or_none(raw.get("agent")),
        )
    return functions


def build_retries(raw: Any, limits: Limits) -> int:
    return min(raw, limits.max_retries) if isinstance(raw, int) and raw >= 0 else _DEFAULT_RETRIES


def ensure_roots(contract: Contract | None, inputs: frozenset[str] | None) -> dict[str, frozenset[str] | None]:
    """What an ensure expression may read: ``result`` (checked against a known contract) and ``inputs``."""
    # Field names are checked only where they are known: a contract with no fields (any object) checks none.
    fields = contract.field_names() if contract is not None and contract.name else None
    return {"result": fields, "inputs": inputs}


def compile_ensure(
    raw: Any, path: Path, roots: dict[str, frozenset[str] | None], issues: list[SpecIssue], limits: Limits
) -> tuple[CompiledExpression, ...]:
    """The expressions of an ``ensure`` (one string or a list) at ``path``, each issue recorded."""
    sources = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    compiled = []
    for index, source in enumerate(sources[: limits.expressions_per_function]):
        if not isinstance(source, str):
            continue
        found = compile_condition(source, [*path, index] if isinstance(raw, list) else path, roots, issues, limits)
        if found is not None:
            compiled.append(found)
    return tuple(compiled)


def compile_condition(
    source: Any, path: Path, roots: dict[str, frozenset[str] | None], issues: list[SpecIssue], limits: Limits
) -> CompiledExpression | None:
    """One expression (``ensure``, ``skip_if``, ``exit_criterion``): the same language, bounds and checks."""
    if not isinstance(source, str):
        return None
    try:
        return compile_expression(source, roots, limits=limits)
    except ExpressionRejected as exc:
        column = f" (column {exc.column})" if exc.column else ""
        issues.append(SpecIssue(render_path(path), "bad_expression", f"`{source[:80]}`: {exc}{column}",
                                exc.suggestion))
        return None
