"""A store in memory: the same contract as the SQLite store, without persistence."""

from __future__ import annotations

import threading

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp.engine import FlowRun
from stratum_mcp.persistence._codec import decode_run, encode_run
from stratum_mcp.persistence._store import StoredRun

__all__ = ["MemoryStore"]


class MemoryStore:
    """A :class:`FlowStore` in memory, for tests and for callers who want no persistence."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[str, int, int]] = {}  # flow_id -> (state, version, updated_ms)
        self._projects: dict[str, str | None] = {}
        self._specs: dict[str, str] = {}

    def create(self, run: FlowRun, spec_text: str, *, project: str | None = None) -> None:
        state = encode_run(run, self._limits)
        with self._lock:
            self._specs[run.spec_digest] = spec_text
            self._runs[run.flow_id] = (state, 1, run.updated_ms)
            self._projects[run.flow_id] = project
            while len(self._runs) > self._limits.finished_runs_kept:
                oldest = min(self._runs, key=lambda k: self._runs[k][2])
                del self._runs[oldest], self._projects[oldest]

    def load(self, flow_id: str) -> StoredRun | None:
        with self._lock:
            entry = self._runs.get(flow_id)
        return None if entry is None else StoredRun(decode_run(entry[0]), entry[1])

    def update(self, run: FlowRun, expected_version: int) -> bool:
        state = encode_run(run, self._limits)
        with self._lock:
            entry = self._runs.get(run.flow_id)
            if entry is None or entry[1] != expected_version:
                return False
            self._runs[run.flow_id] = (state, expected_version + 1, run.updated_ms)
            return True

    def spec_text(self, digest: str) -> str | None:
        return self._specs.get(digest)

    def recent(self, limit: int, *, project: str | None = None) -> list[FlowRun]:
        with self._lock:
            runs = [decode_run(state) for flow_id, (state, _, _) in self._runs.items()
                    if project is None or self._projects[flow_id] == project]
        return sorted(runs, key=lambda r: r.updated_ms, reverse=True)[:limit]

    def close(self) -> None:
        pass
