"""Artifacts and moments as a reviewer reads them, as plain text for autoescaping templates.

Nothing here produces HTML: an artifact becomes an ``Artifact`` of text
lines (JSON pretty-printed, a unified diff split into classed lines, long
text folded behind a short preview) and the templates escape every one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Artifact", "DiffLine", "artifacts_of", "duration", "moment"]

#: Text longer than this is folded: the preview shows its first lines.
_FOLD_LINES = 24
_FOLD_CHARS = 2_000
_PREVIEW_LINES = 8
#: What one artifact may show at all; the rest is cut, with a note.
_MAX_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: Literal["add", "del", "hunk", "meta", "same"]
    text: str


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    kind: Literal["text", "json", "diff"]
    text: str
    folded: bool
    preview: str
    diff: tuple[DiffLine, ...] = ()
    cut: int = 0


def _is_diff(text: str) -> bool:
    lines = text.lstrip().splitlines()[:400]
    if not lines:
        return False
    if lines[0].startswith("diff --git "):
        return True
    has_files = any(a.startswith("--- ") and b.startswith("+++ ") for a, b in itertools.pairwise(lines))
    return has_files and any(line.startswith("@@") for line in lines)


def _diff_line(line: str) -> DiffLine:
    if line.startswith(("+++ ", "--- ", "diff --git ", "index ")):
        return DiffLine("meta", line)
    if line.startswith("@@"):
        return DiffLine("hunk", line)
    if line.startswith("+"):
        return DiffLine("add", line)
    if line.startswith("-"):
        return DiffLine("del", line)
    return DiffLine("same", line)


def _artifact(name: str, value: Any) -> Artifact:
    if isinstance(value, str):
        text, kind = value, "diff" if _is_diff(value) else "text"
    else:
        text, kind = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str), "json"
    cut = max(len(text) - _MAX_CHARS, 0)
    text = text[:_MAX_CHARS]
    lines = text.splitlines()
    folded = len(lines) > _FOLD_LINES or len(text) > _FOLD_CHARS
    preview = "\n".join(lines[:_PREVIEW_LINES])[: _FOLD_CHARS // 4] if folded else text
    diff = tuple(_diff_line(line) for line in lines) if kind == "diff" else ()
    return Artifact(name, kind, text, folded, preview, diff, cut)  # type: ignore[arg-type]


def artifacts_of(artifacts: Mapping[str, Any]) -> list[Artifact]:
    return [_artifact(name, value) for name, value in artifacts.items()]


def moment(when: datetime | None) -> str:
    return "-" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    """``42 s``, ``5 min``, ``3 h 10 min``, ``2 d 4 h``."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
