"""Shared fixtures: spec texts, a service on a temporary store, and a real server over stdio."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from stratum_mcp import FlowService
from stratum_mcp.persistence import SqliteStore

SPECS = Path(__file__).parent / "specs"
T = TypeVar("T")


@pytest.fixture
def review_spec() -> str:
    return (SPECS / "review.stratum.yaml").read_text()


class FakeClock:
    """A clock the test moves by hand, in seconds."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: int) -> None:
        self.now += ms / 1000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock) -> FlowService:
    return FlowService(SqliteStore(tmp_path / "flows.db"), project_root=tmp_path, clock=clock)


def run_async(fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """Run an async test body with a bound on how long it may take."""

    async def bounded() -> T:
        with anyio.fail_after(timeout):
            return await fn()

    return anyio.run(bounded)


def server_command() -> str:
    """The installed `stratum-mcp` console script next to this interpreter."""
    script = Path(sys.executable).parent / "stratum-mcp"
    assert script.exists(), f"stratum-mcp is not installed next to {sys.executable}"
    return str(script)


def server_env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    env["STRATUM_MCP_DB"] = str(db)
    env.update(extra)
    return env


class Client:
    """A real MCP ClientSession on a `stratum-mcp` subprocess, returning structured payloads."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.session.call_tool(tool, arguments)
        payload = result.structured_content
        assert payload is not None, result
        # The text block mirrors the structured payload for clients that read only text.
        assert json.loads(result.content[0].text) == payload
        # Error results carry a string `error` code (an audit's `error` is the failed run's record).
        assert result.is_error == isinstance(payload.get("error"), str), payload
        return dict(payload)


@asynccontextmanager
async def mcp_client(db: Path, *, args: list[str] | None = None, errlog: Any = None,
                     env: dict[str, str] | None = None) -> AsyncIterator[Client]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    db.parent.mkdir(parents=True, exist_ok=True)
    params = StdioServerParameters(command=server_command(), args=args or [], env=env or server_env(db),
                                   cwd=str(db.parent))
    # The server's stderr goes to a real file: pytest's captured stderr has no file descriptor.
    with open(db.parent / "server-stderr.log", "a") as default_log:
        async with stdio_client(params, errlog=errlog or default_log) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            yield Client(session)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME for setup, uninstall, doctor and learn: the real ~/.claude is never touched."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("STRATUM_MCP_DB", raising=False)
    monkeypatch.delenv("STRATUM_MCP_PROJECT_ROOT", raising=False)
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary git project (just a `.git` directory), and the working directory inside it."""
    path = tmp_path / "project"
    (path / ".git").mkdir(parents=True)
    monkeypatch.chdir(path)
    return path.resolve()


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under ``root``: bytes for files, None for directories."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}
