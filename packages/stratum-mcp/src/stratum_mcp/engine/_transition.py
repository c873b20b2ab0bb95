"""Moving a run between steps: entering a step, leaving it, routes, rounds, and the end of a run.

A :class:`Transition` works on a copy of the run (frozen values, replaced as
it goes) and records an audit :class:`Event` for everything it does. Moving on
can cascade (a skipped step enters the next, a finished sub-flow completes its
step, which moves its parent on), so moves are *actions* run by a small loop
(:meth:`Transition.drive`) rather than recursion: a flow of a hundred skipped
steps does not deepen the stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from stratum_mcp._messages import suggest
from stratum_mcp.engine._judge import Context
from stratum_mcp.engine._state import Event, FlowRun, Frame, GateRun, IterationRun, RunStatus, StepRun, TaskRun, Usage
from stratum_mcp.engine._tree import StepPath, flow_at, frame_at, label, leaf, put_frame, put_step, step_at, step_def
from stratum_mcp.errors import (
    ConditionFailed,
    EvaluationError,
    FlowBudgetExceeded,
    FlowFinished,
    RequireUnmet,
    RunFailed,
    StepMismatch,
    TasksInvalid,
    UsdBudgetExceeded,
    WorktreesUnavailable,
    WrongTool,
)
from stratum_mcp.spec import Flow, Function, Reference, Spec, Step, render_template, resolve_reference

__all__ = ["TOOLS", "Action", "Transition"]

Action = Callable[[], "Action | None"]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
#: For each kind of step: how a message names it, and the tool that reports it.
TOOLS = {
    "gate": ("a gate", "stratum_gate_resolve"),
    "parallel": ("a parallel step", "stratum_parallel_done"),
    "iteration": ("an iteration loop", "stratum_iteration_start, then stratum_iteration_report"),
    "function": ("a step", "stratum_step_done"),
}


class Transition:
    """One change to a run: a sequence of moves, each recorded, then :meth:`finish`."""

    def __init__(self, run: FlowRun, spec: Spec, ctx: Context) -> None:
        self.run = run
        self.spec = spec
        self.ctx = ctx
        self.now = ctx.now_ms
        self.events: list[Event] = []
        self.ended: RunFailed | None = None

    # --- bookkeeping -----------------------------------------------------------------------------

    def note(self, kind: str, path: StepPath | None = None, **data: Any) -> None:
        self.events.append(Event(self.now, kind, label(self.run, path) if path is not None else None, data))

    def finish(self) -> FlowRun:
        """The run after every move, with its new events appended."""
        return replace(self.run, updated_ms=self.now, events=(*self.run.events, *self.events))

    def drive(self, action: Action | None) -> None:
        # Every action does a bounded amount of work and each step is entered at most once per move, so the
        # number of actions is bounded by the size of the flow tree; the cap guards against a bug looping.
        for _ in range(100_000):
            if action is None:
                return
            action = action()
        raise RuntimeError("a transition did not settle")

    def step(self, path: StepPath) -> StepRun:
        return step_at(self.run, path)

    def put(self, path: StepPath, step: StepRun) -> None:
        self.run = put_step(self.run, path, step)

    def frame(self, prefix: StepPath) -> Frame:
        return frame_at(self.run, prefix)

    def put_frame(self, prefix: StepPath, frame: Frame) -> None:
        self.run = put_frame(self.run, prefix, frame)

    def definition(self, path: StepPath) -> Step:
        return step_def(self.spec, self.run, path)

    def flow(self, prefix: StepPath) -> Flow:
        return flow_at(self.spec, self.run, prefix)

    # --- where the run is ------------------------------------------------------------------------

    def expect(self, step_id: str, kind: str) -> StepPath:
        """The path of ``step_id`` if it is the step the run waits for and of ``kind``; else a usage error."""
        run = self.run
        if run.status != "running":
            raise FlowFinished(run.flow_id, run.status)
        path = leaf(run)
        assert path is not None  # a running run is always at a step
        current = label(run, path)
        if step_id != current:
            raise StepMismatch(run.flow_id, current, step_id, self.mismatch_reason(step_id))
        actual = self.kind_of(path)
        if actual != kind:
            what, tool = TOOLS[actual]
            raise WrongTool(run.flow_id, step_id, what, tool)
        return path

    def kind_of(self, path: StepPath) -> str:
        definition = self.definition(path)
        if definition.kind == "function" and definition.iteration is not None:
            return "iteration"
        return definition.kind

    def mismatch_reason(self, step_id: str) -> str:
        run = self.run
        names = _labels(run.frame(), "")
        if step_id in names:
            status = names[step_id]
            if status in ("complete", "skipped", "failed"):
                return f"step `{step_id}` is already {status}"
            return f"step `{step_id}` has not been dispatched yet"
        hint = suggest(step_id, list(names))
        return f"this flow has no step `{step_id}`" + (f" ({hint})" if hint else "")

    # --- entering and leaving steps --------------------------------------------------------------

    def enter(self, path: StepPath) -> Action | None:
        """Make the step at ``path`` current: resolve its inputs, then skip it, wait, or hand it out."""
        prefix, index = path[:-1], path[-1]
        frame = self.frame(prefix)
        definition = self.flow(prefix).steps[index]
        old = frame.steps[index]
        outputs = {s.step_id: s.output for s in frame.steps if s.status == "complete"}
        inputs = {
            name: resolve_reference(b, dict(frame.inputs), outputs) if isinstance(b, Reference) else b.value
            for name, b in definition.inputs
        }
        step = replace(old, status="running", inputs=inputs, dispatched_ms=self.now, visit=old.visit + 1,
                       output=None, skip_reason=None, iteration=None, tasks=None, needed=None)
        self.put_frame(prefix, frame.with_step(index, step, current=index))
        if definition.skip_if is not None:
            variables = {
                "input": dict(frame.inputs),
                "steps": {s.step_id: {"status": s.status, "output": s.output} for s in frame.steps},
                "inputs": inputs,
            }
            try:
                skip = self.ctx.checker.condition(definition.skip_if, variables)
            except EvaluationError as exc:
                error = ConditionFailed(self.run.flow_id, label(self.run, path), definition.skip_if.source, str(exc))
                return lambda: self.fail(path, error)
            if skip:
                reason = definition.skip_reason or f"skip_if `{definition.skip_if.source}` was true"
                self.put(path, replace(step, status="skipped", skip_reason=reason, dispatched_ms=None))
                self.note("step_skipped", path, reason=reason, by="skip_if")
                return lambda: self.succeed(path)
        function = self.spec.function_of(definition)
        if definition.kind == "gate":
            assert function is not None
            deadline = self.now + function.timeout * 1000 if function.timeout else None
            gate = GateRun(self.now, deadline, old.gate.resolutions if old.gate is not None else ())
            self.put(path, replace(step, status="waiting", gate=gate))
            self.note("gate_opened", path, timeout_s=function.timeout, expires_at_ms=deadline)
            return None
        if definition.kind == "flow":
            assert definition.flow is not None
            child_flow = self.spec.flows[definition.flow]
            # Entered again (a revise loop went back past it), the sub-flow starts over, keeping its history.
            child = (_reset(old.child, 0) if old.child is not None else Frame(
                definition.flow, {}, 0, tuple(StepRun(step_id=s.id, function=s.function) for s in child_flow.steps)))
            self.put(path, replace(step, child=replace(child, inputs=inputs, rounds=0)))
            self.note("subflow_started", path, flow=definition.flow)
            return lambda: self.enter((*path, 0))
        if definition.kind == "parallel":
            return self._fan_out(path, definition, function, inputs)
        self.put(path, replace(step, iteration=IterationRun() if definition.iteration is not None else None))
        self.note("step_dispatched", path, visit=step.visit)
        return None

    def succeed(self, path: StepPath) -> Action | None:
        """The step at ``path`` is done (passed or skipped): go where its route says, else to the next step."""
        definition = self.definition(path)
        target = definition.routes.next
        if target is None:
            return lambda: self.goto(path[:-1], path[-1] + 1)
        self.note("routed", path, route="next", to=target)
        return lambda: self.goto(path[:-1], self.flow(path[:-1]).index(target))

    def can_go_back(self, prefix: StepPath) -> bool:
        return self.frame(prefix).rounds < self.flow(prefix).max_rounds

    def goto(self, prefix: StepPath, index: int) -> Action | None:
        """Make step ``index`` of the frame at ``prefix`` current; going back starts a new round."""
        frame = self.frame(prefix)
        if index >= len(frame.steps):
            return lambda: self.finish_frame(prefix)
        if index <= frame.current:
            frame = replace(_reset(frame, index), rounds=frame.rounds + 1)
            self.put_frame(prefix, frame)
            self.note("round_started", (*prefix, index), round=frame.rounds)
        return lambda: self.enter((*prefix, index))

    def finish_frame(self, prefix: StepPath) -> Action | None:
        frame = self.frame(prefix)
        self.put_frame(prefix, replace(frame, current=len(frame.steps)))
        if not prefix:
            run = self.run
            self.run = replace(run, status="complete", finished_ms=self.now, output=run.last_output)
            self.note("flow_completed")
            return None
        holder = self.step(prefix)
        self.complete(prefix, frame.last_output)
        self.note("subflow_completed", prefix, flow=holder.child.flow if holder.child else None)
        return lambda: self.succeed(prefix)

    def complete(self, path: StepPath, output: Any, *, produced: bool = True) -> None:
        """Mark the step at ``path`` complete with ``output`` (which becomes its frame's newest output)."""
        self.put(path, replace(self.step(path), status="complete", output=output, dispatched_ms=None))
        if produced:
            frame = self.frame(path[:-1])
            self.put_frame(path[:-1], replace(frame, last_output=output))
        self.note("step_completed", path)

    def fail(self, path: StepPath, error: RunFailed) -> Action | None:
        """The step at ``path`` cannot succeed: take its ``on_fail`` route, else fail its sub-flow or the run."""
        step = self.step(path)
        self.put(path, replace(step, status="failed", dispatched_ms=None,
                               tasks=_cancel(step.tasks) if step.tasks is not None else None))
        self.note("step_failed", path, error=error.code)
        target = self.definition(path).routes.on_fail
        prefix = path[:-1]
        if target is not None:
            goal = self.flow(prefix).index(target)
            if goal > path[-1] or self.can_go_back(prefix):
                self.note("routed", path, route="on_fail", to=target, because=error.code)
                return lambda: self.goto(prefix, goal)
            self.note("route_refused", path, route="on_fail", to=target,
                      reason=f"the flow has used its {self.flow(prefix).max_rounds} round(s)")
        if prefix:
            self.note("subflow_failed", prefix, error=error.code)
            return lambda: self.fail(prefix, error)
        self.end(error)
        return None

    def end(self, error: RunFailed) -> None:
        """End the run as failed (or over budget) with ``error``, which the caller raises once it is saved."""
        status: RunStatus = "budget_exceeded" if isinstance(error, UsdBudgetExceeded) else "failed"
        self.run = replace(self.run, status=status, finished_ms=self.now,
                           error={"code": error.code, "message": str(error)})
        self.note("flow_failed" if status == "failed" else "flow_budget_exceeded", error=error.code)
        self.ended = error

    def kill(self, path: StepPath, rationale: str, resolved_by: str) -> None:
        because = f": {rationale}" if rationale else ""
        message = f"gate `{label(self.run, path)}` was killed by {resolved_by}{because}"
        self.run = replace(self.run, status="killed", finished_ms=self.now, error={
            "code": "killed", "message": message, "step_id": label(self.run, path), "rationale": rationale,
            "resolved_by": resolved_by,
        })
        self.note("flow_killed", path, resolved_by=resolved_by)

    # --- budgets ---------------------------------------------------------------------------------

    def over_time(self) -> FlowBudgetExceeded | None:
        budget = self.spec.flows[self.run.flow].budget
        spent = self.now - self.run.created_ms
        if budget is not None and budget.ms is not None and spent > budget.ms:
            return FlowBudgetExceeded(self.run.flow_id, budget.ms, spent)
        return None

    def spend(self, usage: Usage | None) -> bool:
        """Add reported usage; end the run and return True if it passed an enforced ``budget.usd``."""
        if usage is None:
            return False
        total = self.run.usage.plus(usage)
        self.run = replace(self.run, usage=total)
        self.note("usage_reported", usd=round(usage.usd, 6), input_tokens=usage.input_tokens,
                  output_tokens=usage.output_tokens, total_usd=round(total.usd, 6))
        budget = self.spec.flows[self.run.flow].budget
        # Version 0.1 documented budget.usd as advisory; only the new version turns it into a limit.
        if self.spec.version != "0.1" and budget is not None and budget.usd is not None and total.usd > budget.usd:
            path = leaf(self.run)
            if path is not None:
                self.put(path, replace(self.step(path), dispatched_ms=None))
            self.end(UsdBudgetExceeded(self.run.flow_id, budget.usd, total.usd))
            return True
        return False

    # --- parallel steps --------------------------------------------------------------------------

    def _fan_out(self, path: StepPath, definition: Step, function: Function | None, inputs: Any) -> Action | None:
        parallel = definition.parallel
        assert parallel is not None and function is not None
        frame = self.frame(path[:-1])
        outputs = {s.step_id: s.output for s in frame.steps if s.status == "complete"}
        source = resolve_reference(parallel.source, dict(frame.inputs), outputs)
        where = label(self.run, path)
        limit = self.ctx.limits.parallel_tasks
        if not isinstance(source, list) or not source or not all(isinstance(t, dict) for t in source):
            reason = f"`{parallel.source.text}` is not a non-empty list of objects"
            return lambda: self.fail(path, TasksInvalid(self.run.flow_id, where, reason))
        if len(source) > limit:
            reason = f"`{parallel.source.text}` has {len(source)} tasks; a step takes at most {limit}"
            return lambda: self.fail(path, TasksInvalid(self.run.flow_id, where, reason))
        needed = len(source) if parallel.require == "all" else 1 if parallel.require == "any" else parallel.require
        if needed > len(source):
            return lambda: self.fail(path, RequireUnmet(self.run.flow_id, where, needed, 0, 0))
        template = parallel.intent_template
        tasks: list[TaskRun] = []
        used: set[str] = set()
        for position, task in enumerate(source):
            task_id = _task_id(task.get("id"), position, used)
            used.add(task_id)
            intent = (render_template(template, task, limit=self.ctx.limits.template_chars) if template is not None
                      else function.intent)
            tasks.append(TaskRun(task_id=task_id, task=task, intent=intent, inputs={**inputs, "task": task}))
        step = replace(self.step(path), tasks=tuple(tasks), needed=needed)
        self.put(path, step)
        self.note("tasks_dispatched", path, tasks=len(tasks), needed=needed, max_concurrent=parallel.max_concurrent,
                  isolation=parallel.isolation)
        self.release(path)
        return None

    def release(self, path: StepPath) -> None:
        """Hand out pending tasks until ``max_concurrent`` of them are running."""
        definition = self.definition(path)
        assert definition.parallel is not None
        step = self.step(path)
        tasks = list(step.tasks or ())
        running = sum(1 for t in tasks if t.status == "running")
        for position, task in enumerate(tasks):
            if running >= definition.parallel.max_concurrent:
                break
            if task.status != "pending":
                continue
            worktree = branch = None
            if definition.parallel.isolation == "worktree":
                root = self.ctx.worktree_root
                if root is None:
                    raise WorktreesUnavailable("this server has no directory for worktrees")
                key = f"{label(self.run, path).replace('/', '.')}.{step.visit}.{task.task_id}"
                worktree, branch = f"{root}/{self.run.flow_id}/{key}", f"stratum/{self.run.flow_id}/{key}"
            tasks[position] = replace(task, status="running", dispatched_ms=self.now, worktree=worktree,
                                      branch=branch)
            running += 1
            self.note("task_dispatched", path, task_id=task.task_id, worktree=worktree)
        self.put(path, replace(step, tasks=tuple(tasks)))


def _reset(frame: Frame, index: int) -> Frame:
    """The frame with steps ``index`` and later back to pending.

    Their history stays for the audit (attempts, decisions, why it was skipped, a
    loop's count, the tasks, unfinished ones cancelled) until the step is entered again.
    """
    steps = list(frame.steps)
    for position in range(index, len(steps)):
        old = steps[position]
        steps[position] = replace(old, status="pending", output=None, dispatched_ms=None,
                                  tasks=_cancel(old.tasks) if old.tasks is not None else None,
                                  child=_reset(old.child, 0) if old.child is not None else None)
    kept = [s.output for s in steps[:index] if s.status == "complete" and s.gate is None]
    return replace(frame, steps=tuple(steps), current=min(frame.current, index), last_output=kept[-1] if kept else None)


def _cancel(tasks: tuple[TaskRun, ...]) -> tuple[TaskRun, ...]:
    return tuple(replace(t, status="cancelled", dispatched_ms=None) if t.status in ("pending", "running") else t
                 for t in tasks)


def _task_id(value: Any, position: int, used: set[str]) -> str:
    """A task's own ``id`` when it is a usable, unused name; else its position (``task-3``)."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if 0 < len(text) <= 64 and set(text) <= _NAME_CHARS and text not in used:
            return text
    candidate, suffix = f"task-{position + 1}", 1
    while candidate in used:
        suffix += 1
        candidate = f"task-{position + 1}-{suffix}"
    return candidate


def _labels(frame: Frame, prefix: str) -> dict[str, str]:
    """Every step label in the frame tree, with its status."""
    out: dict[str, str] = {}
    for step in frame.steps:
        name = f"{prefix}{step.step_id}"
        out[name] = step.status
        if step.child is not None:
            out.update(_labels(step.child, f"{name}/"))
    return out
