"""The MCP face of stratum-mcp: the tools, the stdio transport, and the one mapping to tool results.

::

    status = serve(resolve_config())     # what `stratum-mcp` does: MCP over stdio until the client leaves
    server = build_server(config)        # or the SDK's low-level server with the tools, to run yourself

=================  ==============================================================
module             holds
=================  ==============================================================
``_descriptions``  what the model reads: the instructions and each tool's description
``_catalog``       the tools: parameters and body (one ``Tool`` each)
``_arguments``     parameters as JSON Schema, and the one check of every call
``_results``       outcomes and typed errors as tool results
``_server``        the low-level server and :class:`ToolRunner` (daemon threads)
``_threads``       blocking work the event loop can stop waiting for
``_stdio``         the stdio transport: every request answered, signals, shutdown
=================  ==============================================================

Each tool only has its arguments checked, calls
:class:`~stratum_mcp.FlowService` in a daemon thread (:class:`ToolRunner`),
and maps the answer with the ``*_payload`` functions. Everything here loads on
first use: importing the MCP SDK is most of the server's start-up time, and
the command line reuses the payloads without it.
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from stratum_mcp.tools._results import (
        audit_payload,
        commit_payload,
        error_payload,
        internal_error_payload,
        outcome_payload,
        timeouts_payload,
        validate_payload,
    )
    from stratum_mcp.tools._server import ToolRunner, build_server
    from stratum_mcp.tools._stdio import serve

__all__ = [
    "ToolRunner",
    "audit_payload",
    "build_server",
    "commit_payload",
    "error_payload",
    "internal_error_payload",
    "outcome_payload",
    "serve",
    "timeouts_payload",
    "validate_payload",
]

_LAZY = {
    "ToolRunner": "stratum_mcp.tools._server",
    "build_server": "stratum_mcp.tools._server",
    "serve": "stratum_mcp.tools._stdio",
    "audit_payload": "stratum_mcp.tools._results",
    "commit_payload": "stratum_mcp.tools._results",
    "timeouts_payload": "stratum_mcp.tools._results",
    "error_payload": "stratum_mcp.tools._results",
    "internal_error_payload": "stratum_mcp.tools._results",
    "outcome_payload": "stratum_mcp.tools._results",
    "validate_payload": "stratum_mcp.tools._results",
}


def __getattr__(name: str) -> object:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the exports, loaded or not; everything else here is private
