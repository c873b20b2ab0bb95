"""What ``stratum check`` prints (the command's arguments are parsed in ``stratum._cli.check``).

One line per finding, ``file:line: error|warning: message [rule]``, then a
summary. Exit status: 0 when there is no error (warnings alone do not fail),
1 when there is at least one, 2 when a target does not exist.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .._core.analysis.findings import Finding
from ._collect import TargetNotFound, check

__all__ = ["report"]


def report(targets: Sequence[str], prog: str = "stratum check") -> int:
    """Check ``targets``, print what was found, and return the exit status."""
    try:
        found = check(*targets)
    except TargetNotFound as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    for finding in found.findings:
        print(_line(finding))
    errors, warnings = len(found.errors), len(found.warnings)
    checked = f"{len(found.files)} file{'s' if len(found.files) != 1 else ''}"
    if not found.findings:
        print(f"No mistakes found in {checked}.")
    else:
        with_findings = len({f.filename for f in found.findings})
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
