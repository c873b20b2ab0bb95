"""The approval Claude Code writes for the project's server, which ``uninstall --purge-approvals`` takes out.

When the user approves (or rejects) ``stratum`` in Claude Code, it adds the
name to ``enabledMcpjsonServers`` (or ``disabledMcpjsonServers``) in the
project's ``.claude/settings.local.json``. Setup never writes that file, so
uninstall leaves it alone unless asked: it says the approval is there, and
with ``--purge-approvals`` removes exactly the name, the list if it is left
empty, and the file if nothing else is left in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stratum_mcp._fs import line_ending, with_line_ending
from stratum_mcp.errors import ConfigUnparsable
from stratum_mcp.setup._paths import SERVER_NAME

__all__ = ["APPROVAL_KEYS", "LOCAL_SETTINGS", "approval_keys", "without_approval"]

LOCAL_SETTINGS = ".claude/settings.local.json"
APPROVAL_KEYS = ("enabledMcpjsonServers", "disabledMcpjsonServers")


def _load(path: Path, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigUnparsable(path, f"invalid JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def approval_keys(path: Path, text: str | None) -> list[str]:
    """The keys of the settings text that name the server (empty when there is no such entry)."""
    if text is None or not text.strip():
        return []
    data = _load(path, text)
    return [key for key in APPROVAL_KEYS if isinstance(data.get(key), list) and SERVER_NAME in data[key]]


def without_approval(path: Path, text: str) -> str | None:
    """The settings text without the server's approval; ``None`` when nothing else is left (delete the file)."""
    data = _load(path, text)
    for key in approval_keys(path, text):
        names = [n for n in data[key] if n != SERVER_NAME]
        if names:
            data[key] = names
        else:
            del data[key]
    if not data:
        return None
    indent = 2
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if stripped.startswith('"') and len(line) > len(stripped):
            indent = len(line) - len(stripped)
            break
    return with_line_ending(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", line_ending(text))
