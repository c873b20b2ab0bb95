"""The seven skills shipped with the package, and installing, upgrading and removing them.

Skill sources are package data under ``stratum_mcp/skills/<name>/SKILL.md``.
They are installed to ``<claude home>/skills/<name>/SKILL.md``, with the
placeholder ``{{stratum-mcp}}`` replaced by the absolute command of this
installation (a skill may tell Claude to run ``stratum-mcp learn``, and the
command need not be on ``PATH``).

The manifest records the digest of each installed file. On upgrade, a file
that still matches is replaced and a skill no longer shipped is removed; a
file changed by hand (or one setup did not write) is left alone and reported,
unless ``force`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stratum_mcp._fs import FileChange, read_text
from stratum_mcp.errors import SetupError
from stratum_mcp.setup._manifest import SkillRecord, digest

__all__ = ["COMMAND_PLACEHOLDER", "SKILL_NAMES", "Skill", "SkillsPlan", "plan_skill_install", "plan_skill_removal",
           "shipped_skills"]

SKILL_NAMES: tuple[str, ...] = (
    "stratum-review",
    "stratum-feature",
    "stratum-debug",
    "stratum-refactor",
    "stratum-migrate",
    "stratum-test",
    "stratum-learn",
)

COMMAND_PLACEHOLDER = "{{stratum-mcp}}"


@dataclass(frozen=True)
class Skill:
    """One skill as it will be installed."""

    name: str
    text: str


def shipped_skills(command: str) -> tuple[Skill, ...]:
    """Every shipped skill, rendered for this installation's ``command`` line."""
    root = resources.files("stratum_mcp") / "skills"
    return tuple(
        Skill(name, (root / name / "SKILL.md").read_text(encoding="utf-8").replace(COMMAND_PLACEHOLDER, command))
        for name in SKILL_NAMES
    )


@dataclass(frozen=True)
class SkillsPlan:
    """The file changes for the skills, the manifest's skill records afterwards, and what to tell the user."""

    changes: tuple[FileChange, ...]
    records: Mapping[str, SkillRecord]
    notes: tuple[str, ...]
    problems: tuple[SetupError, ...]


def plan_skill_install(
    skills_dir: Path, shipped: tuple[Skill, ...], recorded: Mapping[str, SkillRecord], *, force: bool
) -> SkillsPlan:
    """Install or upgrade ``shipped`` into ``skills_dir``, and retire recorded skills no longer shipped."""
    changes: list[FileChange] = []
    records: dict[str, SkillRecord] = {}
    notes: list[str] = []
    problems: list[SetupError] = []
    for skill in shipped:
        path = skills_dir / skill.name / "SKILL.md"
        try:
            current = read_text(path)
        except SetupError as exc:
            problems.append(exc)
            continue
        record = recorded.get(skill.name)
        ours = record is not None and record.path == str(path)
        untouched = current is not None and ours and record is not None and digest(current) == record.sha256
        if current is None or current == skill.text or untouched or force:
            if current is not None and current != skill.text and not untouched:
                notes.append(f"replaced {path}, which had been changed by hand (--force)")
            changes.append(FileChange(path, current, skill.text, f"skill {skill.name}"))
            records[skill.name] = SkillRecord(str(path), digest(skill.text))
            continue
        notes.append(f"kept {path}: it was changed by hand or not installed by setup; --force replaces it")
        if ours and record is not None:
            records[skill.name] = record  # still ours to remove or upgrade once it matches again
    shipped_paths = {str(skills_dir / s.name / "SKILL.md") for s in shipped}
    retired = {name: r for name, r in recorded.items() if r.path not in shipped_paths}
    removal = plan_skill_removal(retired, force=False)
    return SkillsPlan(
        (*changes, *removal.changes), records, (*notes, *removal.notes), (*problems, *removal.problems)
    )


def plan_skill_removal(recorded: Mapping[str, SkillRecord], *, force: bool) -> SkillsPlan:
    """Remove each recorded skill file that still holds what setup wrote (any, with ``force``)."""
    changes: list[FileChange] = []
    notes: list[str] = []
    problems: list[SetupError] = []
    for name, record in sorted(recorded.items()):
        path = Path(record.path)
        try:
            current = read_text(path)
        except SetupError as exc:
            problems.append(exc)
            continue
        if current is None:
            continue
        if digest(current) == record.sha256 or force:
            changes.append(FileChange(path, current, None, f"skill {name}"))
        else:
            notes.append(f"kept {path}: it was changed by hand; --force removes it")
    return SkillsPlan(tuple(changes), {}, tuple(notes), tuple(problems))
