"""The ``stratum-mcp`` command: serve MCP over stdio by default, plus tools for people and scripts.

Each subcommand lives in its own module under :mod:`stratum_mcp.cli._commands` and
exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
adding one is adding a module to :data:`COMMANDS`.

::

    stratum-mcp                      # serve over stdio (what MCP clients launch)
    stratum-mcp validate flow.stratum.yaml
    stratum-mcp audit 3f1c...        # --json for machines
    stratum-mcp flows --limit 10
    stratum-mcp query gates          # JSON for other programs: flows, flow FLOW_ID, gates
    stratum-mcp gate approve FLOW_ID STEP_ID --note "looks good"   # exit 0, 1, or 2 if already resolved
    stratum-mcp schema > stratum-spec.schema.json
    stratum-mcp setup                # configure this project for Claude Code (--client codex|cursor)
    stratum-mcp doctor               # check the configuration; start the server and list its tools
    stratum-mcp learn                # turn recurring failures into MEMORY.md conclusions
    stratum-mcp uninstall            # remove exactly what setup added
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from stratum_mcp._config import ENV_DB, ENV_PRICES, ENV_PROJECT_ROOT
from stratum_mcp._version import __version__
from stratum_mcp.cli._commands import (
    audit,
    doctor,
    flows,
    gate,
    learn,
    query,
    schema,
    serve,
    setup,
    uninstall,
    validate,
)

__all__ = ["COMMANDS", "build_parser", "main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (serve, validate, audit, flows, query, gate, schema, setup, uninstall, doctor,
                                    learn)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratum-mcp",
        description="MCP server that executes typed .stratum.yaml flows. With no command, serves MCP over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"stratum-mcp {__version__}")
    parser.add_argument("--db", metavar="PATH", help=f"flow store file (default: ${ENV_DB} or ~/.stratum/flows.db)")
    parser.add_argument(
        "--project-root",
        metavar="DIR",
        help=f"directory file_exists/file_contains may read (default: ${ENV_PROJECT_ROOT} or the working directory)",
    )
    parser.add_argument("--prices", metavar="FILE",
                        help=f"a price table adding to or overriding the bundled one (default: ${ENV_PRICES})")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stratum-mcp`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(serve.run(args) if args.command is None else args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        sys.stderr.close()
        return 0
