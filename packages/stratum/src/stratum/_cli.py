"""The ``stratum`` command: one entry point, one subcommand per feature.

``stratum <command> [arguments]`` (or ``python -m stratum ...``). Each
command lives with its feature and is imported only when it runs, so
``stratum check`` never loads what another command needs. A new command is
one entry in ``COMMANDS``: its one-line summary and a function that takes
the remaining arguments and returns the exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

__all__ = ["COMMANDS", "main"]


def _check(argv: Sequence[str]) -> int:
    from .checks._command import main as run

    return run(argv, prog="stratum check")


#: name -> (summary, run(arguments) -> exit status)
COMMANDS: dict[str, tuple[str, Callable[[Sequence[str]], int]]] = {
    "check": ("report mistakes in @contract/@infer/@flow/@refine declarations (no model is called)", _check),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(_usage(), file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from ._version import __version__

        print(f"stratum {__version__}")
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"stratum: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return command[1](args[1:])


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    listed = "\n".join(f"  {name.ljust(width)}  {summary}" for name, (summary, _) in sorted(COMMANDS.items()))
    return (
        f"usage: stratum <command> [arguments]\n\ncommands:\n{listed}\n\n"
        "'stratum <command> --help' shows a command's arguments."
    )
