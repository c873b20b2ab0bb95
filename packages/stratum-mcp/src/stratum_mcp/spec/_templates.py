"""``intent_template``: a parallel step's intent for each task, with ``{task.<field>}`` holes.

The template language is deliberately tiny and is not Python's ``str.format``
(which can reach attributes of the values it formats): a hole is ``{task}``
or ``{task.a.b}``, ``{{`` and ``}}`` are literal braces, and nothing else may
appear between braces. Templates are checked when the spec is validated and
rendered against plain JSON task objects, bounded in length.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stratum_mcp.spec._model import Template

__all__ = ["TemplateSyntaxError", "parse_template", "render_template"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_HOLE = re.compile(r"task(?:\.[A-Za-z_][A-Za-z0-9_]*){0,8}\Z")
_VALUE_CHARS = 1_000


class TemplateSyntaxError(ValueError):
    """A template with a hole that is not ``{task...}``, or an unpaired brace."""


def parse_template(source: str) -> Template:
    """Check ``source`` and split it into text and holes.

    >>> parse_template("Implement {task.description}").parts
    ('Implement ', ('description',))
    """
    parts: list[str | tuple[str, ...]] = []
    text, position = "", 0
    for match in _TOKEN.finditer(source):
        text += source[position:match.start()]
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            text += token[0]
            continue
        hole = match.group(1)
        if hole is None:
            raise TemplateSyntaxError(f"unpaired `{token}` at character {match.start() + 1}; write `{token * 2}` "
                                      "for a literal brace")
        if not _HOLE.match(hole.strip()):
            raise TemplateSyntaxError(f"`{{{hole[:40]}}}` is not a task field; use `{{task}}` or `{{task.<field>}}`")
        if text:
            parts.append(text)
            text = ""
        parts.append(tuple(hole.strip().split(".")[1:]))
    text += source[position:]
    if text:
        parts.append(text)
    return Template(source=source, parts=tuple(parts))


def render_template(template: Template, task: Any, *, limit: int) -> str:
    """The template with each hole replaced by the task's value there (``null`` where there is none).

    >>> render_template(parse_template("Fix {task.file}"), {"file": "a.py"}, limit=100)
    'Fix a.py'
    """
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = task
        for name in part:
            value = value.get(name) if isinstance(value, dict) else None
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        out.append(shown if len(shown) <= _VALUE_CHARS else shown[:_VALUE_CHARS] + "...")
    rendered = "".join(out)
    return rendered if len(rendered) <= limit else rendered[: max(0, limit - 3)] + "..."
