"""``stratum-mcp schema``: the JSON Schema of the spec format, or of a document the command line prints."""

from __future__ import annotations

import argparse

NAME = "schema"
HELP = "print the JSON Schema of the spec format (for editors), or of a command's JSON output"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from stratum_mcp.cli._commands._documents import OUTPUT_SCHEMAS

    parser.add_argument("--version", choices=["0.1", "0.2"], default="0.2", help="the spec version (default 0.2)")
    parser.add_argument("--output", choices=OUTPUT_SCHEMAS, metavar="NAME",
                        help=f"a command's output instead: {', '.join(OUTPUT_SCHEMAS)}")


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._documents import output_schema
    from stratum_mcp.cli._commands._output import print_json
    from stratum_mcp.spec import spec_schema

    print_json(output_schema(args.output) if args.output else spec_schema(args.version))
    return 0
