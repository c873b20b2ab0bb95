"""The tools this server offers: for each, what the model reads, its arguments, and its body.

A tool is one :class:`Tool` in :data:`TOOLS`. Its body receives the service
and the arguments already checked against its :class:`Param` list (by
:mod:`._arguments`), calls one :class:`~stratum_mcp.FlowService` operation,
and maps the answer with a ``*_payload`` function; errors it raises become
tool results in :mod:`._results`. This module imports nothing heavy: the
server needs it to answer ``initialize``, and the argument checks, errors and
results load on the first ``tools/list`` or call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from stratum_mcp._service import FlowService

__all__ = ["INSTRUCTIONS", "TOOLS", "Param", "Tool"]

Body = Callable[["FlowService", Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Param:
    """One argument of a tool: its name, JSON type, description for the model, and whether it is required."""

    name: str
    kind: Literal["string", "object"]
    description: str
    required: bool = True


@dataclass(frozen=True)
class Tool:
    """One MCP tool: name, description and arguments as the client sees them, and the body that runs it."""

    name: str
    description: str
    params: tuple[Param, ...]
    read_only: bool
    body: Body


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

_SPEC = Param("spec", "string", "The whole spec as YAML (or JSON) text, not a file path.")
_FLOW_ID = Param("flow_id", "string", "The flow_id that stratum_plan returned (a UUID), exactly as returned.")


def _validate(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import validate_payload

    return validate_payload(service.validate(args["spec"]))


def _plan(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import outcome_payload

    return outcome_payload(service.plan(args["spec"], args["flow"], args["inputs"]))


def _step_done(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import outcome_payload

    return outcome_payload(service.step_done(args["flow_id"], args["step_id"], args["result"]))


def _audit(service: FlowService, args: Mapping[str, Any]) -> dict[str, Any]:
    from stratum_mcp.tools._results import audit_payload

    return audit_payload(service.run(args["flow_id"]))


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("stratum_validate", VALIDATE_DOC, (_SPEC,), True, _validate),
        Tool("stratum_plan", PLAN_DOC, (
            _SPEC,
            Param("flow", "string", "The name of the flow to run: a key under `flows` in the spec."),
            Param("inputs", "object", "The flow's inputs as an object, one key per field of the flow's `input` "
                  "(e.g. {\"text\": \"...\"}); omit it for a flow without inputs.", required=False),
        ), False, _plan),
        Tool("stratum_step_done", STEP_DONE_DOC, (
            _FLOW_ID,
            Param("step_id", "string", "The step_id of the step you did, from the last execute_step answer."),
            Param("result", "object", "The step's output as an object (not its JSON text) with the fields of the "
                  "step's output_schema, e.g. {\"label\": \"positive\", \"confidence\": 0.9}."),
        ), False, _step_done),
        Tool("stratum_audit", AUDIT_DOC, (_FLOW_ID,), True, _audit),
    )
}
