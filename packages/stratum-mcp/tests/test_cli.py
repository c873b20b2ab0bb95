"""The stratum-mcp command for people and scripts: validate, audit, flows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from stratum_mcp import FlowService
from stratum_mcp.cli import main
from stratum_mcp.persistence import SqliteStore


@pytest.fixture
def review(specs: Path) -> Path:
    return specs / "review.stratum.yaml"


def test_validate_prints_valid_and_exits_zero_for_a_good_file(review: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(review)]) == 0
    assert capsys.readouterr().out.strip().endswith(": valid")


def test_validate_lists_every_error_with_its_path_and_exits_one(tmp_path: Path, review: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.stratum.yaml"
    bad.write_text(review.read_text().replace("function: extract", "function: extrct").replace("mode: compute",
                                                                                               "mode: comput"))
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "2 error(s)" in out
    assert "flows.review.steps[1].function: no function named `extrct` (did you mean `extract`?)" in out


def test_validate_reports_a_control_character_with_its_position_not_a_traceback(
    tmp_path: Path, review: Path, server_command: str,
) -> None:
    bad = tmp_path / "nul.stratum.yaml"
    bad.write_bytes(review.read_bytes().replace(b"flows:", b"flows:\x00", 1))
    done = subprocess.run([server_command, "validate", str(bad)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert "U+0000 is not allowed in YAML" in done.stdout and "[yaml_syntax]" in done.stdout
    assert "Traceback" not in done.stderr


def test_validate_json_output_is_machine_readable(review: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(review)]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "errors": []}


def test_validate_of_a_missing_file_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def planned_run(db: Path, spec: str) -> str:
    with FlowService(SqliteStore(db)) as service:
        first = service.plan(spec, "review", {"text": "I love it."})
        service.step_done(first.flow_id, "classify", {"label": "positive", "confidence": 0.3})
        service.step_done(first.flow_id, "classify", {"label": "positive", "confidence": 0.8})
    return first.flow_id


def test_audit_prints_a_table_of_steps_and_rejected_attempts(tmp_path: Path, review_spec: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "flows.db"
    flow_id = planned_run(db, review_spec)
    assert main(["--db", str(db), "audit", flow_id]) == 0
    out = capsys.readouterr().out
    assert "STEP" in out and "ATTEMPTS" in out
    assert "classify attempt 1 ensure_failed: result.confidence > 0.7" in out


def test_audit_json_is_the_same_view_the_tool_returns(
    tmp_path: Path, review_spec: str, capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "flows.db"
    flow_id = planned_run(db, review_spec)
    assert main(["--db", str(db), "audit", "--json", flow_id]) == 0
    view = json.loads(capsys.readouterr().out)
    assert (view["flow_id"], view["current_step"], view["steps"][0]["attempts"]) == (flow_id, "extract", 2)


def test_audit_of_an_unknown_or_malformed_id_exits_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "flows.db"
    assert main(["--db", str(db), "audit", "not-a-uuid"]) == 1
    assert main(["--db", str(db), "audit", "6f1c7a4e-0000-4000-8000-000000000000"]) == 1
    assert "no flow run" in capsys.readouterr().err


def test_flows_lists_recent_runs(tmp_path: Path, review_spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "flows.db"
    assert main(["--db", str(db), "flows"]) == 0
    assert "no flow runs yet" in capsys.readouterr().out
    flow_id = planned_run(db, review_spec)
    assert main(["--db", str(db), "flows"]) == 0
    assert flow_id in capsys.readouterr().out
    assert main(["--db", str(db), "flows", "--json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert (summary["flow_id"], summary["status"], summary["current_step"]) == (flow_id, "running", "extract")


def test_the_store_location_comes_from_the_environment_when_no_flag_is_given(
    tmp_path: Path, review_spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "env.db"
    flow_id = planned_run(db, review_spec)
    monkeypatch.setenv("STRATUM_MCP_DB", str(db))
    assert main(["flows", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["flow_id"] == flow_id


def test_the_installed_console_script_validates(server_command: str, review: Path) -> None:
    done = subprocess.run([server_command, "validate", str(review)], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def test_schema_prints_the_shipped_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    from stratum_mcp.spec import spec_schema

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == spec_schema()


@pytest.mark.parametrize("command", [["flows"], ["audit", "FLOW_ID"], ["learn", "--no-transcripts"]])
def test_commands_close_every_store_connection_they_open(
    tmp_path: Path, review_spec: str, connection_probe: list[str], command: list[str]
) -> None:
    db = tmp_path / "flows.db"
    flow_id = planned_run(db, review_spec)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    args = [*connection_probe, "--db", str(db), *(flow_id if part == "FLOW_ID" else part for part in command)]
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "left open" in done.stderr and done.stderr.rstrip().endswith(" 0 left open"), done.stderr
    assert " 0 opened" not in done.stderr  # the command did open the store
