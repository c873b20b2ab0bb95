"""The MCP server: the SDK's low-level server, with the tools of :mod:`._catalog` behind two handlers.

The low-level server is used rather than the SDK's decorator-based one: it
imports less before it can answer ``initialize``, builds no argument model
per tool, and hands the arguments over untouched, so every argument is
checked here (:mod:`._arguments`) and every mistake answered in the server's
own JSON error format. Nothing heavy happens at start-up: the store is opened,
and the spec, YAML and JSON Schema machinery imported, on the first tool call.

Tool bodies run in daemon threads (:mod:`._threads`), so a slow call never
stalls the event loop, and a call the client gave up on never keeps the
process alive.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.lowlevel import Server
from mcp_types import CallToolResult, ListToolsResult, TextContent, Tool, ToolAnnotations

from stratum_mcp._config import ServerConfig
from stratum_mcp._version import __version__
from stratum_mcp.tools._catalog import INSTRUCTIONS, TOOLS
from stratum_mcp.tools._threads import in_daemon_thread

if TYPE_CHECKING:
    from mcp.server import ServerRequestContext
    from mcp_types import CallToolRequestParams, PaginatedRequestParams

    from stratum_mcp._service import FlowService

__all__ = ["ToolRunner", "build_server"]

log = logging.getLogger("stratum_mcp")

#: Tool calls running at once; more wait their turn (each one is a thread).
_CONCURRENT_CALLS = 16


class ToolRunner:
    """Runs tool bodies in daemon threads against a service opened on first use; ``close()`` closes it."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._service: FlowService | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running = 0
        self._slots: anyio.Semaphore | None = None

    def service(self) -> FlowService:
        with self._lock:
            if self._closed:
                from stratum_mcp.errors import StoreError

                raise StoreError("the server is shutting down")
            if self._service is None:
                from stratum_mcp._pricing import PriceTable
                from stratum_mcp._service import FlowService
                from stratum_mcp.persistence import SqliteStore

                config = self._config
                prices = PriceTable.load(config.prices_path)  # a bad override fails the call, saying which file
                store = SqliteStore(config.db_path, limits=config.limits)
                self._service = FlowService(store, project_root=config.project_root, limits=config.limits,
                                            prices=prices, worktree_root=config.worktrees_dir)
            return self._service

    def close(self, *, grace: float | None = None) -> int:
        """Refuse further calls and close the service's store; return how many calls were left running.

        With ``grace``, wait up to that many seconds for running calls to
        finish first. A call still running then is abandoned and the store is
        left open under it (the process is about to exit; SQLite keeps what
        was committed and drops what was not).
        """
        with self._idle:
            self._closed = True
            if grace is not None:
                self._idle.wait_for(lambda: self._running == 0, timeout=grace)
            running = self._running
            service = None
            if running == 0:
                service, self._service = self._service, None
        if service is not None:
            service.close()
        return running

    def __enter__(self) -> ToolRunner:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def call(self, body: Callable[[FlowService], dict[str, Any]]) -> CallToolResult:
        """Run ``body`` on the service in a daemon thread and map its answer or error to a tool result."""
        return await self._call(lambda: body(self.service()))

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None) -> CallToolResult:
        """Check ``arguments`` against tool ``name``'s parameters, then run its body."""
        tool = TOOLS.get(name)
        limit = self._config.limits.argument_bytes

        def work() -> dict[str, Any]:
            from stratum_mcp.tools._arguments import parse_arguments

            if tool is None:
                from stratum_mcp._messages import suggest
                from stratum_mcp.errors import UnknownTool

                raise UnknownTool(name, list(TOOLS), suggest(name, list(TOOLS)))
            values = parse_arguments(tool.name, tool.params, arguments, max_bytes=limit)
            return tool.body(self.service(), values)

        return await self._call(work)

    async def _call(self, work: Callable[[], dict[str, Any]]) -> CallToolResult:
        if self._slots is None:
            self._slots = anyio.Semaphore(_CONCURRENT_CALLS)
        async with self._slots:
            payload, is_error = await in_daemon_thread(lambda: self._run(work), name="stratum tool call")
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=payload, is_error=is_error
        )

    def _run(self, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        from stratum_mcp.errors import StratumMcpError
        from stratum_mcp.tools import _results

        with self._lock:
            self._running += 1
        try:
            return work(), False
        except StratumMcpError as exc:
            return _results.error_payload(exc), True
        except Exception as exc:
            log.exception("unexpected error in a tool call")
            return _results.internal_error_payload(exc), True
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()


def tool_listing() -> ListToolsResult:
    """What ``tools/list`` answers: every tool of the catalog with its argument schema and hints."""
    from stratum_mcp.tools._arguments import input_schema

    return ListToolsResult(tools=[
        Tool(
            name=tool.name,
            description=tool.description,
            input_schema=input_schema(tool.params),
            annotations=ToolAnnotations(read_only_hint=tool.read_only, destructive_hint=False,
                                        open_world_hint=False),
        )
        for tool in TOOLS.values()
    ])


def build_server(config: ServerConfig, *, tools: ToolRunner | None = None) -> Server[Any]:
    """The stratum MCP server, with its tools registered.

    The tools run through ``tools``; pass a :class:`ToolRunner` you close when
    the server is done (as :func:`~stratum_mcp.tools.serve` does), or let the
    server make its own.
    """
    runner = tools if tools is not None else ToolRunner(config)
    listing: list[ListToolsResult] = []

    async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
        if not listing:
            listing.append(tool_listing())  # built on the first request, not at start-up
        return listing[0]

    async def call_tool(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        return await runner.call_tool(params.name, params.arguments)

    return Server("stratum", version=__version__, title="Stratum", instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)
