"""A plan of file changes that setup or uninstall computed, and carrying it out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stratum_mcp._fs import FileChange, apply_changes, remove_empty_dirs
from stratum_mcp.errors import SetupError

__all__ = ["Plan", "apply_plan", "missing_dirs"]


@dataclass(frozen=True)
class Plan:
    """What a command would change. With ``problems``, nothing may be written.

    ``changes`` lists every file looked at (unchanged ones too, for reporting);
    ``dirs_to_remove`` are directories setup created that go if left empty;
    ``notes`` are things the user should know (a skill kept because it was
    edited, skills kept for other projects).
    """

    root: Path
    clients: tuple[str, ...]
    changes: tuple[FileChange, ...] = ()
    notes: tuple[str, ...] = ()
    problems: tuple[SetupError, ...] = ()
    dirs_to_remove: tuple[Path, ...] = ()

    @property
    def pending(self) -> tuple[FileChange, ...]:
        """The changes that change something."""
        return tuple(c for c in self.changes if c.action != "unchanged")


def apply_plan(plan: Plan) -> list[FileChange]:
    """Write the plan; return the changes made. Refuses (raises the first problem) if the plan has problems."""
    if plan.problems:
        raise plan.problems[0]
    done = apply_changes(plan.changes)
    remove_empty_dirs(plan.dirs_to_remove)
    return done


def missing_dirs(path: Path, stop: Path) -> list[Path]:
    """The ancestors of ``path`` below ``stop`` that do not exist yet (the ones writing ``path`` creates)."""
    out = []
    for parent in path.parents:
        if parent == stop or stop not in parent.parents or parent.exists():
            break
        out.append(parent)
    return out
