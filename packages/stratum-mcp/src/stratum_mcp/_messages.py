"""How values and places are spelled in the messages an agent reads, the same way everywhere.

A value's type is named by :func:`json_type`, in the words the spec's field
types use (``object``, ``array``, ``string``, ``integer``, ``number``,
``boolean``, ``null``), whether the message comes from a contract check, an
ensure expression or spec validation: an agent that reads "expected array"
in one answer never has to wonder whether "a list" in the next means the same.
Violations echo the actual value so an agent can see what was wrong, but a
model's output can be large: :func:`preview` keeps each echo small and
bounded. What was expected is said in the same few words whatever asked for
it (:func:`describe_schema`). Places are dotted paths (:func:`render_path`),
and near misses get one kind of hint (:func:`suggest`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = ["describe_schema", "json_type", "preview", "render_path", "suggest"]

_STR_CHARS = 200
_ITEMS = 10
_DEPTH = 4


def json_type(value: Any) -> str:
    """The JSON type of ``value``, named as field types are; other values by what they are.

    >>> [json_type(v) for v in (None, True, 3, 0.5, "s", [1], {"a": 1})]
    ['null', 'boolean', 'integer', 'number', 'string', 'array', 'object']

    Sets and ranges, which only expressions make, are ``set`` and ``range``.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: True is an int to Python, not to JSON
        return "boolean"
    for kinds, name in _JSON_TYPES:
        if isinstance(value, kinds):
            return name
    return type(value).__name__


_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    ((list, tuple), "array"),
    (dict, "object"),
    ((set, frozenset), "set"),
)


def preview(value: Any, *, depth: int = 0) -> Any:
    """Return ``value`` as JSON-ready data, cut down to a few hundred characters.

    >>> preview("x" * 300)[-14:]
    '... (100 more)'
    """
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
            return f"<integer of {value.bit_length()} bits>"
        return value
    if isinstance(value, str):
        if len(value) <= _STR_CHARS:
            return value
        return f"{value[:_STR_CHARS]}... ({len(value) - _STR_CHARS} more)"
    if depth >= _DEPTH:
        return "..."
    if isinstance(value, dict):
        items = list(value.items())
        shown = {str(k)[:_STR_CHARS]: preview(v, depth=depth + 1) for k, v in items[:_ITEMS]}
        if len(items) > _ITEMS:
            shown["..."] = f"{len(items) - _ITEMS} more"
        return shown
    if isinstance(value, list | tuple | set | frozenset | range):
        seq = list(value)[: _ITEMS + 1] if not isinstance(value, range) else list(value[: _ITEMS + 1])
        out = [preview(v, depth=depth + 1) for v in seq[:_ITEMS]]
        if len(value) > _ITEMS:
            out.append(f"... ({len(value) - _ITEMS} more)")
        return out
    return f"<{type(value).__name__}>"


_BOUNDS = (
    ("minimum", ">= {}"), ("exclusiveMinimum", "> {}"), ("maximum", "<= {}"), ("exclusiveMaximum", "< {}"),
    ("minLength", "of at least {} characters"), ("maxLength", "of at most {} characters"),
    ("minItems", "with at least {} items"), ("maxItems", "with at most {} items"),
    ("minProperties", "with at least {} fields"), ("maxProperties", "with at most {} fields"),
)


def describe_schema(schema: Any, *, depth: int = 0) -> str | None:
    """A JSON Schema fragment in a few words, for an ``expected`` field; ``None`` when it says nothing.

    >>> describe_schema({"type": "integer", "minimum": 0})
    'integer >= 0'
    >>> describe_schema({"type": "string", "enum": ["positive", "negative"]})
    "one of 'positive', 'negative'"
    >>> describe_schema({"type": "array", "items": {"type": "string"}})
    'array of string'
    """
    if not isinstance(schema, dict):
        return None
    if isinstance(schema.get("enum"), list):
        shown = ", ".join(repr(v) for v in schema["enum"][:_ITEMS])
        return f"one of {shown}" + (", ..." if len(schema["enum"]) > _ITEMS else "")
    kind = schema.get("type")
    if isinstance(kind, list):
        text = " or ".join(str(k) for k in kind)
    elif isinstance(kind, str):
        text = kind
    else:
        return None
    if kind == "array" and depth < 2:
        items = describe_schema(schema.get("items"), depth=depth + 1)
        if items is not None:
            text += f" of {items}"
    bounds = [form.format(schema[key]) for key, form in _BOUNDS if key in schema]
    return " ".join([text, *bounds])


def render_path(parts: Iterable[str | int]) -> str:
    """``("flows", "run", "steps", 1, "inputs")`` -> ``flows.run.steps[1].inputs``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def suggest(word: str, options: Iterable[str]) -> str | None:
    """A "did you mean" hint when ``word`` is close to one of ``options``.

    >>> suggest("reveiw", ["review", "summary"])
    'did you mean `review`?'
    """
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None
