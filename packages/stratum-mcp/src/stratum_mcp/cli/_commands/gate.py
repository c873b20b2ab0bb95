"""``stratum-mcp gate approve|revise|kill FLOW_ID STEP_ID``: decide a gate from outside the agent's session.

The decision goes through the same compare-and-swap on the same store as the
running server's own calls, so exactly one decision wins: a gate already
decided (by the agent, another terminal, or its timeout) exits 2 and changes
nothing. The server sees the decision on its next call (``stratum_resume``).
``gate sweep`` kills every gate whose timeout has passed.

Exit status: 0 decided, 1 error, 2 already resolved. JSON on stdout either
way (``gate-resolution.v1``, ``gate-sweep.v1`` or ``cli-error.v1``).
"""

from __future__ import annotations

import argparse

NAME = "gate"
HELP = "approve, revise or kill a waiting gate (exit 0 done, 1 error, 2 already resolved); sweep expired gates"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, help_text in (("approve", "let the flow go on"),
                            ("revise", "send the flow back to the gate's on_revise step, with --note as feedback"),
                            ("kill", "stop the flow (or go to the gate's on_kill step)")):
        sub = verbs.add_parser(verb, help=help_text)
        sub.add_argument("flow_id", help="the flow id")
        sub.add_argument("step_id", help="the gate's step id (as `stratum-mcp query gates` shows it)")
        sub.add_argument("--note", default="", help="why: the rationale recorded with the decision")
        sub.add_argument("--resolved-by", choices=["human", "agent", "system"], default="human",
                         help="who decided (default human)")
    verbs.add_parser("sweep", help="kill every gate whose timeout has passed (gate-sweep.v1)")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._documents import error_document, resolution_document, sweep_document
    from stratum_mcp.cli._commands._output import fail, open_service, print_json
    from stratum_mcp.errors import GateAlreadyResolved, RunFailed, StratumMcpError

    try:
        with open_service(args) as service:
            if args.verb == "sweep":
                print_json(sweep_document(service.check_timeouts()))
                return 0
            try:
                then = service.resolve_gate(args.flow_id, args.step_id, args.verb, args.note, args.resolved_by)
            except RunFailed:
                then = service.resume(args.flow_id)  # decided; the run failed right after (its next step)
            document = resolution_document(service.run(args.flow_id).flow_id, args.step_id, args.verb, args.note,
                                           args.resolved_by, then)
    except GateAlreadyResolved as exc:
        print_json(error_document(exc, 2))
        return fail(str(exc), 2)
    except StratumMcpError as exc:
        print_json(error_document(exc, 1))
        return fail(str(exc))
    print_json(document)
    return 0
