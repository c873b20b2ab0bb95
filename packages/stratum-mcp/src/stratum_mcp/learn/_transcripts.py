"""Claude Code session transcripts: what the stratum tools told the model, read in bounded passes.

Claude Code keeps one JSONL file per session under
``<claude home>/projects/<slug>/``, where the slug is the session's working
directory with every character other than an ASCII letter or digit replaced
by ``-`` (``/home/me/my_app`` -> ``-home-me-my-app``). Assistant lines carry
``tool_use`` blocks (``name`` is ``mcp__<server>__<tool>``), user lines the
matching ``tool_result`` blocks, whose text is the tool's JSON answer.

Transcripts can be large and are not ours, so reading is bounded: the newest
files first, a cap on files, on bytes per file and on the length of a line;
only lines that call a stratum tool, or answer such a call, are parsed at all; a line that is not
JSON, or not in the expected shape, is skipped and counted. Since the slug is
lossy (``/a/b-c`` and ``/a/b/c`` share one), lines that record a ``cwd``
outside the project are ignored.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from stratum_mcp.learn._evidence import Evidence, Rejection, RunRecord, violation_from_json

__all__ = ["TranscriptLimits", "project_slug", "read_transcripts", "transcript_dirs"]

_TOOL = re.compile(r"(?:^|__)(stratum_plan|stratum_step_done|stratum_audit)$")
_REJECTED = ("ensure_failed", "schema_failed", "budget_exceeded")


@dataclass(frozen=True)
class TranscriptLimits:
    """Bounds on what learn reads from transcripts."""

    files: int = 50
    file_bytes: int = 32 * 1024 * 1024
    line_bytes: int = 2 * 1024 * 1024
    dir_entries: int = 10_000


def project_slug(root: Path) -> str:
    """The directory name Claude Code gives a project's sessions."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(root))


def transcript_dirs(projects: Path, root: Path, limits: TranscriptLimits = TranscriptLimits()) -> list[Path]:
    """The project's session directories: its own, then those of sessions started in its subdirectories."""
    slug = project_slug(root)
    found = [projects / slug] if (projects / slug).is_dir() else []
    try:
        with os.scandir(projects) as entries:
            for entry in islice(entries, limits.dir_entries):
                if entry.name.startswith(slug + "-") and entry.is_dir():
                    found.append(Path(entry.path))
    except OSError:
        pass
    return found


def _lines(path: Path, limits: TranscriptLimits) -> Iterator[bytes | None]:
    """The file's lines, up to the byte cap; ``None`` stands for a line too long to keep."""
    with path.open("rb") as handle:
        left, pending, skipping = limits.file_bytes, b"", False
        while left > 0:
            chunk = handle.read(min(1 << 16, left))
            if not chunk:
                break
            left -= len(chunk)
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                if skipping:
                    skipping = False  # the tail of an overlong line
                    yield None
                else:
                    yield None if len(line) > limits.line_bytes else line
            if len(pending) > limits.line_bytes:
                pending, skipping = b"", True
        if pending and not skipping and left > 0 and len(pending) <= limits.line_bytes:
            yield pending


def _inside(cwd: Any, root: Path) -> bool:
    if not isinstance(cwd, str):
        return False
    path = Path(cwd)
    return path == root or root in path.parents


def _result_payload(block: dict[str, Any]) -> dict[str, Any] | None:
    content = block.get("content")
    if isinstance(content, list):
        content = "".join(c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text")
    if not isinstance(content, str):
        return None
    try:
        payload = json.loads(content)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class _Session:
    """Pairs tool calls with their answers and collects what they say about runs."""

    def __init__(self) -> None:
        self.calls: dict[str, tuple[str, dict[str, Any]]] = {}
        self.flows: dict[str, str] = {}
        self.functions: dict[tuple[str, str], str] = {}
        self.attempts: dict[tuple[str, str], int] = {}
        self.status: dict[str, str] = {}
        self.errors: dict[str, tuple[str, str | None]] = {}
        self.rejections: list[Rejection] = []

    def wants(self, line: bytes) -> bool:
        """Whether the line may answer a pending stratum call (some answers never name a tool)."""
        return any(call_id.encode() in line for call_id in self.calls)

    def add(self, entry: dict[str, Any]) -> None:
        content = (entry.get("message") or {}).get("content")
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                match = _TOOL.search(block["name"])
                if match and isinstance(block.get("id"), str):
                    self.calls[block["id"]] = (match.group(1), block.get("input") or {})
            elif block.get("type") == "tool_result" and block.get("tool_use_id") in self.calls:
                tool, arguments = self.calls.pop(block["tool_use_id"])
                payload = _result_payload(block)
                if payload is not None:
                    self._answer(tool, arguments, payload)

    def _answer(self, tool: str, arguments: dict[str, Any], payload: dict[str, Any]) -> None:
        flow_id = payload.get("flow_id")
        if not isinstance(flow_id, str):
            return
        if tool == "stratum_plan" and isinstance(arguments.get("flow"), str):
            self.flows[flow_id] = arguments["flow"]
        status = payload.get("status")
        step_id = payload.get("step_id")
        if status == "execute_step" and isinstance(step_id, str):
            self.functions[(flow_id, step_id)] = str(payload.get("function", ""))
            self.status[flow_id] = "running"
        if tool == "stratum_step_done" and isinstance(arguments.get("step_id"), str):
            reported = arguments["step_id"]
            self.attempts[(flow_id, reported)] = self.attempts.get((flow_id, reported), 0) + 1
        if status in _REJECTED and isinstance(step_id, str):
            self._reject(flow_id, step_id, payload.get("attempt"), payload.get("violations"))
        elif status == "complete":
            self.status[flow_id] = "complete"
        elif status == "failed" and isinstance(payload.get("error"), str):
            self.status[flow_id] = "failed"
            failed_step = step_id if isinstance(step_id, str) else None
            self.errors[flow_id] = (payload["error"], failed_step)
            if failed_step is not None:
                self._reject(flow_id, failed_step, payload.get("attempts"), payload.get("violations"))

    def _reject(self, flow_id: str, step_id: str, attempt: Any, raw: Any) -> None:
        violations = tuple(v for v in map(violation_from_json, raw if isinstance(raw, list) else []) if v)
        self.rejections.append(Rejection(
            flow_id, self.flows.get(flow_id, "?"), step_id, self.functions.get((flow_id, step_id), step_id),
            attempt if isinstance(attempt, int) else 0, violations,
        ))

    def runs(self) -> list[RunRecord]:
        out = []
        for flow_id, status in self.status.items():
            attempts = tuple((s, n) for (f, s), n in self.attempts.items() if f == flow_id)
            code, step = self.errors.get(flow_id, (None, None))
            out.append(RunRecord(flow_id, self.flows.get(flow_id, "?"), status, attempts, code, step))
        return out


def read_transcripts(dirs: list[Path], root: Path, limits: TranscriptLimits = TranscriptLimits()) -> Evidence:
    """What the newest session files in ``dirs`` say about the project's stratum runs."""
    files: list[tuple[float, Path, bool]] = []
    for index, directory in enumerate(dirs):
        try:
            files.extend((p.stat().st_mtime, p, index == 0) for p in islice(directory.glob("*.jsonl"),
                                                                             limits.dir_entries))
        except OSError:
            continue
    files.sort(key=lambda item: item[0], reverse=True)
    runs: dict[str, RunRecord] = {}
    rejections: list[Rejection] = []
    sessions = skipped = 0
    for _, path, own_dir in files[: limits.files]:
        session = _Session()
        try:
            for line in _lines(path, limits):
                # Most lines are unrelated: parse only those that call a stratum tool or answer one.
                if line is None:
                    skipped += 1
                    continue
                if b"stratum_" not in line and not session.wants(line):
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    skipped += 1
                    continue
                if not isinstance(entry, dict):
                    continue
                cwd = entry.get("cwd")
                if (cwd is not None or not own_dir) and not _inside(cwd, root):
                    continue
                session.add(entry)
        except OSError:
            continue
        sessions += 1
        rejections.extend(session.rejections)
        runs.update((r.flow_id, r) for r in session.runs())
    return Evidence(tuple(runs.values()), tuple(rejections), sessions, skipped)
