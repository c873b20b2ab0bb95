"""The ``stratum-mcp`` command line: ``main`` is the console script's entry point.

::

    stratum-mcp                      # serve MCP over stdio (what MCP clients launch)
    stratum-mcp validate flow.stratum.yaml
    stratum-mcp setup                # configure this project for Claude Code (--client codex|cursor)

``main(["validate", "flow.stratum.yaml"])`` runs a command in process and
returns its exit status. ``query`` and ``gate`` print JSON documents whose
shapes are versioned JSON Schemas: :data:`OUTPUT_SCHEMAS` names them and
:func:`output_schema` returns one (``stratum-mcp schema --output NAME``).
"""

from stratum_mcp.cli._commands._documents import OUTPUT_SCHEMAS, output_schema
from stratum_mcp.cli._main import build_parser, main

__all__ = ["OUTPUT_SCHEMAS", "build_parser", "main", "output_schema"]
