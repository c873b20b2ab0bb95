"""What a human decision must look like: one ``DecisionType`` per declared type.

``await_human(..., decision_type=T)`` accepts a contract, a primitive
(``str``, ``int``, ``float``, ``bool``), a ``Literal[...]``, or any other type
pydantic can validate and describe as JSON Schema (``list[T]``,
``T | None``, an ``Enum``). Values are checked in pydantic's lax mode, the
way they arrive from a form or a JSON body: ``"3"`` is accepted for ``int``
and a dict for a contract, and the typed value is what the flow receives.

A review read back from a durable store in another process knows its type
only as JSON Schema: ``DecisionType.from_schema`` validates against the schema
(the flow validates again with pydantic when it receives the decision).
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

__all__ = ["DecisionType", "decision_type_of", "known_decision_type"]

_MAX_ERRORS = 10
_KNOWN_LIMIT = 256


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
    #: Known only by its JSON Schema (a review stored by another process): values stay JSON.
    schema_only: bool = False

    @classmethod
    def from_schema(cls, name: str, schema: dict[str, Any], content_hash: str) -> DecisionType:
        """A decision type known by its JSON Schema alone: validates JSON values against it."""
        return cls(
            annotation=Any, name=name, adapter=_any_adapter(), schema=schema, hash=content_hash, schema_only=True
        )

    def validate(self, value: Any, review_id: str | None = None) -> Any:
        """The typed value, or ``InvalidDecision`` listing what does not fit."""
        if self.schema_only:
            return self._validate_schema(value, review_id)
        try:
            return self.adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            raise InvalidDecision(review_id, self.name, value, errors=_messages(exc)) from None

    def _validate_schema(self, value: Any, review_id: str | None) -> Any:
        import jsonschema  # only a review stored elsewhere needs it (installed with the durable extra)

        try:
            plain = _any_adapter().dump_python(value, mode="json")
        except Exception:
            raise InvalidDecision(review_id, self.name, value, errors=["not JSON-serialisable"]) from None
        validator = jsonschema.Draft202012Validator(self.schema)
        problems = sorted(validator.iter_errors(plain), key=lambda e: list(e.absolute_path))[:_MAX_ERRORS]
        if problems:
            errors = [
                f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" if e.absolute_path else e.message
                for e in problems
            ]
            raise InvalidDecision(review_id, self.name, value, errors=errors)
        return plain

    def parse_text(self, text: str, review_id: str | None = None) -> Any:
        """Cast a line a human typed: first as the value itself, then as JSON.

        ``approve`` fits ``Literal["approve", "reject"]``, ``42`` fits ``int``,
        and ``{"action": "edit"}`` fits a contract.
        """
        if self.schema_only:
            try:
                parsed = json.loads(text)
            except ValueError:
                return self.validate(text, review_id)
            try:
                return self.validate(parsed, review_id)
            except InvalidDecision:
                if text.lstrip()[:1] in ("{", "[", '"'):
                    raise
                return self.validate(text, review_id)
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
        kind = _cached(annotation)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        kind = _build(annotation)
    _known.setdefault(kind.hash, kind)
    if len(_known) > _KNOWN_LIMIT:
        _known.pop(next(iter(_known)))
    return kind


_known: dict[str, DecisionType] = {}


def known_decision_type(content_hash: str) -> DecisionType | None:
    """The decision type with this hash, if this process has declared it (bounded, most recent kept)."""
    return _known.get(content_hash)


def _any_adapter() -> pydantic.TypeAdapter[Any]:
    from .._json import any_adapter

    return any_adapter()


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
