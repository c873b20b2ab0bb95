"""``stratum worker --queue NAME [--import module[:attr] ...] [--concurrency N] [--grace S]``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from ..durable._worker import work
from . import _output

__all__ = ["register"]


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run the tasks of bulk jobs (stratum.durable.map) until SIGTERM",
        description="Take tasks from the named queues and run them until SIGTERM or SIGINT; then finish or hand "
        "back the tasks in flight and exit. Any number of workers, on any number of machines, may share a "
        "PostgreSQL database.",
    )  # fmt: skip
    worker.add_argument("--queue", action="append", required=True, metavar="NAME", help="a queue to take tasks "
                        "from (repeat for several)")  # fmt: skip
    worker.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE[:ATTR]",
                        help="import the module defining the jobs' functions, queues and configure() call "
                        "(repeat for several); ATTR, if given, must exist there")  # fmt: skip
    worker.add_argument("--concurrency", type=int, metavar="N", help="tasks run at once in this process (default: "
                        "the queue's worker_concurrency, else unbounded)")  # fmt: skip
    worker.add_argument("--grace", type=float, default=20.0, metavar="SECONDS", help="on SIGTERM, how long tasks "
                        "in flight may take to finish before they are handed back (default 20)")  # fmt: skip
    worker.set_defaults(run=_work)


def _import_all(specs: list[str]) -> str | None:
    """Import each ``module[:attr]``; the first problem as a message, or None."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: the project's own modules are importable
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            return f"--import {spec}: {exc}"
        for part in attr.split(".") if attr else ():
            target = getattr(target, part, None)
            if target is None:
                return f"--import {spec}: {module_name} has no {attr}"
    return None


async def _work(args: argparse.Namespace) -> int:
    if args.concurrency is not None and args.concurrency < 1:
        _output.error("--concurrency must be >= 1")
        return _output.EXIT_USAGE
    backend = args.cli_backend
    problem = _import_all(args.imports)
    if problem is not None:
        _output.error(problem)
        return _output.EXIT_USAGE
    from .._core.config import configure, get_config

    if args.db or args.app or get_config().durable is None:
        configure(durable=backend)  # the command line wins over what an imported module configured

    def ready(executor_id: str) -> None:
        shown = ", ".join(args.queue)
        print(f"stratum worker {executor_id}: taking tasks from {shown}", flush=True)

    await work(*args.queue, concurrency=args.concurrency, grace_s=args.grace, on_ready=ready)
    print("stratum worker: stopped", flush=True)
    return _output.EXIT_OK
