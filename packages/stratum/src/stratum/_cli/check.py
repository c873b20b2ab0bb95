"""``stratum check TARGET...``: report the mistakes in a program's declarations (``stratum.checks``)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="report mistakes in @contract/@infer/@flow/@refine declarations (no model is called)",
        description="Import modules and report mistakes in their @contract, @infer, @flow and @refine "
        "declarations (docs/checks.md). No model is called. Exit codes: 0 no error (warnings alone do "
        "not fail), 1 at least one error, 2 a target that does not exist.",
    )
    check.add_argument("targets", nargs="+", metavar="TARGET", help="a .py file, a directory, or a module name")
    # It reads code, not the durable database: no backend is configured for it.
    check.set_defaults(run=_run, durable=False)


def _run(args: argparse.Namespace) -> int:
    from ..checks._command import report  # deferred: the checks load only when this command runs

    return report(args.targets)
