"""`stratum-mcp query` and `stratum-mcp gate`: JSON for other programs, in shapes the package ships as schemas."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from stratum_mcp import FlowService
from stratum_mcp.cli import OUTPUT_SCHEMAS, main, output_schema
from stratum_mcp.engine import AwaitGate, ExecuteStep
from stratum_mcp.persistence import SqliteStore

SPEC = """\
version: "0.2"
contracts:
  Draft: {text: string}
functions:
  write: {mode: infer, intent: Write., output: Draft}
  approve: {mode: gate, intent: Approve the draft., timeout: 5}
flows:
  gated:
    output: Draft
    steps:
      - id: write
        function: write
      - id: review
        function: approve
        on_revise: write
      - id: publish
        function: write
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flows.db"


def waiting(db: Path, clock: Any = None) -> str:
    with FlowService(SqliteStore(db), **({"clock": clock} if clock else {})) as service:
        first = service.plan(SPEC, "gated", {})
        assert isinstance(service.step_done(first.flow_id, "write", {"text": "draft"}), AwaitGate)
    return first.flow_id


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(list(args))
    document = json.loads(capsys.readouterr().out)
    Draft202012Validator(output_schema(document["schema"])).validate(document)
    return status, document


def test_every_output_schema_ships_in_the_package_and_is_a_valid_json_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert OUTPUT_SCHEMAS == ("cli-error.v1", "gate-resolution.v1", "gate-sweep.v1", "query-flow.v1",
                              "query-flows.v1", "query-gates.v1")
    for name in OUTPUT_SCHEMAS:
        schema = output_schema(name)
        Draft202012Validator.check_schema(schema)
        assert schema["properties"]["schema"] == {"const": name, "description": schema["properties"]["schema"][
            "description"]}
        assert main(["schema", "--output", name]) == 0
        assert json.loads(capsys.readouterr().out) == schema


def test_query_prints_flows_one_flow_and_the_waiting_gates_as_documents_matching_their_schemas(
    db: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    flow_id = waiting(db)
    status, flows = run_cli(capsys, "--db", str(db), "query", "flows")
    assert status == 0
    (summary,) = flows["flows"]
    assert (summary["flow_id"], summary["current_step"], summary["waiting"]) == (flow_id, "review", "gate")
    status, one = run_cli(capsys, "--db", str(db), "query", "flow", flow_id)
    assert status == 0 and one["audit"]["current_step"] == "review"
    assert [e["event"] for e in one["audit"]["events"]][:2] == ["flow_started", "step_dispatched"]
    status, gates = run_cli(capsys, "--db", str(db), "query", "gates")
    assert status == 0
    (gate,) = gates["gates"]
    assert (gate["flow_id"], gate["step_id"], gate["intent"], gate["can_revise"], gate["revise_to"]) == (
        flow_id, "review", "Approve the draft.", True, "write")


RICH = """\
version: "0.2"
contracts:
  Plan:
    tasks: {type: array, items: {type: object, properties: {id: string}}}
  Notes: {notes: {type: array, items: string}}
flows:
  inner:
    steps:
      - {id: note, intent: Take notes., output_contract: Notes, max_iterations: 2, accumulate: notes}
  main:
    input: {quick: boolean}
    budget: {usd: 10}
    steps:
      - {id: nested, flow: inner}
      - {id: plan, intent: Plan., output_contract: Plan}
      - {id: fan, type: parallel_dispatch, source: $.steps.plan.output.tasks, require: 1, retries: 0,
         output_contract: Notes}
      - {id: extra, intent: Extra work., skip_if: input.quick}
      - {id: review, intent: Approve., mode: gate, on_revise: plan}
"""


def test_the_audit_of_a_run_through_every_kind_of_step_matches_the_query_flow_schema(
    db: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with FlowService(SqliteStore(db)) as service:
        first = service.plan(RICH, "main", {"quick": True})
        service.commit(first.flow_id, "start")
        service.iteration_start(first.flow_id, "nested/note")
        service.iteration_report(first.flow_id, "nested/note", {"notes": ["a"]}, {"usd": 0.1})
        service.iteration_abort(first.flow_id, "nested/note", "enough")
        service.step_done(first.flow_id, "plan", {"tasks": [{"id": "t1"}, {"id": "t2"}]})
        service.parallel_done(first.flow_id, "fan", [{"task_id": "t1", "result": {"notes": 1}},
                                                      {"task_id": "t2", "result": {"notes": ["ok"]}}])
        service.resolve_gate(first.flow_id, "review", "revise", "again", "human")
    status, document = run_cli(capsys, "--db", str(db), "query", "flow", first.flow_id)
    assert status == 0
    audit = document["audit"]
    assert audit["rounds"] == 1 and audit["usage"]["usd"] == 0.1 and audit["checkpoints"][0]["label"] == "start"
    assert audit["steps"][0]["steps"][0]["iteration"]["outcome"] == "aborted"
    assert [t["status"] for t in audit["steps"][2]["tasks"]] == ["failed", "complete"]
    assert audit["steps"][3]["skip_reason"] == "skip_if `input.quick` was true"
    assert audit["steps"][4]["gate"]["resolutions"][0]["outcome"] == "revise"
    assert audit["steps"][1]["feedback"][0]["rationale"] == "again"


def test_query_of_an_unknown_flow_exits_one_with_an_error_document(
    db: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    status, error = run_cli(capsys, "--db", str(db), "query", "flow", "6f1c7a4e-0000-4000-8000-000000000000")
    assert (status, error["error"], error["exit_code"]) == (1, "flow_not_found", 1)


def test_gate_approve_decides_once_and_a_second_decision_exits_two(
    db: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    flow_id = waiting(db)
    status, decided = run_cli(capsys, "--db", str(db), "gate", "approve", flow_id, "review", "--note", "fine")
    assert status == 0
    assert (decided["outcome"], decided["rationale"], decided["resolved_by"]) == ("approve", "fine", "human")
    assert decided["then"] == {"status": "execute_step", "step_id": "publish"}
    status, again = run_cli(capsys, "--db", str(db), "gate", "kill", flow_id, "review")
    assert (status, again["error"], again["outcome"], again["exit_code"]) == (2, "gate_already_resolved", "approve", 2)
    status, wrong = run_cli(capsys, "--db", str(db), "gate", "approve", "not-a-flow", "review")
    assert (status, wrong["error"]) == (1, "invalid_flow_id")


def test_gate_revise_hands_the_note_to_the_step_it_goes_back_to(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow_id = waiting(db)
    status, decided = run_cli(capsys, "--db", str(db), "gate", "revise", flow_id, "review", "--note", "shorter",
                              "--resolved-by", "agent")
    assert status == 0 and decided["then"] == {"status": "execute_step", "step_id": "write"}
    with FlowService(SqliteStore(db)) as service:
        again = service.resume(flow_id)
    assert isinstance(again, ExecuteStep)
    assert [(f.rationale, f.resolved_by) for f in again.feedback] == [("shorter", "agent")]


def test_gate_sweep_kills_the_gates_past_their_timeout(db: Path, capsys: pytest.CaptureFixture[str],
                                                       clock: Any) -> None:
    clock.now = 1_000.0  # long ago: the gate's five seconds passed decades before the sweep runs
    flow_id = waiting(db, clock)
    status, swept = run_cli(capsys, "--db", str(db), "gate", "sweep")
    assert status == 0 and swept["expired"] == [{"flow_id": flow_id, "status": "killed"}]
    status, gates = run_cli(capsys, "--db", str(db), "query", "gates")
    assert gates["gates"] == []


def test_the_installed_command_exits_zero_then_two_for_a_gate_decided_twice(db: Path, server_command: str) -> None:
    flow_id = waiting(db)
    args = [server_command, "--db", str(db), "gate", "approve", flow_id, "review"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    second = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert (first.returncode, second.returncode) == (0, 2), first.stderr + second.stderr
    assert json.loads(second.stdout)["error"] == "gate_already_resolved"
    assert "already resolved" in second.stderr


@pytest.mark.parametrize("command", [["query", "gates"], ["query", "flow", "FLOW_ID"],
                                     ["gate", "approve", "FLOW_ID", "review"], ["gate", "sweep"]])
def test_query_and_gate_close_every_store_connection_they_open(
    db: Path, tmp_path: Path, connection_probe: list[str], command: list[str]
) -> None:
    flow_id = waiting(db)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    args = [*connection_probe, "--db", str(db), *(flow_id if part == "FLOW_ID" else part for part in command)]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.rstrip().endswith(" 0 left open"), done.stderr
