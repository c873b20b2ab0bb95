"""``stratum-mcp uninstall``: remove exactly what setup added (server entries, the marked block, the skills)."""

from __future__ import annotations

import argparse

from stratum_mcp.cli._commands._plans import CLIENT_NAMES, add_project_argument

NAME = "uninstall"
HELP = "remove what setup added to this project (and the skills, once no other project uses them)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_argument(parser)
    parser.add_argument("--client", action="append", choices=CLIENT_NAMES, dest="clients",
                        help="remove only this client's configuration; repeat for several (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be removed, and change nothing")
    parser.add_argument("--force", action="store_true", help="also remove skills that were changed by hand")
    parser.add_argument("--purge-approvals", action="store_true",
                        help="also remove Claude Code's approval of the server from .claude/settings.local.json "
                             "(Claude Code wrote it, so it is kept by default)")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._output import fail
    from stratum_mcp.cli._commands._plans import carry_out
    from stratum_mcp.errors import SetupError
    from stratum_mcp.setup import find_project_root, plan_uninstall

    try:
        root = find_project_root(override=args.project)
    except SetupError as exc:
        return fail(str(exc))
    clients = tuple(dict.fromkeys(args.clients)) if args.clients else None
    plan = plan_uninstall(root, clients, force=args.force, purge_approvals=args.purge_approvals)
    stopped = carry_out(
        plan,
        NAME,
        nothing=f"Nothing to remove: stratum is not set up in {root}.",
        would=f"Dry run: uninstall would make these changes in {root}:",
        done=f"Removed stratum from {root}:",
        dry_run=args.dry_run,
    )
    return 0 if stopped is None else stopped
