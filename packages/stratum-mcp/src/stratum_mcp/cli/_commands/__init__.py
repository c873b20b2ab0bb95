"""Subcommands of ``stratum-mcp``, one module each (see :mod:`stratum_mcp.cli._main`)."""
