"""The setup manifest: what setup installed, so upgrades and uninstall touch exactly that.

One JSON file per user, ``~/.stratum/setup-manifest.json``::

    {"format": 1,
     "skills": {"stratum-review": {"path": ".../skills/stratum-review/SKILL.md", "sha256": "..."}},
     "home_dirs": [".../.claude/skills", ...],
     "projects": {"/abs/project": {"clients": ["claude"],
                                   "files": {".mcp.json": {"original": null, "written": "<sha256>"}},
                                   "dirs": [".cursor"]}}}

A skill's ``sha256`` is what setup wrote: a file that no longer matches it was
changed by hand and is not overwritten or removed without ``--force``. A
project file's ``original`` is its text before setup (``null``: setup created
it) and ``written`` the digest of what setup last wrote, so uninstall can
restore the original byte for byte while the file is as setup left it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratum_mcp._fs import read_text
from stratum_mcp.errors import ConfigUnparsable

__all__ = ["FileRecord", "Manifest", "ProjectRecord", "SkillRecord", "digest", "dump_manifest", "load_manifest"]

FORMAT = 1
#: Originals of CLAUDE.md and configs for every project live here; far more than any real use needs.
_MANIFEST_BYTES = 16 * 1024 * 1024


def digest(text: str) -> str:
    """The SHA-256 of ``text`` as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SkillRecord:
    """A skill file setup wrote, and the digest of what it wrote."""

    path: str
    sha256: str


@dataclass(frozen=True)
class FileRecord:
    """A project file setup changed: its text before (``None``: setup created it) and what setup wrote."""

    original: str | None
    written: str


@dataclass(frozen=True)
class ProjectRecord:
    """What setup did in one project: the clients configured, the files changed, the directories created."""

    clients: tuple[str, ...] = ()
    files: Mapping[str, FileRecord] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """Everything setup installed for this user."""

    skills: Mapping[str, SkillRecord] = field(default_factory=dict)
    home_dirs: tuple[str, ...] = ()
    projects: Mapping[str, ProjectRecord] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.skills and not self.projects


def load_manifest(path: Path) -> Manifest:
    """The manifest at ``path``; an empty one when the file does not exist."""
    text = read_text(path, limit=_MANIFEST_BYTES)
    if text is None:
        return Manifest()
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        return Manifest(
            skills={name: SkillRecord(str(r["path"]), str(r["sha256"])) for name, r in data["skills"].items()},
            home_dirs=tuple(str(d) for d in data["home_dirs"]),
            projects={root: _project(r) for root, r in data["projects"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigUnparsable(path, f"not a setup manifest: {exc}") from None


def _project(raw: Mapping[str, Any]) -> ProjectRecord:
    files = {
        rel: FileRecord(None if r["original"] is None else str(r["original"]), str(r["written"]))
        for rel, r in raw["files"].items()
    }
    return ProjectRecord(tuple(str(c) for c in raw["clients"]), files, tuple(str(d) for d in raw["dirs"]))


def dump_manifest(manifest: Manifest) -> str | None:
    """The manifest as JSON text, or ``None`` when it records nothing (the file should not exist)."""
    if manifest.empty:
        return None
    data = {
        "format": FORMAT,
        "skills": {name: {"path": r.path, "sha256": r.sha256} for name, r in sorted(manifest.skills.items())},
        "home_dirs": sorted(set(manifest.home_dirs)),
        "projects": {
            root: {
                "clients": sorted(set(r.clients)),
                "files": {rel: {"original": f.original, "written": f.written} for rel, f in sorted(r.files.items())},
                "dirs": sorted(set(r.dirs)),
            }
            for root, r in sorted(manifest.projects.items())
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
