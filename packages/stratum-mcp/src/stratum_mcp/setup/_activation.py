"""Whether each client will actually load the project's `stratum` server, read from the client's own settings.

A server entry in the project is not enough. The rules below are the clients'
own, as Claude Code 2.1 and Codex 0.171 apply them:

**Claude Code** lists a server from ``.mcp.json`` as *pending approval* until a
settings file approves it: ``enabledMcpjsonServers`` naming it, or
``enableAllProjectMcpServers: true``. ``disabledMcpjsonServers`` naming it, in
any settings file, rejects it. The files: ``~/.claude/settings.json`` (or
``$CLAUDE_CONFIG_DIR/settings.json``), the project's ``.claude/settings.json``
and ``.claude/settings.local.json`` (where Claude Code writes the user's
approval), the managed policy file, and the project's entry in
``~/.claude.json`` (older versions kept approvals there). In a project whose
trust dialog was never accepted (``hasTrustDialogAccepted`` in
``~/.claude.json``), ``.claude/settings.json`` cannot approve, and
``.claude/settings.local.json`` cannot either when git tracks it, when the
project is not a git repository, or when it or ``.claude`` is a symlink.

**Codex** reads a project's ``.codex/config.toml`` only when
``~/.codex/config.toml`` (or ``$CODEX_HOME/config.toml``) marks the project
trusted, ``[projects."<path>"] trust_level = "trusted"``: the project directory
itself, else the main checkout of a linked git worktree. An entry with
``enabled = false`` is not started.

**Cursor** keeps whether a server is enabled in its own application state,
which doctor cannot read.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stratum_mcp._fs import read_text
from stratum_mcp.errors import SetupError
from stratum_mcp.setup._git import git_tracks
from stratum_mcp.setup._paths import SERVER_NAME, claude_home, shown

__all__ = ["Activation", "State", "activation", "claude_global_config", "codex_home"]

State = Literal["ready", "needs_approval", "rejected", "not_trusted", "disabled", "unknown"]


@dataclass(frozen=True)
class Activation:
    """What a client will do with the project's server, why, and what would change it."""

    state: State
    detail: str
    fix: str | None = None


def activation(client: str, root: Path, entry: Any = None) -> Activation:
    """The state of the `stratum` server in ``client`` for the project at ``root``."""
    if client == "claude":
        return _claude(root)
    if client == "codex":
        return _codex(root, entry)
    return Activation("unknown", "Cursor keeps whether a server is enabled in its own settings, which doctor "
                      "cannot read", "enable `stratum` under Cursor Settings > MCP")


# --- Claude Code


def claude_global_config() -> Path:
    """``~/.claude.json`` (or ``$CLAUDE_CONFIG_DIR/.claude.json``): trust and legacy approvals per project."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() / ".claude.json" if configured else Path.home() / ".claude.json"


def _managed_settings() -> Path:
    if sys.platform == "darwin":
        return Path("/Library/Application Support/ClaudeCode/managed-settings.json")
    if sys.platform == "win32":
        return Path(r"C:\Program Files\ClaudeCode\managed-settings.json")
    return Path("/etc/claude-code/managed-settings.json")


def _same_server(name: Any) -> bool:
    # Claude Code compares names with every character other than letters, digits, _ and - made `_`.
    return isinstance(name, str) and re.sub(r"[^a-zA-Z0-9_-]", "_", name) == SERVER_NAME


def _json_object(path: Path) -> dict[str, Any]:
    text = read_text(path)
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise SetupError(path, "is not valid JSON, so Claude Code cannot read it either") from None
    return data if isinstance(data, dict) else {}


def _project_record(root: Path) -> dict[str, Any]:
    """The project's entry in ``~/.claude.json``; keys name the project's directory, matched as real paths."""
    projects = _json_object(claude_global_config()).get("projects")
    if not isinstance(projects, dict):
        return {}
    real = os.path.realpath(root)
    for key, record in projects.items():
        if isinstance(record, dict) and os.path.realpath(key) == real:
            return record
    return {}


def _local_settings_ignored(root: Path) -> str | None:
    """Why an untrusted project's ``.claude/settings.local.json`` cannot approve anything, if it cannot."""
    for path in (root / ".claude", root / ".claude" / "settings.local.json"):
        if path.is_symlink():
            return f"{path.relative_to(root)} is a symlink"
    if (root / ".claude" / ".git").exists():
        return ".claude/.git exists"
    tracked = git_tracks(root, ".claude/settings.local.json")
    if tracked == "tracked":
        return "git tracks .claude/settings.local.json"
    if tracked == "no_repository":
        return "the project is not a git repository"
    return None


def _claude(root: Path) -> Activation:
    local_rel = ".claude/settings.local.json"
    record = _project_record(root)
    trusted = record.get("hasTrustDialogAccepted") is True
    sources: dict[str, dict[str, Any]] = {
        f"{shown(claude_global_config())} (this project's entry)": record,
        shown(claude_home() / "settings.json"): _json_object(claude_home() / "settings.json"),
        ".claude/settings.json": _json_object(root / ".claude" / "settings.json"),
        local_rel: _json_object(root / local_rel),
        shown(_managed_settings()): _json_object(_managed_settings()),
    }
    for where, settings in sources.items():
        if any(_same_server(n) for n in _names(settings.get("disabledMcpjsonServers"))):
            return Activation("rejected", f"{where} lists `stratum` in disabledMcpjsonServers",
                              f"remove \"stratum\" from disabledMcpjsonServers in {where}")
    ignored = None if trusted else _local_settings_ignored(root)
    for where, settings in sources.items():
        if not trusted and (where == ".claude/settings.json" or (where == local_rel and ignored)):
            continue  # an untrusted project's own files cannot approve its servers
        if settings.get("enableAllProjectMcpServers") is True:
            return Activation("ready", f"{where} approves every .mcp.json server (enableAllProjectMcpServers)")
        if any(_same_server(n) for n in _names(settings.get("enabledMcpjsonServers"))):
            return Activation("ready", f"{where} approves it (enabledMcpjsonServers)")
    where = local_rel if ignored is None else shown(claude_home() / "settings.json")
    why = "" if ignored is None else f" ({local_rel} does not count here: {ignored}, and the project is not trusted)"
    return Activation(
        "needs_approval",
        "Claude Code lists `stratum` from .mcp.json as pending approval until a settings file approves it" + why,
        f"run `claude` in {root} and approve `stratum` when it asks, or add "
        f"\"enabledMcpjsonServers\": [\"stratum\"] to {where}",
    )


def _names(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- Codex


def codex_home() -> Path:
    """``$CODEX_HOME``, else ``~/.codex``."""
    configured = os.environ.get("CODEX_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".codex"


def _main_checkout(root: Path) -> Path | None:
    """For a linked worktree (``.git`` is a file pointing into ``<repo>/.git/worktrees/<name>``), the main checkout."""
    dot_git = root / ".git"
    if not dot_git.is_file():
        return None
    text = read_text(dot_git) or ""
    if not text.startswith("gitdir:"):
        return None
    git_dir = (root / text[len("gitdir:"):].strip()).resolve()
    if git_dir.parent.name != "worktrees":
        return None
    return git_dir.parent.parent.parent


def _codex(root: Path, entry: Any) -> Activation:
    config = codex_home() / "config.toml"
    text = read_text(config)
    try:
        data = tomllib.loads(text or "")
    except tomllib.TOMLDecodeError:
        raise SetupError(config, "is not valid TOML, so Codex cannot read it either") from None
    user_servers = data.get("mcp_servers")
    if isinstance(user_servers, dict) and isinstance(user_servers.get(SERVER_NAME), dict):
        return Activation("ready", f"{shown(config)} has a `stratum` server of its own, which Codex loads everywhere")
    if entry is not None and getattr(entry, "enabled", True) is False:
        return Activation("disabled", "the entry in .codex/config.toml has `enabled = false`",
                          "remove `enabled = false` from [mcp_servers.stratum] in .codex/config.toml")
    projects = data.get("projects")
    projects = projects if isinstance(projects, dict) else {}
    candidates = [root, *([checkout] if (checkout := _main_checkout(root)) is not None else [])]
    for candidate in candidates:
        real = os.path.realpath(candidate)
        for key, record in sorted(projects.items()):
            names_it = key == str(candidate) or os.path.realpath(key) == real
            if not names_it or not isinstance(record, dict):
                continue
            level = record.get("trust_level")
            if level == "trusted":
                return Activation("ready", f"{shown(config)} trusts {key}")
            if level == "untrusted":
                return Activation("not_trusted", f"{shown(config)} marks {key} untrusted, so Codex ignores "
                                  ".codex/config.toml", _trust_fix(config, key))
    return Activation("not_trusted", f"{shown(config)} does not list {root} as trusted, so Codex ignores "
                      ".codex/config.toml", _trust_fix(config, str(root)))


def _trust_fix(config: Path, key: str) -> str:
    return (f"start `codex` in the project and trust it when asked, or set "
            f"[projects.{json.dumps(key)}] trust_level = \"trusted\" in {shown(config)}")
