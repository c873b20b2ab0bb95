"""The tools this server offers: for each, its arguments and its body (what the model reads is in ``_descriptions``).

A tool is one :class:`Tool` in :data:`TOOLS`. Its body receives the service
and the arguments already checked against its :class:`Param` list (by
:mod:`._arguments`: JSON type, allowed values, defaults), calls one
:class:`~stratum_mcp.FlowService` operation, and maps the answer with a
``*_payload`` function; errors it raises become tool results in
:mod:`._results`. What an object or array argument holds (``usage``, task
reports) is published in the input schema and checked by the service, which
names each wrong field in its own violations.

This module imports nothing heavy: the server needs it to answer
``initialize``, and the argument checks, errors and results load on the
first ``tools/list`` or call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from stratum_mcp.tools._descriptions import DESCRIPTIONS, INSTRUCTIONS

if TYPE_CHECKING:
    from stratum_mcp._service import FlowService

__all__ = ["INSTRUCTIONS", "TOOLS", "Param", "Tool"]

Body = Callable[["FlowService", Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Param:
    """One argument of a tool, as the client sees it in the input schema and as every call is checked.

    ``enum`` lists a string's allowed values; ``default`` is what an absent
    argument means (``None``: absent); ``shape`` is the JSON Schema of what an
    object holds, or of an array's items, for the client to read.
    """

    name: str
    kind: Literal["string", "object", "array"]
    description: str
    required: bool = True
    enum: tuple[str, ...] | None = None
    default: Any = None
    shape: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Tool:
    """One MCP tool: name, description and arguments as the client sees them, and the body that runs it."""

    name: str
    params: tuple[Param, ...]
    read_only: bool
    body: Body

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.name]


_SPEC = Param("spec", "string", "The whole spec as YAML (or JSON) text, not a file path.")
_FLOW_ID = Param("flow_id", "string", "The flow_id that stratum_plan returned (a UUID), exactly as returned.")
_STEP_ID = Param("step_id", "string", "The step_id of the current step, as the last answer gave it.")
_RESULT = Param("result", "object", "The step's output as an object (not its JSON text) with the fields of the "
                "step's output_schema, e.g. {\"label\": \"positive\", \"confidence\": 0.9}.")
_NOTE = "Why, in a sentence or two (at most 4,000 characters)."
_USAGE = Param("usage", "object", "Optional: what producing this result cost, {usd} or {input_tokens, "
               "output_tokens, model}; counts against a 0.2 flow's budget.usd.", required=False, shape={
                   "properties": {
                       "usd": {"type": "number", "minimum": 0, "description": "Dollars spent."},
                       "input_tokens": {"type": "integer", "minimum": 0},
                       "output_tokens": {"type": "integer", "minimum": 0},
                       "model": {"type": "string",
                                 "description": "The model that used the tokens, priced from the price table."},
                   },
                   "additionalProperties": False,
               })
_TASK_REPORT = {
    "type": "object",
    "properties": {
        "task_id": {"type": "string", "description": "The task_id from execute_tasks."},
        "result": {"type": ["object", "null"], "description": "The task's output, matching output_schema."},
        "status": {"type": "string", "enum": ["complete", "failed"], "default": "complete",
                   "description": "failed: you give the task up."},
        "error": {"type": ["string", "null"], "description": "Why the task failed."},
    },
    "required": ["task_id"],
    "additionalProperties": False,
}


def _plain(value: Any) -> Any:
    """An object argument without its null fields: a client's `"model": null` means it left the field out."""
    return {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value


def _validate(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import validate_payload

    return validate_payload(service.validate(args["spec"]))


def _plan(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import outcome_payload

    return outcome_payload(service.plan(args["spec"], args["flow"], args["inputs"]))


def _step_done(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import outcome_payload

    return outcome_payload(service.step_done(args["flow_id"], args["step_id"], args["result"],
                                             _plain(args["usage"])))


def _audit(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import audit_payload

    return audit_payload(service.run(args["flow_id"]))


def _dispatch(operation: str, *names: str) -> Body:
    """A body that calls ``operation`` with the arguments ``names`` and maps the answer as an outcome."""

    def body(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
        from stratum_mcp.tools._results import outcome_payload

        return outcome_payload(getattr(service, operation)(*(args[name] for name in names)))

    return body


def _iteration_report(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import outcome_payload

    return outcome_payload(service.iteration_report(args["flow_id"], args["step_id"], args["result"],
                                                    _plain(args["usage"])))


def _parallel_done(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import outcome_payload

    reports = [_plain(report) for report in args["results"]]
    return outcome_payload(service.parallel_done(args["flow_id"], args["step_id"], reports, _plain(args["usage"])))


def _commit(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import commit_payload

    return commit_payload(service.commit(args["flow_id"], args["label"]))


def _check_timeouts(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import timeouts_payload

    flow_id = args["flow_id"]
    return timeouts_payload(service.check_timeouts(flow_id), one=flow_id is not None)


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("stratum_validate", (_SPEC,), True, _validate),
        Tool("stratum_plan", (
            _SPEC,
            Param("flow", "string", "The name of the flow to run: a key under `flows` in the spec."),
            Param("inputs", "object", "The flow's inputs as an object, one key per field of the flow's `input` "
                  "(e.g. {\"text\": \"...\"}); omit it for a flow without inputs.", required=False),
        ), False, _plan),
        Tool("stratum_step_done", (_FLOW_ID, _STEP_ID, _RESULT, _USAGE), False, _step_done),
        Tool("stratum_audit", (_FLOW_ID,), True, _audit),
        Tool("stratum_resume", (_FLOW_ID,), False, _dispatch("resume", "flow_id")),
        Tool("stratum_gate_resolve", (
            _FLOW_ID,
            Param("step_id", "string", "The step_id of the gate, from the await_gate answer."),
            Param("outcome", "string", "The decision: approve (go on), revise (go back to on_revise) or kill.",
                  enum=("approve", "revise", "kill")),
            Param("rationale", "string", _NOTE, required=False, default=""),
            Param("resolved_by", "string", "Who decided: human when a person did (relay what they said), agent "
                  "when you did, system for automation.", required=False, enum=("human", "agent", "system"),
                  default="human"),
        ), False, _dispatch("resolve_gate", "flow_id", "step_id", "outcome", "rationale", "resolved_by")),
        Tool("stratum_skip_step", (_FLOW_ID, _STEP_ID, Param("reason", "string", _NOTE)), False,
             _dispatch("skip_step", "flow_id", "step_id", "reason")),
        Tool("stratum_iteration_start", (_FLOW_ID, _STEP_ID), False,
             _dispatch("iteration_start", "flow_id", "step_id")),
        Tool("stratum_iteration_report", (_FLOW_ID, _STEP_ID, _RESULT, _USAGE), False, _iteration_report),
        Tool("stratum_iteration_abort", (_FLOW_ID, _STEP_ID, Param("reason", "string", _NOTE)), False,
             _dispatch("iteration_abort", "flow_id", "step_id", "reason")),
        Tool("stratum_parallel_done", (
            _FLOW_ID, _STEP_ID,
            Param("results", "array", "One entry per task reported now: {task_id, result}, or {task_id, status: "
                  "\"failed\", error} for a task you give up.", shape=_TASK_REPORT),
            _USAGE,
        ), False, _parallel_done),
        Tool("stratum_commit", (
            _FLOW_ID,
            Param("label", "string", "The checkpoint's name, e.g. `before-split` (letters, digits, _, -, .)."),
        ), False, _commit),
        Tool("stratum_revert", (_FLOW_ID, Param("label", "string", "The label given to stratum_commit.")), False,
             _dispatch("revert", "flow_id", "label")),
        Tool("stratum_check_timeouts", (
            Param("flow_id", "string", "One run to check (its flow_id); leave it out to check every running run.",
                  required=False),
        ), False, _check_timeouts),
    )
}
