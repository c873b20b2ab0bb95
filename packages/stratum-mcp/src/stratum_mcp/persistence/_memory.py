"""A store in memory: the same contract as the SQLite store, without persistence."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from types import TracebackType

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp.engine import FlowRun
from stratum_mcp.persistence._codec import decode_run, encode_run
from stratum_mcp.persistence._retention import Retention
from stratum_mcp.persistence._store import StoredRun

__all__ = ["MemoryStore"]


@dataclass(frozen=True)
class _Entry:
    """A stored run: its encoded state (encoded, so a stored run cannot change under its reader) and its keys."""

    state: str
    version: int
    status: str
    updated_ms: int
    spec_digest: str
    project: str | None


class MemoryStore:
    """A :class:`FlowStore` in memory, for tests and for callers who want no persistence.

    History is pruned by the same :class:`~._retention.Retention` rule as
    :class:`~.SqliteStore`'s, so a memory store holds no more than a file would.
    """

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._retention = Retention.of(limits)
        self._lock = threading.Lock()
        self._runs: dict[str, _Entry] = {}
        self._specs: dict[str, str] = {}

    def create(self, run: FlowRun, spec_text: str, *, project: str | None = None) -> None:
        state = encode_run(run, self._limits)
        with self._lock:
            self._specs[run.spec_digest] = spec_text
            self._runs[run.flow_id] = _Entry(state, 1, run.status, run.updated_ms, run.spec_digest, project)
            expired = self._retention.expired((flow_id, e.status, e.updated_ms) for flow_id, e in self._runs.items())
            for flow_id in expired:
                del self._runs[flow_id]
            if expired:
                used = {entry.spec_digest for entry in self._runs.values()}
                self._specs = {digest: text for digest, text in self._specs.items() if digest in used}

    def load(self, flow_id: str) -> StoredRun | None:
        with self._lock:
            entry = self._runs.get(flow_id)
        return None if entry is None else StoredRun(decode_run(entry.state), entry.version)

    def update(self, run: FlowRun, expected_version: int) -> bool:
        state = encode_run(run, self._limits)
        with self._lock:
            entry = self._runs.get(run.flow_id)
            if entry is None or entry.version != expected_version:
                return False
            self._runs[run.flow_id] = replace(entry, state=state, version=expected_version + 1, status=run.status,
                                              updated_ms=run.updated_ms)
            return True

    def spec_text(self, digest: str) -> str | None:
        with self._lock:
            return self._specs.get(digest)

    def recent(self, limit: int, *, project: str | None = None, status: str | None = None) -> list[FlowRun]:
        with self._lock:
            entries = [(flow_id, entry) for flow_id, entry in self._runs.items()
                       if (project is None or entry.project == project) and (status is None or entry.status == status)]
        entries.sort(key=lambda item: (item[1].updated_ms, item[0]), reverse=True)
        return [decode_run(entry.state) for _, entry in entries[: max(0, limit)]]

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release; here so that either store can be closed (or used in ``with``) alike."""
