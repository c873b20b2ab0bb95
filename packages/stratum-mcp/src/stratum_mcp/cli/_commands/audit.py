"""``stratum-mcp audit FLOW_ID``: the per-step trace of a run, as a table or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from stratum_mcp.cli._commands._output import table

NAME = "audit"
HELP = "show the trace of a flow run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flow_id", help="the flow id returned by stratum_plan")
    parser.add_argument("--json", action="store_true", help="print the audit as JSON")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._output import fail, open_service, print_json
    from stratum_mcp.errors import StratumMcpError
    from stratum_mcp.tools import audit_payload

    try:
        with open_service(args) as service:
            view = audit_payload(service.run(args.flow_id))
    except StratumMcpError as exc:
        return fail(str(exc))
    if args.json:
        print_json(view)
    else:
        print(render(view))
    return 0


def render(view: dict[str, Any]) -> str:
    """The audit as text: a header line, a step table, then each rejected attempt."""
    lines = [
        f"flow {view['flow']}  {view['flow_id']}",
        f"status {view['status']}  {view['duration_ms']} ms  {view['total_attempts']} attempt(s)",
    ]
    if "error" in view:
        lines.append(f"error {view['error']['code']}: {view['error']['message']}")
    lines.append("")
    rows = [[s["step_id"], s["function"], s["status"], s["attempts"], f"{s['duration_ms']} ms"] for s in view["steps"]]
    lines.append(table(["STEP", "FUNCTION", "STATUS", "ATTEMPTS", "DURATION"], rows))
    for step in view["steps"]:
        for attempt in step["attempt_log"]:
            for violation in attempt["violations"]:
                what = violation.get("expression") or violation.get("field") or violation.get("budget")
                actual = json.dumps(violation.get("actual"), ensure_ascii=False)[:120]
                lines.append(
                    f"  {step['step_id']} attempt {attempt['attempt']} {attempt['outcome']}: "
                    f"{what}: {violation['message']} (actual {actual})"
                )
    return "\n".join(lines)
