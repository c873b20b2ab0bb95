"""The compiled description of one @infer function (built at decoration)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .budget import Budget
from .conditions import Condition
from .contracts import OutputSpec

__all__ = ["Binding", "CacheScope", "InferSpec", "Param", "StructuredOutput", "Template"]

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
    #: Declared exactly str, int, float or bool: a value of that very type is its own JSON form.
    plain: bool = False


@dataclass(frozen=True, slots=True)
class Template:
    """An intent or context string; ``{name}`` placeholders name parameters."""

    text: str
    fields: tuple[str, ...]


class Binding:
    """How one call's arguments become the parameters' values, planned once at decoration.

    The common calls (keywords, positions, defaults) are bound from the plan;
    anything else, and every call that does not fit the signature, goes to
    ``inspect.Signature.bind``, whose errors (``TypeError``) callers see.
    ``arguments()`` is what ``bind`` and ``apply_defaults`` give, in the
    parameters' order.
    """

    __slots__ = ("_defaults", "_known", "_names", "_positional", "_signature")

    def __init__(self, signature: inspect.Signature) -> None:
        params = list(signature.parameters.values())
        simple = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
        self._signature = signature
        self._names = tuple(p.name for p in params)
        self._known = frozenset(self._names)
        # Positional-or-keyword parameters come first in a signature; -1 sends every call to `bind`.
        self._positional = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params) if simple else -1
        self._defaults = {p.name: p.default for p in params if p.default is not p.empty}

    def arguments(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        if len(args) > self._positional:
            return self._bind(args, kwargs)
        given = dict(zip(self._names, args, strict=False))
        for key in kwargs:
            if key in given or key not in self._known:
                return self._bind(args, kwargs)  # for the TypeError bind raises
        given.update(kwargs)
        if len(given) == len(self._names) and not kwargs:
            return given
        out: dict[str, Any] = {}
        for name in self._names:
            if name in given:
                out[name] = given[name]
            elif name in self._defaults:
                out[name] = self._defaults[name]
            else:
                return self._bind(args, kwargs)
        return out

    def _bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)


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
    #: ``signature``'s binding plan (see ``Binding``).
    binding: Binding = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "binding", Binding(self.signature))

    @property
    def opaque_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.opaque)
