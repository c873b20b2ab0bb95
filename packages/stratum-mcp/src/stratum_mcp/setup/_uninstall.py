"""``stratum-mcp uninstall``: take out exactly what setup put in, and nothing else.

A file still exactly as setup left it gets its recorded original back, byte
for byte (or is deleted, if setup created it). A file edited since loses only
setup's part: the ``stratum`` server entry or the marked block. Skills are
shared by every project on the machine, so they go only when no other
project set up for Claude Code remains; a skill changed by hand stays unless
``force`` is given.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stratum_mcp._fs import FileChange, ensure_writable, read_text
from stratum_mcp.errors import SetupError
from stratum_mcp.setup._approvals import LOCAL_SETTINGS, approval_keys, without_approval
from stratum_mcp.setup._clients import CLIENTS, holds_nothing
from stratum_mcp.setup._install import ProjectFile, manifest_path, project_files
from stratum_mcp.setup._manifest import FileRecord, Manifest, ProjectRecord, digest, dump_manifest, load_manifest
from stratum_mcp.setup._plan import Plan
from stratum_mcp.setup._skills import plan_skill_removal

__all__ = ["plan_uninstall"]


def plan_uninstall(root: Path, clients: tuple[str, ...] | None = None, *, force: bool = False,
                   purge_approvals: bool = False) -> Plan:
    """Every change uninstall would make; ``clients=None`` means every client.

    Claude Code's approval of the server (``.claude/settings.local.json``, which
    setup did not write) is only mentioned in a note, unless ``purge_approvals``.
    """
    targets = tuple(CLIENTS) if clients is None else clients
    plan = Plan(root=root, clients=targets)
    try:
        manifest = load_manifest(manifest_path())
    except SetupError as exc:
        return replace(plan, problems=(exc,))
    record = manifest.projects.get(str(root), ProjectRecord())
    remaining = tuple(c for c in record.clients if c not in targets)
    # An instructions file shared with a client that stays configured keeps its block.
    kept = {f.rel for f in project_files(remaining, None)}
    changes: list[FileChange] = []
    problems: list[SetupError] = []
    files = dict(record.files)
    for item in project_files(targets, None):
        if item.rel in kept:
            continue
        path = root / item.rel
        try:
            before = read_text(path)
            if before is None:
                files.pop(item.rel, None)
                continue
            after = _restored(item, path, before, files.pop(item.rel, None))
            if after != before:
                ensure_writable(path)
        except SetupError as exc:
            problems.append(exc)
            continue
        changes.append(FileChange(path, before, after, item.what))

    notes: list[str] = []
    dirs = [root / d for d in record.dirs]
    if "claude" in targets:
        try:
            approval = _approval_change(root, purge=purge_approvals)
        except SetupError as exc:
            problems.append(exc)
        else:
            if isinstance(approval, str):
                notes.append(approval)
            elif approval is not None:
                changes.append(approval)
                if approval.after is None:
                    dirs.append(root / ".claude")
    skills = manifest.skills
    projects = {k: v for k, v in manifest.projects.items() if k != str(root)}
    if remaining:
        projects[str(root)] = ProjectRecord(remaining, files, record.dirs)
    if skills and any(CLIENTS[c].installs_skills for c in targets):
        users = [p for p, r in projects.items() if Path(p).is_dir() and any(CLIENTS[c].installs_skills
                                                                          for c in r.clients)]
        if users:
            notes.append(f"kept the skills: {len(users)} other project(s) set up for Claude Code use them")
        else:
            removal = plan_skill_removal(skills, force=force)
            changes.extend(removal.changes)
            problems.extend(removal.problems)
            notes.extend(removal.notes)
            skills = {}
            dirs.extend(Path(c.path).parent for c in removal.changes)
            dirs.extend(Path(d) for d in manifest.home_dirs)
    if problems:
        return replace(plan, problems=tuple(problems))

    updated = Manifest(skills, manifest.home_dirs, projects)
    path = manifest_path()
    try:
        before = read_text(path)
        after = dump_manifest(updated)
        if after != before:
            ensure_writable(path)
    except SetupError as exc:
        return replace(plan, problems=(exc,))
    if before is not None:
        changes.append(FileChange(path, before, after, "the setup manifest", private=True))
    if after is None:
        dirs.extend(Path(d) for d in manifest.home_dirs)
    return replace(plan, changes=tuple(changes), notes=tuple(notes), dirs_to_remove=tuple(dirs))


def _approval_change(root: Path, *, purge: bool) -> FileChange | str | None:
    """The change that drops Claude Code's approval of the server, or the note saying it is there."""
    path = root / LOCAL_SETTINGS
    before = read_text(path)
    keys = approval_keys(path, before)
    if not keys or before is None:
        return None
    if not purge:
        return (f"{LOCAL_SETTINGS} still names `stratum` in {' and '.join(keys)}, as Claude Code wrote it; "
                "`stratum-mcp uninstall --purge-approvals` removes that too")
    ensure_writable(path)
    return FileChange(path, before, without_approval(path, before), "Claude Code's approval of the server")


def _restored(item: ProjectFile, path: Path, before: str, record: FileRecord | None) -> str | None:
    """The file as it should be without setup's part (``None``: delete it)."""
    if record is not None and digest(before) == record.written:
        return record.original
    after = item.strip(path, before)
    if record is not None and record.original is None and after != before and _empty(item, after):
        return None  # setup created it and nothing of the user's was added since
    return after


def _empty(item: ProjectFile, text: str) -> bool:
    return holds_nothing(item.client, text) if item.client is not None else not text.strip()
