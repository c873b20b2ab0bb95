"""A server entry as its client would run it here: variables expanded, the command found, the installation named.

Claude Code expands ``${VAR}`` and ``${VAR:-default}`` from its environment in
an entry's command, arguments and environment (an unset variable without a
default stays as written, and the server then fails to start); Cursor expands
``${workspaceFolder}`` to the project. Doctor expands them the same way before
it looks for the command and starts it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stratum_mcp.setup._clients import Client, ServerEntry
from stratum_mcp.setup._paths import PORTABLE_COMMAND, same_installation, stratum_command

__all__ = ["Launch", "resolve_entry"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Launch:
    """What the client would run: the expanded entry, where its command resolves, and what kind of entry it is."""

    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str | None
    #: ``portable`` (a bare ``stratum-mcp``), ``absolute`` (a path), or ``other`` (some other command on PATH).
    form: Literal["portable", "absolute", "other"]
    #: The executable the command resolves to here, or ``None`` when it does not.
    executable: str | None
    #: Variables the entry uses that are not set (and have no default): the client leaves them as written.
    unset: tuple[str, ...] = ()

    @property
    def this_installation(self) -> bool:
        """Whether the executable is the stratum-mcp that is running doctor."""
        return self.executable is not None and same_installation(self.executable, stratum_command())

    @property
    def project_root(self) -> str | None:
        """The ``--project-root`` the entry passes, if any."""
        args = list(self.args)
        if "--project-root" in args[:-1]:
            return args[args.index("--project-root") + 1]
        return None


def resolve_entry(client: Client, entry: ServerEntry, root: Path,
                  environ: Mapping[str, str] | None = None) -> Launch:
    """``entry`` of ``client``'s config in project ``root``, expanded and resolved as the client would."""
    environ = os.environ if environ is None else environ
    unset: list[str] = []

    def expand(text: str) -> str:
        if client.expands == "workspace":
            return text.replace("${workspaceFolder}", str(root))
        if client.expands != "env":
            return text

        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            unset.append(name)
            return match.group(0)

        return _VARIABLE.sub(one, text)

    command = expand(entry.command)
    args = tuple(expand(a) for a in entry.args)
    env = tuple((k, expand(v)) for k, v in entry.env)
    cwd = entry.cwd
    if os.path.isabs(command) or os.sep in command or "/" in command:
        form: Literal["portable", "absolute", "other"] = "absolute" if os.path.isabs(command) else "other"
        full = command if os.path.isabs(command) else os.path.join(cwd or root, command)
        executable = full if os.path.isfile(full) and os.access(full, os.X_OK) else None
    else:
        form = "portable" if command == PORTABLE_COMMAND else "other"
        path = dict(env).get("PATH", environ.get("PATH"))
        executable = shutil.which(command, path=path)
    return Launch(command, args, env, cwd, form, executable, tuple(dict.fromkeys(unset)))
