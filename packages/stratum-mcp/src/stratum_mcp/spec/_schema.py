"""Structural validation against the JSON Schemas shipped for editors, one per spec version.

The same files editors use (``stratum-spec-<version>.schema.json``) are the
ones the server checks with, so the two can never disagree about structure. A
document is checked against the schema of the version it declares (the newest
when it declares none the server knows). Errors are rewritten here into
:class:`SpecIssue` values with dotted paths and fix hints.
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

__all__ = ["SPEC_VERSIONS", "spec_schema", "structural_issues"]

#: Every spec version this server reads, oldest first; the last is the newest.
SPEC_VERSIONS = ("0.1", "0.2")

#: Keys that version 0.2 added: a 0.1 spec using one is told which version it needs.
_ADDED_IN_0_2 = frozenset({
    "on_approve", "on_revise", "on_kill", "on_fail", "next", "skip_if", "skip_reason", "max_iterations",
    "exit_criterion", "accumulate", "accumulate_key", "flow", "type", "source", "max_concurrent", "require",
    "intent_template", "isolation", "max_rounds", "intent", "output_contract", "agent", "timeout", "mode",
})


@cache
def spec_schema(version: str = SPEC_VERSIONS[-1]) -> dict[str, Any]:
    """The JSON Schema of spec format ``version`` (by default the newest), as shipped in the package."""
    if version not in SPEC_VERSIONS:
        raise ValueError(f"no spec version {version!r}; this server reads {', '.join(SPEC_VERSIONS)}")
    name = f"stratum-spec-{version}.schema.json"
    schema: dict[str, Any] = json.loads(resources.files("stratum_mcp.spec").joinpath(name).read_text("utf-8"))
    return schema


@cache
def _validator(version: str) -> Validator:
    # Imported here: jsonschema costs ~0.15 s to import, and start-up should not pay it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(spec_schema(version))


def structural_issues(document: dict[str, Any]) -> list[SpecIssue]:
    """Every structural problem of ``document``, in document order."""
    declared = document.get("version")
    version = declared if declared in SPEC_VERSIONS else SPEC_VERSIONS[-1]
    issues: list[SpecIssue] = []
    for error in _validator(version).iter_errors(document):
        issues.extend(_translate(error, version))
    issues.sort(key=lambda issue: issue.path)
    return issues


def _translate(raw_error: ValidationError, version: str) -> list[SpecIssue]:
    error: Any = raw_error  # jsonschema's stubs type these fields as possibly unset; here they are set
    path = list(error.absolute_path)
    where = render_path(path)
    kind, instance, schema = error.validator, error.instance, error.schema
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        extras = [key for key in instance if key not in allowed]
        return [
            SpecIssue(render_path([*path, key]), "unknown_key", f"unknown key `{key}`",
                      _newer_key(key, version) or suggest(key, allowed)
                      or (f"allowed keys: {', '.join(allowed)}" if allowed else None))
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
            known = ", ".join(json.dumps(v) for v in SPEC_VERSIONS)
            return [SpecIssue(where, "unsupported_version", f"version {json.dumps(instance)} is not supported; "
                              f"this server reads versions {known}", f'set `version: "{SPEC_VERSIONS[-1]}"`')]
        return [SpecIssue(where, "bad_value", f"{json.dumps(instance)[:60]} is not one of {shown}", hint)]
    if kind == "pattern":
        description = schema.get("description", f"must match {error.validator_value}")
        # propertyNames errors point at the parent mapping; the offending key is the instance.
        if "propertyNames" in error.absolute_schema_path:
            where = render_path([*path, str(instance)])
        return [SpecIssue(where, "bad_name", f"`{str(instance)[:64]}` is not a valid name: {description}")]
    return [SpecIssue(where, "bad_value", error.message[:300])]


def _newer_key(key: str, version: str) -> str | None:
    if version == "0.1" and key in _ADDED_IN_0_2:
        return '`' + key + '` needs version "0.2": set `version: "0.2"`'
    return None
