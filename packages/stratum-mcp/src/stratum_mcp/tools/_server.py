"""The MCP face: the tools, each parsing its arguments, calling :class:`FlowService`, and mapping the result.

Nothing heavy happens at start-up: the store is opened, and the spec,
YAML and JSON Schema machinery imported, on the first tool call, so a client
gets its ``tools/list`` answer as soon as the SDK itself is loaded. Tool work
runs in worker threads (SQLite writes, file helpers, bounded expression
evaluation), so one slow call never stalls the event loop. When the client
goes away, :func:`serve` closes the store before returning.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from stratum_mcp._config import ServerConfig
from stratum_mcp._version import __version__
from stratum_mcp.tools._descriptions import DESCRIPTIONS, INSTRUCTIONS

if TYPE_CHECKING:
    from stratum_mcp._service import FlowService

__all__ = ["ToolRunner", "build_server", "serve"]

log = logging.getLogger("stratum_mcp")

_FlowId = Annotated[str, Field(description="The flow_id returned by stratum_plan (a UUID).")]
_StepId = Annotated[str, Field(description="The step_id of the current step, as the last answer gave it.")]
_Result = Annotated[dict[str, Any], Field(description="The step's output: an object matching output_schema.")]
_Note = Annotated[str, Field(description="Why, in a sentence or two (at most 4,000 characters).")]


class UsageReport(BaseModel):
    """What producing a result cost: dollars, or tokens and the model that used them."""

    usd: float | None = Field(default=None, ge=0, description="Dollars spent.")
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    model: str | None = Field(default=None, description="The model that used the tokens, priced from the price table.")


class TaskReport(BaseModel):
    """One task's report in stratum_parallel_done."""

    task_id: str = Field(description="The task_id from execute_tasks.")
    result: dict[str, Any] | None = Field(default=None, description="The task's output, matching output_schema.")
    status: Literal["complete", "failed"] = Field(default="complete", description="failed: you give the task up.")
    error: str | None = Field(default=None, description="Why the task failed.")


def _plain(model: BaseModel | None) -> dict[str, Any] | None:
    """An argument model as the plain JSON object the service checks (fields left out stay out)."""
    return None if model is None else model.model_dump(exclude_none=True)


_Usage = Annotated[UsageReport | None, Field(description="Optional: what this report cost ({usd} or "
                                                         "{input_tokens, output_tokens, model}).")]


class ToolRunner:
    """Runs tool bodies in worker threads against a service opened on first use; ``close()`` closes it."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._service: FlowService | None = None
        self._closed = False
        self._lock = threading.Lock()

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

    def close(self) -> None:
        """Close the service's store, if a call opened it; later calls are refused."""
        with self._lock:
            service, self._service, self._closed = self._service, None, True
        if service is not None:
            service.close()

    def __enter__(self) -> ToolRunner:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def call(self, body: Callable[[FlowService], dict[str, Any]]) -> CallToolResult:
        payload, is_error = await anyio.to_thread.run_sync(self._run, body)
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=payload, is_error=is_error
        )

    def _run(self, body: Callable[[FlowService], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        from stratum_mcp.errors import StratumMcpError
        from stratum_mcp.tools import _results

        try:
            return body(self.service()), False
        except StratumMcpError as exc:
            return _results.error_payload(exc), True
        except Exception as exc:
            log.exception("unexpected error in a tool call")
            return _results.internal_error_payload(exc), True


def build_server(config: ServerConfig, *, tools: ToolRunner | None = None) -> MCPServer[Any]:
    """The stratum MCP server, with its tools registered.

    The tools run through ``tools``; pass a :class:`ToolRunner` you close when
    the server is done (as :func:`serve` does), or let the server make its own.
    Each tool only parses its arguments, calls the service and maps the answer.
    """
    server: MCPServer[Any] = MCPServer(
        name="stratum", title="Stratum", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    run = tools if tools is not None else ToolRunner(config)
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    def tool(name: str, annotations: ToolAnnotations = writes) -> Callable[[Any], Any]:
        return server.tool(name=name, description=DESCRIPTIONS[name], annotations=annotations)

    from stratum_mcp.tools import _results as r

    @tool("stratum_validate", read_only)
    async def stratum_validate(
        spec: Annotated[str, Field(description="The spec as YAML (or JSON) text.")],
    ) -> CallToolResult:
        return await run.call(lambda s: r.validate_payload(s.validate(spec)))

    @tool("stratum_plan")
    async def stratum_plan(
        spec: Annotated[str, Field(description="The spec as YAML (or JSON) text.")],
        flow: Annotated[str, Field(description="The name of the flow to run.")],
        inputs: Annotated[
            dict[str, Any] | None, Field(description="The flow's inputs, matching its `input` types.")
        ] = None,
    ) -> CallToolResult:
        return await run.call(lambda s: r.outcome_payload(s.plan(spec, flow, inputs)))

    @tool("stratum_step_done")
    async def stratum_step_done(
        flow_id: _FlowId,
        step_id: Annotated[str, Field(description="The step_id of the step you did.")],
        result: Annotated[Any, Field(description="The step's output: an object matching output_schema.")],
        usage: _Usage = None,
    ) -> CallToolResult:
        return await run.call(lambda s: r.outcome_payload(s.step_done(flow_id, step_id, result, _plain(usage))))

    @tool("stratum_audit", read_only)
    async def stratum_audit(flow_id: _FlowId) -> CallToolResult:
        return await run.call(lambda s: r.audit_payload(s.run(flow_id)))

    @tool("stratum_resume")
    async def stratum_resume(flow_id: _FlowId) -> CallToolResult:
        return await run.call(lambda s: r.outcome_payload(s.resume(flow_id)))

    @tool("stratum_gate_resolve")
    async def stratum_gate_resolve(
        flow_id: _FlowId,
        step_id: Annotated[str, Field(description="The step_id of the gate (from await_gate).")],
        outcome: Annotated[Literal["approve", "revise", "kill"], Field(description="The decision.")],
        rationale: _Note = "",
        resolved_by: Annotated[
            Literal["human", "agent", "system"], Field(description="Who decided: human when a person did.")
        ] = "human",
    ) -> CallToolResult:
        return await run.call(
            lambda s: r.outcome_payload(s.resolve_gate(flow_id, step_id, outcome, rationale, resolved_by)))

    @tool("stratum_skip_step")
    async def stratum_skip_step(flow_id: _FlowId, step_id: _StepId, reason: _Note) -> CallToolResult:
        return await run.call(lambda s: r.outcome_payload(s.skip_step(flow_id, step_id, reason)))

    @tool("stratum_iteration_start")
    async def stratum_iteration_start(flow_id: _FlowId, step_id: _StepId) -> CallToolResult:
        return await run.call(lambda s: r.outcome_payload(s.iteration_start(flow_id, step_id)))

    @tool("stratum_iteration_report")
    async def stratum_iteration_report(
        flow_id: _FlowId, step_id: _StepId, result: _Result, usage: _Usage = None
    ) -> CallToolResult:
        return await run.call(
            lambda s: r.outcome_payload(s.iteration_report(flow_id, step_id, result, _plain(usage))))

    @tool("stratum_iteration_abort")
    async def stratum_iteration_abort(flow_id: _FlowId, step_id: _StepId, reason: _Note) -> CallToolResult:
        return await run.call(lambda s: r.outcome_payload(s.iteration_abort(flow_id, step_id, reason)))

    @tool("stratum_parallel_done")
    async def stratum_parallel_done(
        flow_id: _FlowId,
        step_id: _StepId,
        results: Annotated[list[TaskReport], Field(description="One entry per task reported now.")],
        usage: _Usage = None,
    ) -> CallToolResult:
        reports = [_plain(report) for report in results]
        return await run.call(lambda s: r.outcome_payload(s.parallel_done(flow_id, step_id, reports, _plain(usage))))

    @tool("stratum_commit")
    async def stratum_commit(
        flow_id: _FlowId, label: Annotated[str, Field(description="The checkpoint's name, e.g. `before-split`.")]
    ) -> CallToolResult:
        return await run.call(lambda s: r.commit_payload(s.commit(flow_id, label)))

    @tool("stratum_revert")
    async def stratum_revert(
        flow_id: _FlowId, label: Annotated[str, Field(description="The label given to stratum_commit.")]
    ) -> CallToolResult:
        return await run.call(lambda s: r.outcome_payload(s.revert(flow_id, label)))

    @tool("stratum_check_timeouts")
    async def stratum_check_timeouts(
        flow_id: Annotated[str | None, Field(description="One run to check; leave out to check every running "
                                                         "run.")] = None,
    ) -> CallToolResult:
        return await run.call(
            lambda s: r.timeouts_payload(s.check_timeouts(flow_id), one=flow_id is not None))

    return server


def serve(config: ServerConfig) -> None:
    """Serve MCP over stdio until the client closes the connection, then close the store."""
    with ToolRunner(config) as tools:
        build_server(config, tools=tools).run("stdio")
