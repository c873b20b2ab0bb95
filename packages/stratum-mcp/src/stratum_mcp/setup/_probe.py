"""Start a server exactly as a client would and ask it for ``tools/list`` over stdio, with the SDK's client."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from stratum_mcp.setup._entries import Launch

__all__ = ["Probe", "probe_server"]


@dataclass(frozen=True)
class Probe:
    """What starting the server showed: the tools it listed, how long it took, or why it failed."""

    tools: tuple[str, ...]
    seconds: float
    error: str | None


def probe_server(launch: Launch, root: Path, timeout: float) -> Probe:
    """Start ``launch`` in ``root`` (or the entry's own ``cwd``) and list its tools, within ``timeout`` seconds."""
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    assert launch.executable is not None
    params = StdioServerParameters(command=launch.executable, args=list(launch.args),
                                   env={**os.environ, **dict(launch.env)}, cwd=launch.cwd or str(root))

    async def ask(errlog: TextIO) -> tuple[str, ...]:
        with anyio.fail_after(timeout):
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                listed = await session.list_tools()
        return tuple(sorted(tool.name for tool in listed.tools))

    started = time.perf_counter()
    # The server's stderr goes to a real file (the SDK needs a descriptor), shown if it fails.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            tools = anyio.run(ask, errlog)
        except Exception as exc:  # any transport failure is the finding; an ExceptionGroup is an Exception too
            errlog.seek(0)
            tail = "".join(errlog.readlines()[-5:]).strip()
            reason = _describe(exc) + (f"; the server said: {tail}" if tail else "")
            return Probe((), time.perf_counter() - started, reason)
    return Probe(tools, time.perf_counter() - started, None)


def _describe(exc: BaseException) -> str:
    # Transport failures arrive wrapped in exception groups by anyio task groups.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
