"""``stratum-mcp schema``: print the JSON Schema of the spec format, for editors."""

from __future__ import annotations

import argparse

NAME = "schema"
HELP = "print the JSON Schema of .stratum.yaml files (for editor completion and checks)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    from stratum_mcp.cli._commands._output import print_json
    from stratum_mcp.spec import spec_schema

    print_json(spec_schema())
    return 0
