"""Where a run stands, as the dispatch an agent acts on: read from its state alone.

Because the dispatch is derived from the saved state and nothing else, the
answer to ``stratum_resume`` after a restart is exactly the answer the last
call gave (without that call's events).
"""

from __future__ import annotations

from stratum_mcp.engine._outcomes import AwaitGate, Dispatch, ExecuteStep, ExecuteTasks, FlowCompleted, RunStopped
from stratum_mcp.engine._state import Event, FlowRun
from stratum_mcp.engine._tree import flow_at, frame_at, label, leaf
from stratum_mcp.spec import Spec

__all__ = ["dispatch_of"]


def dispatch_of(run: FlowRun, spec: Spec, events: tuple[Event, ...] = ()) -> Dispatch:
    """The dispatch for ``run`` as it is now."""
    if run.status == "complete":
        return FlowCompleted(run, events)
    if run.status != "running":
        return RunStopped(run, events)
    path = leaf(run)
    assert path is not None  # a running run is always at a step
    prefix, index = path[:-1], path[-1]
    frame, flow = frame_at(run, prefix), flow_at(spec, run, prefix)
    step, definition = frame.steps[index], flow.steps[index]
    function = spec.function_of(definition)
    name = label(run, path)
    if definition.kind == "gate":
        assert function is not None and step.gate is not None
        return AwaitGate(run.flow_id, name, definition, function, step.inputs, step.gate, frame.rounds,
                         flow.max_rounds, events)
    if definition.kind == "parallel":
        assert function is not None
        return ExecuteTasks(run.flow_id, name, definition, function, spec.contract_of(function), step.tasks or (),
                            step.needed or 0, function.retries, events)
    assert function is not None
    return ExecuteStep(
        flow_id=run.flow_id,
        step_number=index + 1,
        total_steps=len(flow.steps),
        step=definition,
        function=function,
        contract=spec.contract_of(function),
        inputs=step.inputs,
        retries_remaining=function.retries - step.failures,
        step_id=name,
        flow=flow.name,
        feedback=step.feedback,
        iteration=step.iteration,
        events=events,
    )
