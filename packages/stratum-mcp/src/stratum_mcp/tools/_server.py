"""The MCP face: four tools that parse arguments, call :class:`FlowService`, and map the result.

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
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from stratum_mcp._config import ServerConfig
from stratum_mcp._version import __version__

if TYPE_CHECKING:
    from stratum_mcp._service import FlowService

__all__ = ["ToolRunner", "build_server", "serve"]

log = logging.getLogger("stratum_mcp")

INSTRUCTIONS = """\
Stratum runs typed, checked plans. Write a .stratum.yaml spec (contracts, functions with ensure
postconditions, a flow of steps), call stratum_plan, then loop: do the step you are given with your
own tools, report it with stratum_step_done, and follow the `status` and `next` of each answer.
The server checks every result against its contract and ensure expressions and keeps an audit trail.
"""

VALIDATE_DOC = """\
Check a .stratum.yaml spec without running it. Returns {valid, errors[]}; every error has a `path`
(e.g. flows.review.steps[1].inputs.text), a `message` and often a `suggestion`. All errors are
reported at once, so fix them all before calling stratum_plan. Spec format (version "0.1"):
  version: "0.1"
  contracts: {Name: {field: {type: string|number|integer|boolean|array|object, enum, items, min, max,
              required}}}   # or the shorthand `field: string`
  functions: {fn: {mode: infer|compute, intent, input: {field: type}, output: ContractName,
              ensure: ["result.score > 0.7", "len(result.items) > 0"], retries: 3, budget: {ms, usd}}}
  flows: {name: {input: {field: type}, output: ContractName, steps: [{id, function,
              inputs: {arg: $.input.field | $.steps.<id>.output.field | literal}, depends_on: [id]}]}}
Ensure expressions read `result` and `inputs`; they may use comparisons, and/or/not, in, arithmetic,
comprehensions, and len, all, any, sum, min, max, abs, round, sorted, str, int, float, bool, range,
lower, upper, strip, startswith, endswith, file_exists(path), file_contains(path, text). No methods."""

PLAN_DOC = """\
Validate a spec, check `inputs` against the flow's input types, start a durable run of `flow`, and
return the first step: {status: "execute_step", flow_id, step_id, step_number, total_steps, function,
intent, inputs, output_contract, output_schema, ensure, retries_remaining}. Do that step yourself,
then call stratum_step_done. Keep the flow_id: the run survives server restarts."""

STEP_DONE_DOC = """\
Report the result of the current step. `result` must be an object matching the step's output_schema.
The server checks the contract (missing fields, types, enum values, bounds), then every ensure
expression, then the step's time budget. Answers:
  execute_step      - passed; here is the next step
  schema_failed     - the result has the wrong shape (violations name each field and its value)
  ensure_failed     - a postcondition is false (violations name the expression and the values seen)
  budget_exceeded   - the step took longer than budget_ms
  complete          - the flow is done: {output, trace}
On a failure, fix exactly the listed violations, redo the step, and report the same step_id again;
retries_remaining says how many more tries you have. A rejection with none left fails the run with
an error (retries_exhausted); the run stays auditable."""

AUDIT_DOC = """\
Read the trace of a run, running or finished: status, duration, and per step its function, status,
number of attempts, duration, and the violations of every attempt. Use it to explain to the user
what happened, or to learn which postconditions tend to fail."""

_FlowId = Annotated[str, Field(description="The flow_id returned by stratum_plan (a UUID).")]


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
                from stratum_mcp._service import FlowService
                from stratum_mcp.persistence import SqliteStore

                store = SqliteStore(self._config.db_path, limits=self._config.limits)
                self._service = FlowService(
                    store, project_root=self._config.project_root, limits=self._config.limits
                )
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
    """The stratum MCP server, with its four tools registered.

    The tools run through ``tools``; pass a :class:`ToolRunner` you close when
    the server is done (as :func:`serve` does), or let the server make its own.
    """
    server: MCPServer[Any] = MCPServer(
        name="stratum", title="Stratum", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    tools = tools if tools is not None else ToolRunner(config)
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    @server.tool(name="stratum_validate", description=VALIDATE_DOC, annotations=read_only)
    async def stratum_validate(
        spec: Annotated[str, Field(description="The spec as YAML (or JSON) text.")],
    ) -> CallToolResult:
        from stratum_mcp.tools._results import validate_payload

        return await tools.call(lambda s: validate_payload(s.validate(spec)))

    @server.tool(name="stratum_plan", description=PLAN_DOC, annotations=writes)
    async def stratum_plan(
        spec: Annotated[str, Field(description="The spec as YAML (or JSON) text.")],
        flow: Annotated[str, Field(description="The name of the flow to run.")],
        inputs: Annotated[
            dict[str, Any] | None, Field(description="The flow's inputs, matching its `input` types.")
        ] = None,
    ) -> CallToolResult:
        from stratum_mcp.tools._results import outcome_payload

        return await tools.call(lambda s: outcome_payload(s.plan(spec, flow, inputs)))

    @server.tool(name="stratum_step_done", description=STEP_DONE_DOC, annotations=writes)
    async def stratum_step_done(
        flow_id: _FlowId,
        step_id: Annotated[str, Field(description="The step_id of the step you did.")],
        result: Annotated[Any, Field(description="The step's output: an object matching output_schema.")],
    ) -> CallToolResult:
        from stratum_mcp.tools._results import outcome_payload

        return await tools.call(lambda s: outcome_payload(s.step_done(flow_id, step_id, result)))

    @server.tool(name="stratum_audit", description=AUDIT_DOC, annotations=read_only)
    async def stratum_audit(flow_id: _FlowId) -> CallToolResult:
        from stratum_mcp.tools._results import audit_payload

        return await tools.call(lambda s: audit_payload(s.run(flow_id)))

    return server


def serve(config: ServerConfig) -> None:
    """Serve MCP over stdio until the client closes the connection, then close the store."""
    with ToolRunner(config) as tools:
        build_server(config, tools=tools).run("stdio")
