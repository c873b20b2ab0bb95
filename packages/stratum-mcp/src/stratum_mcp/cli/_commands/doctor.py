"""``stratum-mcp doctor``: check the project's configuration and that the configured server answers."""

from __future__ import annotations

import argparse

from stratum_mcp.cli._commands._plans import CLIENT_NAMES, add_project_argument

NAME = "doctor"
HELP = "check this project's stratum configuration; start the configured server and list its tools"

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_argument(parser)
    parser.add_argument("--client", action="append", choices=CLIENT_NAMES, dest="clients",
                        help="check this client; repeat for several (default: every configured client)")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                        help="how long the server may take to answer (default 20)")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._output import fail
    from stratum_mcp.errors import SetupError
    from stratum_mcp.setup import diagnose, find_project_root

    try:
        root = find_project_root(override=args.project)
    except SetupError as exc:
        return fail(str(exc))
    checks = diagnose(root, tuple(dict.fromkeys(args.clients)) if args.clients else None, timeout=args.timeout)
    for check in checks:
        print(f"[{_MARK[check.status]}] {check.subject}: {check.detail}")
        if check.fix and check.status != "ok":
            print(f"       fix: {check.fix}")
    failed = sum(1 for c in checks if c.status == "fail")
    warned = sum(1 for c in checks if c.status == "warn")
    print("healthy" if not failed and not warned else f"{failed} problem(s), {warned} warning(s)")
    return 1 if failed else 0
