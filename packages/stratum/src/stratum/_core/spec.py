"""The compiled description of one @infer function (built at decoration)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Literal

from .budget import Budget
from .conditions import Condition
from .contracts import OutputSpec

__all__ = ["CacheScope", "InferSpec", "Param", "StructuredOutput", "Template"]

CacheScope = Literal["none", "session", "global"]
#: How a request asks for JSON: ``auto`` follows the client's word on the model.
StructuredOutput = Literal["auto", "json_schema", "json_object"]
STRUCTURED_OUTPUTS: tuple[StructuredOutput, ...] = ("auto", "json_schema", "json_object")


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    name: str
    annotation: Any
    opaque: bool
    #: where the parameter's type declares opaque positions (fields of a
    #: model, dataclass or TypedDict, at any depth: "reasoning", "notes[].text")
    opaque_fields: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Template:
    """An intent or context string; ``{name}`` placeholders name parameters."""

    text: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class InferSpec:
    name: str
    qualname: str
    signature: inspect.Signature
    params: tuple[Param, ...]
    intent: Template
    context: tuple[Template, ...]
    ensure: tuple[Condition, ...]
    given: tuple[Condition, ...]
    output: OutputSpec
    model: str | None
    temperature: float | None
    budget: Budget | None
    retries: int
    cache: CacheScope
    stable: bool
    quorum: int | None
    agree_on: str | None
    threshold: int | None
    #: None: the configured default (``configure(structured_output=...)``).
    structured_output: StructuredOutput | None = None
    #: The defining module: with ``qualname`` it names the function in cache keys.
    module: str = ""

    @property
    def opaque_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.opaque)
