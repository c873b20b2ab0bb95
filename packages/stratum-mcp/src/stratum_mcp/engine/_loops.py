"""Iteration loops: a step reported one iteration at a time until its criterion holds or its count runs out.

Each iteration's result is judged like any result (contract, ensure, time
budget; a rejection uses a retry). An accepted iteration adds its
``accumulate`` items, de-duplicated, then ``exit_criterion`` is evaluated with
``result``, ``inputs``, ``iteration`` (this iteration's number),
``accumulated`` (the de-duplicated items so far), ``new_count`` (items this
iteration added) and ``dry_streak`` (iterations in a row that added none). The
loop is left when the criterion holds (``criterion_met``), after
``max_iterations`` (``max_reached``), or when the agent aborts it
(``aborted``); the step's output is then the last result, with the
accumulated items in place of its ``accumulate`` field.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from stratum_mcp._problems import Violation
from stratum_mcp.engine._dispatch import dispatch_of
from stratum_mcp.engine._judge import Context, judge
from stratum_mcp.engine._machine import outcome_of, reject_or_fail
from stratum_mcp.engine._outcomes import AttemptRejected, IterationAnswer, RunEnded
from stratum_mcp.engine._state import Attempt, FlowRun, IterationRun, Usage
from stratum_mcp.engine._transition import Transition
from stratum_mcp.engine._tree import StepPath
from stratum_mcp.errors import EvaluationError, IterationAborted, IterationNotStarted
from stratum_mcp.spec import Iteration, Spec

__all__ = ["abort_iteration", "report_iteration", "start_iteration"]

Answer = IterationAnswer | AttemptRejected | RunEnded


def start_iteration(run: FlowRun, spec: Spec, step_id: str, ctx: Context) -> tuple[FlowRun, IterationAnswer]:
    """Start the loop of the current step; starting a started loop only says where it is."""
    tx = Transition(run, spec, ctx)
    path = tx.expect(step_id, "iteration")
    step = tx.step(path)
    loop = step.iteration or IterationRun()
    if not loop.started:
        tx.put(path, replace(step, iteration=replace(loop, started=True), dispatched_ms=ctx.now_ms))
        tx.note("iteration_started", path)
    new_run = tx.finish()
    then = dispatch_of(new_run, spec, tuple(tx.events))
    return new_run, IterationAnswer(step_id, "started", loop.count, then)


def report_iteration(
    run: FlowRun, spec: Spec, step_id: str, result: Any, ctx: Context, *, usage: Usage | None = None
) -> tuple[FlowRun, Answer]:
    """Judge one iteration; answer ``continue``, or leave the loop and move the run on."""
    tx = Transition(run, spec, ctx)
    path = tx.expect(step_id, "iteration")
    step = tx.step(path)
    loop = step.iteration or IterationRun()
    if not loop.started:
        raise IterationNotStarted(run.flow_id, step_id)
    definition = tx.definition(path)
    assert definition.iteration is not None
    function = spec.function_of(definition)
    assert function is not None
    started = step.dispatched_ms if step.dispatched_ms is not None else ctx.now_ms
    over = tx.over_time()
    if over is not None:
        tx.end(over)
        return _answer(tx, step_id, "continue", loop.count)
    status, violations = judge(ctx.checker, function, spec.contract_of(function), result, step.inputs, started,
                               ctx.now_ms)
    verdict, grown = None, loop
    if status is None:
        verdict, grown, problem = _advance(ctx, definition.iteration, loop, result, step.inputs)
        if problem is not None:
            status, violations = "ensure_failed", [problem]
    number = len(step.attempts) + 1
    attempt = Attempt(number, started, ctx.now_ms, status or "passed", tuple(violations), visit=step.visit)
    tx.put(path, replace(step, attempts=(*step.attempts, attempt)))
    tx.note("attempt", path, attempt=number, outcome=attempt.outcome, violations=len(violations))
    if tx.spend(usage):
        return _answer(tx, step_id, "continue", loop.count)
    if status is not None:
        new_run, rejected = reject_or_fail(tx, path, status, number, violations, function.retries)
        if isinstance(rejected, AttemptRejected | RunEnded):
            return new_run, rejected
        # No retries left, and the step's on_fail route took the run elsewhere.
        return new_run, IterationAnswer(step_id, "failed", loop.count, rejected)
    assert verdict is not None
    tx.note("iteration", path, iteration=grown.count, verdict=verdict, new_count=len(grown.accumulated)
            - len(loop.accumulated), accumulated=len(grown.accumulated))
    if verdict == "continue":
        tx.put(path, replace(tx.step(path), iteration=grown, dispatched_ms=ctx.now_ms))
        return _answer(tx, step_id, "continue", grown.count)
    _leave(tx, path, definition.iteration, replace(grown, outcome=verdict))
    return _answer(tx, step_id, verdict, grown.count)


def abort_iteration(run: FlowRun, spec: Spec, step_id: str, reason: str, ctx: Context) -> tuple[FlowRun, Answer]:
    """Leave the loop now: the step keeps the last accepted iteration, or fails if there is none."""
    tx = Transition(run, spec, ctx)
    path = tx.expect(step_id, "iteration")
    loop = tx.step(path).iteration or IterationRun()
    definition = tx.definition(path)
    assert definition.iteration is not None
    tx.note("iteration_aborted", path, reason=reason, iterations=loop.count)
    if loop.count == 0:
        error = IterationAborted(run.flow_id, step_id, reason)
        tx.drive(lambda: tx.fail(path, error))
        return _answer(tx, step_id, "aborted", 0)
    _leave(tx, path, definition.iteration, replace(loop, outcome="aborted"))
    return _answer(tx, step_id, "aborted", loop.count)


def _advance(
    ctx: Context, iteration: Iteration, loop: IterationRun, result: Any, inputs: Any
) -> tuple[str, IterationRun, Violation | None]:
    """The loop after accepting ``result``: its verdict, new state, or the violation that stops it."""
    accumulated, seen, added = list(loop.accumulated), list(loop.seen), 0
    if iteration.accumulate is not None:
        items = result.get(iteration.accumulate) if isinstance(result, dict) else None
        if not isinstance(items, list):
            return "continue", loop, Violation("schema", iteration.accumulate,
                                               "the accumulated field must be an array", None)
        known = set(seen)
        for item in items:
            key = _key(item, iteration.accumulate_key)
            if key not in known and len(accumulated) < ctx.limits.collection_items:
                known.add(key)
                seen.append(key)
                accumulated.append(item)
                added += 1
    count = loop.count + 1
    grown = replace(loop, count=count, last=result, accumulated=tuple(accumulated), seen=tuple(seen),
                    dry_streak=loop.dry_streak + 1 if added == 0 else 0)
    met = False
    if iteration.exit_criterion is not None:
        variables = {"result": result, "inputs": inputs if isinstance(inputs, dict) else {}, "iteration": count,
                     "accumulated": accumulated, "new_count": added, "dry_streak": grown.dry_streak}
        try:
            met = ctx.checker.condition(iteration.exit_criterion, variables)
        except EvaluationError as exc:
            return "continue", loop, Violation("ensure", iteration.exit_criterion.source,
                                               f"could not be evaluated: {exc}")
    verdict = "criterion_met" if met else "max_reached" if count >= iteration.max_iterations else "continue"
    return verdict, grown, None


def _key(item: Any, field: str | None) -> str:
    """What makes an accumulated item a duplicate: its ``field`` when it has one, else the whole item."""
    if field is not None and isinstance(item, dict) and field in item:
        item = item[field]
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _leave(tx: Transition, path: StepPath, iteration: Iteration, loop: IterationRun) -> None:
    output = loop.last
    if iteration.accumulate is not None and isinstance(output, dict):
        output = {**output, iteration.accumulate: list(loop.accumulated)}
    tx.put(path, replace(tx.step(path), iteration=loop))
    tx.note("iteration_exited", path, outcome=loop.outcome, iterations=loop.count)
    tx.complete(path, output)
    tx.drive(lambda: tx.succeed(path))


def _answer(tx: Transition, step_id: str, verdict: str, count: int) -> tuple[FlowRun, Answer]:
    run, outcome = outcome_of(tx)
    if isinstance(outcome, RunEnded):
        return run, outcome
    assert not isinstance(outcome, AttemptRejected)
    return run, IterationAnswer(step_id, verdict, count, outcome)  # type: ignore[arg-type]
