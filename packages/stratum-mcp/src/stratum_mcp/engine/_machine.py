"""The flow state machine: pure functions from (state, event) to (new state, outcome).

No I/O and no clock: the caller passes ``now_ms`` and a :class:`Checker` that
judges results. The caller persists the new state before telling anyone about
the outcome, which is what makes a run survive a crash between any two calls.

::

    run, first = start(spec, "review", flow_id, {"text": "..."}, now_ms, checker)
    run, outcome = report(run, spec, "classify", result, now_ms, checker)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from stratum_mcp._messages import suggest
from stratum_mcp._problems import Violation
from stratum_mcp.engine._outcomes import AttemptRejected, ExecuteStep, FlowCompleted, Outcome, RunEnded
from stratum_mcp.engine._state import Attempt, FlowRun, StepRun
from stratum_mcp.errors import (
    FlowBudgetExceeded,
    FlowFinished,
    InputsInvalid,
    RetriesExhausted,
    StepMismatch,
    UnknownFlowName,
)
from stratum_mcp.spec import Contract, Flow, Function, Reference, Spec, resolve_reference

__all__ = ["Checker", "report", "start"]


class Checker(Protocol):
    """Judges values against declared types and postconditions."""

    def fields_violations(self, fields: Any, value: Any, *, kind: str) -> list[Violation]:
        """Violations of ``value`` against a tuple of ``(name, FieldType)``."""
        ...

    def contract_violations(self, contract: Contract, result: Any) -> list[Violation]: ...

    def ensure_violations(self, function: Function, result: Any, inputs: Any) -> list[Violation]: ...


def start(
    spec: Spec, flow_name: str, flow_id: str, inputs: dict[str, Any], now_ms: int, checker: Checker
) -> tuple[FlowRun, ExecuteStep]:
    """Create a run of ``flow_name`` and dispatch its first step."""
    flow = spec.flows.get(flow_name)
    if flow is None:
        raise UnknownFlowName(flow_name, sorted(spec.flows), suggest(flow_name, spec.flows))
    violations = checker.fields_violations(flow.input, inputs, kind="input")
    if violations:
        raise InputsInvalid(violations)
    run = FlowRun(
        flow_id=flow_id,
        flow=flow.name,
        spec_digest=spec.digest,
        status="running",
        inputs=inputs,
        created_ms=now_ms,
        updated_ms=now_ms,
        current=0,
        steps=tuple(StepRun(step_id=s.id, function=s.function) for s in flow.steps),
    )
    return _dispatch(run, spec, flow, 0, now_ms)


def report(
    run: FlowRun, spec: Spec, step_id: str, result: Any, now_ms: int, checker: Checker
) -> tuple[FlowRun, Outcome]:
    """Judge ``result`` for ``step_id`` and move the run on.

    Raises a usage error (and changes nothing) for a finished run or the wrong step.
    """
    if run.status != "running":
        raise FlowFinished(run.flow_id, run.status)
    flow = spec.flows[run.flow]
    current = run.current_step
    assert current is not None  # a running run always has a current step
    if step_id != current.step_id:
        raise StepMismatch(run.flow_id, current.step_id, step_id, _mismatch_reason(run, step_id))
    step = flow.steps[run.current]
    function = spec.functions[step.function]
    started = current.dispatched_ms if current.dispatched_ms is not None else now_ms
    number = len(current.attempts) + 1

    if flow.budget is not None and flow.budget.ms is not None and now_ms - run.created_ms > flow.budget.ms:
        spent = now_ms - run.created_ms
        violation = Violation("budget", "flow.budget.ms", f"the flow has run {spent} ms; its budget is "
                              f"{flow.budget.ms} ms", spent)
        attempt = Attempt(number, started, now_ms, "flow_budget_exceeded", (violation,))
        over = FlowBudgetExceeded(run.flow_id, flow.budget.ms, spent)
        return _fail(run, current, attempt, now_ms, over), RunEnded(over)

    violations = checker.contract_violations(spec.contracts[function.output], result)
    status = "schema_failed" if violations else None
    if not violations:
        violations = checker.ensure_violations(function, result, current.inputs)
        status = "ensure_failed" if violations else None
    if function.budget is not None and function.budget.ms is not None and now_ms - started > function.budget.ms:
        took = now_ms - started
        violations = [*violations, Violation("budget", "budget.ms", f"the step took {took} ms; its budget is "
                                             f"{function.budget.ms} ms", took)]
        status = status or "budget_exceeded"

    if status is None:
        attempt = Attempt(number, started, now_ms, "passed")
        done = replace(current, status="complete", attempts=(*current.attempts, attempt), output=result)
        run = run.with_step(run.current, done, updated_ms=now_ms)
        if run.current + 1 < len(flow.steps):
            return _dispatch(run, spec, flow, run.current + 1, now_ms)
        run = replace(run, status="complete", current=len(flow.steps), finished_ms=now_ms, output=result)
        return run, FlowCompleted(run)

    attempt = Attempt(number, started, now_ms, status, tuple(violations))  # type: ignore[arg-type]
    failures = current.failures + 1
    # The first answer is not a retry: `retries: 2` allows three answers, so after the first rejection
    # two retries remain, after the second one, and a third rejection ends the run.
    remaining = function.retries + 1 - failures
    if remaining <= 0:
        error = RetriesExhausted(run.flow_id, step_id, number, violations)
        return _fail(run, current, attempt, now_ms, error), RunEnded(error)
    retried = replace(current, attempts=(*current.attempts, attempt), dispatched_ms=now_ms)
    run = run.with_step(run.current, retried, updated_ms=now_ms)
    return run, AttemptRejected(run.flow_id, step_id, status, number, tuple(violations), remaining)  # type: ignore[arg-type]


def _dispatch(run: FlowRun, spec: Spec, flow: Flow, index: int, now_ms: int) -> tuple[FlowRun, ExecuteStep]:
    step = flow.steps[index]
    function = spec.functions[step.function]
    outputs = {s.step_id: s.output for s in run.steps if s.status == "complete"}
    inputs = {
        name: resolve_reference(binding, dict(run.inputs), outputs) if isinstance(binding, Reference) else binding.value
        for name, binding in step.inputs
    }
    running = replace(run.steps[index], status="running", inputs=inputs, dispatched_ms=now_ms)
    run = run.with_step(index, running, current=index, updated_ms=now_ms)
    return run, ExecuteStep(
        flow_id=run.flow_id,
        step_number=index + 1,
        total_steps=len(flow.steps),
        step=step,
        function=function,
        contract=spec.contracts[function.output],
        inputs=inputs,
        retries_remaining=function.retries - running.failures,
    )


def _fail(run: FlowRun, current: StepRun, attempt: Attempt, now_ms: int, error: Exception) -> FlowRun:
    failed = replace(current, status="failed", attempts=(*current.attempts, attempt), dispatched_ms=None)
    code = getattr(error, "code", "run_failed")
    return run.with_step(
        run.current, failed, status="failed", updated_ms=now_ms, finished_ms=now_ms,
        error={"code": code, "message": str(error)},
    )


def _mismatch_reason(run: FlowRun, step_id: str) -> str:
    for index, step in enumerate(run.steps):
        if step.step_id == step_id:
            if index < run.current:
                return f"step `{step_id}` is already complete"
            return f"step `{step_id}` has not been dispatched yet"
    hint = suggest(step_id, [s.step_id for s in run.steps])
    return f"this flow has no step `{step_id}`" + (f" ({hint})" if hint else "")
