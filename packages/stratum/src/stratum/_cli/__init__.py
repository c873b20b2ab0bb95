"""The ``stratum`` command: a program's declarations checked; operators' access to durable flows, reviews and
bulk jobs.

::

    stratum check TARGET...                  mistakes in declarations (docs/checks.md)
    stratum reviews list [--json]            open reviews
    stratum reviews show ID [--json]         one review, any state
    stratum reviews resolve ID VALUE [--reviewer NAME] [--rationale TEXT]
    stratum reviews serve [--host H] [--port P] [--token-file PATH | --no-token]
                                             the review inbox (a web page)
    stratum flows list [--status S] [--json] runs, newest first
    stratum flows show FLOW_ID [--json]      one run and its steps
    stratum flows cancel FLOW_ID
    stratum jobs list [--json]               bulk jobs, newest first
    stratum jobs show JOB_ID [--json]        one job: counts, rate, spend, ETA, failures by type
    stratum worker --queue NAME [--import module[:attr]] [--concurrency N]
                                             run the tasks of bulk jobs until SIGTERM

``--db URL`` (or ``$STRATUM_DURABLE_URL``; default ``.stratum/durable.sqlite``)
and ``--app NAME`` pick the database, as ``stratum.durable.dbos()`` would.
Tables for people by default, ``--json`` for scripts. Exit codes: 0 done,
1 unexpected error, 2 bad usage, 3 not found, 4 not possible in its current
state (a review already decided, timed out or cancelled; a run already
finished), 5 a decision value that does not fit the review's type.
``stratum worker`` runs until SIGTERM or SIGINT and then exits 0.
``stratum check`` reads code, not the database: 0 no error, 1 at least one
error, 2 a target that does not exist.

Each command group is a module here with ``register(commands)``; a new group
(``worker``, ``jobs``, ``check``) joins ``GROUPS``, a new command of a group
(``reviews serve``) joins that module; the inbox's web app is ``stratum.inbox``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ..exceptions import FlowNotFound, InvalidDecision, JobNotFound, ReviewNotPending, StratumError
from . import _output, check, flows, jobs, reviews, worker
from ._output import EXIT_ERROR, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_NOT_POSSIBLE, EXIT_USAGE

__all__ = ["main", "run"]

GROUPS = (check, reviews, flows, jobs, worker)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="stratum",
        description="Check a program's Stratum declarations; operate durable flows, reviews and bulk jobs.",
    )
    top.add_argument("--db", metavar="URL", help="durable database (default: $STRATUM_DURABLE_URL or "
                     ".stratum/durable.sqlite)")  # fmt: skip
    top.add_argument("--app", metavar="NAME", help="application name within the database (default: stratum)")
    groups = top.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(groups)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    args = parser().parse_args(argv)
    if not getattr(args, "durable", True):  # a command that needs no durable backend (check)
        return int(args.run(args))
    from .._core.config import configure
    from ..durable._backend import dbos

    try:
        args.cli_backend = dbos(args.db, args.app)
        configure(durable=args.cli_backend)
    except StratumError as exc:
        _output.error(str(exc))
        return EXIT_USAGE
    try:
        return int(asyncio.run(args.run(args)))
    except ReviewNotPending as exc:
        _output.error(str(exc))
        return EXIT_NOT_FOUND if exc.state == "unknown" else EXIT_NOT_POSSIBLE
    except (FlowNotFound, JobNotFound) as exc:
        _output.error(str(exc))
        return EXIT_NOT_FOUND
    except InvalidDecision as exc:
        _output.error(f"{exc}")
        return EXIT_INVALID
    except (StratumError, ValueError) as exc:
        _output.error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
