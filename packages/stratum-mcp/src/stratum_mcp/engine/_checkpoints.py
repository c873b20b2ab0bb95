"""Checkpoints: a labelled snapshot of a run's progress, and going back to it.

A checkpoint holds the run's frames (which steps ran, their outputs and
attempts, where the run is). Going back restores them and hands out the step
the run was at, with its timers started again; what cannot be undone is kept:
the money spent (``usage``), the checkpoints themselves and the audit log,
which records the revert. A run can go back while it runs or after it failed,
not once it completed, was killed or went over its budget.
"""

from __future__ import annotations

from dataclasses import replace

from stratum_mcp.engine._judge import Context
from stratum_mcp.engine._machine import outcome_of
from stratum_mcp.engine._outcomes import Outcome
from stratum_mcp.engine._state import Checkpoint, FlowRun, Frame, StepRun
from stratum_mcp.engine._transition import Transition
from stratum_mcp.engine._tree import label, leaf
from stratum_mcp.errors import CheckpointNotFound, FlowFinished, RevertRefused, TooManyCheckpoints
from stratum_mcp.spec import Spec

__all__ = ["commit", "revert"]


def commit(run: FlowRun, spec: Spec, name: str, ctx: Context) -> FlowRun:
    """``run`` with a checkpoint ``name`` of where it is now (replacing one of the same name)."""
    if run.status != "running":
        raise FlowFinished(run.flow_id, run.status)
    kept = tuple(c for c in run.checkpoints if c.label != name)
    if len(kept) == len(run.checkpoints) and len(kept) >= ctx.limits.checkpoints_per_run:
        raise TooManyCheckpoints(run.flow_id, ctx.limits.checkpoints_per_run)
    snapshot = replace(run, checkpoints=(), events=())
    tx = Transition(replace(run, checkpoints=(*kept, Checkpoint(name, ctx.now_ms, snapshot))), spec, ctx)
    path = leaf(run)
    tx.note("checkpoint_committed", label=name, at=label(run, path) if path is not None else None,
            replaced=len(kept) < len(run.checkpoints))
    return tx.finish()


def revert(run: FlowRun, spec: Spec, name: str, ctx: Context) -> tuple[FlowRun, Outcome]:
    """``run`` back at checkpoint ``name``, and the dispatch there."""
    if run.status not in ("running", "failed"):
        raise RevertRefused(run.flow_id, run.status)
    found = next((c for c in run.checkpoints if c.label == name), None)
    if found is None:
        raise CheckpointNotFound(run.flow_id, name, [c.label for c in run.checkpoints])
    state = found.state
    restored = replace(
        run, status="running", current=state.current, steps=tuple(_restart(s, ctx.now_ms) for s in state.steps),
        rounds=state.rounds, last_output=state.last_output, finished_ms=None, output=None, error=None,
    )
    tx = Transition(restored, spec, ctx)
    path = leaf(restored)
    tx.note("checkpoint_reverted", label=name, to=label(restored, path) if path is not None else None,
            committed_ms=found.at_ms)
    return outcome_of(tx)


def _restart(step: StepRun, now_ms: int) -> StepRun:
    """The step with the timers of whatever it was waiting on started again at ``now_ms``."""
    if step.status not in ("running", "waiting"):
        return step
    gate = step.gate
    if step.status == "waiting" and gate is not None:
        span = gate.deadline_ms - gate.opened_ms if gate.deadline_ms is not None else None
        gate = replace(gate, opened_ms=now_ms, deadline_ms=now_ms + span if span is not None else None)
    tasks = tuple(replace(t, dispatched_ms=now_ms) if t.status == "running" else t
                  for t in step.tasks) if step.tasks is not None else None
    child = _restart_frame(step.child, now_ms) if step.child is not None else None
    return replace(step, dispatched_ms=now_ms if step.dispatched_ms is not None else None, gate=gate, tasks=tasks,
                   child=child)


def _restart_frame(frame: Frame, now_ms: int) -> Frame:
    return replace(frame, steps=tuple(_restart(s, now_ms) for s in frame.steps))
