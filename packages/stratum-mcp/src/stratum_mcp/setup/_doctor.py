"""``stratum-mcp doctor``: is the project configured, and does the configured server really answer?

For each configured client it reads the server entry, checks that its
command exists, starts it exactly as the client would (same command, args,
environment and working directory) and asks for ``tools/list`` over stdio
with the MCP SDK's client. It also checks the instructions block and, for
Claude Code, the installed skills.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from stratum_mcp._fs import block_body, read_text
from stratum_mcp.errors import SetupError
from stratum_mcp.setup._clients import CLIENTS, Client, ServerEntry, read_server
from stratum_mcp.setup._instructions import EXECUTION_MODEL, execution_model
from stratum_mcp.setup._paths import claude_home, server_launch, stratum_command
from stratum_mcp.setup._skills import SKILL_NAMES, shipped_skills

__all__ = ["EXPECTED_TOOLS", "Check", "diagnose", "list_server_tools"]

EXPECTED_TOOLS = (
    "stratum_audit", "stratum_check_timeouts", "stratum_commit", "stratum_gate_resolve", "stratum_iteration_abort",
    "stratum_iteration_report", "stratum_iteration_start", "stratum_parallel_done", "stratum_plan", "stratum_resume",
    "stratum_revert", "stratum_skip_step", "stratum_step_done", "stratum_validate",
)

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it went, and what to do about it."""

    status: Status
    subject: str
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class _Probe:
    tools: tuple[str, ...]
    seconds: float
    error: str | None


def diagnose(root: Path, clients: Sequence[str] | None = None, *, timeout: float = 20.0) -> list[Check]:
    """Every check for ``root``; ``clients=None`` checks each client whose config has the server."""
    checks = [Check("ok", "project", str(root))]
    if clients is None:
        clients = [name for name, client in CLIENTS.items() if _configured(root, client)]
        if not clients:
            return [*checks, Check("fail", "configuration", "no client config in this project has the stratum "
                                   "server", "run `stratum-mcp setup` (add --client codex or cursor for those)")]
    probes: dict[ServerEntry, _Probe] = {}
    for name in clients:
        client = CLIENTS[name]
        try:
            entry = _entry(root, client)
        except SetupError as exc:
            checks.append(Check("fail", client.config, str(exc), "fix the file, then run `stratum-mcp setup`"))
            continue
        if entry is None:
            checks.append(Check("fail", client.config, "has no `stratum` server entry",
                                f"run `stratum-mcp setup --client {name}`"))
            continue
        checks.extend(_entry_checks(root, client, entry))
        if _command_exists(entry.command):
            if entry not in probes:
                probes[entry] = _run_probe(entry, root, timeout)
            checks.append(_probe_check(client, probes[entry]))
        checks.append(_instructions_check(root, client))
    if any(CLIENTS[name].installs_skills for name in clients):
        checks.extend(_skill_checks())
    return checks


def _configured(root: Path, client: Client) -> bool:
    """Whether the client's config has the server, or exists and is broken (which is worth reporting)."""
    try:
        return _entry(root, client) is not None
    except SetupError:
        return True


def _entry(root: Path, client: Client) -> ServerEntry | None:
    path = root / client.config
    return read_server(client, path, read_text(path))


def _command_exists(command: str) -> bool:
    if os.path.isabs(command):
        return os.path.isfile(command) and os.access(command, os.X_OK)
    return shutil.which(command) is not None


def _entry_checks(root: Path, client: Client, entry: ServerEntry) -> list[Check]:
    subject = f"{client.config} command"
    if not _command_exists(entry.command):
        return [Check("fail", subject, f"{entry.command} does not exist or is not executable (was the "
                      "environment it was installed in moved or removed?)",
                      "run `stratum-mcp setup` again from the environment that has stratum-mcp")]
    checks = [Check("ok", subject, " ".join([entry.command, *entry.args]))]
    args = list(entry.args)
    if "--project-root" in args[:-1] and args[args.index("--project-root") + 1] != str(root):
        checks.append(Check("warn", subject, f"serves another project root: {args[args.index('--project-root') + 1]}",
                            "run `stratum-mcp setup` in this project"))
    launch = server_launch(root)
    if (entry.command, entry.args) != (launch.command, launch.args):
        checks.append(Check("warn", subject, f"differs from this installation ({' '.join(stratum_command())})",
                            "run `stratum-mcp setup` again to use this installation"))
    return checks


def list_server_tools(entry: ServerEntry, cwd: Path, timeout: float) -> tuple[str, ...]:
    """Start the server as a client would and return the names from its ``tools/list`` answer.

    Raises ``TimeoutError`` after ``timeout`` seconds, or whatever the
    transport raised when the process died or spoke something else than MCP.
    """
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=entry.command, args=list(entry.args), env={**os.environ, **dict(entry.env)},
                                   cwd=str(cwd))

    async def probe(errlog: TextIO) -> tuple[str, ...]:
        with anyio.fail_after(timeout):
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                listed = await session.list_tools()
        return tuple(sorted(tool.name for tool in listed.tools))

    # The server's stderr goes to a real file (the SDK needs a descriptor), shown if it fails.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            return anyio.run(probe, errlog)
        except Exception as exc:  # any transport failure is the finding; an ExceptionGroup is an Exception too
            errlog.seek(0)
            tail = "".join(errlog.readlines()[-5:]).strip()
            raise _ProbeFailed(_describe(exc), tail) from None


class _ProbeFailed(Exception):
    def __init__(self, reason: str, stderr: str) -> None:
        self.reason = reason
        self.stderr = stderr
        super().__init__(reason)


def _describe(exc: BaseException) -> str:
    # Transport failures arrive wrapped in exception groups by anyio task groups.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _run_probe(entry: ServerEntry, root: Path, timeout: float) -> _Probe:
    started = time.perf_counter()
    try:
        tools = list_server_tools(entry, root, timeout)
    except _ProbeFailed as exc:
        detail = exc.reason + (f"; the server said: {exc.stderr}" if exc.stderr else "")
        return _Probe((), time.perf_counter() - started, detail)
    return _Probe(tools, time.perf_counter() - started, None)


def _probe_check(client: Client, probe: _Probe) -> Check:
    subject = f"{client.config} server"
    if probe.error is not None:
        return Check("fail", subject, f"did not answer tools/list: {probe.error}",
                     "run the command above by hand to see why it does not start")
    if probe.tools != EXPECTED_TOOLS:
        return Check("fail", subject, f"answered tools/list with {list(probe.tools)}, not the stratum tools",
                     "the entry starts a different server; run `stratum-mcp setup` again")
    return Check("ok", subject, f"started and listed {len(probe.tools)} tools in {probe.seconds:.1f} s")


def _instructions_check(root: Path, client: Client) -> Check:
    path = root / client.instructions
    subject = client.instructions
    try:
        body = block_body(read_text(path), EXECUTION_MODEL, path)
    except SetupError as exc:
        return Check("warn", subject, str(exc), "fix the markers, then run `stratum-mcp setup`")
    if body is None:
        return Check("warn", subject, "has no execution-model block", "run `stratum-mcp setup`")
    if body.strip() != execution_model(skills=client.installs_skills).strip():
        return Check("warn", subject, "the execution-model block is not this version's",
                     "run `stratum-mcp setup` to update it")
    return Check("ok", subject, "execution-model block is current")


def _skill_checks() -> list[Check]:
    checks = []
    for skill in shipped_skills(shlex.join(stratum_command())):
        path = claude_home() / "skills" / skill.name / "SKILL.md"
        try:
            current = read_text(path)
        except SetupError as exc:
            checks.append(Check("warn", f"skill {skill.name}", str(exc)))
            continue
        if current is None:
            checks.append(Check("warn", f"skill {skill.name}", f"{path} is missing", "run `stratum-mcp setup`"))
        elif current != skill.text:
            checks.append(Check("warn", f"skill {skill.name}", f"{path} differs from this version's",
                                "run `stratum-mcp setup` (add --force to replace hand edits)"))
    if not checks:
        checks.append(Check("ok", "skills", f"all {len(SKILL_NAMES)} installed and current"))
    return checks

