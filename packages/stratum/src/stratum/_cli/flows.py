"""``stratum flows list | show | cancel``."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from ..durable._flows import attach, cancel, list_flows, steps
from . import _output

__all__ = ["register"]


def register(commands: Any) -> None:
    group = commands.add_parser("flows", help="durable flow runs")
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="runs, newest first")
    listing.add_argument("--status", help="pending, enqueued, success, error, cancelled, ...")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="JSON for scripts")
    listing.set_defaults(run=_list)

    show = actions.add_parser("show", help="one run and its recorded steps")
    show.add_argument("flow_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_show)

    stop = actions.add_parser("cancel", help="cancel a run (its open reviews close as cancelled)")
    stop.add_argument("flow_id")
    stop.set_defaults(run=_cancel)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


async def _list(args: argparse.Namespace) -> int:
    found = await list_flows(status=args.status, limit=args.limit)
    if args.json:
        _output.emit_json([status.to_dict() for status in found])
        return 0
    rows = [(s.flow_id, _output.short(s.name, 40), s.status, _when(s.created_at), _when(s.updated_at)) for s in found]
    _output.table(("FLOW", "NAME", "STATUS", "CREATED", "UPDATED"), rows)
    return 0


async def _show(args: argparse.Namespace) -> int:
    status = await (await attach(args.flow_id)).status()
    recorded = await steps(args.flow_id)
    if args.json:
        _output.emit_json({**status.to_dict(), "steps": [step.to_dict() for step in recorded]})
        return 0
    for key, value in status.to_dict().items():
        print(f"{key + ':':<13}{'-' if value is None else value}")
    rows = [(s.position, s.name, "ok" if s.ok else "error", "" if s.cost_usd is None else f"${s.cost_usd:.6f}",
             _output.short(s.summary, 60)) for s in recorded]  # fmt: skip
    print()
    _output.table(("STEP", "NAME", "OUTCOME", "COST", "DETAIL"), rows)
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    if not await cancel(args.flow_id):
        _output.error(f"flow run {args.flow_id} had already finished")
        return _output.EXIT_NOT_POSSIBLE
    print(f"cancelled {args.flow_id}")
    return 0
