"""Parallel steps: tasks fanned out from an earlier output, judged one by one, done when ``require`` holds.

Tasks are handed out ``max_concurrent`` at a time, in the order of their
source; each report may carry results for any of the running tasks. A task's
result is judged by the step's function (contract, ensure, time budget from
when the task was handed out); a rejected task stays running until its
retries are used up, then fails, as does a task the agent reports failed.
As soon as ``require`` tasks have completed, the step completes (the other
tasks are cancelled); as soon as it can no longer hold, the step fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from stratum_mcp._messages import suggest
from stratum_mcp.engine._judge import Context, judge
from stratum_mcp.engine._machine import outcome_of
from stratum_mcp.engine._outcomes import Outcome
from stratum_mcp.engine._state import Attempt, FlowRun, TaskRun, Usage
from stratum_mcp.engine._transition import Transition
from stratum_mcp.engine._tree import StepPath, label
from stratum_mcp.errors import RequireUnmet, TaskMismatch
from stratum_mcp.spec import Spec

__all__ = ["TaskResult", "report_tasks", "worktrees_wanted"]


@dataclass(frozen=True)
class TaskResult:
    """One task's report: its result, or ``status="failed"`` with why the agent gave it up."""

    task_id: str
    status: Literal["complete", "failed"] = "complete"
    result: Any = None
    error: str | None = None


def report_tasks(
    run: FlowRun, spec: Spec, step_id: str, results: Sequence[TaskResult], ctx: Context, *,
    usage: Usage | None = None,
) -> tuple[FlowRun, Outcome]:
    """Judge the reported tasks of the current parallel step, then complete it, fail it, or hand out more."""
    tx = Transition(run, spec, ctx)
    path = tx.expect(step_id, "parallel")
    step = tx.step(path)
    tasks = {task.task_id: task for task in step.tasks or ()}
    _check(run.flow_id, step_id, tasks, results)
    over = tx.over_time()
    if over is not None:
        tx.end(over)
        return outcome_of(tx)
    function = spec.function_of(tx.definition(path))
    assert function is not None
    contract = spec.contract_of(function)
    judged = dict(tasks)
    for report in results:
        task = judged[report.task_id]
        started = task.dispatched_ms if task.dispatched_ms is not None else ctx.now_ms
        number = len(task.attempts) + 1
        if report.status == "failed":
            attempt = Attempt(number, started, ctx.now_ms, "abandoned", visit=step.visit)
            judged[report.task_id] = replace(task, status="failed", attempts=(*task.attempts, attempt),
                                             dispatched_ms=None)
            tx.note("task_failed", path, task_id=task.task_id, reason=(report.error or "reported failed")[:500])
            continue
        status, violations = judge(ctx.checker, function, contract, report.result, task.inputs, started,
                                   ctx.now_ms)
        attempt = Attempt(number, started, ctx.now_ms, status or "passed", tuple(violations), visit=step.visit)
        task = replace(task, attempts=(*task.attempts, attempt))
        if status is None:
            task = replace(task, status="complete", output=report.result, dispatched_ms=None)
            tx.note("task_completed", path, task_id=task.task_id, attempt=number)
        elif task.failures > function.retries:
            task = replace(task, status="failed", dispatched_ms=None)
            tx.note("task_failed", path, task_id=task.task_id, reason=f"{status} with no retries left",
                    violations=len(violations))
        else:
            task = replace(task, dispatched_ms=ctx.now_ms)
            tx.note("task_rejected", path, task_id=task.task_id, outcome=status, violations=len(violations),
                    retries_remaining=function.retries + 1 - task.failures)
        judged[report.task_id] = task
    tx.put(path, replace(step, tasks=tuple(judged[t.task_id] for t in step.tasks or ())))
    if tx.spend(usage):
        return outcome_of(tx)
    _settle(tx, path)
    return outcome_of(tx)


def _check(flow_id: str, step_id: str, tasks: dict[str, TaskRun], results: Sequence[TaskResult]) -> None:
    seen: set[str] = set()
    for report in results:
        if report.task_id in seen:
            raise TaskMismatch(flow_id, step_id, report.task_id, "it is reported twice in one call")
        seen.add(report.task_id)
        task = tasks.get(report.task_id)
        if task is None:
            hint = suggest(report.task_id, list(tasks))
            raise TaskMismatch(flow_id, step_id, report.task_id, "the step has no such task" +
                               (f" ({hint})" if hint else ""))
        if task.status != "running":
            state = "not handed out yet" if task.status == "pending" else f"already {task.status}"
            raise TaskMismatch(flow_id, step_id, report.task_id, f"it is {state}")


def _settle(tx: Transition, path: StepPath) -> None:
    step = tx.step(path)
    tasks = step.tasks or ()
    needed = step.needed or len(tasks)
    completed = [t for t in tasks if t.status == "complete"]
    failed = sum(1 for t in tasks if t.status == "failed")
    still_open = sum(1 for t in tasks if t.status in ("pending", "running"))
    if len(completed) >= needed:
        cancelled = tuple(replace(t, status="cancelled", dispatched_ms=None) if t.status in ("pending", "running")
                          else t for t in tasks)
        tx.put(path, replace(step, tasks=cancelled))
        output = {
            "tasks": [_task_output(t) for t in cancelled],
            "outputs": [t.output for t in completed],
            "completed": len(completed),
            "failed": failed,
        }
        tx.note("parallel_completed", path, completed=len(completed), failed=failed,
                cancelled=sum(1 for t in cancelled if t.status == "cancelled"))
        tx.complete(path, output)
        tx.drive(lambda: tx.succeed(path))
        return
    if len(completed) + still_open < needed:
        error = RequireUnmet(tx.run.flow_id, label(tx.run, path), needed, len(completed), failed)
        tx.drive(lambda: tx.fail(path, error))
        return
    tx.release(path)


def _task_output(task: TaskRun) -> dict[str, Any]:
    out: dict[str, Any] = {"task_id": task.task_id, "status": task.status, "output": task.output}
    if task.branch is not None:
        out["branch"] = task.branch
    return out


def worktrees_wanted(run: FlowRun) -> dict[str, str]:
    """The worktrees the run needs now (path -> branch): those of its running tasks; none once it has ended."""
    wanted: dict[str, str] = {}
    if run.status != "running":
        return wanted
    frames = [run.frame()]
    while frames:
        frame = frames.pop()
        for step in frame.steps:
            for task in step.tasks or ():
                if task.status == "running" and task.worktree is not None and task.branch is not None:
                    wanted[task.worktree] = task.branch
            if step.child is not None:
                frames.append(step.child)
    return wanted
