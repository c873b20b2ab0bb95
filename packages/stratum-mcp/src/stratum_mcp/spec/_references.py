"""Step-input references: ``$.input.<field>...`` and ``$.steps.<id>.output...``.

After the root, a reference walks into the value with ``.field`` and ``[index]``
segments: ``$.steps.classify.output.labels[0]``. A string that does not start
with ``$`` is a literal; ``$$`` at the start escapes a literal ``$``.
"""

from __future__ import annotations

import re
from typing import Any

from stratum_mcp.spec._model import Binding, Literal, Reference

__all__ = ["ReferenceSyntaxError", "binding_from", "parse_reference", "resolve_reference"]

_NAME = r"[A-Za-z][A-Za-z0-9_-]*"
_ROOT = re.compile(rf"\$\.(?:input|steps\.(?P<step>{_NAME})\.output)")
_SEGMENT = re.compile(r"\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>-?\d{1,9})\]")
_MAX_SEGMENTS = 32


class ReferenceSyntaxError(ValueError):
    """A ``$``-string that is not a well-formed reference."""


def binding_from(value: Any) -> Binding:
    """Turn a raw step-input value into a reference or a literal."""
    if isinstance(value, str) and value.startswith("$$"):
        return Literal(value[1:])
    if isinstance(value, str) and value.startswith("$"):
        return parse_reference(value)
    return Literal(value)


def parse_reference(text: str) -> Reference:
    """Parse ``text``; raise :class:`ReferenceSyntaxError` explaining what is expected.

    >>> parse_reference("$.steps.a.output.items[0]").path
    ('items', 0)
    """
    root = _ROOT.match(text)
    if root is None:
        raise ReferenceSyntaxError(
            f"`{text[:80]}` is not a reference: use `$.input.<field>` or `$.steps.<id>.output[.<field>]`"
        )
    step = root.group("step")
    position, path = root.end(), []
    while position < len(text):
        segment = _SEGMENT.match(text, position)
        if segment is None:
            raise ReferenceSyntaxError(
                f"`{text[:80]}`: cannot read `{text[position:position + 20]}`; use `.field` or `[index]`"
            )
        path.append(segment.group("field") if segment.group("field") else int(segment.group("index")))
        position = segment.end()
        if len(path) > _MAX_SEGMENTS:
            raise ReferenceSyntaxError(f"`{text[:80]}` has more than {_MAX_SEGMENTS} segments")
    return Reference(text=text, step=step, path=tuple(path))


def resolve_reference(reference: Reference, flow_input: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """The value ``reference`` points at, or ``None`` where the path leads nowhere.

    Missing optional fields resolve to ``None`` (JSON null), as an absent
    optional field does in the step's contract.
    """
    value: Any = flow_input if reference.step is None else outputs.get(reference.step)
    for part in reference.path:
        if isinstance(part, str) and isinstance(value, dict):
            value = value.get(part)
        elif isinstance(part, int) and isinstance(value, list) and -len(value) <= part < len(value):
            value = value[part]
        else:
            return None
    return value
