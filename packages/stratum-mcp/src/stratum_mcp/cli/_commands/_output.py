"""Shared helpers for commands: open the service, print JSON or tables, report errors.

Kept light at import time: the CLI parser loads every command module, also when it
is only about to serve.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stratum_mcp._config import resolve_config

if TYPE_CHECKING:
    from stratum_mcp._service import FlowService

__all__ = ["fail", "open_service", "print_json", "table"]


def open_service(args: argparse.Namespace) -> FlowService:
    """The service on the store the flags name; use it in a ``with`` block so its store is closed."""
    from stratum_mcp._pricing import PriceTable
    from stratum_mcp._service import FlowService
    from stratum_mcp.persistence import SqliteStore

    config = resolve_config(args.db, args.project_root, getattr(args, "prices", None))
    prices = PriceTable.load(config.prices_path)
    return FlowService(SqliteStore(config.db_path, limits=config.limits), project_root=config.project_root,
                       limits=config.limits, prices=prices, worktree_root=config.worktrees_dir)


def print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def fail(message: str, code: int = 1) -> int:
    print(f"stratum-mcp: {message}", file=sys.stderr)
    return code


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)
