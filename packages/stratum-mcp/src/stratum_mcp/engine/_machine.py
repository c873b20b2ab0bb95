"""The flow state machine: pure functions from (state, event) to (new state, outcome).

No I/O and no clock: the caller passes a :class:`~._judge.Context` (the time,
a checker, the bounds) and persists the new state before telling anyone about
the outcome, which is what makes a run survive a crash between any two calls.

::

    run, first = start(spec, "review", flow_id, {"text": "..."}, ctx)
    run, outcome = report(run, spec, "classify", result, ctx)

This module holds starting a run, reporting a step, skipping one, and gates
(resolving them, and expiring those past their timeout). Iteration loops are
in :mod:`._loops`, parallel steps in :mod:`._parallel`, checkpoints in
:mod:`._checkpoints`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from stratum_mcp._messages import suggest
from stratum_mcp._problems import Violation
from stratum_mcp.engine._dispatch import dispatch_of
from stratum_mcp.engine._judge import Context, Verdict, judge
from stratum_mcp.engine._outcomes import AttemptRejected, Dispatch, Outcome, RunEnded
from stratum_mcp.engine._state import Attempt, Feedback, FlowRun, Resolution, StepRun, Usage
from stratum_mcp.engine._transition import TOOLS as _TOOLS
from stratum_mcp.engine._transition import Transition
from stratum_mcp.engine._tree import StepPath, find, label, leaf
from stratum_mcp.errors import (
    FlowBudgetExceeded,
    FlowFinished,
    GateAlreadyResolved,
    InputsInvalid,
    RetriesExhausted,
    ReviseRefused,
    SkipRefused,
    StepMismatch,
    UnknownFlowName,
    WrongTool,
)
from stratum_mcp.spec import Spec

__all__ = ["check_timeouts", "expire", "outcome_of", "reject_or_fail", "report", "resolve_gate", "skip", "start"]

GateOutcome = Literal["approve", "revise", "kill"]
ResolvedBy = Literal["human", "agent", "system"]


def start(spec: Spec, flow_name: str, flow_id: str, inputs: dict[str, Any], ctx: Context) -> tuple[FlowRun, Outcome]:
    """Create a run of ``flow_name`` and move it to its first step (which may skip, wait or fan out)."""
    flow = spec.flows.get(flow_name)
    if flow is None:
        raise UnknownFlowName(flow_name, sorted(spec.flows), suggest(flow_name, spec.flows))
    violations = ctx.checker.fields_violations(flow.input, inputs, kind="input")
    if violations:
        raise InputsInvalid(violations)
    run = FlowRun(
        flow_id=flow_id,
        flow=flow.name,
        spec_digest=spec.digest,
        status="running",
        inputs=inputs,
        created_ms=ctx.now_ms,
        updated_ms=ctx.now_ms,
        current=0,
        steps=tuple(StepRun(step_id=s.id, function=s.function) for s in flow.steps),
    )
    tx = Transition(run, spec, ctx)
    tx.note("flow_started", flow=flow.name, spec_version=spec.version)
    tx.drive(lambda: tx.enter((0,)))
    return outcome_of(tx)


def report(
    run: FlowRun, spec: Spec, step_id: str, result: Any, ctx: Context, *, usage: Usage | None = None
) -> tuple[FlowRun, Outcome]:
    """Judge ``result`` for ``step_id`` and move the run on.

    Raises a usage error (and changes nothing) for a finished run, the wrong
    step, or a step another tool reports (a gate, a loop, a parallel step).
    """
    tx = Transition(run, spec, ctx)
    path = tx.expect(step_id, "function")
    step = tx.step(path)
    function = spec.function_of(tx.definition(path))
    assert function is not None
    started = step.dispatched_ms if step.dispatched_ms is not None else ctx.now_ms
    number = len(step.attempts) + 1
    over = tx.over_time()
    if over is not None:
        return _over_time(tx, path, step, started, over)
    status, violations = judge(ctx.checker, function, spec.contract_of(function), result, step.inputs, started,
                               ctx.now_ms)
    attempt = Attempt(number, started, ctx.now_ms, status or "passed", tuple(violations), visit=step.visit)
    tx.put(path, replace(step, attempts=(*step.attempts, attempt)))
    tx.note("attempt", path, attempt=number, outcome=attempt.outcome, violations=len(violations))
    if tx.spend(usage):
        return outcome_of(tx)
    if status is None:
        tx.complete(path, result)
        tx.drive(lambda: tx.succeed(path))
        return outcome_of(tx)
    return reject_or_fail(tx, path, status, number, violations, function.retries)


def reject_or_fail(
    tx: Transition, path: StepPath, status: Verdict, number: int, violations: Sequence[Violation], retries: int
) -> tuple[FlowRun, Outcome]:
    """After a rejected attempt: hand the step out again while retries remain, else fail it."""
    step = tx.step(path)
    # The first answer is not a retry: `retries: 2` allows three answers, so after the first rejection
    # two retries remain, after the second one, and a third rejection ends the step.
    remaining = retries + 1 - step.failures
    name = label(tx.run, path)
    if remaining <= 0:
        error = RetriesExhausted(tx.run.flow_id, name, number, violations)
        tx.drive(lambda: tx.fail(path, error))
        return outcome_of(tx)
    tx.put(path, replace(step, dispatched_ms=tx.now))
    run = tx.finish()
    return run, AttemptRejected(run.flow_id, name, status, number, tuple(violations), remaining, tuple(tx.events))


def _over_time(
    tx: Transition, path: StepPath, step: StepRun, started: int, over: FlowBudgetExceeded
) -> tuple[FlowRun, Outcome]:
    violation = Violation("budget", "flow.budget.ms", f"the flow has run {over.spent_ms} ms; its budget is "
                          f"{over.limit_ms} ms", over.spent_ms)
    attempt = Attempt(len(step.attempts) + 1, started, tx.now, "flow_budget_exceeded", (violation,), visit=step.visit)
    tx.put(path, replace(step, status="failed", attempts=(*step.attempts, attempt), dispatched_ms=None))
    tx.end(over)
    return outcome_of(tx)


def outcome_of(tx: Transition) -> tuple[FlowRun, Outcome]:
    """The run after ``tx``, and what to answer: the run's error if it just failed, else its dispatch."""
    run = tx.finish()
    if tx.ended is not None:
        return run, RunEnded(tx.ended)
    return run, dispatch_of(run, tx.spec, tuple(tx.events))


def skip(run: FlowRun, spec: Spec, step_id: str, reason: str, ctx: Context) -> tuple[FlowRun, Outcome]:
    """Skip the current step because the agent asks to; refused for gates and for the flow's output step."""
    tx = Transition(run, spec, ctx)
    if run.status != "running":
        raise FlowFinished(run.flow_id, run.status)
    path = leaf(run)
    assert path is not None
    current = label(run, path)
    if step_id != current:
        raise StepMismatch(run.flow_id, current, step_id, tx.mismatch_reason(step_id))
    definition = tx.definition(path)
    if definition.kind == "gate":
        raise SkipRefused(run.flow_id, step_id, "a gate waits for a decision; resolve it with stratum_gate_resolve")
    flow = tx.flow(path[:-1])
    producers = [i for i, s in enumerate(flow.steps) if s.kind != "gate"]
    if flow.output and producers and producers[-1] == path[-1]:
        raise SkipRefused(run.flow_id, step_id, "its output is the flow's output")
    step = tx.step(path)
    tasks = tuple(replace(t, status="cancelled", dispatched_ms=None) if t.status in ("pending", "running") else t
                  for t in step.tasks) if step.tasks is not None else None
    tx.put(path, replace(step, status="skipped", skip_reason=reason, dispatched_ms=None, tasks=tasks))
    tx.note("step_skipped", path, reason=reason, by="agent")
    tx.drive(lambda: tx.succeed(path))
    return outcome_of(tx)


def resolve_gate(
    run: FlowRun, spec: Spec, step_id: str, outcome: GateOutcome, rationale: str, resolved_by: ResolvedBy,
    ctx: Context,
) -> tuple[FlowRun, Outcome]:
    """Approve, revise or kill the gate the run waits at, and move the run on.

    :class:`GateAlreadyResolved` if that gate was decided before (by someone
    else, or by its timeout); nothing changes on any usage error.
    """
    tx = Transition(run, spec, ctx)
    path = _waiting_gate(tx, step_id)
    prefix, index = path[:-1], path[-1]
    definition, flow = tx.definition(path), tx.flow(prefix)
    if outcome == "revise":
        if definition.routes.on_revise is None:
            raise ReviseRefused(run.flow_id, step_id, "it names no `on_revise` step to go back to")
        if not tx.can_go_back(prefix):
            raise ReviseRefused(run.flow_id, step_id, f"the flow has used all {flow.max_rounds} of its rounds",
                                flow.max_rounds)
    _decide(tx, path, outcome, rationale, resolved_by)
    if outcome == "approve":
        target = definition.routes.on_approve
        goal = flow.index(target) if target is not None else index + 1
        tx.drive(lambda: tx.goto(prefix, goal))
    elif outcome == "revise":
        assert definition.routes.on_revise is not None
        goal = flow.index(definition.routes.on_revise)
        back_to = tx.step((*prefix, goal))
        feedback = Feedback(label(tx.run, path), rationale, resolved_by, tx.frame(prefix).rounds + 1)
        tx.put((*prefix, goal), replace(back_to, feedback=(*back_to.feedback, feedback)))
        tx.note("routed", path, route="on_revise", to=definition.routes.on_revise)
        tx.drive(lambda: tx.goto(prefix, goal))
    elif definition.routes.on_kill is not None:
        goal = flow.index(definition.routes.on_kill)
        tx.note("routed", path, route="on_kill", to=definition.routes.on_kill)
        tx.drive(lambda: tx.goto(prefix, goal))
    else:
        tx.kill(path, rationale, resolved_by)
    return outcome_of(tx)


def _waiting_gate(tx: Transition, step_id: str) -> StepPath:
    run = tx.run
    named = find(run, step_id)
    current = leaf(run) if run.status == "running" else None
    if current is not None and current == named and tx.step(current).status == "waiting":
        return current
    step = tx.step(named) if named is not None else None
    if step is not None and step.gate is not None and step.gate.resolutions:
        decided = step.gate.resolutions[-1]
        if decided.visit == step.visit:  # decided, and not entered again since
            raise GateAlreadyResolved(run.flow_id, step_id, decided.outcome, decided.resolved_by)
    if current is None:
        raise FlowFinished(run.flow_id, run.status)
    if current == named:
        what, tool = _TOOLS[tx.kind_of(current)]
        raise WrongTool(run.flow_id, step_id, what, tool)
    raise StepMismatch(run.flow_id, label(run, current), step_id, tx.mismatch_reason(step_id))


def _decide(tx: Transition, path: StepPath, outcome: GateOutcome, rationale: str, resolved_by: ResolvedBy) -> None:
    step = tx.step(path)
    assert step.gate is not None
    resolution = Resolution(outcome, rationale, resolved_by, tx.now, step.visit)
    gate = replace(step.gate, resolutions=(*step.gate.resolutions, resolution))
    tx.put(path, replace(step, gate=gate))
    tx.note("gate_resolved", path, outcome=outcome, resolved_by=resolved_by, rationale=rationale)
    tx.complete(path, {"outcome": outcome, "rationale": rationale, "resolved_by": resolved_by}, produced=False)


def expire(run: FlowRun, spec: Spec, ctx: Context) -> FlowRun:
    """``run`` with its waiting gate killed by the system if its timeout has passed; else ``run`` itself."""
    path = leaf(run) if run.status == "running" else None
    if path is None:
        return run
    tx = Transition(run, spec, ctx)
    step = tx.step(path)
    if step.status != "waiting" or step.gate is None or step.gate.deadline_ms is None:
        return run
    if ctx.now_ms < step.gate.deadline_ms:
        return run
    waited = (ctx.now_ms - step.gate.opened_ms) // 1000
    new_run, _ = resolve_gate(run, spec, label(run, path), "kill", f"no decision within {waited} s (timeout)",
                              "system", ctx)
    return new_run


def check_timeouts(run: FlowRun, spec: Spec, ctx: Context) -> tuple[FlowRun, Dispatch, bool]:
    """Expire the run's gate if it is due; the new run, its dispatch, and whether a gate expired."""
    expired = expire(run, spec, ctx)
    changed = expired is not run
    new_events = expired.events[len(run.events):] if changed else ()
    return expired, dispatch_of(expired, spec, tuple(new_events)), changed
