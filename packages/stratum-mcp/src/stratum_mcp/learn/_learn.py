"""Gathering the evidence, drawing the lessons, and planning the new ``MEMORY.md``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stratum_mcp._fs import FileChange, block_body, read_text
from stratum_mcp.learn._conclusions import Conclusion, conclude
from stratum_mcp.learn._evidence import Evidence, from_runs, merge
from stratum_mcp.learn._memory import LEARNED, hand_written, updated_memory
from stratum_mcp.learn._transcripts import TranscriptLimits, read_transcripts, transcript_dirs

__all__ = ["LearnResult", "LearnSources", "learn"]


@dataclass(frozen=True)
class LearnSources:
    """Where to look, and how much to read.

    ``claude_projects`` is Claude Code's ``projects`` directory, or ``None`` to
    skip transcripts; ``runs`` bounds the runs read from the store.
    """

    root: Path
    db: Path | None
    claude_projects: Path | None = None
    runs: int = 500
    min_count: int = 2
    limit: int = 12
    transcripts: TranscriptLimits = field(default_factory=TranscriptLimits)


@dataclass(frozen=True)
class LearnResult:
    """The evidence found, the lessons drawn, and the change to ``MEMORY.md``."""

    evidence: Evidence
    conclusions: tuple[Conclusion, ...]
    change: FileChange

    @property
    def section(self) -> str:
        """The learned section of ``MEMORY.md`` as the change would leave it, without its markers."""
        return block_body(self.change.after, LEARNED, self.change.path) or ""


def _store_evidence(sources: LearnSources, extra_ids: set[str]) -> Evidence:
    # A store that does not exist yet has nothing to say; opening it would create it.
    if sources.db is None or not sources.db.exists():
        return Evidence()
    from stratum_mcp.persistence import SqliteStore

    with SqliteStore(sources.db) as store:
        runs = store.recent(sources.runs, project=str(sources.root))
        have = {r.flow_id for r in runs}
        for flow_id in sorted(extra_ids - have)[: sources.runs]:
            stored = store.load(flow_id)
            if stored is not None:
                runs.append(stored.run)
    return from_runs(runs)


def learn(sources: LearnSources) -> LearnResult:
    """Gather the evidence, draw the lessons, and plan the new ``MEMORY.md`` (nothing is written here)."""
    seen = Evidence()
    if sources.claude_projects is not None:
        dirs = transcript_dirs(sources.claude_projects, sources.root, sources.transcripts)
        seen = read_transcripts(dirs, sources.root, sources.transcripts)
    stored = _store_evidence(sources, {r.flow_id for r in seen.runs} | {r.flow_id for r in seen.rejections})
    evidence = merge(stored, seen)
    path = sources.root / "MEMORY.md"
    before = read_text(path)
    conclusions = conclude(evidence, min_count=sources.min_count, limit=sources.limit,
                           known=hand_written(before, path))
    after = updated_memory(before, conclusions, evidence, path)
    return LearnResult(evidence, tuple(conclusions), FileChange(path, before, after, "the learned section"))
