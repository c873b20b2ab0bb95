"""Flow control end to end: real `stratum-mcp` subprocesses, the MCP SDK's ClientSession over stdio, and kill -9.

Each test runs its flows half way on one server, kills it with SIGKILL, and
finishes them on a new server with ``stratum_resume``: what the agent is told
after the restart is exactly where each run stood.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from jsonschema import Draft202012Validator

from stratum_mcp.cli import output_schema

pytestmark = pytest.mark.e2e

CONTRACTS = """\
version: "0.2"
contracts:
  Draft: {text: string, score: number}
  Done: {ok: boolean}
  Findings:
    findings: {type: array, items: {type: object, properties: {id: string}}}
  Plan:
    tasks: {type: array, items: {type: object, properties: {id: string, description: string}}}
  Build: {built: string}
functions:
  write: {mode: infer, intent: Write the draft., output: Draft, ensure: [result.score >= 0.5], retries: 1}
  finish: {mode: compute, intent: Publish it., output: Done}
  approve: {mode: gate, intent: Approve the draft before it is published.}
  approve_soon: {mode: gate, intent: Approve within a second., timeout: 1}
"""
DRAFT = {"text": "a draft", "score": 0.9}
DONE = {"ok": True}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "flows.db"


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await client.call(tool, **arguments)
    return answer


async def cli(command: str, db: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Run `stratum-mcp` as another process would, and check its JSON against the shipped schema."""
    done = await anyio.run_process([command, "--db", str(db), *args], check=False)
    document = json.loads(done.stdout)
    Draft202012Validator(output_schema(document["schema"])).validate(document)
    return done.returncode, document


async def until_past(deadline_ms: int) -> None:
    # Gate timeouts are decided by the server's wall clock, which the test cannot move: it waits for that
    # clock to pass the deadline the server reported (a one-second timeout), bounded by run_async's timeout.
    while time.time() * 1000 <= deadline_ms:
        await anyio.sleep(max(0.01, (deadline_ms - time.time() * 1000) / 1000 + 0.01))


GATES = CONTRACTS + """\
flows:
  approval:
    output: Draft
    steps:
      - {id: write, function: write}
      - {id: review, function: approve, on_revise: write}
  revisions:
    output: Draft
    max_rounds: 2
    steps:
      - {id: write, function: write}
      - {id: review, function: approve, on_revise: write}
  deadline:
    output: Draft
    steps:
      - {id: write, function: write}
      - {id: review, function: approve_soon}
"""


def test_gates_decided_from_the_cli_revised_within_max_rounds_and_timed_out_all_survive_kill_9(
    across_kill_9: Any, db: Path, server_command: str,
) -> None:
    async def first_half(client: Any, state: dict[str, Any]) -> None:
        for flow in ("approval", "revisions", "deadline", "swept"):
            name = "deadline" if flow == "swept" else flow
            first = await call(client, "stratum_plan", spec=GATES, flow=name, inputs={})
            gate = await call(client, "stratum_step_done", flow_id=first["flow_id"], step_id="write", result=DRAFT)
            assert gate["status"] == "await_gate" and gate["step_id"] == "review", gate
            state[flow] = gate
        revised = await call(client, "stratum_gate_resolve", flow_id=state["revisions"]["flow_id"], step_id="review",
                             outcome="revise", rationale="make it shorter", resolved_by="human")
        assert (revised["status"], revised["step_id"]) == ("execute_step", "write")
        assert revised["feedback"][0]["rationale"] == "make it shorter"
        assert state["deadline"]["timeout_s"] == 1

    async def second_half(client: Any, state: dict[str, Any]) -> None:
        # The agent's session waits at the gate; a person approves it from a terminal.
        approval = state["approval"]["flow_id"]
        assert (await call(client, "stratum_resume", flow_id=approval))["status"] == "await_gate"
        status, pending = await cli(server_command, db, "query", "gates")
        assert status == 0 and approval in {g["flow_id"] for g in pending["gates"]}
        status, decided = await cli(server_command, db, "gate", "approve", approval, "review", "--note", "ship it")
        assert status == 0 and decided["then"]["status"] == "complete"
        done = await call(client, "stratum_resume", flow_id=approval)
        assert (done["status"], done["output"]) == ("complete", DRAFT)
        status, again = await cli(server_command, db, "gate", "kill", approval, "review")
        assert (status, again["error"]) == (2, "gate_already_resolved")

        # The revise loop resumes where it was, and is bounded by max_rounds.
        revisions = state["revisions"]["flow_id"]
        resumed = await call(client, "stratum_resume", flow_id=revisions)
        assert (resumed["status"], resumed["step_id"], len(resumed["feedback"])) == ("execute_step", "write", 1)
        await call(client, "stratum_step_done", flow_id=revisions, step_id="write", result=DRAFT)
        await call(client, "stratum_gate_resolve", flow_id=revisions, step_id="review", outcome="revise",
                   rationale="shorter still")
        await call(client, "stratum_step_done", flow_id=revisions, step_id="write", result=DRAFT)
        refused = await call(client, "stratum_gate_resolve", flow_id=revisions, step_id="review", outcome="revise",
                             rationale="again")
        assert (refused["error"], refused["max_rounds"]) == ("revise_refused", 2)
        approved = await call(client, "stratum_gate_resolve", flow_id=revisions, step_id="review",
                              outcome="approve", rationale="fine")
        assert approved["status"] == "complete"
        audit = await call(client, "stratum_audit", flow_id=revisions)
        assert (audit["rounds"], audit["steps"][0]["visits"]) == (2, 3)

        # A gate past its timeout is killed by the system: on the next call, or by the sweep tool.
        for flow in ("deadline", "swept"):
            await until_past(state[flow]["expires_at_ms"])
        timed_out = await call(client, "stratum_resume", flow_id=state["deadline"]["flow_id"])
        assert (timed_out["status"], timed_out["reason"]["resolved_by"]) == ("killed", "system")
        swept = await call(client, "stratum_check_timeouts", flow_id=state["swept"]["flow_id"])
        assert (swept["status"], swept["expired"]) == ("killed", True)

    across_kill_9(db, first_half, second_half)


ROUTES = CONTRACTS + """\
flows:
  skipping:
    input: {quick: boolean}
    output: Done
    steps:
      - {id: write, function: write}
      - id: polish
        function: write
        skip_if: "input.quick and steps.write.output.score > 0.8"
        skip_reason: the draft is good enough for a quick run
      - {id: publish, function: finish}
  recovering:
    output: Done
    steps:
      - {id: write, function: write, on_fail: rescue, next: publish}
      - {id: rescue, intent: Write the draft by hand., output_contract: Draft}
      - {id: publish, function: finish}
"""
LOW = {"text": "meh", "score": 0.1}


def test_skip_if_and_on_fail_recovery_survive_kill_9(across_kill_9: Any, db: Path) -> None:
    async def first_half(client: Any, state: dict[str, Any]) -> None:
        first = await call(client, "stratum_plan", spec=ROUTES, flow="skipping", inputs={"quick": True})
        state["skipping"] = first["flow_id"]
        skipped = await call(client, "stratum_step_done", flow_id=first["flow_id"], step_id="write", result=DRAFT)
        assert skipped["step_id"] == "publish"
        assert [e["event"] for e in skipped["events"]] == ["step_skipped"]
        recovering = await call(client, "stratum_plan", spec=ROUTES, flow="recovering", inputs={})
        state["recovering"] = recovering["flow_id"]
        for _ in range(2):
            answer = await call(client, "stratum_step_done", flow_id=recovering["flow_id"], step_id="write",
                                result=LOW)
        assert (answer["status"], answer["step_id"]) == ("execute_step", "rescue")
        assert any(e["event"] == "routed" and e["route"] == "on_fail" for e in answer["events"])

    async def second_half(client: Any, state: dict[str, Any]) -> None:
        resumed = await call(client, "stratum_resume", flow_id=state["skipping"])
        assert resumed["step_id"] == "publish"
        done = await call(client, "stratum_step_done", flow_id=state["skipping"], step_id="publish", result=DONE)
        assert done["status"] == "complete"
        audit = await call(client, "stratum_audit", flow_id=state["skipping"])
        assert audit["steps"][1]["skip_reason"] == "the draft is good enough for a quick run"

        flow_id = state["recovering"]
        assert (await call(client, "stratum_resume", flow_id=flow_id))["step_id"] == "rescue"
        publish = await call(client, "stratum_step_done", flow_id=flow_id, step_id="rescue", result=DRAFT)
        assert publish["step_id"] == "publish"
        done = await call(client, "stratum_step_done", flow_id=flow_id, step_id="publish", result=DONE)
        assert [s["status"] for s in done["trace"]] == ["failed", "complete", "complete"]

    across_kill_9(db, first_half, second_half)


LOOPS = CONTRACTS + """\
flows:
  until_dry:
    output: Findings
    steps:
      - id: hunt
        intent: Look for issues; report each once.
        output_contract: Findings
        max_iterations: 5
        accumulate: findings
        accumulate_key: id
        exit_criterion: "new_count == 0"
  bounded:
    output: Findings
    steps:
      - {id: hunt, intent: Look again., output_contract: Findings, max_iterations: 2, exit_criterion: "False"}
"""


def test_iteration_loops_exit_on_their_criterion_or_at_max_iterations_and_survive_kill_9(
    across_kill_9: Any, db: Path,
) -> None:
    async def first_half(client: Any, state: dict[str, Any]) -> None:
        for flow in ("until_dry", "bounded"):
            first = await call(client, "stratum_plan", spec=LOOPS, flow=flow, inputs={})
            assert first["iteration"]["started"] is False
            state[flow] = first["flow_id"]
            started = await call(client, "stratum_iteration_start", flow_id=first["flow_id"], step_id="hunt")
            assert started["loop"] == {"step_id": "hunt", "outcome": "started", "iterations": 0}
            one = await call(client, "stratum_iteration_report", flow_id=first["flow_id"], step_id="hunt",
                             result={"findings": [{"id": "a"}, {"id": "b"}]})
            assert (one["status"], one["loop"]["outcome"], one["iteration"]["iterations_done"]) == (
                "execute_step", "continue", 1)

    async def second_half(client: Any, state: dict[str, Any]) -> None:
        resumed = await call(client, "stratum_resume", flow_id=state["until_dry"])
        assert (resumed["iteration"]["started"], resumed["iteration"]["iterations_done"]) == (True, 1)
        assert resumed["iteration"]["accumulated"] == [{"id": "a"}, {"id": "b"}]
        dry = await call(client, "stratum_iteration_report", flow_id=state["until_dry"], step_id="hunt",
                         result={"findings": [{"id": "b"}]})
        assert (dry["loop"]["outcome"], dry["status"]) == ("criterion_met", "complete")
        assert dry["output"] == {"findings": [{"id": "a"}, {"id": "b"}]}

        last = await call(client, "stratum_iteration_report", flow_id=state["bounded"], step_id="hunt",
                          result={"findings": [{"id": "c"}]})
        assert (last["loop"]["outcome"], last["loop"]["iterations"], last["status"]) == ("max_reached", 2, "complete")

    across_kill_9(db, first_half, second_half)


COMPOSED = CONTRACTS + """\
flows:
  drafting:
    output: Draft
    steps:
      - {id: write, function: write}
      - {id: polish, intent: Polish the draft., output_contract: Draft, inputs: {text: $.steps.write.output.text}}
  nested:
    output: Done
    steps:
      - {id: draft, flow: drafting}
      - {id: publish, function: finish}
  fanout:
    output: Done
    steps:
      - {id: plan, intent: Split the work into five tasks., output_contract: Plan}
      - id: build
        type: parallel_dispatch
        source: $.steps.plan.output.tasks
        require: 4
        max_concurrent: 5
        intent_template: "Build {task.description}"
        output_contract: Build
        ensure: ["result.built == inputs.task.id"]
        retries: 0
      - {id: publish, intent: Publish what was built., output_contract: Done,
         inputs: {count: $.steps.build.output.completed}}
"""
PLAN = {"tasks": [{"id": f"t{i}", "description": f"part {i}"} for i in range(1, 6)]}


def test_a_sub_flow_and_a_parallel_step_of_five_tasks_requiring_four_with_one_failing_survive_kill_9(
    across_kill_9: Any, db: Path,
) -> None:
    async def first_half(client: Any, state: dict[str, Any]) -> None:
        nested = await call(client, "stratum_plan", spec=COMPOSED, flow="nested", inputs={})
        assert (nested["step_id"], nested["subflow"]) == ("draft/write", "drafting")
        state["nested"] = nested["flow_id"]
        polish = await call(client, "stratum_step_done", flow_id=nested["flow_id"], step_id="draft/write",
                            result=DRAFT)
        assert (polish["step_id"], polish["inputs"]) == ("draft/polish", {"text": "a draft"})

        fanout = await call(client, "stratum_plan", spec=COMPOSED, flow="fanout", inputs={})
        state["fanout"] = fanout["flow_id"]
        tasks = await call(client, "stratum_step_done", flow_id=fanout["flow_id"], step_id="plan", result=PLAN)
        assert tasks["status"] == "execute_tasks" and tasks["require"] == 4
        assert [t["intent"] for t in tasks["tasks"]][:2] == ["Build part 1", "Build part 2"]
        reported = await call(client, "stratum_parallel_done", flow_id=fanout["flow_id"], step_id="build", results=[
            {"task_id": "t1", "result": {"built": "t1"}},
            {"task_id": "t2", "result": {"built": "t2"}},
            {"task_id": "t3", "result": {"built": "wrong"}},  # fails its ensure, with no retries
        ])
        assert reported["counts"] == {"pending": 0, "running": 2, "complete": 2, "failed": 1}

    async def second_half(client: Any, state: dict[str, Any]) -> None:
        resumed = await call(client, "stratum_resume", flow_id=state["nested"])
        assert resumed["step_id"] == "draft/polish"
        publish = await call(client, "stratum_step_done", flow_id=state["nested"], step_id="draft/polish",
                             result={"text": "polished", "score": 1.0})
        assert publish["step_id"] == "publish"
        await call(client, "stratum_step_done", flow_id=state["nested"], step_id="publish", result=DONE)
        audit = await call(client, "stratum_audit", flow_id=state["nested"])
        assert [s["step_id"] for s in audit["steps"][0]["steps"]] == ["write", "polish"]

        tasks = await call(client, "stratum_resume", flow_id=state["fanout"])
        assert sorted(t["task_id"] for t in tasks["tasks"] if t["status"] == "running") == ["t4", "t5"]
        publish = await call(client, "stratum_parallel_done", flow_id=state["fanout"], step_id="build", results=[
            {"task_id": "t4", "result": {"built": "t4"}}, {"task_id": "t5", "result": {"built": "t5"}}])
        assert (publish["step_id"], publish["inputs"]) == ("publish", {"count": 4})
        done = await call(client, "stratum_step_done", flow_id=state["fanout"], step_id="publish", result=DONE)
        assert done["status"] == "complete"
        audit = await call(client, "stratum_audit", flow_id=state["fanout"])
        assert [t["status"] for t in audit["steps"][1]["tasks"]] == ["complete", "complete", "failed", "complete",
                                                                     "complete"]

    across_kill_9(db, first_half, second_half)


CHECKED = CONTRACTS + """\
flows:
  checkpointed:
    output: Done
    steps:
      - {id: write, function: write}
      - {id: publish, function: finish}
  budgeted:
    output: Done
    budget: {usd: 1.0}
    steps:
      - {id: write, function: write}
      - {id: publish, function: finish}
"""


def test_commit_and_revert_and_a_usd_budget_exceeded_from_reported_usage_survive_kill_9(
    across_kill_9: Any, db: Path,
) -> None:
    async def first_half(client: Any, state: dict[str, Any]) -> None:
        first = await call(client, "stratum_plan", spec=CHECKED, flow="checkpointed", inputs={})
        state["checkpointed"] = first["flow_id"]
        committed = await call(client, "stratum_commit", flow_id=first["flow_id"], label="before-writing")
        assert (committed["status"], committed["checkpoints"]) == ("committed", ["before-writing"])
        await call(client, "stratum_step_done", flow_id=first["flow_id"], step_id="write", result=DRAFT)

        budgeted = await call(client, "stratum_plan", spec=CHECKED, flow="budgeted", inputs={})
        state["budgeted"] = budgeted["flow_id"]
        spent = await call(client, "stratum_step_done", flow_id=budgeted["flow_id"], step_id="write", result=DRAFT,
                           usage={"input_tokens": 100_000, "output_tokens": 20_000, "model": "claude-sonnet-4-5"})
        assert spent["step_id"] == "publish"

    async def second_half(client: Any, state: dict[str, Any]) -> None:
        flow_id = state["checkpointed"]
        assert (await call(client, "stratum_resume", flow_id=flow_id))["step_id"] == "publish"
        back = await call(client, "stratum_revert", flow_id=flow_id, label="before-writing")
        assert (back["status"], back["step_id"]) == ("execute_step", "write")
        missing = await call(client, "stratum_revert", flow_id=flow_id, label="nope")
        assert (missing["error"], missing["available"]) == ("checkpoint_not_found", ["before-writing"])
        await call(client, "stratum_step_done", flow_id=flow_id, step_id="write", result=DRAFT)
        done = await call(client, "stratum_step_done", flow_id=flow_id, step_id="publish", result=DONE)
        assert done["status"] == "complete"

        budgeted = state["budgeted"]
        over = await call(client, "stratum_step_done", flow_id=budgeted, step_id="publish", result=DONE,
                          usage={"usd": 0.75})  # $0.60 for the tokens above, then $0.75
        assert (over["status"], over["error"], over["limit_usd"]) == ("failed", "usd_budget_exceeded", 1.0)
        assert round(over["spent_usd"], 2) == 1.35
        after = await call(client, "stratum_resume", flow_id=budgeted)
        assert (after["status"], after["reason"]["code"]) == ("budget_exceeded", "usd_budget_exceeded")

    across_kill_9(db, first_half, second_half)
