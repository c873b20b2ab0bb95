"""Human tables and JSON for the ``stratum`` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "EXIT_ERROR", "EXIT_INVALID", "EXIT_NOT_FOUND", "EXIT_NOT_POSSIBLE", "EXIT_OK", "EXIT_USAGE", "emit_json", "error",
    "short", "table",
]  # fmt: skip

# The documented exit codes (docs/durable.md).
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected: the message says what
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_NOT_FOUND = 3  # no such review or run
EXIT_NOT_POSSIBLE = 4  # not in a state that allows it: already decided, timed out, cancelled, finished
EXIT_INVALID = 5  # a decision value that does not fit the review's type


def short(text: Any, width: int) -> str:
    shown = " ".join(str(text).split())
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns padded to their widest cell; "(none)" for no rows."""
    if not rows:
        print("(none)")
        return
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def error(message: str) -> None:
    print(f"stratum: {message}", file=sys.stderr)
