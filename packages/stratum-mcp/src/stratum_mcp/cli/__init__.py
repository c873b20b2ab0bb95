"""The ``stratum-mcp`` command line: ``main`` is the console script's entry point.

::

    stratum-mcp                      # serve MCP over stdio (what MCP clients launch)
    stratum-mcp validate flow.stratum.yaml
    stratum-mcp setup                # configure this project for Claude Code (--client codex|cursor)

``main(["validate", "flow.stratum.yaml"])`` runs a command in process and
returns its exit status.
"""

from stratum_mcp.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
