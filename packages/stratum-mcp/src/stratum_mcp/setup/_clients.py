"""The three clients setup can configure, and how each one's MCP config gains or loses the server.

========  ======================  ==============  ==================================
client    server entry            instructions    format
========  ======================  ==============  ==================================
claude    ``.mcp.json``           ``CLAUDE.md``   ``{"mcpServers": {"stratum": ...}}``
codex     ``.codex/config.toml``  ``AGENTS.md``   ``[mcp_servers.stratum]``
cursor    ``.cursor/mcp.json``    ``AGENTS.md``   ``{"mcpServers": {"stratum": ...}}``
========  ======================  ==============  ==================================

Edits are merges: other servers, other keys and (for TOML) comments and
layout are kept. An entry that is already right leaves the file's text
exactly as it was. A file that does not parse, or whose ``mcpServers`` /
``mcp_servers`` is not a mapping, is refused with
:class:`~stratum_mcp.errors.ConfigUnparsable` and never rewritten.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stratum_mcp._fs import line_ending, with_line_ending
from stratum_mcp.errors import ConfigUnparsable
from stratum_mcp.setup._paths import SERVER_NAME, ServerLaunch

__all__ = ["CLIENTS", "Client", "ServerEntry", "holds_nothing", "read_server", "with_server", "without_server"]


@dataclass(frozen=True)
class Client:
    """One MCP client: where its server config and its instructions live, relative to the project root.

    ``root_args`` is how a portable entry tells the server the project root:
    nothing where the client starts servers in the project directory (Claude
    Code, Codex), ``--project-root ${workspaceFolder}`` where the client
    expands that variable (Cursor). ``expands`` names the variable syntax the
    client expands in its entries, which doctor expands the same way.
    """

    name: str
    title: str
    config: str
    instructions: str
    installs_skills: bool
    format: Literal["json", "toml"]
    activate: str
    root_args: tuple[str, ...] = ()
    expands: Literal["env", "workspace", "none"] = "none"


CLIENTS: dict[str, Client] = {
    "claude": Client("claude", "Claude Code", ".mcp.json", "CLAUDE.md", True, "json",
                     "restart Claude Code in the project and approve the project's `stratum` server once",
                     expands="env"),
    "codex": Client("codex", "Codex", ".codex/config.toml", "AGENTS.md", False, "toml",
                    "restart Codex in the project (Codex reads .codex/config.toml only in trusted projects)"),
    "cursor": Client("cursor", "Cursor", ".cursor/mcp.json", "AGENTS.md", False, "json",
                     "reload Cursor and enable the `stratum` server under Settings > MCP",
                     root_args=("--project-root", "${workspaceFolder}"), expands="workspace"),
}


@dataclass(frozen=True)
class ServerEntry:
    """The server entry as it is written in the client's config (variables not yet expanded)."""

    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    enabled: bool = True


def with_server(client: Client, path: Path, text: str | None, launch: ServerLaunch) -> str:
    """The config text with the ``stratum`` entry set to ``launch``; other keys of the entry are kept."""
    if client.format == "toml":
        return _toml_with(path, text, launch)
    data = _json_load(path, text)
    servers = _json_servers(path, data, create=True)
    current = servers.get(SERVER_NAME)
    entry: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    entry.update(type="stdio", command=launch.command, args=list(launch.args))
    if entry == current and text is not None:
        return text  # already right: keep the user's bytes
    servers[SERVER_NAME] = entry
    return _json_dump(data, text)


def without_server(client: Client, path: Path, text: str) -> str:
    """The config text without the ``stratum`` entry (the same text when it has none)."""
    if client.format == "toml":
        return _toml_without(path, text)
    data = _json_load(path, text)
    servers = _json_servers(path, data, create=False)
    if SERVER_NAME not in servers:
        return text
    del servers[SERVER_NAME]
    if not servers:
        del data["mcpServers"]
    return _json_dump(data, text)


def holds_nothing(client: Client, text: str) -> bool:
    """True when the config has no settings left (so a file setup created may be removed)."""
    if client.format == "toml":
        return not tomllib.loads(text)
    return not text.strip() or json.loads(text) in ({}, {"mcpServers": {}})


def read_server(client: Client, path: Path, text: str | None) -> ServerEntry | None:
    """The ``stratum`` entry of the config, or ``None`` when there is none."""
    if text is None:
        return None
    if client.format == "toml":
        data = _toml_load(path, text)
        servers = data.get("mcp_servers", {})
        raw = servers.get(SERVER_NAME) if isinstance(servers, dict) else None
    else:
        raw = _json_servers(path, _json_load(path, text), create=False).get(SERVER_NAME)
    if not isinstance(raw, dict):
        return None
    command, args, env = raw.get("command"), raw.get("args", []), raw.get("env", {})
    if not isinstance(command, str) or not isinstance(args, list) or not isinstance(env, dict):
        raise ConfigUnparsable(path, f"the `{SERVER_NAME}` entry needs a string `command` and a list `args`")
    cwd = raw.get("cwd")
    return ServerEntry(command, tuple(str(a) for a in args), tuple((str(k), str(v)) for k, v in env.items()),
                       cwd if isinstance(cwd, str) else None, raw.get("enabled") is not False)


# --- JSON (.mcp.json, .cursor/mcp.json)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _json_load(path: Path, text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ConfigUnparsable(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise ConfigUnparsable(path, str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigUnparsable(path, "the top level is not a JSON object")
    return data


def _json_servers(path: Path, data: dict[str, Any], *, create: bool) -> dict[str, Any]:
    servers = data.setdefault("mcpServers", {}) if create else data.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise ConfigUnparsable(path, "`mcpServers` is not an object")
    return servers


def _json_dump(data: dict[str, Any], original: str | None) -> str:
    # Keep the file's indentation and line endings, so the diff shows only our entry.
    match = re.search(r"^([ \t]+)\"", original or "", re.MULTILINE)
    indent: str | int = match.group(1) if match else 2
    return with_line_ending(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", line_ending(original))


# --- TOML (.codex/config.toml): tomllib judges validity, tomlkit edits without losing comments


def _toml_load(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigUnparsable(path, f"invalid TOML: {exc}") from None


def _toml_with(path: Path, text: str | None, launch: ServerLaunch) -> str:
    import tomlkit

    source = text or ""
    parsed = _toml_load(path, source)
    servers = parsed.get("mcp_servers", {})
    if not isinstance(servers, dict):
        raise ConfigUnparsable(path, "`mcp_servers` is not a table")
    current = servers.get(SERVER_NAME)
    if current is not None and not isinstance(current, dict):
        raise ConfigUnparsable(path, f"`mcp_servers.{SERVER_NAME}` is not a table")
    if current is not None and current.get("command") == launch.command and current.get("args") == list(launch.args):
        return source
    document = tomlkit.parse(source)
    if "mcp_servers" not in document:
        if source.strip() and not source.endswith("\n\n"):
            document.add(tomlkit.nl())
        document["mcp_servers"] = tomlkit.table(is_super_table=True)
    table = document["mcp_servers"]
    if current is None:
        # `mcp_servers = { ... }` is an inline table, and those may only hold inline tables.
        entry = tomlkit.inline_table() if isinstance(table, tomlkit.items.InlineTable) else tomlkit.table()
        entry["command"] = launch.command
        entry["args"] = list(launch.args)
        table[SERVER_NAME] = entry
    else:
        table[SERVER_NAME]["command"] = launch.command
        table[SERVER_NAME]["args"] = list(launch.args)
    return with_line_ending(tomlkit.dumps(document), line_ending(text))  # tomlkit writes new lines as LF


def _toml_without(path: Path, text: str) -> str:
    import tomlkit

    parsed = _toml_load(path, text)
    servers = parsed.get("mcp_servers")
    if not isinstance(servers, dict) or SERVER_NAME not in servers:
        return text
    document = tomlkit.parse(text)
    table = document["mcp_servers"]
    del table[SERVER_NAME]
    if not servers.keys() - {SERVER_NAME}:
        del document["mcp_servers"]
    return with_line_ending(tomlkit.dumps(document), line_ending(text))
