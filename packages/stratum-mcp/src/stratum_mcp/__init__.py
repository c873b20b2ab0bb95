"""stratum-mcp: an MCP server that executes typed ``.stratum.yaml`` flows step by step.

The server makes no LLM calls of its own. An agent asks for a plan
(``stratum_plan``), does each step with its own tools, and reports each result
(``stratum_step_done``); the server checks it against the step's output
contract and ensure expressions, hands out retries, persists every change, and
keeps an audit trail (``stratum_audit``).

Importing this package is cheap: the MCP SDK is only imported when serving.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
