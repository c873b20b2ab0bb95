"""``stratum-mcp setup``: configure a project for Claude Code (or Codex, Cursor) in one command."""

from __future__ import annotations

import argparse

from stratum_mcp.cli._commands._plans import CLIENT_NAMES, add_project_argument

NAME = "setup"
HELP = "configure this project for Claude Code (or --client codex/cursor): server entry, instructions, skills"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_argument(parser)
    parser.add_argument("--client", action="append", choices=CLIENT_NAMES, dest="clients",
                        help="which client to configure; repeat for several (default: claude)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written, and write nothing")
    parser.add_argument("--force", action="store_true", help="also replace skills that were changed by hand")
    parser.add_argument("--absolute", action="store_true",
                        help="name this installation's executable and the project by absolute path in the entries, "
                             "for an environment that is not on PATH (the entries then work on this machine only)")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._output import fail
    from stratum_mcp.cli._commands._plans import carry_out
    from stratum_mcp.errors import SetupError
    from stratum_mcp.setup import CLIENTS, activation, find_project_root, plan_setup

    clients = tuple(dict.fromkeys(args.clients or ["claude"]))
    try:
        root = find_project_root(override=args.project)
    except SetupError as exc:
        return fail(str(exc))
    plan = plan_setup(root, clients, force=args.force, absolute=args.absolute)
    names = ", ".join(clients)
    stopped = carry_out(
        plan,
        NAME,
        nothing=f"Nothing to change: {root} is already set up for {names}.",
        would=f"Dry run: setup would make these changes for {names} in {root}:",
        done=f"Set up {root} for {names}:",
        dry_run=args.dry_run,
    )
    if stopped is not None:
        return stopped
    print("Next:")
    for name in clients:
        client = CLIENTS[name]
        try:
            state = activation(name, root)
        except SetupError:
            state = None
        if state is not None and state.state == "ready":
            print(f"  {client.title}: restart it in the project (it already loads the server: {state.detail});")
        elif state is not None and state.state != "unknown" and state.fix:
            print(f"  {client.title}: {state.fix};")
        else:
            print(f"  {client.title}: {client.activate};")
    print("  then `stratum-mcp doctor` checks that each client will load the server and that it answers.")
    return 0
