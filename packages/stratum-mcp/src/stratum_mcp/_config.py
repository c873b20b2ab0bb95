"""Where the server keeps state and which directory ensure helpers may read.

Resolution order for the store: the ``--db`` flag, then ``STRATUM_MCP_DB``,
then ``~/.stratum/flows.db``. The project root (for ``file_exists`` and
``file_contains``): ``--project-root``, then ``STRATUM_MCP_PROJECT_ROOT``, then
the working directory the client started the server in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stratum_mcp._limits import DEFAULT_LIMITS, Limits

__all__ = ["ENV_DB", "ENV_PROJECT_ROOT", "ServerConfig", "resolve_config", "stratum_home"]

ENV_DB = "STRATUM_MCP_DB"
ENV_PROJECT_ROOT = "STRATUM_MCP_PROJECT_ROOT"


def stratum_home() -> Path:
    """Where stratum-mcp keeps its own state (the default flow store, the setup manifest): ``~/.stratum``.

    Run state can hold code and secrets, so this directory is kept private
    (0700) by whichever command creates or next opens it.
    """
    return Path.home() / ".stratum"


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs to know before it answers its first call."""

    db_path: Path
    project_root: Path
    limits: Limits = field(default=DEFAULT_LIMITS)


def resolve_config(db: str | None = None, project_root: str | None = None) -> ServerConfig:
    """Build a :class:`ServerConfig` from flags, then the environment, then defaults."""
    db_path = db or os.environ.get(ENV_DB) or str(stratum_home() / "flows.db")
    root = project_root or os.environ.get(ENV_PROJECT_ROOT) or os.getcwd()
    return ServerConfig(db_path=Path(db_path).expanduser(), project_root=Path(root).expanduser())
