"""Contracts: typed output shapes compiled once to JSON Schema.

``@contract`` accepts a pydantic model or a plain annotated class (turned into
a pydantic model). At decoration it compiles the draft 2020-12 JSON Schema and
a content hash; a change of hash between deployments means the prompt the
model sees changed::

    @contract
    class Sentiment(BaseModel):
        label: Literal["positive", "negative", "neutral"]
        confidence: Annotated[float, Field(ge=0.0, le=1.0)]

    stratum.contract_hash(Sentiment)  # '3f1c9a0b7d2e' (12 hex chars)

``opaque[T]`` marks a field or parameter as data that must never be placed in
instruction text (see ``stratum._core.opacity``).
"""

from __future__ import annotations

import inspect
import itertools
import json
import types
import typing
import weakref
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

import pydantic
from pydantic import BaseModel

from .._json import canonical_hash, json_value
from ..exceptions import StratumCompileError
from .opacity import OPAQUE, is_opaque, opaque

__all__ = [
    "OutputSpec",
    "contract",
    "contract_hash",
    "contract_schema",
    "is_opaque",
    "opaque",
    "is_supported_output",
    "opaque_fields",
    "output_spec",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

def opaque_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of the model's fields declared ``opaque[T]``."""
    return frozenset(name for name, info in model.model_fields.items() if any(m is OPAQUE for m in info.metadata))


@dataclass(frozen=True, slots=True)
class _Compiled:
    schema: dict[str, Any]
    hash: str
    strict: dict[str, Any]


_compiled: weakref.WeakKeyDictionary[type, _Compiled] = weakref.WeakKeyDictionary()


def contract(cls: type) -> type[BaseModel]:
    """Declare a typed output shape; compile its schema and hash once.

    Works on a pydantic ``BaseModel`` subclass (returned unchanged) and on a
    plain annotated class (returned as an equivalent pydantic model).
    """
    if not isinstance(cls, type):
        raise StratumCompileError(f"@contract expects a class, got {cls!r}", rule="declaration")
    try:
        model = cls if issubclass(cls, BaseModel) else _model_from_plain_class(cls)
    except StratumCompileError as exc:
        return _refused(cls, exc)
    try:
        _compile(model)
    except StratumCompileError as exc:
        if exc.rule == "unresolved-annotation":
            return model  # a field names a class defined later: compiled (and checked) at first use
        return _refused(model, exc)
    return model


def _refused(cls: type, exc: StratumCompileError) -> type[BaseModel]:
    from .analysis.findings import record_error  # the error path only

    if record_error(exc, _class_location(cls)):
        return typing.cast(type[BaseModel], cls)  # `stratum check` goes on reading the module
    raise exc


def contract_schema(cls: type[BaseModel], *, strict: bool = False) -> dict[str, Any]:
    """The contract's draft 2020-12 JSON Schema (a copy; safe to mutate).

    With ``strict=True``, the form sent to the provider: what OpenAI's strict
    structured-output mode accepts (every property required, no extras;
    unsupported keywords moved into descriptions).
    """
    compiled = _compile(cls)
    copy: dict[str, Any] = json.loads(json.dumps(compiled.strict if strict else compiled.schema))
    return copy


def contract_hash(cls: type[BaseModel]) -> str:
    """The contract's 12-hex-char content hash, as trace records carry it in ``contract_hash``."""
    return _compile(cls).hash


def _class_location(cls: type) -> tuple[str | None, int | None]:
    from .source import find_class

    found = find_class(cls)
    return (found[0].filename, found[1].lineno) if found else (None, None)


def _empty(cls: type) -> StratumCompileError:
    where = _class_location(cls)
    return StratumCompileError(
        f"@contract {cls.__qualname__}: `class {cls.__name__}` declares no annotated field "
        "(write fields as `name: type`)",
        rule="contract-empty",
        function=cls.__qualname__,
        source=f"class {cls.__name__}",
        filename=where[0],
        lineno=where[1],
    )


def _model_from_plain_class(cls: type) -> type[BaseModel]:
    own = inspect.get_annotations(cls)
    if not own:
        raise _empty(cls)
    namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    try:
        model = types.new_class(cls.__name__, (BaseModel,), {}, lambda ns: ns.update(namespace))
    except (pydantic.PydanticUserError, TypeError, NameError) as exc:
        raise StratumCompileError(f"@contract {cls.__qualname__}: {exc}", rule="declaration") from exc
    model.__qualname__ = cls.__qualname__
    return model


def _compile(model: type) -> _Compiled:
    found = _compiled.get(model)
    if found is not None:
        return found
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise StratumCompileError(
            f"{model!r} is not a contract (a pydantic model or an @contract class)", rule="return-type"
        )
    name = model.__qualname__
    if not model.model_fields:
        raise _empty(model)
    try:
        if not model.__pydantic_complete__:
            model.model_rebuild(raise_errors=True)
        raw = model.model_json_schema()
    except pydantic.PydanticUndefinedAnnotation as exc:
        raise StratumCompileError(
            f"@contract {name}: {exc}", rule="unresolved-annotation", function=name, source=exc.name
        ) from exc
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, NameError) as exc:
        raise StratumCompileError(f"@contract {name}: cannot build a schema: {exc}", rule="declaration") from exc
    cycle = _find_cycle(raw)
    if cycle:
        where = _class_location(model)
        through = _cycle_fields(raw, cycle)
        shown = " -> ".join(cycle)
        raise StratumCompileError(
            f"@contract {name}: circular contract reference `{shown}`{through}; a contract's schema must be "
            "finite (give the inner level its own contract)",
            rule="contract-cycle",
            function=name,
            source=shown,
            filename=where[0],
            lineno=where[1],
        )
    schema = {"$schema": JSON_SCHEMA_DIALECT, **_normalise(raw)}
    compiled = _Compiled(schema=schema, hash=canonical_hash(schema), strict=_strict(schema))
    _compiled[model] = compiled
    return compiled


def _normalise(node: Any) -> Any:
    """``const`` becomes a one-value ``enum`` so every Literal reads the same."""
    if isinstance(node, dict):
        out = {k: _normalise(v) for k, v in node.items()}
        if "const" in out and "enum" not in out:
            out["enum"] = [out.pop("const")]
        return out
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return node


def _find_cycle(schema: dict[str, Any]) -> list[str] | None:
    defs = schema.get("$defs", {})
    edges = {name: _refs(body) for name, body in defs.items()}
    roots = _refs({k: v for k, v in schema.items() if k != "$defs"})
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done:
            return None
        visiting.append(name)
        for nxt in edges.get(name, ()):
            found = visit(nxt)
            if found:
                return found
        visiting.pop()
        done.add(name)
        return None

    for start in list(roots) + list(edges):
        found = visit(start)
        if found:
            return found
    return None


def _cycle_fields(schema: dict[str, Any], cycle: list[str]) -> str:
    """`` (through `Node.children`)``: the fields that close the cycle, as far as the schema tells."""
    defs = schema.get("$defs", {})
    through = []
    for here, there in itertools.pairwise(cycle):
        props = defs.get(here, {}).get("properties", {})
        fields = [f for f, body in props.items() if there in _refs(body)]
        if fields:
            through.append(f"{here}.{fields[0]}")
    return f" (through {', '.join(f'`{t}`' for t in through)})" if through else ""


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


# Keywords OpenAI's strict mode accepts; the rest are moved into descriptions
# (the contract still enforces them locally when the output is validated).
_STRICT_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "anyOf",
        "$ref", "$defs", "description", "title", "pattern", "format", "multipleOf",
        "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "minItems", "maxItems",
    }
)  # fmt: skip


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(v) for v in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        notes: list[str] = []
        for key, value in node.items():
            if key in ("properties", "$defs"):
                out[key] = {k: convert(v) for k, v in value.items()}
            elif key in _STRICT_KEYWORDS:
                out[key] = convert(value)
            elif key not in ("default", "$schema", "examples"):
                notes.append(f"{key}: {json.dumps(value)}")
        if notes:
            extra = "constraints: " + ", ".join(notes)
            out["description"] = f"{out['description']} ({extra})" if "description" in out else extra
        if out.get("type") == "object" or "properties" in out:
            out.setdefault("properties", {})
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    converted: dict[str, Any] = convert(schema)
    return converted


# ---------------------------------------------------------------------------
# Return types of @infer functions
# ---------------------------------------------------------------------------
_PRIMITIVES = (str, int, float, bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSpec:
    """How an @infer function's return type is requested, parsed and hashed.

    Primitive return types travel wrapped as ``{"result": value}`` because
    structured-output APIs need an object at the top level.
    """

    name: str
    model: type[BaseModel]
    wrapped: bool
    schema: dict[str, Any]
    strict: dict[str, Any]
    hash: str

    def parse(self, raw: str) -> Any:
        """Validate raw JSON text; raise ``pydantic.ValidationError`` on mismatch."""
        value = self.model.model_validate_json(raw)
        return value.result if self.wrapped else value  # type: ignore[attr-defined]

    def dump(self, value: Any) -> Any:
        """A JSON-able form of a parsed value (for traces and caches)."""
        return json_value(value)


def is_supported_output(annotation: Any) -> bool:
    """A contract or one of the primitives an @infer function may return."""
    return (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or _is_primitive(annotation)


def output_spec(annotation: Any, owner: str) -> OutputSpec:
    """Build the OutputSpec for ``owner``'s return annotation, or raise."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        c = _compile(annotation)
        return OutputSpec(
            name=annotation.__qualname__, model=annotation, wrapped=False, schema=c.schema, strict=c.strict, hash=c.hash
        )
    if not _is_primitive(annotation):
        raise StratumCompileError(
            f"@infer {owner}: return annotation {annotation!r} must be a contract or one of "
            "str, int, float, bool, list[...], Literal[...]",
            rule="return-type",
            function=owner,
        )
    wrapper = pydantic.create_model(f"{owner.replace('.', '_')}_result", result=(annotation, ...))
    c = _compile(wrapper)
    return OutputSpec(
        name=_type_name(annotation), model=wrapper, wrapped=True, schema=c.schema, strict=c.strict, hash=c.hash
    )


def _is_primitive(annotation: Any) -> bool:
    if annotation in _PRIMITIVES:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return all(isinstance(v, (str, int, bool)) for v in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation) or (None,)
        return item is not None and (
            _is_primitive(item) or (isinstance(item, type) and issubclass(item, BaseModel))
        )
    if origin is Annotated:
        return _is_primitive(get_args(annotation)[0])
    return False


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else typing._type_repr(annotation)  # type: ignore[attr-defined]
