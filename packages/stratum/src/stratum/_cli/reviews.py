"""``stratum reviews list | show | resolve | serve``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..durable._reviews import closed, get, pending, resolve
from ..exceptions import StratumUsageError
from ..hitl._review import PendingReview
from . import _output

__all__ = ["register"]


def register(commands: Any) -> None:
    group = commands.add_parser("reviews", help="durable human reviews")
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="open reviews, oldest first")
    listing.add_argument("--flow", metavar="FLOW_ID", help="only this run's reviews")
    listing.add_argument("--closed", action="store_true", help="closed reviews instead, most recently closed first")
    listing.add_argument("--limit", type=int, default=1000)
    listing.add_argument("--json", action="store_true", help="JSON for scripts")
    listing.set_defaults(run=_list)

    show = actions.add_parser("show", help="one review, whatever its state")
    show.add_argument("review_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_show)

    answer = actions.add_parser("resolve", help="decide a review (VALUE: the value itself, or JSON)")
    answer.add_argument("review_id")
    answer.add_argument("value")
    answer.add_argument("--reviewer")
    answer.add_argument("--rationale")
    answer.add_argument("--json", action="store_true")
    answer.set_defaults(run=_resolve)

    web = actions.add_parser("serve", help="the review inbox: a web page to list, read and decide reviews")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)")
    web.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    secret = web.add_mutually_exclusive_group()
    secret.add_argument("--token-file", type=Path, metavar="PATH", help="write the access token here (mode 0600) "
                        "instead of printing it")  # fmt: skip
    secret.add_argument("--no-token", action="store_true", help="no token (loopback only)")
    web.set_defaults(run=_serve)


def _expires(review: PendingReview) -> str:
    return "never" if review.expires_at is None else review.expires_at.isoformat(timespec="seconds")


async def _list(args: argparse.Namespace) -> int:
    if args.closed:
        found = await closed(flow_id=args.flow, limit=args.limit)
    else:
        found = await pending(flow_id=args.flow, limit=args.limit)
    if args.json:
        _output.emit_json([_described(review) if args.closed else review.to_dict() for review in found])
        return 0
    if args.closed:
        closed_rows = [
            (r.review_id, r.flow_id, _output.short(r.context.question, 48), str(r.state),
             "-" if r.decision is None else r.decision.reviewer or "-",
             "-" if r.decision is None else r.decision.decided_at.isoformat(timespec="seconds"))
            for r in found
        ]  # fmt: skip
        _output.table(("REVIEW", "FLOW", "QUESTION", "STATE", "REVIEWER", "DECIDED"), closed_rows)
        return 0
    rows = [
        (r.review_id, r.flow_id, _output.short(r.context.question, 48), _output.short(r.decision_type.name, 24),
         _expires(r))
        for r in found
    ]  # fmt: skip
    _output.table(("REVIEW", "FLOW", "QUESTION", "TYPE", "EXPIRES"), rows)
    return 0


def _described(review: PendingReview) -> dict[str, Any]:
    data = review.to_dict()
    decision = review.decision
    data["decision"] = None if decision is None else decision.to_dict()
    return data


async def _show(args: argparse.Namespace) -> int:
    review = await get(args.review_id)
    data = _described(review)
    if args.json:
        _output.emit_json(data)
        return 0
    for key in ("review_id", "flow_id", "state", "question", "decision_type", "created_at", "expires_at"):
        print(f"{key + ':':<15}{data[key] if data[key] is not None else '-'}")
    if data["options"] is not None:
        print(f"{'options:':<15}{json.dumps(data['options'], ensure_ascii=False)}")
    print(f"{'schema:':<15}{json.dumps(data['decision_schema'], ensure_ascii=False)}")
    for name, value in data["artifacts"].items():
        print(f"{'artifact:':<15}{name} = {_output.short(json.dumps(value, ensure_ascii=False), 400)}")
    if data["decision"] is not None:
        d = data["decision"]
        print(f"{'decision:':<15}{json.dumps(d['value'], ensure_ascii=False)} by {d['reviewer'] or '-'} "
              f"at {d['decided_at']}")  # fmt: skip
    return 0


async def _resolve(args: argparse.Namespace) -> int:
    review = await get(args.review_id)
    value = review.decision_type.parse_text(args.value, review.review_id)  # InvalidDecision: exit 5
    decision = await resolve(review.review_id, value, reviewer=args.reviewer, rationale=args.rationale)
    if args.json:
        _output.emit_json(decision.to_dict())
    else:
        shown = json.dumps(decision.to_dict()["value"], ensure_ascii=False)
        print(f"resolved {decision.review_id}: {shown}")
    return 0


async def _serve(args: argparse.Namespace) -> int:
    try:
        from ..inbox._serve import ServeOptions, serve  # Starlette, uvicorn and Jinja2 load only here
    except ImportError as exc:
        _output.error(f"the review inbox needs the inbox extra: pip install 'stratum-py[inbox]' ({exc})")
        return _output.EXIT_ERROR
    options = ServeOptions(host=args.host, port=args.port, token_file=args.token_file, no_token=args.no_token)
    try:
        return await serve(options)
    except StratumUsageError as exc:
        _output.error(str(exc))
        return _output.EXIT_USAGE
    except OSError as exc:  # the address is taken, or not ours to bind
        _output.error(f"cannot serve on {args.host}:{args.port}: {exc}")
        return _output.EXIT_ERROR
