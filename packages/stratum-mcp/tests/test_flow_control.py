"""Flow control in the pure engine (spec version 0.2): gates, routes, skips, loops, sub-flows, tasks, checkpoints.

Every transition gets the time as a value (``at(ms)``), so timeouts and budgets
are decided by the numbers the test passes, never by the machine's clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from stratum_mcp.engine import (
    AttemptRejected,
    AwaitGate,
    Context,
    ExecuteStep,
    ExecuteTasks,
    FlowCompleted,
    FlowRun,
    IterationAnswer,
    ResultChecker,
    RunEnded,
    RunStopped,
    TaskResult,
    Usage,
    abort_iteration,
    audit_view,
    commit,
    dispatch_of,
    expire,
    report,
    report_iteration,
    report_tasks,
    resolve_gate,
    revert,
    skip,
    start,
    start_iteration,
    worktrees_wanted,
)
from stratum_mcp.errors import (
    CheckpointNotFound,
    ConditionFailed,
    GateAlreadyResolved,
    IterationAborted,
    IterationNotStarted,
    RequireUnmet,
    RetriesExhausted,
    RevertRefused,
    ReviseRefused,
    SkipRefused,
    StepMismatch,
    TaskMismatch,
    TasksInvalid,
    TooManyCheckpoints,
    UsdBudgetExceeded,
    WorktreesUnavailable,
    WrongTool,
)
from stratum_mcp.spec import Spec, load_spec

FLOW_ID = "00000000-0000-4000-8000-000000000002"
CHECKER = ResultChecker()


def at(now_ms: int, **options: Any) -> Context:
    return Context(now_ms, CHECKER, **options)


def begin(
    text: str, flow: str = "main", inputs: dict[str, Any] | None = None, now: int = 0
) -> tuple[Spec, FlowRun, Any]:
    spec = load_spec(text)
    run, first = start(spec, flow, FLOW_ID, inputs or {}, at(now))
    return spec, run, first


HEADER = """\
version: "0.2"
contracts:
  Draft: {text: string, score: number}
  Findings:
    findings: {type: array, items: {type: object, properties: {id: string, severity: string}}}
  Plan:
    tasks: {type: array, items: {type: object, properties: {id: string, description: string}}}
  Done: {ok: boolean}
functions:
  write:
    {mode: infer, intent: Write the draft., input: {topic: string}, output: Draft, ensure: [result.score > 0.5],
     retries: 1}
  polish: {mode: infer, intent: Polish it., input: {text: string}, output: Draft}
  approve: {mode: gate, intent: Approve the draft., input: {text: string}, timeout: 60}
  finish: {mode: compute, intent: Finish., output: Done}
"""

GATED = HEADER + """\
flows:
  main:
    input: {topic: string}
    output: Draft
    max_rounds: 2
    steps:
      - id: write
        function: write
        inputs: {topic: $.input.topic}
      - id: review
        function: approve
        inputs: {text: $.steps.write.output.text}
        on_revise: write
      - id: polish
        function: polish
        inputs: {text: $.steps.write.output.text}
"""
DRAFT = {"text": "a draft", "score": 0.9}


# --- gates -----------------------------------------------------------------------------------------


def test_a_gate_waits_for_a_decision_and_approval_moves_the_flow_on() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    run, waiting = report(run, spec, "write", DRAFT, at(10))
    assert isinstance(waiting, AwaitGate)
    assert (waiting.step_id, waiting.inputs, waiting.gate.deadline_ms) == ("review", {"text": "a draft"}, 60_010)
    with pytest.raises(WrongTool) as wrong:
        report(run, spec, "review", {}, at(11))
    assert wrong.value.tool == "stratum_gate_resolve"
    run, next_step = resolve_gate(run, spec, "review", "approve", "good", "human", at(20))
    assert isinstance(next_step, ExecuteStep) and next_step.step.id == "polish"
    assert next_step.inputs == {"text": "a draft"}
    assert [e.kind for e in next_step.events] == ["gate_resolved", "step_completed", "step_dispatched"]
    gate = run.steps[1].gate
    assert gate is not None and [(r.outcome, r.resolved_by, r.rationale) for r in gate.resolutions] == [
        ("approve", "human", "good")]


def test_a_revise_goes_back_with_the_rationale_as_feedback_and_counts_a_round() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    run, _ = report(run, spec, "write", DRAFT, at(10))
    run, again = resolve_gate(run, spec, "review", "revise", "shorter, please", "human", at(20))
    assert isinstance(again, ExecuteStep) and again.step.id == "write"
    assert [(f.gate, f.rationale, f.round) for f in again.feedback] == [("review", "shorter, please", 1)]
    assert again.retries_remaining == 1  # a new visit starts with all its retries
    assert run.rounds == 1 and run.steps[0].visit == 2
    run, waiting = report(run, spec, "write", DRAFT, at(30))
    assert isinstance(waiting, AwaitGate) and waiting.round == 1


def test_revise_is_refused_once_the_flow_has_used_its_max_rounds_and_then_approve_still_works() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    for round_ in range(2):
        run, _ = report(run, spec, "write", DRAFT, at(10 * round_ + 1))
        run, _ = resolve_gate(run, spec, "review", "revise", f"round {round_}", "human", at(10 * round_ + 2))
    run, _ = report(run, spec, "write", DRAFT, at(50))
    with pytest.raises(ReviseRefused) as refused:
        resolve_gate(run, spec, "review", "revise", "once more", "human", at(51))
    assert refused.value.max_rounds == 2
    run, outcome = resolve_gate(run, spec, "review", "approve", "fine", "human", at(52))
    assert isinstance(outcome, ExecuteStep) and outcome.step.id == "polish"


def test_a_gate_without_on_revise_cannot_be_revised() -> None:
    spec, run, _ = begin(GATED.replace("        on_revise: write\n", ""), inputs={"topic": "x"})
    run, _ = report(run, spec, "write", DRAFT, at(10))
    with pytest.raises(ReviseRefused):
        resolve_gate(run, spec, "review", "revise", "no", "human", at(11))


def test_kill_ends_the_flow_as_killed_and_a_second_decision_is_already_resolved() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    run, _ = report(run, spec, "write", DRAFT, at(10))
    run, stopped = resolve_gate(run, spec, "review", "kill", "not needed", "agent", at(20))
    assert isinstance(stopped, RunStopped) and run.status == "killed"
    assert run.error is not None and (run.error["resolved_by"], run.error["rationale"]) == ("agent", "not needed")
    with pytest.raises(GateAlreadyResolved) as again:
        resolve_gate(run, spec, "review", "approve", "", "human", at(21))
    assert (again.value.outcome, again.value.resolved_by) == ("kill", "agent")


def test_on_kill_routes_to_a_cleanup_step_instead_of_ending() -> None:
    text = GATED.replace("        on_revise: write\n", "        on_revise: write\n        on_kill: polish\n")
    spec, run, _ = begin(text, inputs={"topic": "x"})
    run, _ = report(run, spec, "write", DRAFT, at(10))
    run, outcome = resolve_gate(run, spec, "review", "kill", "stop", "human", at(20))
    assert isinstance(outcome, ExecuteStep) and outcome.step.id == "polish" and run.status == "running"


def test_a_gate_past_its_timeout_is_killed_by_the_system_when_the_run_is_next_touched() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    run, _ = report(run, spec, "write", DRAFT, at(1_000))
    assert expire(run, spec, at(60_999)) is run  # one millisecond early: nothing happens
    expired = expire(run, spec, at(61_000))
    assert expired.status == "killed"
    assert expired.error is not None and expired.error["resolved_by"] == "system"
    assert "timeout" in expired.error["rationale"]
    with pytest.raises(GateAlreadyResolved) as late:
        resolve_gate(expired, spec, "review", "approve", "sorry, late", "human", at(61_001))
    assert late.value.resolved_by == "system"


def test_an_inline_gate_step_waits_and_expires_like_a_gate_function() -> None:
    inline = GATED.replace("        function: approve\n",
                           "        intent: Approve the draft.\n        mode: gate\n        timeout: 5\n")
    spec, run, _ = begin(inline, inputs={"topic": "x"})
    run, waiting = report(run, spec, "write", DRAFT, at(100))
    assert isinstance(waiting, AwaitGate) and waiting.function.intent == "Approve the draft."
    assert waiting.gate.deadline_ms == 5_100
    assert expire(run, spec, at(5_100)).status == "killed"


def test_a_gate_decision_becomes_its_step_output_for_later_steps() -> None:
    polish = "function: polish\n        inputs: {text: $.steps.write.output.text}"
    text = GATED.replace(polish, polish.replace("write.output.text", "review.output.rationale"))
    spec, run, _ = begin(text, inputs={"topic": "x"})
    run, _ = report(run, spec, "write", DRAFT, at(10))
    _, outcome = resolve_gate(run, spec, "review", "approve", "ship it", "human", at(20))
    assert isinstance(outcome, ExecuteStep) and outcome.inputs == {"text": "ship it"}


# --- skip_if, skip, next and on_fail ---------------------------------------------------------------

ROUTED = HEADER + """\
flows:
  main:
    input: {topic: string, quick: boolean}
    output: Done
    steps:
      - id: write
        function: write
        inputs: {topic: $.input.topic}
        on_fail: rescue
        next: finish
      - id: rescue
        intent: Write something that passes, by hand.
        output_contract: Draft
      - id: polish
        function: polish
        inputs: {text: $.steps.write.output.text}
        skip_if: "input.quick or (steps.write.output is not None and steps.write.output.score > 0.95)"
        skip_reason: quick run
      - id: finish
        function: finish
"""


def test_skip_if_skips_a_step_with_its_reason_and_the_flow_goes_on() -> None:
    text = ROUTED.replace("        next: finish\n", "        next: polish\n")
    spec, run, _ = begin(text, inputs={"topic": "x", "quick": True})
    run, outcome = report(run, spec, "write", DRAFT, at(10))
    assert isinstance(outcome, ExecuteStep) and outcome.step.id == "finish"
    assert (run.steps[2].status, run.steps[2].skip_reason) == ("skipped", "quick run")
    assert [e.kind for e in outcome.events if e.kind in ("routed", "step_skipped")] == ["routed", "step_skipped"]


def test_skip_if_reads_earlier_outputs_and_is_false_when_they_say_so() -> None:
    text = ROUTED.replace("        next: finish\n", "        next: polish\n")
    spec, run, _ = begin(text, inputs={"topic": "x", "quick": False})
    _, outcome = report(run, spec, "write", DRAFT, at(10))
    assert isinstance(outcome, ExecuteStep) and outcome.step.id == "polish"


def test_a_skip_if_that_cannot_be_evaluated_fails_the_run_saying_why() -> None:
    text = ROUTED.replace("        next: finish\n", "        next: polish\n").replace(
        '"input.quick or (steps.write.output is not None and steps.write.output.score > 0.95)"',
        '"len(input.topic * 1000000) > 0"')
    spec, run, _ = begin(text, inputs={"topic": "abc", "quick": False})
    run, outcome = report(run, spec, "write", DRAFT, at(10))
    assert isinstance(outcome, RunEnded) and isinstance(outcome.error, ConditionFailed)
    assert "string length limit" in outcome.error.reason
    assert run.status == "failed" and run.steps[2].status == "failed"


def test_next_jumps_forward_over_steps_and_on_fail_routes_to_a_recovery_step() -> None:
    spec, run, _ = begin(ROUTED, inputs={"topic": "x", "quick": False})
    low = {"text": "meh", "score": 0.1}
    run, rejected = report(run, spec, "write", low, at(10))
    assert isinstance(rejected, AttemptRejected) and rejected.retries_remaining == 1
    run, rescue = report(run, spec, "write", low, at(20))
    assert isinstance(rescue, ExecuteStep) and rescue.step.id == "rescue"
    assert run.steps[0].status == "failed"
    assert any(e.kind == "routed" and e.data["route"] == "on_fail" for e in rescue.events)
    run, polish = report(run, spec, "rescue", {"text": "ok", "score": 1.0}, at(30))
    assert isinstance(polish, ExecuteStep) and polish.step.id == "polish"
    assert polish.inputs == {"text": None}  # the step that failed produced nothing to read


def test_a_step_that_passes_takes_its_next_route_past_the_recovery_step() -> None:
    spec, run, _ = begin(ROUTED, inputs={"topic": "x", "quick": False})
    run, outcome = report(run, spec, "write", DRAFT, at(10))
    assert isinstance(outcome, ExecuteStep) and outcome.step.id == "finish"
    run, done = report(run, spec, "finish", {"ok": True}, at(20))
    assert isinstance(done, FlowCompleted) and run.output == {"ok": True}
    assert [s.status for s in run.steps] == ["complete", "pending", "pending", "complete"]


def test_a_backward_on_fail_is_bounded_by_max_rounds() -> None:
    text = HEADER + """\
flows:
  main:
    input: {topic: string}
    output: Draft
    max_rounds: 1
    steps:
      - id: write
        function: write
        inputs: {topic: $.input.topic}
      - id: check
        function: polish
        inputs: {text: $.steps.write.output.text}
        on_fail: write
"""
    spec = load_spec(text.replace("polish: {mode: infer, intent: Polish it., input: {text: string}, output: Draft}",
                                  "polish: {mode: infer, intent: Polish it., input: {text: string}, output: Draft, "
                                  "retries: 0, ensure: [result.score > 0.99]}"))
    run, _ = start(spec, "main", FLOW_ID, {"topic": "x"}, at(0))
    run, _ = report(run, spec, "write", DRAFT, at(1))
    run, back = report(run, spec, "check", DRAFT, at(2))
    assert isinstance(back, ExecuteStep) and back.step.id == "write" and run.rounds == 1
    run, _ = report(run, spec, "write", DRAFT, at(3))
    run, ended = report(run, spec, "check", DRAFT, at(4))
    assert isinstance(ended, RunEnded) and isinstance(ended.error, RetriesExhausted)
    assert any(e.kind == "route_refused" for e in run.events)


def test_the_agent_may_skip_a_step_but_not_a_gate_nor_the_step_whose_output_is_the_flows() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    run, waiting = skip(run, spec, "write", "already written", at(5))
    assert isinstance(waiting, AwaitGate) and waiting.inputs == {"text": None}
    assert run.steps[0].skip_reason == "already written"
    with pytest.raises(SkipRefused):
        skip(run, spec, "review", "no time", at(6))
    run, polish = resolve_gate(run, spec, "review", "approve", "", "human", at(7))
    assert isinstance(polish, ExecuteStep)
    with pytest.raises(SkipRefused) as output_step:
        skip(run, spec, "polish", "no", at(8))
    assert "flow's output" in output_step.value.reason
    with pytest.raises(StepMismatch):
        skip(run, spec, "write", "no", at(9))


# --- iteration loops --------------------------------------------------------------------------------

LOOP = HEADER + """\
flows:
  main:
    output: Findings
    steps:
      - id: hunt
        intent: Find issues; report only new ones.
        output_contract: Findings
        max_iterations: 3
        accumulate: findings
        accumulate_key: id
        exit_criterion: "new_count == 0 or len(accumulated) >= 3"
"""
A, B, C = ({"id": i, "severity": "low"} for i in "abc")


def test_an_iteration_loop_counts_accumulates_without_duplicates_and_exits_on_its_criterion() -> None:
    spec, run, first = begin(LOOP)
    assert isinstance(first, ExecuteStep) and first.step.iteration is not None
    with pytest.raises(WrongTool):
        report(run, spec, "hunt", {"findings": []}, at(1))
    with pytest.raises(IterationNotStarted):
        report_iteration(run, spec, "hunt", {"findings": []}, at(1))
    run, started = start_iteration(run, spec, "hunt", at(2))
    assert (started.verdict, started.iterations) == ("started", 0)
    run, one = report_iteration(run, spec, "hunt", {"findings": [A, B]}, at(3))
    assert isinstance(one, IterationAnswer) and (one.verdict, one.iterations) == ("continue", 1)
    run, two = report_iteration(run, spec, "hunt", {"findings": [{**B, "severity": "high"}]}, at(4))
    assert isinstance(two, IterationAnswer) and two.verdict == "criterion_met"  # b again: nothing new
    assert isinstance(two.then, FlowCompleted)
    assert run.output == {"findings": [A, B]}


def test_an_iteration_loop_stops_at_max_iterations() -> None:
    spec, run, _ = begin(LOOP.replace('"new_count == 0 or len(accumulated) >= 3"', '"iteration > 10"'))
    run, _ = start_iteration(run, spec, "hunt", at(1))
    answers = []
    for number, item in enumerate((A, B, C)):
        run, answer = report_iteration(run, spec, "hunt", {"findings": [item]}, at(10 + number))
        assert isinstance(answer, IterationAnswer)
        answers.append(answer.verdict)
    assert answers == ["continue", "continue", "max_reached"]
    assert run.status == "complete" and run.output == {"findings": [A, B, C]}


def test_a_rejected_iteration_uses_a_retry_and_does_not_count() -> None:
    spec, run, _ = begin(LOOP)
    run, _ = start_iteration(run, spec, "hunt", at(1))
    run, rejected = report_iteration(run, spec, "hunt", {"findings": "none"}, at(2))
    assert isinstance(rejected, AttemptRejected) and rejected.status == "schema_failed"
    loop = run.steps[0].iteration
    assert loop is not None and loop.count == 0


def test_an_exit_criterion_that_cannot_be_evaluated_rejects_the_iteration_saying_why() -> None:
    spec, run, _ = begin(LOOP.replace('"new_count == 0 or len(accumulated) >= 3"',
                                      '"len(result.findings[0].id * 10000000) > 0"'))
    run, _ = start_iteration(run, spec, "hunt", at(1))
    run, rejected = report_iteration(run, spec, "hunt", {"findings": [A]}, at(2))
    assert isinstance(rejected, AttemptRejected) and rejected.status == "ensure_failed"
    (violation,) = rejected.violations
    assert violation.message.startswith("could not be evaluated") and "string length limit" in violation.message


def test_aborting_a_loop_keeps_the_last_iteration_or_fails_the_step_without_one() -> None:
    spec, run, _ = begin(LOOP)
    run, _ = start_iteration(run, spec, "hunt", at(1))
    run, ended = abort_iteration(run, spec, "hunt", "out of ideas", at(2))
    assert isinstance(ended, RunEnded) and isinstance(ended.error, IterationAborted)
    spec, run, _ = begin(LOOP)
    run, _ = start_iteration(run, spec, "hunt", at(1))
    run, _ = report_iteration(run, spec, "hunt", {"findings": [A]}, at(2))
    run, aborted = abort_iteration(run, spec, "hunt", "enough", at(3))
    assert isinstance(aborted, IterationAnswer) and aborted.verdict == "aborted"
    assert run.status == "complete" and run.output == {"findings": [A]}


# --- sub-flows --------------------------------------------------------------------------------------

NESTED = HEADER + """\
flows:
  drafting:
    input: {topic: string}
    output: Draft
    steps:
      - id: write
        function: write
        inputs: {topic: $.input.topic}
      - id: polish
        function: polish
        inputs: {text: $.steps.write.output.text}
  main:
    input: {subject: string}
    output: Done
    steps:
      - id: draft
        flow: drafting
        inputs: {topic: $.input.subject}
        on_fail: finish
      - id: finish
        function: finish
"""


def test_a_sub_flow_runs_its_steps_under_the_parent_step_and_its_output_is_the_steps_output() -> None:
    spec, run, first = begin(NESTED, inputs={"subject": "bees"})
    assert isinstance(first, ExecuteStep) and first.step_id == "draft/write" and first.inputs == {"topic": "bees"}
    with pytest.raises(StepMismatch):
        report(run, spec, "write", DRAFT, at(1))
    run, polish = report(run, spec, "draft/write", DRAFT, at(2))
    assert isinstance(polish, ExecuteStep) and (polish.step_id, polish.flow) == ("draft/polish", "drafting")
    run, finish = report(run, spec, "draft/polish", {"text": "polished", "score": 1.0}, at(3))
    assert isinstance(finish, ExecuteStep) and finish.step_id == "finish"
    assert run.steps[0].output == {"text": "polished", "score": 1.0}
    view = audit_view(run)
    assert view["steps"][0]["flow"] == "drafting"
    assert [s["step_id"] for s in view["steps"][0]["steps"]] == ["write", "polish"]


def test_a_failure_inside_a_sub_flow_takes_the_parent_steps_on_fail_route() -> None:
    spec, run, _ = begin(NESTED, inputs={"subject": "bees"})
    low = {"text": "x", "score": 0.0}
    run, _ = report(run, spec, "draft/write", low, at(1))
    run, outcome = report(run, spec, "draft/write", low, at(2))
    assert isinstance(outcome, ExecuteStep) and outcome.step_id == "finish"
    assert run.steps[0].status == "failed"


# --- parallel steps ---------------------------------------------------------------------------------

PARALLEL = HEADER + """\
flows:
  main:
    input: {goal: string}
    steps:
      - id: plan
        intent: Split the goal into tasks.
        output_contract: Plan
        inputs: {goal: $.input.goal}
      - id: build
        type: parallel_dispatch
        source: $.steps.plan.output.tasks
        require: 4
        max_concurrent: 3
        intent_template: "Implement {task.description}"
        output_contract: Done
        ensure: [result.ok]
        retries: 1
      - id: finish
        function: finish
"""
TASKS = {"tasks": [{"id": f"t{i}", "description": f"part {i}"} for i in range(1, 6)]}


def tasks_of(outcome: Any) -> dict[str, str]:
    assert isinstance(outcome, ExecuteTasks)
    return {t.task_id: t.status for t in outcome.tasks}


def test_a_parallel_step_hands_out_tasks_max_concurrent_at_a_time_with_rendered_intents() -> None:
    spec, run, _ = begin(PARALLEL, inputs={"goal": "g"})
    run, fan = report(run, spec, "plan", TASKS, at(1))
    assert isinstance(fan, ExecuteTasks) and fan.needed == 4
    assert tasks_of(fan) == {"t1": "running", "t2": "running", "t3": "running", "t4": "pending", "t5": "pending"}
    assert fan.tasks[0].intent == "Implement part 1" and fan.tasks[0].inputs["task"] == TASKS["tasks"][0]
    with pytest.raises(WrongTool):
        report(run, spec, "build", {}, at(2))
    with pytest.raises(TaskMismatch):
        report_tasks(run, spec, "build", [TaskResult("t4", result={"ok": True})], at(2))
    with pytest.raises(TaskMismatch):
        report_tasks(run, spec, "build", [TaskResult("t9", result={"ok": True})], at(2))


def test_five_tasks_requiring_four_complete_when_four_pass_though_one_fails() -> None:
    spec, run, _ = begin(PARALLEL, inputs={"goal": "g"})
    run, _ = report(run, spec, "plan", TASKS, at(1))
    run, more = report_tasks(run, spec, "build", [TaskResult("t1", result={"ok": True}),
                                                   TaskResult("t2", status="failed", error="cannot")], at(2))
    assert tasks_of(more) == {"t1": "complete", "t2": "failed", "t3": "running", "t4": "running", "t5": "running"}
    run, retry = report_tasks(run, spec, "build", [TaskResult("t3", result={"ok": False})], at(3))
    assert isinstance(retry, ExecuteTasks)
    t3 = next(t for t in retry.tasks if t.task_id == "t3")
    assert t3.status == "running" and t3.attempts[-1].outcome == "ensure_failed"
    run, done = report_tasks(run, spec, "build", [TaskResult(t, result={"ok": True}) for t in ("t3", "t4", "t5")],
                             at(4))
    assert isinstance(done, ExecuteStep) and done.step.id == "finish"
    output = run.steps[1].output
    assert (output["completed"], output["failed"]) == (4, 1)
    assert [t["status"] for t in output["tasks"]] == ["complete", "failed", "complete", "complete", "complete"]


def test_a_parallel_step_fails_as_soon_as_require_can_no_longer_hold() -> None:
    spec, run, _ = begin(PARALLEL, inputs={"goal": "g"})
    run, _ = report(run, spec, "plan", TASKS, at(1))
    run, _ = report_tasks(run, spec, "build", [TaskResult("t1", status="failed")], at(2))
    run, ended = report_tasks(run, spec, "build", [TaskResult("t2", status="failed")], at(3))
    assert isinstance(ended, RunEnded) and isinstance(ended.error, RequireUnmet)
    assert (ended.error.needed, ended.error.failed) == (4, 2)
    assert {t.status for t in run.steps[1].tasks or ()} >= {"cancelled"}


def test_a_parallel_source_that_is_not_a_list_of_tasks_fails_the_step() -> None:
    spec, run, _ = begin(PARALLEL, inputs={"goal": "g"})
    run, ended = report(run, spec, "plan", {"tasks": []}, at(1))
    assert isinstance(ended, RunEnded) and isinstance(ended.error, TasksInvalid)


def test_worktree_isolation_gives_each_running_task_a_path_and_branch_under_the_server_directory() -> None:
    text = PARALLEL.replace("        max_concurrent: 3\n", "        max_concurrent: 2\n        isolation: worktree\n")
    spec = load_spec(text)
    run, _ = start(spec, "main", FLOW_ID, {"goal": "g"}, at(0))
    with pytest.raises(WorktreesUnavailable):
        report(run, spec, "plan", TASKS, at(1))
    run, fan = report(run, spec, "plan", TASKS, at(1, worktree_root="/srv/wt"))
    assert isinstance(fan, ExecuteTasks)
    assert worktrees_wanted(run) == {
        f"/srv/wt/{FLOW_ID}/build.1.t1": f"stratum/{FLOW_ID}/build.1.t1",
        f"/srv/wt/{FLOW_ID}/build.1.t2": f"stratum/{FLOW_ID}/build.1.t2",
    }
    run, _ = report_tasks(run, spec, "build", [TaskResult("t1", result={"ok": True})], at(2, worktree_root="/srv/wt"))
    assert sorted(worktrees_wanted(run)) == [f"/srv/wt/{FLOW_ID}/build.1.t2", f"/srv/wt/{FLOW_ID}/build.1.t3"]


# --- checkpoints and budgets ------------------------------------------------------------------------


def test_revert_brings_the_run_back_to_its_checkpoint_and_keeps_what_was_spent() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    run = commit(run, spec, "before-write", at(1))
    run, _ = report(run, spec, "write", DRAFT, at(2), usage=Usage(usd=0.25, reports=1))
    run, _ = resolve_gate(run, spec, "review", "approve", "", "human", at(3))
    run, back = revert(run, spec, "before-write", at(10))
    assert isinstance(back, ExecuteStep) and back.step.id == "write" and back.retries_remaining == 1
    assert run.steps[0].dispatched_ms == 10 and run.steps[1].status == "pending"
    assert run.usage.usd == 0.25
    assert [e.kind for e in run.events if "checkpoint" in e.kind] == ["checkpoint_committed", "checkpoint_reverted"]
    with pytest.raises(CheckpointNotFound) as missing:
        revert(run, spec, "nope", at(11))
    assert missing.value.available == ("before-write",)


def test_a_run_holds_a_bounded_number_of_checkpoints_and_a_label_can_be_reused() -> None:
    spec, run, _ = begin(GATED, inputs={"topic": "x"})
    for index in range(3):
        run = commit(run, spec, f"c{index}", at(index, limits=_limits(checkpoints_per_run=3)))
    run = commit(run, spec, "c0", at(5, limits=_limits(checkpoints_per_run=3)))
    assert [c.label for c in run.checkpoints] == ["c1", "c2", "c0"]
    with pytest.raises(TooManyCheckpoints):
        commit(run, spec, "c3", at(6, limits=_limits(checkpoints_per_run=3)))


def test_a_completed_run_cannot_be_reverted() -> None:
    spec, run, _ = begin(LOOP)
    run = commit(run, spec, "start", at(0))
    run, _ = start_iteration(run, spec, "hunt", at(1))
    run, _ = report_iteration(run, spec, "hunt", {"findings": []}, at(2))
    assert run.status == "complete"
    with pytest.raises(RevertRefused):
        revert(run, spec, "start", at(3))


def test_reported_usage_over_a_flows_usd_budget_ends_it_as_budget_exceeded() -> None:
    text = GATED.replace("    max_rounds: 2\n", "    max_rounds: 2\n    budget: {usd: 0.5}\n")
    spec, run, _ = begin(text, inputs={"topic": "x"})
    run, rejected = report(run, spec, "write", {"text": "x", "score": 0.1}, at(1), usage=Usage(usd=0.3, reports=1))
    assert isinstance(rejected, AttemptRejected)
    run, ended = report(run, spec, "write", DRAFT, at(2), usage=Usage(usd=0.3, reports=1))
    assert isinstance(ended, RunEnded) and isinstance(ended.error, UsdBudgetExceeded)
    assert run.status == "budget_exceeded" and (ended.error.limit_usd, round(ended.error.spent_usd, 2)) == (0.5, 0.6)
    assert isinstance(dispatch_of(run, spec), RunStopped)


def test_a_0_1_flow_records_usage_but_its_usd_budget_stays_advisory(review_spec: str) -> None:
    spec = load_spec(review_spec.replace("    output: Summary\n    steps:", "    output: Summary\n"
                                         "    budget: {usd: 0.01}\n    steps:"))
    run, _ = start(spec, "review", FLOW_ID, {"text": "I love it."}, at(0))
    run, outcome = report(run, spec, "classify", {"label": "positive", "confidence": 0.9}, at(1),
                          usage=Usage(usd=5.0, reports=1))
    assert isinstance(outcome, ExecuteStep) and run.usage.usd == 5.0


def _limits(**changes: Any) -> Any:
    from stratum_mcp import Limits

    return Limits(**changes)
