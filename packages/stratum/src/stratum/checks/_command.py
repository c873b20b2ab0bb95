"""``stratum check TARGET...``: report the mistakes in a program's declarations, without calling a model.

Prints one line per finding, ``file:line: error|warning: message [rule]``,
then a summary. Exit status: 0 when there is no error (warnings alone do not
fail), 1 when there is at least one, 2 when a target does not exist.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .._core.analysis.findings import Finding
from ._collect import TargetNotFound, check

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, prog: str = "stratum check") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Import modules and report mistakes in their @contract, @infer, @flow and @refine "
        "declarations (docs/checks.md). No model is called.",
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="a .py file, a directory, or a module name")
    args = parser.parse_args(argv)
    try:
        report = check(*args.targets)
    except TargetNotFound as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    for finding in report.findings:
        print(_line(finding))
    errors, warnings = len(report.errors), len(report.warnings)
    files = len(report.files)
    checked = f"{files} file{'s' if files != 1 else ''}"
    if not report.findings:
        print(f"No mistakes found in {checked}.")
    else:
        with_findings = len({f.filename for f in report.findings})
        print(
            f"Found {errors} error{'s' if errors != 1 else ''} and {warnings} warning{'s' if warnings != 1 else ''} "
            f"in {with_findings} of {checked}."
        )
    return 1 if errors else 0


def _line(finding: Finding) -> str:
    where = f"{_shown_path(finding.filename)}:{finding.lineno or 0}"
    return f"{where}: {finding.severity}: {finding.message} [{finding.rule}]"


def _shown_path(filename: str | None) -> str:
    if filename is None:
        return "<unknown>"
    path = Path(filename)
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else filename
    except ValueError:
        return filename
