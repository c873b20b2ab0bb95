"""``python -m stratum_mcp`` is the same as the ``stratum-mcp`` command."""

from stratum_mcp.cli import main

raise SystemExit(main())
