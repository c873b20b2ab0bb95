"""``stratum-mcp query flows|flow ID|gates``: the store's runs and waiting gates, as JSON, for other programs.

Read only, and safe while servers run on the same store: SQLite in WAL mode
lets readers see the last committed state without blocking writers. Each
document has a versioned shape (see ``stratum-mcp schema --output NAME``).
"""

from __future__ import annotations

import argparse

NAME = "query"
HELP = "print runs or waiting gates as JSON (flows, flow FLOW_ID, gates)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    flows = what.add_parser("flows", help="recent runs, newest first (query-flows.v1)")
    flows.add_argument("--limit", type=int, default=50, help="how many runs (default 50)")
    flows.add_argument("--status", choices=["running", "complete", "failed", "killed", "budget_exceeded"],
                       help="only runs in this status")
    flow = what.add_parser("flow", help="one run: its summary and audit trail (query-flow.v1)")
    flow.add_argument("flow_id", help="the flow id")
    gates = what.add_parser("gates", help="gates waiting for a decision (query-gates.v1)")
    gates.add_argument("--limit", type=int, default=1000, help="how many running runs to look at (default 1000)")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._documents import error_document, flow_document, flows_document, gates_document
    from stratum_mcp.cli._commands._output import fail, open_service, print_json
    from stratum_mcp.errors import StratumMcpError

    try:
        with open_service(args) as service:
            if args.what == "flows":
                runs = service.recent(args.limit, status=args.status)
                document = flows_document([(r, service.spec_of(r)) for r in runs])
            elif args.what == "flow":
                found = service.run(args.flow_id)
                document = flow_document(found, service.spec_of(found))
            else:
                document = gates_document(service.pending_gates(args.limit))
    except StratumMcpError as exc:
        print_json(error_document(exc, 1))
        return fail(str(exc))
    print_json(document)
    return 0
