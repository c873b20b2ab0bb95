"""``stratum-mcp serve``: serve MCP over stdio (also what ``stratum-mcp`` alone does)."""

from __future__ import annotations

import argparse

from stratum_mcp._config import resolve_config

NAME = "serve"
HELP = "serve MCP over stdio (the default when no command is given)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: --db, --project-root and --prices are global."""


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.tools import serve

    return serve(resolve_config(args.db, args.project_root, getattr(args, "prices", None)))
