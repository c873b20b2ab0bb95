"""stratum-mcp: an MCP server that executes typed ``.stratum.yaml`` flows step by step.

The server makes no LLM calls of its own. An agent asks for a plan
(``stratum_plan``), does each step with its own tools, and reports each result
(``stratum_step_done``); the server checks it against the step's output
contract and ensure expressions, hands out retries, persists every change, and
keeps an audit trail (``stratum_audit``).

The same operations, in process::

    from stratum_mcp import FlowService, SqliteStore

    service = FlowService(SqliteStore(path), project_root=Path.cwd())
    first = service.plan(spec_text, "review", {"text": "..."})
    outcome = service.step_done(first.flow_id, first.step.id, {"label": "positive", "confidence": 0.9})

The layers are subpackages, each with its own face: :mod:`.spec` (YAML to a
typed spec), :mod:`.expressions` (the ensure language), :mod:`.engine` (the
pure state machine), :mod:`.persistence` (stores), :mod:`.tools` (the MCP
server), :mod:`.cli`, :mod:`.setup` and :mod:`.learn`; :mod:`.errors` draws
the error tree.

Importing this package is cheap: every name loads on first use, and the MCP
SDK only when serving.
"""

import typing as _typing

from stratum_mcp._version import __version__

if _typing.TYPE_CHECKING:
    from stratum_mcp import cli, engine, errors, expressions, learn, persistence, setup, spec, tools
    from stratum_mcp._config import ServerConfig, resolve_config
    from stratum_mcp._limits import DEFAULT_LIMITS, Limits
    from stratum_mcp._pricing import PriceTable
    from stratum_mcp._service import FlowService
    from stratum_mcp.persistence import FlowStore, MemoryStore, SqliteStore, StoredRun

__all__ = [
    "DEFAULT_LIMITS",
    "FlowService",
    "FlowStore",
    "Limits",
    "MemoryStore",
    "PriceTable",
    "ServerConfig",
    "SqliteStore",
    "StoredRun",
    "__version__",
    "cli",
    "engine",
    "errors",
    "expressions",
    "learn",
    "persistence",
    "resolve_config",
    "setup",
    "spec",
    "tools",
]

_SUBPACKAGES = frozenset({"cli", "engine", "errors", "expressions", "learn", "persistence", "setup", "spec", "tools"})
_LAZY = {
    "DEFAULT_LIMITS": "stratum_mcp._limits",
    "Limits": "stratum_mcp._limits",
    "ServerConfig": "stratum_mcp._config",
    "resolve_config": "stratum_mcp._config",
    "FlowService": "stratum_mcp._service",
    "PriceTable": "stratum_mcp._pricing",
    "FlowStore": "stratum_mcp.persistence",
    "MemoryStore": "stratum_mcp.persistence",
    "SqliteStore": "stratum_mcp.persistence",
    "StoredRun": "stratum_mcp.persistence",
}


def __getattr__(name: str) -> object:
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")  # importing sets it as an attribute
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the exports, loaded or not; everything else here is private
