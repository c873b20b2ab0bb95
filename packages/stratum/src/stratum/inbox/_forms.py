"""A decision type's JSON Schema as form fields, and a submitted form back as a JSON value.

``fields_of(schema)`` walks the schema (local ``$ref``s resolved, depth
bounded) into typed ``Field``s: text, numbers, booleans, enums, nested
objects, lists of scalars one per line, and a JSON box for anything else
(unions, lists of objects, recursive models). ``value_of(field, form)``
builds the JSON value from the posted strings, converting only what the
schema says is a number or a boolean; validation itself is left to
``stratum.reviews.resolve``, so the inbox accepts exactly what it accepts.
``place_errors`` pins its error lines ("a.b: message") on the fields.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ROOT", "Field", "FormProblem", "choices_of", "fields_of", "place_errors", "prefill", "value_of"]

#: The form name of the whole value; a nested field is ``v.address.city``.
ROOT = "v"
_MAX_DEPTH = 6
_MAX_FIELDS = 200
_MISSING: Any = object()

Kind = Literal["text", "textarea", "integer", "number", "boolean", "choice", "lines", "json", "group"]


@dataclass(frozen=True, slots=True)
class Field:
    """One input of the form (``group``: a nested object, its inputs in ``children``)."""

    name: str
    label: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    description: str | None = None
    choices: tuple[Any, ...] = ()
    item_kind: Kind = "text"
    children: tuple[Field, ...] = ()
    default: Any = None

    @property
    def choice_labels(self) -> list[str]:
        return [c if isinstance(c, str) else json.dumps(c) for c in self.choices]

    def walk(self) -> list[Field]:
        return [self, *(f for child in self.children for f in child.walk())]


class FormProblem(ValueError):
    """A posted value that cannot even be read (bad JSON in a JSON box): ``errors`` by field name."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))


def _deref(schema: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, Mapping):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
            continue
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            schema = {**{k: v for k, v in schema.items() if k != "allOf"}, **_deref(all_of[0], root)}
            continue
        return dict(schema)
    return {}


def _nullable(schema: dict[str, Any], root: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``X | None`` as (X, True); anything else unchanged."""
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            real = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
            if len(real) == 1 and len(real) < len(options):
                inner = _deref(real[0], root)
                extra = {k: v for k, v in schema.items() if k != key}
                return {**inner, **extra}, True
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [k for k in kind if k != "null"]
        if len(rest) == 1:
            return {**schema, "type": rest[0]}, True
    return schema, False


def _scalar_kind(schema: dict[str, Any]) -> Kind | None:
    if "enum" in schema or "const" in schema:
        return "choice"
    kind = schema.get("type")
    if kind == "string":
        long = schema.get("maxLength", 0) > 200 or schema.get("format") == "textarea"
        return "textarea" if long else "text"
    if kind == "integer":
        return "integer"
    if kind == "number":
        return "number"
    if kind == "boolean":
        return "boolean"
    return None


def fields_of(schema: Mapping[str, Any]) -> Field:
    """The form for one decision value (the root field is named ``ROOT``)."""
    count = [0]

    def build(raw: Any, name: str, label: str, required: bool, depth: int) -> Field:
        count[0] += 1
        node, nullable = _nullable(_deref(raw, schema), schema)
        common: dict[str, Any] = {
            "name": name, "label": node.get("title") or label, "required": required, "nullable": nullable,
            "description": node.get("description"), "default": node.get("default"),
        }  # fmt: skip
        scalar = _scalar_kind(node)
        if scalar == "choice":
            options = node.get("enum", [node.get("const")])
            return Field(kind="choice", choices=tuple(options), **common)
        if scalar is not None:
            return Field(kind=scalar, **common)
        if node.get("type") == "array":
            item = _nullable(_deref(node.get("items", {}), schema), schema)[0]
            item_kind = _scalar_kind(item)
            if item_kind in ("text", "integer", "number"):
                return Field(kind="lines", item_kind=item_kind, **common)
            return Field(kind="json", **common)
        props = node.get("properties")
        if node.get("type") == "object" and isinstance(props, Mapping) and depth < _MAX_DEPTH:
            if count[0] + len(props) > _MAX_FIELDS:
                return Field(kind="json", **common)
            needed = set(node.get("required", ()))
            children = tuple(
                build(sub, f"{name}.{key}", str(key).replace("_", " "), key in needed, depth + 1)
                for key, sub in props.items()
            )
            return Field(kind="group", children=children, **common)
        return Field(kind="json", **common)

    return build(schema, ROOT, "value", True, 0)


def choices_of(root: Field, options: Sequence[Any] | None) -> list[Any]:
    """The one-click decisions: the review's options, else a root enum's values, else yes/no."""
    if options:
        return list(options)
    if root.kind == "choice":
        return list(root.choices)
    if root.kind == "boolean":
        return [True, False]
    return []


def _number(text: str, kind: Kind) -> Any:
    """``"3"`` as 3, ``"2.5"`` as 2.5; anything else (``"two"``, ``"nan"``, ``"inf"``) stays text for the validator."""
    try:
        return int(text) if kind == "integer" else _finite(float(text), text)
    except ValueError:
        if kind == "integer":
            try:
                as_float = _finite(float(text), text)
            except ValueError:
                return text
            return int(as_float) if isinstance(as_float, float) and as_float.is_integer() else as_float
        return text  # the validator says what is wrong with it


def _finite(number: float, text: str) -> float | str:
    return number if math.isfinite(number) else text  # JSON has no NaN or infinity


def value_of(root: Field, form: Mapping[str, str]) -> Any:
    """The JSON value the posted form describes (``FormProblem`` if a JSON box is not JSON)."""
    problems: dict[str, list[str]] = {}

    def blank(f: Field) -> bool:
        return all(not form.get(leaf.name, "").strip() for leaf in f.walk() if leaf.kind != "group")

    def read(f: Field) -> Any:
        if f.kind == "group":
            if f is not root and (f.nullable or not f.required) and blank(f):
                return None if f.nullable else _MISSING  # an optional nested object left empty
            out = {}
            for child in f.children:
                got = read(child)
                if got is not _MISSING:
                    out[child.name.rpartition(".")[2]] = got
            return out
        text = form.get(f.name, "")
        if f.kind not in ("text", "textarea"):
            text = text.strip()
        if text == "" and f.kind not in ("lines",):
            if f.nullable:
                return None
            if f.kind in ("text", "textarea") and f.required:
                return ""
            return _MISSING  # absent: the validator reports a required field
        if f.kind in ("text", "textarea"):
            return text
        if f.kind in ("integer", "number"):
            return _number(text, f.kind)
        if f.kind == "boolean":
            return {"true": True, "false": False}.get(text, text)
        if f.kind == "choice":
            if text.isdigit() and int(text) < len(f.choices):
                return f.choices[int(text)]
            return text
        if f.kind == "lines":
            items = [line.strip() for line in text.splitlines() if line.strip()]
            if not items and not f.required:
                return _MISSING
            return [i if f.item_kind == "text" else _number(i, f.item_kind) for i in items]
        try:
            return json.loads(text)
        except ValueError as exc:
            problems.setdefault(f.name, []).append(f"not valid JSON: {exc}")
            return _MISSING

    value = read(root)
    if problems:
        raise FormProblem(problems)
    return None if value is _MISSING else value


_REQUIRED = re.compile(r"^'([^']+)' is a required property$")


def place_errors(root: Field, errors: Sequence[str]) -> dict[str, list[str]]:
    """Error lines of ``InvalidDecision`` by field name; unplaced ones go on the root."""
    names = {f.name for f in root.walk()}
    placed: dict[str, list[str]] = {}
    for line in errors:
        where, sep, message = line.partition(": ")
        if sep and where and " " not in where:
            path = where.split(".")
        else:
            path, message = [], line
        missing = _REQUIRED.match(message)
        if missing:
            path.append(missing.group(1))
            message = "this field is required"
        name = ".".join([ROOT, *path])
        while name not in names and "." in name:
            name = name.rpartition(".")[0]
        placed.setdefault(name, []).append(message)
    return placed


def prefill(root: Field, value: Any) -> dict[str, str]:
    """Form strings that show ``value`` again (after a refused submission, or a field's default)."""
    out: dict[str, str] = {}

    def put(f: Field, v: Any) -> None:
        if f.kind == "group":
            for child in f.children:
                key = child.name.rpartition(".")[2]
                put(child, v.get(key, _MISSING) if isinstance(v, Mapping) else _MISSING)
            return
        if v is _MISSING:
            v = f.default
        if v is None:
            return
        if f.kind == "choice":
            out[f.name] = str(f.choices.index(v)) if v in f.choices else str(v)
        elif f.kind == "boolean":
            out[f.name] = "true" if v is True else "false" if v is False else str(v)
        elif f.kind == "lines" and isinstance(v, list):
            out[f.name] = "\n".join(str(i) for i in v)
        elif f.kind == "json":
            out[f.name] = json.dumps(v, indent=2, ensure_ascii=False)
        else:
            out[f.name] = str(v)

    put(root, value)
    return out
