"""``stratum-mcp setup``: plan every file it writes, then write them all or none.

For each client: its MCP config gains the ``stratum`` server entry, and its
instructions file (``CLAUDE.md`` or ``AGENTS.md``) the execution-model block.
For Claude Code the seven skills are installed too. The manifest records what
was written, so that re-running updates in place and uninstall undoes exactly
this.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from stratum_mcp._fs import FileChange, drop_block, ensure_writable, put_block, read_text
from stratum_mcp.errors import SetupError
from stratum_mcp.setup._clients import CLIENTS, Client, with_server, without_server
from stratum_mcp.setup._instructions import EXECUTION_MODEL, execution_model
from stratum_mcp.setup._manifest import FileRecord, Manifest, ProjectRecord, digest, dump_manifest, load_manifest
from stratum_mcp.setup._paths import (
    PORTABLE_COMMAND,
    ServerLaunch,
    claude_home,
    same_installation,
    server_launch,
    shown,
    stratum_command,
    stratum_home,
)
from stratum_mcp.setup._plan import Plan, missing_dirs
from stratum_mcp.setup._skills import plan_skill_install, shipped_skills

__all__ = ["manifest_path", "plan_setup", "project_files"]


def manifest_path() -> Path:
    """Where the setup manifest lives: ``~/.stratum/setup-manifest.json``."""
    return stratum_home() / "setup-manifest.json"


@dataclass(frozen=True)
class ProjectFile:
    """A file in the project that setup edits: how to add its part, and how to take it out again."""

    rel: str
    what: str
    add: Callable[[Path, str | None], str]
    strip: Callable[[Path, str], str]
    client: Client | None = None


def project_files(clients: tuple[str, ...], launch: Callable[[Client], ServerLaunch] | None) -> list[ProjectFile]:
    """The config and instructions files of ``clients`` (an instructions file shared by two appears once).

    ``launch`` gives each client's server entry; without it the files can only be stripped.
    """
    files: list[ProjectFile] = []
    seen: set[str] = set()
    for name in clients:
        client = CLIENTS[name]

        def add_server(path: Path, text: str | None, client: Client = client) -> str:
            assert launch is not None
            return with_server(client, path, text, launch(client))

        def strip_server(path: Path, text: str, client: Client = client) -> str:
            return without_server(client, path, text)

        files.append(ProjectFile(client.config, "the stratum server entry", add_server, strip_server, client))
        if client.instructions in seen:
            continue
        seen.add(client.instructions)
        body = execution_model(skills=client.installs_skills)

        def add_block(path: Path, text: str | None, body: str = body) -> str:
            return put_block(text, EXECUTION_MODEL, body, path)

        def strip_block(path: Path, text: str) -> str:
            return drop_block(text, EXECUTION_MODEL, path)

        files.append(ProjectFile(client.instructions, "the execution-model block", add_block, strip_block))
    return files


def plan_setup(root: Path, clients: tuple[str, ...], *, force: bool = False, absolute: bool = False) -> Plan:
    """Every change setup would make in ``root`` (and the user's home) for ``clients``.

    Server entries are portable unless ``absolute`` (see :func:`server_launch`).
    """
    plan = Plan(root=root, clients=clients)
    try:
        manifest = load_manifest(manifest_path())
    except SetupError as exc:
        return replace(plan, problems=(exc,))
    record = manifest.projects.get(str(root), ProjectRecord())
    changes: list[FileChange] = []
    problems: list[SetupError] = []
    notes: list[str] = [] if absolute else _portable_notes()
    files = dict(record.files)
    project_dirs = set(record.dirs)
    for item in project_files(clients, lambda c: server_launch(root, c.root_args, absolute=absolute)):
        path = root / item.rel
        try:
            before = read_text(path)
            after = item.add(path, before)
            if after != before:
                ensure_writable(path)
            original = _original(item, path, before, files.get(item.rel))
        except SetupError as exc:
            problems.append(exc)
            continue
        changes.append(FileChange(path, before, after, item.what))
        files[item.rel] = FileRecord(original, digest(after))
        project_dirs.update(str(d.relative_to(root)) for d in missing_dirs(path, root))

    skills = manifest.skills
    home_dirs = set(manifest.home_dirs)
    retired: list[Path] = []
    if any(CLIENTS[name].installs_skills for name in clients):
        command = shlex.join(stratum_command())
        skill_plan = plan_skill_install(claude_home() / "skills", shipped_skills(command), manifest.skills,
                                        force=force)
        changes.extend(skill_plan.changes)
        problems.extend(skill_plan.problems)
        notes.extend(skill_plan.notes)
        skills = skill_plan.records
        for change in skill_plan.changes:
            if change.after is not None:
                home_dirs.update(str(d) for d in missing_dirs(change.path, Path.home()))
            else:
                retired.append(change.path.parent)  # a skill no longer shipped: its directory goes if empty
    if problems:
        return replace(plan, problems=tuple(problems))

    path = manifest_path()
    home_dirs.update(str(d) for d in missing_dirs(path, Path.home()))
    project = ProjectRecord(tuple(sorted({*record.clients, *clients})), files, tuple(sorted(project_dirs)))
    updated = Manifest(skills, tuple(home_dirs), {**manifest.projects, str(root): project})
    try:
        current = read_text(path)
        written = dump_manifest(updated)
        if written != current:
            ensure_writable(path)
    except SetupError as exc:
        return replace(plan, problems=(exc,))
    changes.append(FileChange(path, current, written, "the setup manifest", private=True))
    return replace(plan, changes=tuple(changes), notes=tuple(notes), dirs_to_remove=tuple(retired))


def _portable_notes() -> list[str]:
    """A warning when the portable command would not start this installation from here."""
    found = shutil.which(PORTABLE_COMMAND)
    here = stratum_command()
    if found is None:
        return [f"`{PORTABLE_COMMAND}` is not on PATH here, so the clients will not find it: put "
                f"{shown(Path(here[0]).parent)} on PATH (or install stratum-mcp with pipx or `uv tool`), or run "
                "`stratum-mcp setup --absolute` for an entry that names this installation (this machine only)"]
    if not same_installation(found, here):
        return [f"`{PORTABLE_COMMAND}` on PATH here is {shown(found)}, another installation than this one "
                f"({shown(here[0])}); the clients will start that one"]
    return []


def _original(item: ProjectFile, path: Path, before: str | None, record: FileRecord | None) -> str | None:
    """What uninstall should restore: the recorded original while the file is as setup left it."""
    if before is None:
        return None
    if record is not None and digest(before) == record.written:
        return record.original
    # First setup here, or edited since: the original is the file as it is, minus any part of ours.
    return item.strip(path, before)
