"""An MCP round trip: a scripted agent runs a small flow through the real stratum-mcp server.

The server is launched as a subprocess and driven over stdio by the official
MCP client, exactly as Claude Code would drive it. The "agent" here is a
script: it does each step by returning canned results, and its first answer
to the first step is deliberately not confident enough, so the server rejects
it (ensure_failed) and the agent retries. Exits non-zero if anything is off.

    python examples/mcp_roundtrip.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

SPEC = """\
version: "0.1"
contracts:
  Ticket:
    category: {type: string, enum: [bug, billing, question]}
    confidence: {type: number, min: 0, max: 1}
  Route:
    team: string
  Reply:
    team: string
    body: {type: string, min: 20}
functions:
  classify:
    mode: infer
    intent: Decide what kind of support ticket this is.
    input: {text: string}
    output: Ticket
    ensure: ["result.confidence > 0.8"]
    retries: 2
  route:
    mode: compute
    intent: Pick the team that owns the category.
    input: {category: string}
    output: Route
    ensure: ["result.team in ('engineering', 'finance', 'support')"]
  reply:
    mode: infer
    intent: Draft a short first reply to the customer.
    input: {text: string, team: string}
    output: Reply
    ensure: ["result.team == inputs.team", "'sorry' not in lower(result.body)"]
flows:
  triage:
    input: {text: string}
    output: Reply
    steps:
      - {id: classify, function: classify, inputs: {text: $.input.text}}
      - {id: route, function: route, inputs: {category: $.steps.classify.output.category}}
      - id: reply
        function: reply
        inputs: {text: $.input.text, team: $.steps.route.output.team}
"""

TICKET = "The export button crashes the app since yesterday's update."

# What the scripted agent answers for each step, in order; the first answer is too unsure.
ANSWERS: dict[str, list[dict[str, Any]]] = {
    "classify": [{"category": "bug", "confidence": 0.55}, {"category": "bug", "confidence": 0.93}],
    "route": [{"team": "engineering"}],
    "reply": [{"team": "engineering", "body": "Thanks for the report: engineering is looking at the export crash."}],
}


class RoundTripFailed(Exception):
    pass


def server_parameters(db: Path) -> StdioServerParameters:
    script = Path(sys.executable).parent / "stratum-mcp"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "stratum_mcp"]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env["STRATUM_MCP_DB"] = str(db)  # a throwaway store: the demo leaves ~/.stratum alone
    return StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(db.parent))


def short(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def round_trip(db: Path, errlog: Any) -> None:
    started = time.perf_counter()
    async with stdio_client(server_parameters(db), errlog=errlog) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        print(f"  server up in {time.perf_counter() - started:.2f} s with tools: {', '.join(tools)}")

        async def call(tool: str, **arguments: Any) -> dict[str, Any]:
            result = await session.call_tool(tool, arguments)
            if result.structured_content is None:
                raise RoundTripFailed(f"{tool} answered without structured content")
            payload = dict(result.structured_content)
            if result.is_error:
                raise RoundTripFailed(f"{tool} failed: {payload.get('error')}: {payload.get('message')}")
            return payload

        check = await call("stratum_validate", spec=SPEC)
        if not check["valid"]:
            raise RoundTripFailed(f"spec invalid: {check['errors']}")
        print("  spec is valid")

        step = await call("stratum_plan", spec=SPEC, flow="triage", inputs={"text": TICKET})
        flow_id = step["flow_id"]
        print(f"  planned flow 'triage' ({step['total_steps']} steps), flow id {flow_id}")
        rejections = 0
        while step["status"] == "execute_step":
            step_id = step["step_id"]
            answer = ANSWERS[step_id].pop(0)
            print(f"  step {step['step_number']}/{step['total_steps']} {step_id} ({step['mode']}): "
                  f"{step['intent']} -> {short(answer)}")
            reply = await call("stratum_step_done", flow_id=flow_id, step_id=step_id, result=answer)
            while reply["status"] in ("ensure_failed", "schema_failed", "budget_exceeded"):
                rejections += 1
                for violation in reply["violations"]:
                    what = violation.get("expression") or violation.get("field")
                    print(f"    rejected ({reply['status']}): {what} {violation['message']}, "
                          f"saw {short(violation['actual'])}; {reply['retries_remaining']} retries left")
                answer = ANSWERS[step_id].pop(0)
                print(f"    retrying {step_id} -> {short(answer)}")
                reply = await call("stratum_step_done", flow_id=flow_id, step_id=step_id, result=answer)
            step = reply
        if step["status"] != "complete":
            raise RoundTripFailed(f"unexpected status {step['status']}")
        if rejections != 1:
            raise RoundTripFailed(f"expected exactly one rejected attempt, saw {rejections}")
        print(f"  complete: {short(step['output'])}")

        audit = await call("stratum_audit", flow_id=flow_id)
        trace = ", ".join(f"{s['step_id']} {s['attempts']} attempt(s)" for s in audit["steps"])
        print(f"  audit: {audit['status']}, {audit['total_attempts']} attempts in {audit['duration_ms']} ms ({trace})")
        if [s["attempts"] for s in audit["steps"]] != [2, 1, 1]:
            raise RoundTripFailed(f"unexpected audit: {audit['steps']}")


async def bounded_round_trip(db: Path, errlog: Any) -> None:
    with anyio.fail_after(60):
        await round_trip(db, errlog)


def main() -> int:
    print("MCP round trip: a scripted agent drives stratum-mcp over stdio")
    with tempfile.TemporaryDirectory(prefix="stratum-mcp-demo-") as tmp:
        db = Path(tmp) / "flows.db"
        log_path = Path(tmp) / "server.log"
        try:
            with log_path.open("w") as errlog:
                anyio.run(bounded_round_trip, db, errlog)
        # Anything else propagates with a traceback, which also exits non-zero.
        except (RoundTripFailed, TimeoutError, OSError, ExceptionGroup) as exc:
            print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            log = log_path.read_text(errors="replace")[-2000:]
            if log.strip():
                print(f"server stderr (tail):\n{log}", file=sys.stderr)
            return 1
    print("MCP round trip OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
