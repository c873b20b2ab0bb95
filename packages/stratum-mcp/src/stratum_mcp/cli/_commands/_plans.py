"""Shared by ``setup`` and ``uninstall``: options, and printing a plan, its problems or its result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stratum_mcp._fs import FileChange
    from stratum_mcp.setup import Plan

__all__ = ["add_project_argument", "carry_out", "display", "print_plan", "print_problems"]

CLIENT_NAMES = ("claude", "codex", "cursor")
_PAST = {"create": "created", "update": "updated", "delete": "removed"}


def add_project_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", metavar="DIR",
                        help="the project (default: the nearest parent with .git, else the working directory)")


def display(path: Path, root: Path) -> str:
    """``path`` relative to the project, or with ``~`` for the home directory, for short output lines."""
    for base, prefix in ((root, ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def print_problems(plan: Plan, verb: str) -> int:
    print(f"stratum-mcp {verb}: nothing was changed:", file=sys.stderr)
    for problem in plan.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _line(change: FileChange, root: Path, *, done: bool) -> str:
    action = _PAST[change.action] if done else f"would {change.action}"
    return f"  {action} {display(change.path, root)} ({change.what})"


def print_plan(plan: Plan, changes: list[FileChange] | tuple[FileChange, ...], *, dry_run: bool) -> None:
    """The changes made (or, on a dry run, each one with its diff), then the notes."""
    for change in changes:
        print(_line(change, plan.root, done=not dry_run))
        # A dry run shows what would be written to the project; skill bodies and the manifest are
        # long, the same for everyone, and outside the project.
        if dry_run and plan.root in change.path.parents:
            from stratum_mcp._fs import render_change

            diff = render_change(change).split("\n", 1)
            if len(diff) > 1:
                print("\n".join(f"      {line}" for line in diff[1].splitlines()))
    for note in plan.notes:
        print(f"  note: {note}")


def carry_out(plan: Plan, verb: str, *, nothing: str, would: str, done: str, dry_run: bool) -> int | None:
    """Refuse, report "nothing to do", dry-run, or apply ``plan`` and print what changed.

    Returns the exit code when the command should stop here, None after a
    successful apply (the caller may print more).
    """
    from stratum_mcp.cli._commands._output import fail
    from stratum_mcp.errors import SetupError
    from stratum_mcp.setup import apply_plan

    if plan.problems:
        return print_problems(plan, verb)
    if not plan.pending:
        print(nothing)
        print_plan(plan, [], dry_run=dry_run)
        return 0
    if dry_run:
        print(would)
        print_plan(plan, plan.pending, dry_run=True)
        return 0
    try:
        changed = apply_plan(plan)
    except SetupError as exc:
        return fail(str(exc))
    print(done)
    print_plan(plan, changed, dry_run=False)
    return None
