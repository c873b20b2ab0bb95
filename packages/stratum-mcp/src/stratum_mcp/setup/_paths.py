"""Where things are: the project root, the Claude Code and Stratum home directories, the server command."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from stratum_mcp._config import stratum_home
from stratum_mcp.errors import ProjectNotFound

__all__ = ["PORTABLE_COMMAND", "SERVER_NAME", "ServerLaunch", "claude_home", "find_project_root", "same_installation",
           "server_launch", "shown", "stratum_command", "stratum_home"]

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


#: The command of a portable entry: resolved on PATH by whoever starts it, on any machine with stratum-mcp.
PORTABLE_COMMAND = "stratum-mcp"


def server_launch(project_root: Path, root_args: tuple[str, ...] = (), *, absolute: bool = False) -> ServerLaunch:
    """How a client starts the server for ``project_root``.

    By default the entry is portable, so a project config committed to the
    repository works for everyone who installed stratum-mcp: the command is
    ``stratum-mcp``, found on PATH, and the project root is the client's
    (``root_args``, or the directory the client starts the server in).
    ``absolute`` names this installation's executable and the project root
    by absolute path instead: for an environment that is not on PATH, at the
    price of an entry that works on this machine only.
    """
    if not absolute:
        return ServerLaunch(PORTABLE_COMMAND, (*root_args, "serve"))
    command, *prefix = stratum_command()
    return ServerLaunch(command, (*prefix, "--project-root", str(project_root), "serve"))


def same_installation(command: str, installation: tuple[str, ...]) -> bool:
    """Whether the executable ``command`` (an absolute path) is the installation ``installation`` runs.

    Compared as real paths, so a project reached through a symlinked directory,
    or a console script that pipx links onto PATH, is still recognised. For
    ``python -m stratum_mcp`` only the directories are resolved: a virtual
    environment's python is a link to the base interpreter, which every other
    environment shares.
    """
    if len(installation) > 1:  # the interpreter form
        def place(p: str) -> str:
            return os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))
        return place(command) == place(installation[0])
    return os.path.realpath(command) == os.path.realpath(installation[0])


def shown(path: Path | str) -> str:
    """``path`` with ``~`` for the home directory, for messages."""
    try:
        return "~/" + str(Path(path).relative_to(Path.home()))
    except ValueError:
        return str(path)
