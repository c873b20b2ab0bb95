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

from stratum_mcp.service import FlowService
from stratum_mcp.store import SqliteStore

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
