"""Where the server keeps state, which directory ensure helpers may read, and how it prices usage.

Resolution order for the store: the ``--db`` flag, then ``STRATUM_MCP_DB``,
then ``~/.stratum/flows.db``. The project root (for ``file_exists`` and
``file_contains``, and the repository task worktrees are made from):
``--project-root``, then ``STRATUM_MCP_PROJECT_ROOT``, then the working
directory the client started the server in. Task worktrees live in
``worktrees/`` next to the store, so every server on one store agrees on
them. The price table: the bundled one, overridden by ``--prices`` or
``STRATUM_MCP_PRICES``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stratum_mcp._limits import DEFAULT_LIMITS, Limits

__all__ = ["ENV_DB", "ENV_PRICES", "ENV_PROJECT_ROOT", "ServerConfig", "resolve_config", "stratum_home"]

ENV_DB = "STRATUM_MCP_DB"
ENV_PROJECT_ROOT = "STRATUM_MCP_PROJECT_ROOT"
ENV_PRICES = "STRATUM_MCP_PRICES"


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
    prices_path: Path | None = None

    @property
    def worktrees_dir(self) -> Path:
        """Where task worktrees go: beside the store, a directory the server owns."""
        return self.db_path.expanduser().absolute().parent / "worktrees"


def resolve_config(db: str | None = None, project_root: str | None = None, prices: str | None = None) -> ServerConfig:
    """Build a :class:`ServerConfig` from flags, then the environment, then defaults."""
    db_path = db or os.environ.get(ENV_DB) or str(stratum_home() / "flows.db")
    root = project_root or os.environ.get(ENV_PROJECT_ROOT) or os.getcwd()
    price_file = prices or os.environ.get(ENV_PRICES)
    return ServerConfig(db_path=Path(db_path).expanduser(), project_root=Path(root).expanduser(),
                        prices_path=Path(price_file).expanduser() if price_file else None)
