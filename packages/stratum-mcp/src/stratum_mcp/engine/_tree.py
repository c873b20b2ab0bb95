"""Finding and replacing steps in a run's tree of frames.

A step is addressed by a *path*: the indexes of the steps leading to it, from
the run's own flow down through sub-flow steps. ``(2,)`` is the third step of
the run's flow; ``(2, 0)`` the first step of the sub-flow that step runs. Its
*label* joins the step ids with ``/`` (``test/run``): what agents see and send.
"""

from __future__ import annotations

from dataclasses import replace

from stratum_mcp.engine._state import FlowRun, Frame, StepRun
from stratum_mcp.spec import Flow, Spec, Step

__all__ = ["StepPath", "find", "flow_at", "frame_at", "label", "leaf", "put_frame", "put_step", "step_at", "step_def"]

StepPath = tuple[int, ...]


def frame_at(run: FlowRun, prefix: StepPath) -> Frame:
    """The frame whose steps the path ``prefix + (i,)`` indexes."""
    frame = run.frame()
    for index in prefix:
        child = frame.steps[index].child
        assert child is not None, prefix  # a path only goes through sub-flow steps that have started
        frame = child
    return frame


def put_frame(run: FlowRun, prefix: StepPath, frame: Frame) -> FlowRun:
    if not prefix:
        return run.with_frame(frame)
    parent = frame_at(run, prefix[:-1])
    holder = parent.steps[prefix[-1]]
    return put_frame(run, prefix[:-1], parent.with_step(prefix[-1], replace(holder, child=frame)))


def step_at(run: FlowRun, path: StepPath) -> StepRun:
    return frame_at(run, path[:-1]).steps[path[-1]]


def put_step(run: FlowRun, path: StepPath, step: StepRun) -> FlowRun:
    frame = frame_at(run, path[:-1])
    return put_frame(run, path[:-1], frame.with_step(path[-1], step))


def flow_at(spec: Spec, run: FlowRun, prefix: StepPath) -> Flow:
    """The definition of the flow the frame at ``prefix`` runs."""
    flow = spec.flows[run.flow]
    for index in prefix:
        name = flow.steps[index].flow
        assert name is not None, prefix
        flow = spec.flows[name]
    return flow


def step_def(spec: Spec, run: FlowRun, path: StepPath) -> Step:
    return flow_at(spec, run, path[:-1]).steps[path[-1]]


def leaf(run: FlowRun) -> StepPath | None:
    """The path of the step the run is at: the deepest current step; ``None`` once the run's flow is done."""
    frame = run.frame()
    path: StepPath = ()
    while frame.current < len(frame.steps):
        step = frame.steps[frame.current]
        path = (*path, frame.current)
        if step.child is None or step.status != "running":
            return path
        frame = step.child
    return None


def label(run: FlowRun, path: StepPath) -> str:
    """``test/run``: the step ids along ``path``."""
    ids, frame = [], run.frame()
    for index in path:
        step = frame.steps[index]
        ids.append(step.step_id)
        if step.child is not None:
            frame = step.child
    return "/".join(ids)


def find(run: FlowRun, name: str) -> StepPath | None:
    """The path of the step labelled ``name``, in the frames that exist now; ``None`` if there is none."""
    frame: Frame | None = run.frame()
    path: StepPath = ()
    for part in name.split("/"):
        if frame is None:
            return None
        index = next((i for i, step in enumerate(frame.steps) if step.step_id == part), None)
        if index is None:
            return None
        path = (*path, index)
        frame = frame.steps[index].child
    return path
