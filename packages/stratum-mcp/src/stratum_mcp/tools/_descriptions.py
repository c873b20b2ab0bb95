"""What each tool tells the model about itself: the server's instructions and every tool's description."""

from __future__ import annotations

__all__ = ["DESCRIPTIONS", "INSTRUCTIONS"]

INSTRUCTIONS = """\
Stratum runs typed, checked plans. Write a .stratum.yaml spec (contracts, functions with ensure
postconditions, a flow of steps), call stratum_plan, then loop on the `status` of each answer:
execute_step (do it, report with stratum_step_done, or the iteration tools for a loop), await_gate
(a person decides: ask them, then stratum_gate_resolve), execute_tasks (do the running tasks, report
with stratum_parallel_done), and finally complete, killed, failed or budget_exceeded. Follow each
answer's `next` line. After a restart, stratum_resume returns where a flow stands. The server checks
every result against its contract and ensure expressions and keeps an audit trail (stratum_audit).
"""

_VALIDATE = """\
Check a .stratum.yaml spec without running it. Returns {valid, errors[]}; every error has a `path`
(e.g. flows.review.steps[1].inputs.text), a `message` and often a `suggestion`. All errors are
reported at once, so fix them all before calling stratum_plan. Spec format (version "0.1", or "0.2"
for flow control):
  version: "0.2"
  contracts: {Name: {field: {type: string|number|integer|boolean|array|object, enum, items, min, max,
              required}}}   # or the shorthand `field: string`
  functions: {fn: {mode: infer|compute, intent, input: {field: type}, output: ContractName,
              ensure: ["result.score > 0.7", "len(result.items) > 0"], retries: 3, budget: {ms, usd}},
              approve: {mode: gate, intent: "what the person decides", timeout: 3600}}
  flows: {name: {input: {field: type}, output: ContractName, max_rounds: 3, budget: {ms, usd},
              steps: [{id, function, inputs: {arg: $.input.field | $.steps.<id>.output.field | literal},
                       depends_on: [id]}]}}
Version 0.2 step keys: gates route with on_approve / on_revise (an earlier step) / on_kill; any step:
next (forward), on_fail (recovery), skip_if + skip_reason; loops: max_iterations, exit_criterion,
accumulate; `flow: other` runs a sub-flow; `intent: ...` (with output_contract, ensure) is an inline
step; `type: parallel_dispatch` with source: $.steps.<id>.output.tasks, require: all|any|N,
max_concurrent, intent_template: "Do {task.description}", isolation: none|worktree.
Expressions (ensure, skip_if, exit_criterion) may use comparisons, and/or/not, in, arithmetic,
comprehensions, and len, all, any, sum, min, max, abs, round, sorted, str, int, float, bool, range,
lower, upper, strip, startswith, endswith, file_exists(path), file_contains(path, text). No methods.
ensure reads `result` and `inputs`; skip_if reads `input`, `steps.<id>.output` and `inputs`;
exit_criterion also reads `iteration`, `accumulated`, `new_count` and `dry_streak`."""

_PLAN = """\
Validate a spec, check `inputs` against the flow's input types, start a durable run of `flow`, and
return its first dispatch, usually {status: "execute_step", flow_id, step_id, step_number, total_steps,
function, intent, inputs, output_contract, output_schema, ensure, retries_remaining}; a flow may also
start at a gate (await_gate) or a parallel step (execute_tasks). Do that step yourself, then report it.
Keep the flow_id: the run survives server restarts (stratum_resume)."""

_STEP_DONE = """\
Report the result of the current step. `result` must be an object matching the step's output_schema.
The server checks the contract (missing fields, types, enum values, bounds), then every ensure
expression, then the step's time budget. Optional `usage` ({usd} or {input_tokens, output_tokens,
model}) counts against a 0.2 flow's budget.usd. Answers:
  execute_step / await_gate / execute_tasks - passed; here is what comes next
  schema_failed     - the result has the wrong shape (violations name each field and its value)
  ensure_failed     - a postcondition is false (violations name the expression and the values seen)
  budget_exceeded   - the step took longer than budget_ms
  complete          - the flow is done: {output, trace}
On a failure, fix exactly the listed violations, redo the step, and report the same step_id again;
retries_remaining says how many more tries you have. With none left the step's on_fail route is taken,
or the run fails with an error (retries_exhausted); the run stays auditable."""

_AUDIT = """\
Read the trace of a run, running or finished: status, duration, per step its function, status,
number of attempts, duration and the violations of every attempt, gate decisions, iteration counts,
parallel tasks and sub-flow steps, and the run's event log. Use it to explain to the user what
happened, or to learn which postconditions tend to fail."""

_RESUME = """\
Where a run stands, after a restart or whenever you lost track: the step to execute (execute_step),
the gate waiting for a decision (await_gate), the parallel tasks to do (execute_tasks), or how the run
ended (complete, killed, failed, budget_exceeded). A gate decided meanwhile, from a terminal or by
another client, shows here: call this while you wait for a person's decision."""

_GATE_RESOLVE = """\
Decide the gate the flow waits at. outcome: approve (go on), revise (go back to the gate's on_revise
step, which receives the rationale as feedback; refused when the flow has used its max_rounds) or kill
(end the flow, or go to on_kill). rationale: why, in the decider's words. resolved_by: human when a
person decided (relay what they said), agent when you decided, system for automation. Only the first
decision counts: a gate already resolved answers gate_already_resolved. Answers the next dispatch."""

_SKIP = """\
Skip the current step instead of doing it, saying why (reason). Later steps that read its output get
null. Refused for gates (decide them with stratum_gate_resolve) and for the step whose output is the
flow's output. Answers the next dispatch."""

_ITERATION_START = """\
Start the iteration loop of the current step (a step with max_iterations). Then do one iteration at a
time and report each with stratum_iteration_report."""

_ITERATION_REPORT = """\
Report one iteration of the current loop step: `result` matches output_schema and satisfies the
ensure expressions (else it is rejected like a step result and uses a retry). The server adds the
`accumulate` items, evaluates exit_criterion and counts; `loop.outcome` says continue (do the next
iteration) or how the loop was left (criterion_met, max_reached): then the answer is the next dispatch.
Optional `usage` as for stratum_step_done."""

_ITERATION_ABORT = """\
Leave the current iteration loop now, saying why. The step keeps the last accepted iteration as its
result (loop.outcome: aborted); with none accepted the step fails (its on_fail route, if any)."""

_PARALLEL_DONE = """\
Report results of a parallel step's running tasks: results is a list of {task_id, result} (or
{task_id, status: "failed", error} for a task you give up). Each result is checked against the step's
contract and ensure expressions; a rejected task stays running with its violations until its retries
run out. You may report some tasks now and others later. The step completes as soon as `require` tasks
have completed (the rest are cancelled) and fails as soon as that can no longer happen; otherwise the
answer is the updated task list, with newly handed-out tasks. Optional `usage` counts for all of them."""

_COMMIT = """\
Save a checkpoint of the run's progress under `label` (letters, digits, `_`, `-`, `.`); committing
an existing label replaces it. Use before a risky stretch, to come back with stratum_revert."""

_REVERT = """\
Bring the run back to the checkpoint `label`: the steps after it are to do again (their attempts stay
in the audit), and the answer is the step to execute next. Works on running and failed runs; spend
already reported stays counted."""

_CHECK_TIMEOUTS = """\
Kill gates whose timeout has passed (resolved_by system). With flow_id, checks that run and answers
its dispatch plus `expired`; without, checks every running run and lists those that expired. Every
other call on a run does this check for that run too."""

DESCRIPTIONS = {
    "stratum_validate": _VALIDATE,
    "stratum_plan": _PLAN,
    "stratum_step_done": _STEP_DONE,
    "stratum_audit": _AUDIT,
    "stratum_resume": _RESUME,
    "stratum_gate_resolve": _GATE_RESOLVE,
    "stratum_skip_step": _SKIP,
    "stratum_iteration_start": _ITERATION_START,
    "stratum_iteration_report": _ITERATION_REPORT,
    "stratum_iteration_abort": _ITERATION_ABORT,
    "stratum_parallel_done": _PARALLEL_DONE,
    "stratum_commit": _COMMIT,
    "stratum_revert": _REVERT,
    "stratum_check_timeouts": _CHECK_TIMEOUTS,
}
