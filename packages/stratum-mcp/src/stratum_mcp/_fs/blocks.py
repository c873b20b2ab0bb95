"""Marked blocks in Markdown files: one block per purpose, found by its begin and end lines.

Setup keeps its execution-model block in ``CLAUDE.md`` this way, and learn its
conclusions in ``MEMORY.md``; everything outside the markers belongs to the
user and is never rewritten. Markers are HTML comments, invisible when the
Markdown is rendered::

    <!-- stratum:execution-model:begin (managed by stratum-mcp setup) -->
    ...
    <!-- stratum:execution-model:end -->

A file whose markers do not pair up (a begin with no end, two begins) is
refused with :class:`~stratum_mcp.errors.MarkersBroken` rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stratum_mcp._fs.files import line_ending
from stratum_mcp.errors import MarkersBroken

__all__ = ["Markers", "block_body", "drop_block", "put_block"]


@dataclass(frozen=True)
class Markers:
    """The begin and end lines of one kind of block; ``note`` follows the begin tag for human readers."""

    name: str
    note: str

    @property
    def begin(self) -> str:
        return f"<!-- {self.name}:begin ({self.note}) -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.name}:end -->"

    def wrap(self, body: str) -> str:
        """The whole block, markers included, ending with a newline."""
        return f"{self.begin}\n{body.strip(chr(10))}\n{self.end}\n"


def _span(text: str, markers: Markers, path: Path) -> tuple[int, int] | None:
    """Character offsets of the block (begin line to end line, its newline included), if there is one."""
    begins: list[int] = []
    ends: list[int] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        # Matched by tag, not by the whole line, so a changed note still finds the block.
        if stripped.startswith(f"<!-- {markers.name}:begin"):
            begins.append(offset)
        elif stripped.startswith(f"<!-- {markers.name}:end"):
            ends.append(offset + len(line))
        offset += len(line)
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1:
        problem = "appear more than once" if len(begins) > 1 or len(ends) > 1 else (
            "have a begin line but no end line" if begins else "have an end line but no begin line")
        raise MarkersBroken(path, markers.name, problem)
    if ends[0] <= begins[0]:
        raise MarkersBroken(path, markers.name, "have the end line before the begin line")
    return begins[0], ends[0]


def block_body(text: str | None, markers: Markers, path: Path) -> str | None:
    """The text between the markers (without them), or ``None`` when there is no block.

    Line endings are returned as stored (a CRLF file gives CRLF lines).
    """
    if text is None:
        return None
    span = _span(text, markers, path)
    if span is None:
        return None
    lines = text[span[0] : span[1]].splitlines(keepends=True)
    return "".join(lines[1:-1])


def put_block(text: str | None, markers: Markers, body: str, path: Path) -> str:
    """``text`` with the block set to ``body``: replaced where it is, else appended after a blank line."""
    current = text or ""
    newline = line_ending(current)
    block = markers.wrap(body).replace("\n", newline)
    span = _span(current, markers, path)
    if span is not None:
        return current[: span[0]] + block + current[span[1] :]
    # One blank line before the block, always added the same way, so dropping it is the inverse.
    if not current:
        return block
    if current.endswith(newline):
        return current + newline + block
    return current + newline * 2 + block


def drop_block(text: str, markers: Markers, path: Path) -> str:
    """``text`` without the block and the blank line that set it apart; unchanged if there is no block."""
    span = _span(text, markers, path)
    if span is None:
        return text
    newline = line_ending(text)
    before, after = text[: span[0]], text[span[1] :]
    if before.endswith(newline * 2):
        before = before[: -len(newline)]
    return before + after
