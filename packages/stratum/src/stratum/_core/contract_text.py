"""A contract as prompt text: the compact form the spec's prompt compiler shows.

``render(schema)`` turns a contract's JSON Schema into what a model reads, not what a validator
reads: no ``$schema``, no titles, ``$ref`` resolved in place, constraints and descriptions kept::

    {
      "label": "positive" | "negative" | "neutral",
      "confidence": float between 0.0 and 1.0,
      "reasoning": string,  // one sentence
      "tags": [string],
      "note": string | null (optional)
    }

It is used where the schema must travel in the prompt (JSON mode); under strict structured output
the schema travels in ``response_format`` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["render"]

_INDENT = "  "
_SCALARS = {"string": "string", "integer": "integer", "number": "float", "boolean": "boolean", "null": "null"}


def render(schema: Mapping[str, Any]) -> str:
    """The contract ``schema`` (draft 2020-12, as ``contract_schema`` gives it) as prompt text."""
    return _Renderer(schema.get("$defs", {})).node(schema, 0)


class _Renderer:
    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs

    def node(self, node: Mapping[str, Any], depth: int) -> str:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            # Contracts cannot be circular (checked at @contract), so resolving always ends.
            return self.node(self.defs[ref.removeprefix("#/$defs/")], depth)
        for combiner in ("anyOf", "oneOf"):
            if combiner in node:
                return " | ".join(self.node(option, depth) for option in node[combiner])
        if "allOf" in node and len(node["allOf"]) == 1:
            return self.node(node["allOf"][0], depth)
        if "enum" in node:
            return " | ".join(json.dumps(value, ensure_ascii=False) for value in node["enum"])
        kind = node.get("type")
        if isinstance(kind, list):
            return " | ".join(self.node({**node, "type": k}, depth) for k in kind)
        if kind == "object" or "properties" in node:
            return self.object(node, depth)
        if kind == "array":
            items = node.get("items")
            inner = self.node(items, depth) if isinstance(items, Mapping) else "any"
            return f"[{inner}]" + _count(node, "minItems", "maxItems", "item")
        text = _SCALARS.get(kind, "any") if isinstance(kind, str) else "any"
        if kind in ("integer", "number"):
            text += _bounds(node)
        elif kind == "string":
            text += _count(node, "minLength", "maxLength", "character")
            if "pattern" in node:
                text += f" matching /{node['pattern']}/"
            if "format" in node:
                text += f" ({node['format']})"
        return text

    def object(self, node: Mapping[str, Any], depth: int) -> str:
        properties: Mapping[str, Any] = node.get("properties") or {}
        if not properties:
            values = node.get("additionalProperties")
            return f"{{string: {self.node(values, depth)}}}" if isinstance(values, Mapping) else "object"
        required = set(node.get("required", ()))
        pad = _INDENT * (depth + 1)
        lines = []
        for index, (name, field) in enumerate(properties.items()):
            text = f"{pad}{json.dumps(name, ensure_ascii=False)}: {self.node(field, depth + 1)}"
            if name not in required:
                text += " (optional)"
            if index < len(properties) - 1:
                text += ","
            description = field.get("description")
            if isinstance(description, str) and description.strip():
                text += f"  // {' '.join(description.split())}"
            lines.append(text)
        return "{\n" + "\n".join(lines) + "\n" + _INDENT * depth + "}"


def _bounds(node: Mapping[str, Any]) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        text = f" between {json.dumps(low)} and {json.dumps(high)}"
    else:
        parts = [f"{op} {json.dumps(node[key])}" for key, op in (
            ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
        ) if node.get(key) is not None]  # fmt: skip
        text = (" " + " and ".join(parts)) if parts else ""
    if node.get("multipleOf") is not None:
        text += f", a multiple of {json.dumps(node['multipleOf'])}"
    return text


def _count(node: Mapping[str, Any], low_key: str, high_key: str, unit: str) -> str:
    low, high = node.get(low_key), node.get(high_key)
    if low is not None and high is not None:
        return f" of exactly {low} {unit}s" if low == high else f" of {low} to {high} {unit}s"
    if low is not None:
        return f" of at least {low} {unit}{'s' if low != 1 else ''}"
    if high is not None:
        return f" of at most {high} {unit}{'s' if high != 1 else ''}"
    return ""
