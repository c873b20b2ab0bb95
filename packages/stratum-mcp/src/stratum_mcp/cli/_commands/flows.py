"""``stratum-mcp flows``: list recent runs, newest first."""

from __future__ import annotations

import argparse
import time
from typing import Any

from stratum_mcp.cli._commands._output import table

NAME = "flows"
HELP = "list recent flow runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=20, help="how many runs to list (default 20)")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._output import fail, open_service, print_json
    from stratum_mcp.errors import StratumMcpError

    try:
        with open_service(args) as service:
            runs = service.recent(args.limit)
    except StratumMcpError as exc:
        return fail(str(exc))
    summaries: list[dict[str, Any]] = [
        {
            "flow_id": r.flow_id,
            "flow": r.flow,
            "status": r.status,
            "current_step": r.current_step.step_id if r.current_step is not None and r.status == "running" else None,
            "steps": len(r.steps),
            "created_ms": r.created_ms,
            "updated_ms": r.updated_ms,
        }
        for r in runs
    ]
    if args.json:
        print_json(summaries)
        return 0
    if not summaries:
        print("no flow runs yet")
        return 0
    rows = [
        [s["flow_id"], s["flow"], s["status"], s["current_step"] or "-",
         time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["updated_ms"] / 1000))]
        for s in summaries
    ]
    print(table(["FLOW_ID", "FLOW", "STATUS", "STEP", "UPDATED"], rows))
    return 0
