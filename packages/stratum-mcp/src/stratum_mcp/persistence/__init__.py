"""Where runs live: the :class:`FlowStore` protocol, an SQLite store and an in-memory one.

::

    service = FlowService(SqliteStore(Path.home() / ".stratum" / "flows.db"))

Both stores keep the same promises (see :mod:`._store`): compare-and-swap
updates, bounded history, runs tagged with their project.
"""

from stratum_mcp.persistence._memory import MemoryStore
from stratum_mcp.persistence._sqlite import SqliteStore
from stratum_mcp.persistence._store import FlowStore, StoredRun

__all__ = ["FlowStore", "MemoryStore", "SqliteStore", "StoredRun"]
