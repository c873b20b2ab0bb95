"""What a human decision must look like: one ``DecisionType`` per declared type.

``await_human(..., decision_type=T)`` accepts a contract, a primitive
(``str``, ``int``, ``float``, ``bool``), a ``Literal[...]``, or any other type
pydantic can validate and describe as JSON Schema (``list[T]``,
``T | None``, an ``Enum``). Values are checked in pydantic's lax mode, the
way they arrive from a form or a JSON body: ``"3"`` is accepted for ``int``
and a dict for a contract, and the typed value is what the flow receives.
"""

from __future__ import annotations

import functools
import json
import typing
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import BaseModel

from .._core.contracts import contract_hash
from .._json import canonical_hash
from ..exceptions import InvalidDecision, StratumCompileError

__all__ = ["DecisionType", "decision_type_of"]

_MAX_ERRORS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionType:
    """A declared decision type, ready to validate, parse and describe values."""

    annotation: Any
    name: str
    adapter: pydantic.TypeAdapter[Any]
    #: JSON Schema of one decision value (sent to webhook receivers).
    schema: dict[str, Any]
    #: Content hash of the schema: a change means reviewers see a new shape.
    hash: str

    def validate(self, value: Any, review_id: str | None = None) -> Any:
        """The typed value, or ``InvalidDecision`` listing what does not fit."""
        try:
            return self.adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            raise InvalidDecision(review_id, self.name, value, errors=_messages(exc)) from None

    def parse_text(self, text: str, review_id: str | None = None) -> Any:
        """Cast a line a human typed: first as the value itself, then as JSON.

        ``approve`` fits ``Literal["approve", "reject"]``, ``42`` fits ``int``,
        and ``{"action": "edit"}`` fits a contract.
        """
        try:
            return self.adapter.validate_python(text)
        except pydantic.ValidationError as first:
            try:
                return self.adapter.validate_json(text)
            except pydantic.ValidationError as second:
                # Report the JSON attempt only when the text looked like JSON.
                chosen = second if text.lstrip()[:1] in ("{", "[", '"') else first
                raise InvalidDecision(review_id, self.name, text, errors=_messages(chosen)) from None

    def dump(self, value: Any) -> Any:
        """The JSON form of a value of this type."""
        return self.adapter.dump_python(value, mode="json")


def decision_type_of(annotation: Any) -> DecisionType:
    """Build (once per type) the ``DecisionType`` for ``annotation``, or raise."""
    try:
        return _cached(annotation)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        return _build(annotation)


@functools.lru_cache(maxsize=256)
def _cached(annotation: Any) -> DecisionType:
    return _build(annotation)


def _build(annotation: Any) -> DecisionType:
    if annotation is None or annotation is typing.Any:
        raise StratumCompileError("await_human: decision_type must be a concrete type, e.g. bool or a contract")
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
        schema = adapter.json_schema()
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError, NameError) as exc:
        raise StratumCompileError(
            f"await_human: decision_type {annotation!r} cannot be validated or described as JSON Schema: {exc}"
        ) from exc
    name = _name(annotation, schema)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        content_hash = contract_hash(annotation)
    else:
        content_hash = canonical_hash(schema)
    return DecisionType(
        annotation=annotation, name=name, adapter=adapter, schema=json.loads(json.dumps(schema)), hash=content_hash
    )


# Constraint keywords worth showing a reviewer next to the type's name.
_SHOWN_CONSTRAINTS = ("minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems")


def _name(annotation: Any, schema: dict[str, Any]) -> str:
    """``int``, ``Resolution``, ``Literal['a', 'b']``; ``str (maxLength=400)`` for a constrained type."""
    if typing.get_origin(annotation) is typing.Annotated:
        base = _name(typing.get_args(annotation)[0], {})
        limits = [f"{k}={schema[k]}" for k in _SHOWN_CONSTRAINTS if k in schema]
        return f"{base} ({', '.join(limits)})" if limits else base
    if isinstance(annotation, type):
        return annotation.__qualname__
    return str(typing._type_repr(annotation)).replace("typing.", "")  # type: ignore[attr-defined]


def _messages(exc: pydantic.ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False)[:_MAX_ERRORS]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        out.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return out
