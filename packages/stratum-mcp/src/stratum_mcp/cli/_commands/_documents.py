"""The JSON documents ``query`` and ``gate`` print, each in a versioned shape shipped as a JSON Schema.

Every document names its shape in ``schema`` (``query-gates.v1``); the
schema of each is in ``stratum_mcp/cli/schemas/<name>.schema.json`` and
printed by ``stratum-mcp schema --output <name>``. A shape only ever gains
optional fields under its name; anything else is a new version.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratum_mcp._service import Expiry, PendingGate
    from stratum_mcp.engine import Dispatch, FlowRun
    from stratum_mcp.errors import StratumMcpError
    from stratum_mcp.spec import Spec

__all__ = [
    "OUTPUT_SCHEMAS",
    "error_document",
    "flow_document",
    "flows_document",
    "gates_document",
    "output_schema",
    "resolution_document",
    "sweep_document",
]

#: Every document shape the command line prints.
OUTPUT_SCHEMAS = ("cli-error.v1", "gate-resolution.v1", "gate-sweep.v1", "query-flow.v1", "query-flows.v1",
                  "query-gates.v1")


@cache
def output_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of document shape ``name`` (one of :data:`OUTPUT_SCHEMAS`)."""
    if name not in OUTPUT_SCHEMAS:
        raise KeyError(name)
    text = resources.files("stratum_mcp.cli").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _summary(run: FlowRun, spec: Spec | None) -> dict[str, Any]:
    from stratum_mcp.engine import AwaitGate, ExecuteStep, ExecuteTasks, dispatch_of

    current: str | None = None
    waiting: str | None = None
    if run.status == "running" and spec is not None:
        dispatch = dispatch_of(run, spec)
        if isinstance(dispatch, ExecuteStep | AwaitGate | ExecuteTasks):
            current = dispatch.step_id
            waiting = "gate" if isinstance(dispatch, AwaitGate) else "tasks" if isinstance(dispatch, ExecuteTasks) \
                else "step"
    return {
        "flow_id": run.flow_id,
        "flow": run.flow,
        "status": run.status,
        "current_step": current,
        "waiting": waiting,
        "steps": len(run.steps),
        "completed_steps": sum(1 for s in run.steps if s.status in ("complete", "skipped")),
        "rounds": run.rounds,
        "created_ms": run.created_ms,
        "updated_ms": run.updated_ms,
        "spent_usd": round(run.usage.usd, 6),
    }


def flows_document(runs: list[tuple[FlowRun, Spec | None]]) -> dict[str, Any]:
    return {"schema": "query-flows.v1", "flows": [_summary(run, spec) for run, spec in runs]}


def flow_document(run: FlowRun, spec: Spec | None) -> dict[str, Any]:
    from stratum_mcp.engine import audit_view

    return {"schema": "query-flow.v1", "summary": _summary(run, spec), "audit": audit_view(run)}


def gates_document(gates: list[PendingGate]) -> dict[str, Any]:
    entries = []
    for pending in gates:
        gate, run = pending.gate, pending.run
        revise_to = gate.step.routes.on_revise
        entries.append({
            "flow_id": run.flow_id,
            "flow": run.flow,
            "step_id": gate.step_id,
            "function": gate.function.name,
            "intent": gate.function.intent,
            "inputs": gate.inputs,
            "opened_ms": gate.gate.opened_ms,
            "expires_at_ms": gate.gate.deadline_ms,
            "round": gate.round,
            "max_rounds": gate.max_rounds,
            "can_revise": revise_to is not None and gate.round < gate.max_rounds,
            "revise_to": revise_to,
        })
    return {"schema": "query-gates.v1", "gates": entries}


def _where(dispatch: Dispatch) -> dict[str, Any]:
    from stratum_mcp.tools import outcome_payload

    payload = outcome_payload(dispatch)
    return {"status": payload["status"], "step_id": payload.get("step_id")}


def resolution_document(flow_id: str, step_id: str, outcome: str, rationale: str, resolved_by: str,
                        then: Dispatch) -> dict[str, Any]:
    return {"schema": "gate-resolution.v1", "flow_id": flow_id, "step_id": step_id, "outcome": outcome,
            "rationale": rationale, "resolved_by": resolved_by, "then": _where(then)}


def sweep_document(expiries: list[Expiry]) -> dict[str, Any]:
    return {"schema": "gate-sweep.v1", "checked": len(expiries),
            "expired": [{"flow_id": e.flow_id, "status": _where(e.dispatch)["status"]} for e in expiries if e.expired]}


def error_document(error: StratumMcpError, exit_code: int) -> dict[str, Any]:
    return {"schema": "cli-error.v1", "error": error.code, "message": str(error), "exit_code": exit_code,
            **error.fields()}
