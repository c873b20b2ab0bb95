"""``doctor --live``: ask the client's own command line what it makes of the project's `stratum` server.

``claude mcp get stratum`` prints a ``Status:`` line (it starts the server to
check it: "✔ Connected", "⏸ Pending approval (run `claude` to approve)",
"✘ Rejected (...)", "✘ Failed to connect"); ``codex mcp get stratum --json``
prints the entry Codex loaded, with ``enabled``, or fails with "No MCP server
named 'stratum' found" when Codex does not load it (no entry, or an untrusted
project). Both run in the project directory, where the client would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stratum_mcp.setup._paths import SERVER_NAME

__all__ = ["LIVE_COMMANDS", "LiveAnswer", "ask_client"]

LiveState = Literal["ready", "needs_approval", "rejected", "failed", "not_loaded", "disabled", "unreadable"]

LIVE_COMMANDS = {
    "claude": ("claude", "mcp", "get", SERVER_NAME),
    "codex": ("codex", "mcp", "get", SERVER_NAME, "--json"),
}

_CLAUDE_STATUS: tuple[tuple[str, LiveState], ...] = (
    ("Connected", "ready"),
    ("Pending approval", "needs_approval"),
    ("Rejected", "rejected"),
    ("Failed to connect", "failed"),
)


@dataclass(frozen=True)
class LiveAnswer:
    """What the client's command said, read as a state, with the words it used."""

    command: str
    state: LiveState
    said: str


def ask_client(client: str, root: Path, timeout: float) -> LiveAnswer | None:
    """The client's own answer, or ``None`` when its command is not on PATH (or it has none)."""
    argv = LIVE_COMMANDS.get(client)
    if argv is None or shutil.which(argv[0]) is None:
        return None
    shown = " ".join(argv)
    try:
        done = subprocess.run([shutil.which(argv[0]) or argv[0], *argv[1:]], cwd=root, capture_output=True,  # noqa: S603
                              text=True, errors="replace", timeout=timeout, check=False, env=dict(os.environ))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return LiveAnswer(shown, "unreadable", f"did not answer ({type(exc).__name__})")
    output = done.stdout + done.stderr
    if "No MCP server" in output:
        return LiveAnswer(shown, "not_loaded", _first_line(output, "No MCP server"))
    if client == "claude":
        status = _first_line(done.stdout, "Status:")
        for words, state in _CLAUDE_STATUS:
            if words in status:
                return LiveAnswer(shown, state, status.removeprefix("Status:").strip())
        return LiveAnswer(shown, "unreadable", status or _first_line(output, ""))
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return LiveAnswer(shown, "unreadable", _first_line(output, ""))
    if not isinstance(data, dict):
        return LiveAnswer(shown, "unreadable", done.stdout.strip()[:200])
    if data.get("enabled") is True:
        return LiveAnswer(shown, "ready", "enabled: true")
    return LiveAnswer(shown, "disabled", f"enabled: false ({data.get('disabled_reason') or 'no reason given'})")


def _first_line(text: str, containing: str) -> str:
    for line in text.splitlines():
        if containing in line and line.strip():
            return line.strip()[:200]
    return ""
