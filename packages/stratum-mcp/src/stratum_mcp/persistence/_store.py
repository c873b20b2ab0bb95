"""What every flow store promises, as a protocol, and the stored form of a run.

Each run is stored with a ``version``. Updates are compare-and-swap on that
version, so two servers (or two threads) reporting the same step at once
cannot both win: the loser re-reads and is judged against the new state, and
no attempt is lost or counted twice. Every write is durable before the call
returns, so a tool answers only about state that survives a crash.

History is bounded by one rule for every store (:mod:`._retention`): past
``finished_runs_kept`` finished runs (and ten times fewer abandoned running
ones), the oldest are pruned when a new run is created, with the specs only
they used.
A run whose serialised state would exceed ``run_state_bytes`` is refused with
:class:`~stratum_mcp.errors.ArgumentTooLarge` and nothing is written.

Each run may be tagged with the project root it ran in, so ``stratum-mcp learn``
can draw conclusions for one project out of a store that several share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from stratum_mcp.engine import FlowRun

__all__ = ["FlowStore", "StoredRun"]


@dataclass(frozen=True)
class StoredRun:
    """A run as stored, with the version to compare against when updating it."""

    run: FlowRun
    version: int


class FlowStore(Protocol):
    """Where runs and the specs they were planned from are kept."""

    def create(self, run: FlowRun, spec_text: str, *, project: str | None = None) -> None:
        """Store a new run (version 1) and its spec text, tagged with the project root it runs in."""
        ...

    def load(self, flow_id: str) -> StoredRun | None: ...

    def update(self, run: FlowRun, expected_version: int) -> bool:
        """Replace the run if it is still at ``expected_version``; False if someone else won."""
        ...

    def spec_text(self, digest: str) -> str | None: ...

    def recent(self, limit: int, *, project: str | None = None, status: str | None = None) -> list[FlowRun]:
        """The most recently updated runs, newest first; only ``project``'s runs, or those in ``status``, if given."""
        ...

    def close(self) -> None:
        """Release what the store holds (a connection, a file); the store is not used afterwards."""
        ...
