"""``stratum jobs list | show``: bulk jobs (``stratum.durable.map``), their counts, rate, spend and failures."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import _output

if TYPE_CHECKING:  # the job store imports SQLAlchemy: only `stratum jobs` pays for it
    from ..durable._job_handles import JobProgress

__all__ = ["register"]


def register(commands: Any) -> None:
    group = commands.add_parser("jobs", help="bulk jobs (stratum.durable.map)")
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="jobs, newest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="JSON for scripts")
    listing.set_defaults(run=_list)

    show = actions.add_parser("show", help="one job: counts, rate, spend, ETA, failures by type")
    show.add_argument("job_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_show)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _state(p: JobProgress) -> str:
    if p.finished:
        return "finished"
    return "submitting" if p.submitted < p.total else "running"


async def _list(args: argparse.Namespace) -> int:
    from ..durable._jobs import list_jobs

    found = await list_jobs(limit=args.limit)
    if args.json:
        _output.emit_json([p.to_dict() for p in found])
        return 0
    rows = [
        (p.job_id, _output.short(p.function, 40), p.queue, f"{p.done + p.failed}/{p.total}", p.failed,
         _usd(p.spent_usd), _usd(p.budget_usd), _state(p), _when(p.created_at))
        for p in found
    ]  # fmt: skip
    _output.table(("JOB", "FUNCTION", "QUEUE", "FINISHED", "FAILED", "SPENT", "BUDGET", "STATE", "CREATED"), rows)
    return 0


async def _show(args: argparse.Namespace) -> int:
    from ..durable._jobs import job

    p = await (await job(args.job_id)).progress()
    if args.json:
        _output.emit_json({**p.to_dict(), "state": _state(p)})
        return 0
    rate = "-" if p.rate_per_s is None else f"{p.rate_per_s:.2f} items/s"
    lines = [
        ("job", p.job_id), ("function", p.function), ("queue", p.queue), ("state", _state(p)),
        ("items", f"{p.total} ({p.submitted} enqueued)"), ("done", p.done), ("failed", p.failed),
        ("pending", p.pending), ("rate", rate), ("eta", _duration(p.eta_s)),
        ("spent", _usd(p.spent_usd) + ("" if p.budget_usd is None else f" of {_usd(p.budget_usd)}")),
        ("held", _usd(p.held_usd)), ("created", _when(p.created_at)), ("last done", _when(p.last_finished_at)),
    ]  # fmt: skip
    for key, value in lines:
        print(f"{key + ':':<11}{value}")
    if p.failures:
        print()
        _output.table(("ERROR", "ITEMS"), sorted(p.failures.items(), key=lambda kv: (-kv[1], kv[0])))
    return 0
