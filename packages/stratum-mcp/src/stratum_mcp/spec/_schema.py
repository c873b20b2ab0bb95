"""Structural validation against the JSON Schema shipped for editors.

The same file editors use (``stratum-spec.schema.json``) is the one the server
checks with, so the two can never disagree about structure. Its errors are
rewritten here into :class:`SpecIssue` values with dotted paths and fix hints.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from stratum_mcp._messages import json_type, render_path, suggest
from stratum_mcp._problems import SpecIssue

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["SCHEMA_FILE", "spec_schema", "structural_issues"]

SCHEMA_FILE = "stratum-spec.schema.json"


@cache
def spec_schema() -> dict[str, Any]:
    """The JSON Schema of the spec format, as shipped in the package."""
    text = resources.files("stratum_mcp.spec").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Validator:
    # Imported here: jsonschema costs ~0.15 s to import, and start-up should not pay it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(spec_schema())


def structural_issues(document: dict[str, Any]) -> list[SpecIssue]:
    """Every structural problem of ``document``, in document order."""
    issues: list[SpecIssue] = []
    for error in _validator().iter_errors(document):
        issues.extend(_translate(error))
    issues.sort(key=lambda issue: issue.path)
    return issues


def _translate(raw_error: ValidationError) -> list[SpecIssue]:
    error: Any = raw_error  # jsonschema's stubs type these fields as possibly unset; here they are set
    path = list(error.absolute_path)
    where = render_path(path)
    kind, instance, schema = error.validator, error.instance, error.schema
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        extras = [key for key in instance if key not in allowed]
        return [
            SpecIssue(render_path([*path, key]), "unknown_key", f"unknown key `{key}`",
                      suggest(key, allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None))
            for key in extras
        ]
    if kind == "required" and isinstance(instance, dict):
        return [
            SpecIssue(render_path([*path, key]), "missing_key", f"missing required key `{key}`")
            for key in error.validator_value
            if key not in instance
        ]
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return [SpecIssue(where, "wrong_type", f"expected {' or '.join(wanted)}, got {json_type(instance)}")]
    if kind in ("enum", "const"):
        options = error.validator_value if kind == "enum" else [error.validator_value]
        shown = ", ".join(json.dumps(o) for o in options)
        hint = suggest(instance, [str(o) for o in options]) if isinstance(instance, str) else None
        if path and path[-1] == "version" and len(path) == 1:
            return [SpecIssue(where, "unsupported_version", f"version {json.dumps(instance)} is not supported; "
                              f"this server reads version {shown}", 'set `version: "0.1"`')]
        return [SpecIssue(where, "bad_value", f"{json.dumps(instance)[:60]} is not one of {shown}", hint)]
    if kind == "pattern":
        description = schema.get("description", f"must match {error.validator_value}")
        # propertyNames errors point at the parent mapping; the offending key is the instance.
        if "propertyNames" in error.absolute_schema_path:
            where = render_path([*path, str(instance)])
        return [SpecIssue(where, "bad_name", f"`{str(instance)[:64]}` is not a valid name: {description}")]
    return [SpecIssue(where, "bad_value", error.message[:300])]
