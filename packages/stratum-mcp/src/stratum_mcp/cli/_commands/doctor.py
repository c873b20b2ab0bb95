"""``stratum-mcp doctor``: will each client load this project's stratum server, and does the server answer?"""

from __future__ import annotations

import argparse

from stratum_mcp.cli._commands._plans import CLIENT_NAMES, add_project_argument

NAME = "doctor"
HELP = ("check that each client will load this project's stratum server: its entry, that it starts and lists its "
        "tools, and the client's approval or trust")

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_argument(parser)
    parser.add_argument("--client", action="append", choices=CLIENT_NAMES, dest="clients",
                        help="check this client; repeat for several (default: every configured client)")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                        help="how long the server may take to answer (default 20)")
    parser.add_argument("--live", action="store_true",
                        help="also ask the clients' own command lines (`claude mcp get stratum`, "
                             "`codex mcp get stratum`) where they are on PATH")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._output import fail
    from stratum_mcp.errors import SetupError
    from stratum_mcp.setup import diagnose, find_project_root

    try:
        root = find_project_root(override=args.project)
    except SetupError as exc:
        return fail(str(exc))
    clients = tuple(dict.fromkeys(args.clients)) if args.clients else None
    diagnosis = diagnose(root, clients, timeout=args.timeout, live=args.live)
    for check in diagnosis.checks:
        print(f"[{_MARK[check.status]}] {check.subject}: {check.detail}")
        if check.fix and check.status != "ok":
            print(f"       fix: {check.fix}")
    for verdict in diagnosis.verdicts:
        print(verdict.line())
    failed = sum(1 for c in diagnosis.checks if c.status == "fail")
    warned = sum(1 for c in diagnosis.checks if c.status == "warn")
    loading = [v.client for v in diagnosis.verdicts if v.loads is not False]
    if diagnosis.verdicts and not loading:
        print(f"not ready: no client would load the stratum server ({failed} problem(s), {warned} warning(s))")
    elif failed or warned:
        print(f"{failed} problem(s), {warned} warning(s)")
    else:
        print("healthy")
    return 1 if diagnosis.failed else 0
