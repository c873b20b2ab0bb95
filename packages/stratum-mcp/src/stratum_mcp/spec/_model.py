"""The typed form of a validated spec. Everything here is frozen and already checked.

A :class:`Spec` holds contracts, functions and flows; a :class:`Flow` holds its
steps already in execution (topological) order, each step's inputs bound to a
:class:`Reference` or a :class:`Literal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from typing import Literal as TypingLiteral

from stratum_mcp.expressions import CompiledExpression

__all__ = [
    "FIELD_TYPES",
    "SPEC_VERSION",
    "Binding",
    "Budget",
    "Contract",
    "FieldType",
    "Flow",
    "Function",
    "Literal",
    "Reference",
    "Spec",
    "Step",
    "fields_schema",
]

SPEC_VERSION = "0.1"
FIELD_TYPES = ("string", "number", "integer", "boolean", "array", "object")


@dataclass(frozen=True)
class FieldType:
    """The declared type of one field, contract member or input."""

    type: str
    description: str | None = None
    enum: tuple[Any, ...] | None = None
    items: FieldType | None = None
    properties: tuple[tuple[str, FieldType], ...] | None = None
    required: bool = True
    min: float | None = None
    max: float | None = None

    def json_schema(self) -> dict[str, Any]:
        """This type as JSON Schema; ``min``/``max`` bound values, lengths or item counts by type."""
        schema: dict[str, Any] = {"type": self.type}
        if self.description:
            schema["description"] = self.description
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.items is not None:
            schema["items"] = self.items.json_schema()
        if self.properties is not None:
            schema.update(fields_schema(self.properties))
        bounds = {
            "string": ("minLength", "maxLength"),
            "array": ("minItems", "maxItems"),
            "object": ("minProperties", "maxProperties"),
        }.get(self.type, ("minimum", "maximum"))
        for key, value in zip(bounds, (self.min, self.max), strict=True):
            if value is not None:
                schema[key] = int(value) if self.type in ("string", "array", "object") else value
        return schema


def fields_schema(fields: tuple[tuple[str, FieldType], ...]) -> dict[str, Any]:
    """JSON Schema for an object with ``fields``; fields are required unless marked otherwise."""
    return {
        "type": "object",
        "properties": {name: ftype.json_schema() for name, ftype in fields},
        "required": [name for name, ftype in fields if ftype.required],
    }


@dataclass(frozen=True)
class Contract:
    """A named output shape."""

    name: str
    fields: tuple[tuple[str, FieldType], ...]

    def field_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.fields)

    def field(self, name: str) -> FieldType | None:
        return dict(self.fields).get(name)

    def json_schema(self) -> dict[str, Any]:
        return {"title": self.name, **fields_schema(self.fields)}


@dataclass(frozen=True)
class Budget:
    """Limits on a step or flow. ``ms`` is enforced; ``usd`` is advisory (the server sees no spend)."""

    ms: int | None = None
    usd: float | None = None


@dataclass(frozen=True)
class Function:
    """What a step does: an intent, typed inputs, an output contract and postconditions."""

    name: str
    mode: TypingLiteral["infer", "compute"]
    intent: str
    input: tuple[tuple[str, FieldType], ...]
    output: str
    ensure: tuple[CompiledExpression, ...]
    retries: int
    budget: Budget | None
    model: str | None


@dataclass(frozen=True)
class Reference:
    """``$.input.<field>...`` or ``$.steps.<id>.output...``; ``path`` walks into the value."""

    text: str
    step: str | None
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class Literal:
    """A constant step input."""

    value: Any


Binding = Reference | Literal


@dataclass(frozen=True)
class Step:
    """One step of a flow."""

    id: str
    function: str
    inputs: tuple[tuple[str, Binding], ...]
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class Flow:
    """A flow, with ``steps`` in the order they run."""

    name: str
    input: tuple[tuple[str, FieldType], ...]
    output: str
    budget: Budget | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Spec:
    """A whole validated spec. ``digest`` is the SHA-256 of its source text."""

    version: str
    digest: str
    contracts: Mapping[str, Contract] = field(repr=False)
    functions: Mapping[str, Function] = field(repr=False)
    flows: Mapping[str, Flow] = field(repr=False)
