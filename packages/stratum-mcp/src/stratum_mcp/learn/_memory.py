"""``MEMORY.md``: the user's notes, plus one marked section that ``stratum-mcp learn`` rewrites.

Everything outside the section is the user's (or written by the skills after
``stratum_audit``) and is kept byte for byte. The section is rebuilt from the
evidence on every run, so it never accumulates duplicates; a line the user
wants to keep for good can be moved out of it, and learn will not repeat it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from stratum_mcp._fs import Markers, drop_block, put_block
from stratum_mcp.learn._conclusions import Conclusion
from stratum_mcp.learn._evidence import Evidence

__all__ = ["LEARNED", "NEW_MEMORY", "hand_written", "summary_line", "updated_memory"]

LEARNED = Markers("stratum:learned", "written by stratum-mcp learn; rewritten on every run")

NEW_MEMORY = """\
# Memory

Project-specific lessons for Stratum specs: read before writing a spec, add to after `stratum_audit`.
Write your own notes anywhere outside the marked section; `stratum-mcp learn` rewrites only that.

"""


def hand_written(text: str | None, path: Path) -> str:
    """The file without the learned section: what the user (and the skills) wrote."""
    return "" if text is None else drop_block(text, LEARNED, path)


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def summary_line(evidence: Evidence) -> str:
    """Where the lessons come from, e.g. "From 12 runs (2025-01-02 to 2025-02-03) and 3 session transcripts"."""
    days = sorted(r.created_ms for r in evidence.runs if r.created_ms is not None)
    span = f" ({_day(days[0])} to {_day(days[-1])})" if days else ""
    runs = "1 run" if len(evidence.runs) == 1 else f"{len(evidence.runs)} runs"
    sessions = "" if not evidence.sessions else (
        " and 1 session transcript" if evidence.sessions == 1 else f" and {evidence.sessions} session transcripts")
    return f"From {runs}{span}{sessions}."


def updated_memory(text: str | None, conclusions: Sequence[Conclusion], evidence: Evidence, path: Path) -> str:
    """``MEMORY.md`` with the learned section set to ``conclusions`` (created if the file is new)."""
    lines = [f"- {c.text}" for c in conclusions] or ["- No failure recurred often enough to be a pattern yet."]
    body = "\n".join([
        "## Learned from Stratum runs",
        "",
        f"_{summary_line(evidence)} Move a line out of this section to keep it as it is._",
        "",
        *lines,
    ])
    return put_block(text if text is not None else NEW_MEMORY, LEARNED, body, path)
