"""``stratum-mcp validate FILE``: check a spec file and list every issue."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "validate"
HELP = "validate a .stratum.yaml file; exit 0 if valid, 1 if not"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the spec file ('-' for standard input)")
    parser.add_argument("--json", action="store_true", help="print {valid, errors} as JSON")


def run(args: argparse.Namespace) -> int:
    import sys

    from stratum_mcp.cli._commands._output import fail, print_json
    from stratum_mcp.spec import validate_spec
    from stratum_mcp.tools import validate_payload

    try:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"cannot read {args.file}: {exc}", 2)
    issues = validate_spec(text)
    if args.json:
        print_json(validate_payload(issues))
    elif not issues:
        print(f"{args.file}: valid")
    else:
        print(f"{args.file}: {len(issues)} error(s)")
        for issue in issues:
            hint = f" ({issue.suggestion})" if issue.suggestion else ""
            print(f"  {issue.path}: {issue.message}{hint} [{issue.code}]")
    return 0 if not issues else 1
