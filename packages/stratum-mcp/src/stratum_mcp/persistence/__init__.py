"""Where runs live: the :class:`FlowStore` protocol, an SQLite store and an in-memory one.

::

    with FlowService(SqliteStore(Path.home() / ".stratum" / "flows.db")) as service:
        ...                                   # the service closes the store, and the store its connection

Both stores keep the same promises (see :mod:`._store`): compare-and-swap
updates, bounded history by one rule (:mod:`._retention`), runs tagged with
their project.
"""

from stratum_mcp.persistence._memory import MemoryStore
from stratum_mcp.persistence._sqlite import SqliteStore
from stratum_mcp.persistence._store import FlowStore, StoredRun

__all__ = ["FlowStore", "MemoryStore", "SqliteStore", "StoredRun"]
