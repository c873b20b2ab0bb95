"""Where things are: the project root, the Claude Code and Stratum home directories, the server command."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from stratum_mcp._config import stratum_home
from stratum_mcp.errors import ProjectNotFound

__all__ = ["SERVER_NAME", "ServerLaunch", "claude_home", "find_project_root", "server_launch", "stratum_command",
           "stratum_home"]

#: The name the server is registered under in every client's config.
SERVER_NAME = "stratum"


def find_project_root(start: Path | None = None, override: str | os.PathLike[str] | None = None) -> Path:
    """The project to configure: ``override`` if given, else the nearest parent with ``.git``, else ``start``.

    ``.git`` may be a file (linked checkouts, submodules) as well as a directory. The
    result is resolved, so it is spelled the way the server and Claude Code
    spell their working directory.
    """
    if override is not None:
        root = Path(override).expanduser()
        if not root.is_dir():
            raise ProjectNotFound(root)
        return root.resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return here


def claude_home() -> Path:
    """Claude Code's configuration directory: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".claude"


@dataclass(frozen=True)
class ServerLaunch:
    """The command line a client runs to start the server for one project."""

    command: str
    args: tuple[str, ...]


def stratum_command() -> tuple[str, ...]:
    """The command line that runs *this* installation's ``stratum-mcp``, without relying on ``PATH``.

    The console script next to the running interpreter when there is one;
    otherwise the interpreter itself with ``-m stratum_mcp``. Neither path is
    resolved: a virtual environment's ``python`` is a symlink to the base
    interpreter, and resolving it would step outside the environment that
    has the package.
    """
    interpreter = Path(os.path.abspath(sys.executable))
    script = interpreter.parent / ("stratum-mcp.exe" if os.name == "nt" else "stratum-mcp")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (str(interpreter), "-m", "stratum_mcp")


def server_launch(project_root: Path) -> ServerLaunch:
    """How a client starts the server for ``project_root``.

    The project root is passed explicitly because clients do not all start
    servers in the project directory, and the file helpers and the run tags
    the store keeps for ``stratum-mcp learn`` depend on it.
    """
    command, *prefix = stratum_command()
    return ServerLaunch(command, (*prefix, "--project-root", str(project_root), "serve"))
