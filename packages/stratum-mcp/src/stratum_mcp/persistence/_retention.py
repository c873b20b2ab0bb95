"""How much history a store keeps: one rule, applied by every store when a run is created.

Of the runs that have ended (complete or failed), the newest ``finished``
are kept; of the runs still running (mostly abandoned ones), the newest
``running``. Newest means the latest ``updated_ms``, ties broken by the
higher flow id, so every store drops exactly the same runs. A spec no kept
run was planned from is dropped with its last run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stratum_mcp._limits import Limits

__all__ = ["Retention", "RunKey"]

#: What the rule looks at of each stored run: (flow_id, status, updated_ms).
RunKey = tuple[str, str, int]


@dataclass(frozen=True)
class Retention:
    """How many ended and how many running runs a store keeps."""

    finished: int
    running: int

    @classmethod
    def of(cls, limits: Limits) -> Retention:
        """``finished_runs_kept`` ended runs, and a tenth as many running ones (at least one)."""
        return cls(finished=limits.finished_runs_kept, running=max(1, limits.finished_runs_kept // 10))

    def expired(self, runs: Iterable[RunKey]) -> set[str]:
        """The flow ids of ``runs`` that this rule drops."""
        newest_first = sorted(runs, key=lambda run: (run[2], run[0]), reverse=True)
        ended = [flow_id for flow_id, status, _ in newest_first if status != "running"]
        running = [flow_id for flow_id, status, _ in newest_first if status == "running"]
        return {*ended[self.finished:], *running[self.running:]}
