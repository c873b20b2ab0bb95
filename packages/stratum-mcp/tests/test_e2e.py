"""End to end: a real `stratum-mcp` subprocess driven by the MCP SDK's ClientSession over stdio."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytestmark = pytest.mark.e2e

TEXT = {"text": "I love it. Great support. Shipping was slow."}
CLASSIFY_LOW = {"label": "positive", "confidence": 0.4}
CLASSIFY = {"label": "positive", "confidence": 0.92}
EXTRACT = {"quotes": ["I love it.", "Great support."]}
SUMMARIZE = {"text": "Happy customer.", "label": "positive", "quote_count": 2}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "flows.db"


async def plan(client: Any, spec: str) -> dict[str, Any]:
    first = await client.call("stratum_plan", spec=spec, flow="review", inputs=TEXT)
    assert first["status"] == "execute_step", first
    return first


TOOLS = [
    "stratum_audit", "stratum_check_timeouts", "stratum_commit", "stratum_gate_resolve", "stratum_iteration_abort",
    "stratum_iteration_report", "stratum_iteration_start", "stratum_parallel_done", "stratum_plan", "stratum_resume",
    "stratum_revert", "stratum_skip_step", "stratum_step_done", "stratum_validate",
]


def test_the_server_lists_its_tools_with_descriptions_and_argument_schemas_for_the_model(
    mcp_client: Any, run_async: Any, db: Path,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            tools = {t.name: t for t in (await client.session.list_tools()).tools}
            assert sorted(tools) == TOOLS
            for tool in tools.values():
                assert tool.description and len(tool.description) > 100
                for name, schema in tool.input_schema["properties"].items():
                    assert schema.get("description"), (tool.name, name)
            assert set(tools["stratum_step_done"].input_schema["required"]) == {"flow_id", "step_id", "result"}
            assert tools["stratum_audit"].annotations is not None and tools["stratum_audit"].annotations.read_only_hint
            resolve = tools["stratum_gate_resolve"].input_schema
            assert resolve["properties"]["outcome"]["enum"] == ["approve", "revise", "kill"]
            assert resolve["properties"]["resolved_by"]["enum"] == ["human", "agent", "system"]
            report = tools["stratum_iteration_report"].input_schema["properties"]["result"]
            assert report["type"] == "object"
            task = tools["stratum_parallel_done"].input_schema["properties"]["results"]["items"]
            assert task["required"] == ["task_id"] and task["properties"]["status"]["enum"] == ["complete", "failed"]

    run_async(body)


def test_every_tool_argument_has_a_json_type_and_a_description(mcp_client: Any, run_async: Any, db: Path) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            tools = {t.name: t for t in (await client.session.list_tools()).tools}
            for tool in tools.values():
                schema = tool.input_schema
                assert schema["type"] == "object" and schema["additionalProperties"] is False
                for name, prop in schema["properties"].items():
                    assert prop["type"] in ("string", "object", "array"), (tool.name, name)
                    assert len(prop["description"]) > 20, (tool.name, name)
            assert tools["stratum_step_done"].input_schema["properties"]["result"]["type"] == "object"
            assert tools["stratum_plan"].input_schema["properties"]["inputs"]["type"] == "object"
            assert tools["stratum_plan"].input_schema["required"] == ["spec", "flow"]

    run_async(body)


def test_arguments_of_the_wrong_type_get_the_json_error_body_naming_each_argument(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            wrong = await client.call("stratum_step_done", flow_id=5, step_id="classify", reslt={})
            assert (wrong["status"], wrong["error"], wrong["tool"]) == ("error", "arguments_invalid",
                                                                        "stratum_step_done")
            assert wrong["violations"] == [
                {"kind": "argument", "field": "flow_id", "message": "expected string, got integer",
                 "expected": "string", "actual": 5},
                {"kind": "argument", "field": "reslt", "message": "unknown argument; did you mean `result`?",
                 "expected": "one of the arguments: flow_id, step_id, result, usage", "actual": {}},
                {"kind": "argument", "field": "result", "message": "required argument is missing",
                 "expected": "object", "actual": None},
            ]
            assert "`flow_id`: expected string, got integer" in wrong["message"]
            assert wrong["next"]
            unknown = await client.call("stratum_valdate", spec=review_spec)
            assert (unknown["error"], unknown["suggestion"]) == ("unknown_tool", "did you mean `stratum_validate`?")
            # A client that sends an object as its JSON text is understood.
            first = await client.call("stratum_plan", spec=review_spec, flow="review", inputs=json.dumps(TEXT))
            assert first["status"] == "execute_step"

    run_async(body)


def test_every_argument_of_every_tool_sent_with_the_wrong_type_gets_the_json_error_body(
    mcp_client: Any, run_async: Any, db: Path,
) -> None:
    wrong = {"string": 12345, "object": [1, 2], "array": {"not": "a list"}}

    async def body() -> None:
        async with mcp_client(db) as client:
            cases = 0
            for tool in (await client.session.list_tools()).tools:
                for name, prop in tool.input_schema["properties"].items():
                    answer = await client.call(tool.name, **{name: wrong[prop["type"]]})
                    assert answer["error"] == "arguments_invalid", (tool.name, name, answer)
                    mistyped = [v for v in answer["violations"] if v["field"] == name]
                    assert mistyped and mistyped[0]["message"].startswith(f"expected {prop['type']}, got "), answer
                    assert mistyped[0]["actual"] == wrong[prop["type"]]
                    cases += 1
            assert cases >= 30  # every argument of every tool

    run_async(body)


def test_the_flow_control_tools_check_values_and_shapes_in_the_same_json_error_body(
    mcp_client: Any, run_async: Any, db: Path,
) -> None:
    flow_id = "6f1c7a4e-0000-4000-8000-000000000000"

    async def body() -> None:
        async with mcp_client(db) as client:
            gate = await client.call("stratum_gate_resolve", flow_id=flow_id, step_id="approve", outcome="aprove")
            assert gate["error"] == "arguments_invalid"
            assert gate["violations"] == [{
                "kind": "argument", "field": "outcome",
                "message": "must be one of 'approve', 'revise', 'kill'; did you mean `approve`?",
                "expected": "one of 'approve', 'revise', 'kill'", "actual": "aprove"}]
            tasks = await client.call("stratum_parallel_done", flow_id=flow_id, step_id="fan", results={"task_id": "a"})
            assert [(v["field"], v["message"]) for v in tasks["violations"]] == [
                ("results", "expected array, got object")]
            # Well-typed arguments reach the service, which answers for the run itself.
            defaults = await client.call("stratum_gate_resolve", flow_id=flow_id, step_id="approve", outcome="approve")
            assert defaults["error"] == "flow_not_found"

    run_async(body)


def test_a_spec_with_control_characters_is_a_yaml_syntax_error_with_its_position(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    broken = review_spec.replace("flows:", "flows:\x00", 1)
    line = broken[: broken.index("\x00")].count("\n") + 1

    async def body() -> None:
        async with mcp_client(db) as client:
            answer = await client.call("stratum_validate", spec=broken)
            assert [(e["code"], e["path"]) for e in answer["errors"]] == [("yaml_syntax", "(document)")]
            assert f"U+0000 is not allowed in YAML (line {line}, column 7)" in answer["errors"][0]["message"]
            plan = await client.call("stratum_plan", spec=broken.replace("\x00", "\x07"), flow="review",
                                     inputs=TEXT)
            assert (plan["error"], plan["errors"][0]["code"]) == ("spec_invalid", "yaml_syntax")

    run_async(body)


def test_wrong_inputs_name_each_field_what_it_expects_and_what_was_sent(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            answer = await client.call("stratum_plan", spec=review_spec, flow="review", inputs={"txt": 3})
            assert answer["error"] == "inputs_invalid"
            assert answer["message"] == "`text`: required field is missing; `txt`: unknown field; did you mean `text`?"
            assert answer["violations"] == [
                {"kind": "input", "field": "text", "message": "required field is missing", "expected": "string",
                 "actual": None},
                {"kind": "input", "field": "txt", "message": "unknown field; did you mean `text`?",
                 "expected": "one of the declared fields: text", "actual": 3},
            ]
            typed = await client.call("stratum_plan", spec=review_spec, flow="review", inputs={"text": "x" * 500})
            assert typed["status"] == "execute_step"
            wrong = await client.call("stratum_plan", spec=review_spec, flow="review", inputs={"text": ["y" * 300]})
            assert wrong["violations"][0]["expected"] == "string"
            assert len(wrong["violations"][0]["actual"][0]) < 250  # echoed, but bounded

    run_async(body)


def test_validate_answers_valid_for_a_good_spec_and_lists_every_error_of_a_bad_one(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    bad = review_spec.replace("function: extract", "function: extrct").replace("$.input.text}", "$.input.txt}")

    async def body() -> None:
        async with mcp_client(db) as client:
            assert await client.call("stratum_validate", spec=review_spec) == {"valid": True, "errors": []}
            answer = await client.call("stratum_validate", spec=bad)
            assert answer["valid"] is False
            codes = {(e["path"], e["code"]) for e in answer["errors"]}
            assert ("flows.review.steps[1].function", "unknown_function") in codes
            assert ("flows.review.steps[0].inputs.text", "unknown_field") in codes
            assert all(e.get("suggestion") for e in answer["errors"])

    run_async(body)


def test_a_three_step_flow_runs_through_an_ensure_failure_and_retry_to_completion(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            first = await plan(client, review_spec)
            assert (first["step_id"], first["step_number"], first["total_steps"]) == ("classify", 1, 3)
            assert first["output_schema"]["required"] == ["label", "confidence"]
            assert first["ensure"] == ["result.confidence > 0.7"]
            flow_id = first["flow_id"]

            failed = await client.call("stratum_step_done", flow_id=flow_id, step_id="classify", result=CLASSIFY_LOW)
            assert failed["status"] == "ensure_failed"
            assert failed["retries_remaining"] == 2
            assert failed["violations"] == [{
                "kind": "ensure", "expression": "result.confidence > 0.7", "message": "evaluated to false",
                "actual": {"result.confidence": 0.4},
            }]

            second = await client.call("stratum_step_done", flow_id=flow_id, step_id="classify", result=CLASSIFY)
            assert second["step_id"] == "extract"
            assert second["inputs"] == {"text": TEXT["text"], "label": "positive"}
            third = await client.call("stratum_step_done", flow_id=flow_id, step_id="extract", result=EXTRACT)
            assert third["inputs"] == {"label": "positive", "quotes": EXTRACT["quotes"]}
            done = await client.call("stratum_step_done", flow_id=flow_id, step_id="summarize", result=SUMMARIZE)
            assert done["status"] == "complete"
            assert done["output"] == SUMMARIZE
            assert [(s["step_id"], s["attempts"]) for s in done["trace"]] == [
                ("classify", 2), ("extract", 1), ("summarize", 1)
            ]

    run_async(body)


def test_a_result_with_the_wrong_shape_is_schema_failed_naming_fields_and_values(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            first = await plan(client, review_spec)
            answer = await client.call("stratum_step_done", flow_id=first["flow_id"], step_id="classify",
                                       result={"label": "ecstatic"})
            assert answer["status"] == "schema_failed"
            assert {(v["field"], v["message"]) for v in answer["violations"]} == {
                ("confidence", "required field is missing"),
                ("label", "must be one of 'positive', 'negative', 'neutral'"),
            }
            assert next(v for v in answer["violations"] if v["field"] == "label")["actual"] == "ecstatic"

    run_async(body)


def test_exhausted_retries_fail_the_flow_with_an_error_and_the_audit_shows_it(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            flow_id = (await plan(client, review_spec))["flow_id"]
            for _ in range(2):
                answer = await client.call("stratum_step_done", flow_id=flow_id, step_id="classify",
                                           result=CLASSIFY_LOW)
                assert answer["status"] == "ensure_failed"
            final = await client.call("stratum_step_done", flow_id=flow_id, step_id="classify", result=CLASSIFY_LOW)
            assert (final["status"], final["error"], final["attempts"]) == ("failed", "retries_exhausted", 3)
            again = await client.call("stratum_step_done", flow_id=flow_id, step_id="classify", result=CLASSIFY)
            assert again["error"] == "flow_finished"
            audit = await client.call("stratum_audit", flow_id=flow_id)
            assert audit["status"] == "failed"
            assert [a["outcome"] for a in audit["steps"][0]["attempt_log"]] == ["ensure_failed"] * 3

    run_async(body)


def test_misuse_gets_clear_errors_and_the_server_keeps_serving(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            flow_id = (await plan(client, review_spec))["flow_id"]
            wrong = await client.call("stratum_step_done", flow_id=flow_id, step_id="summarize", result=SUMMARIZE)
            assert (wrong["error"], wrong["expected_step"]) == ("step_mismatch", "classify")
            bad_id = await client.call("stratum_step_done", flow_id="../../etc", step_id="x", result={})
            assert bad_id["error"] == "invalid_flow_id"
            unknown = await client.call("stratum_audit", flow_id="6f1c7a4e-0000-4000-8000-000000000000")
            assert unknown["error"] == "flow_not_found"
            no_flow = await client.call("stratum_plan", spec=review_spec, flow="reveiw", inputs=TEXT)
            assert (no_flow["error"], no_flow["suggestion"]) == ("unknown_flow", "did you mean `review`?")
            bad_inputs = await client.call("stratum_plan", spec=review_spec, flow="review", inputs={"text": 3})
            assert bad_inputs["error"] == "inputs_invalid"
            assert (await client.call("stratum_step_done", flow_id=flow_id, step_id="classify",
                                      result=CLASSIFY))["status"] == "execute_step"

    run_async(body)


def test_hostile_specs_and_expressions_fail_fast_and_leave_the_server_healthy(
    mcp_client: Any, run_async: Any,
    db: Path, specs: Path, billion_laughs: str
) -> None:
    hostile = (specs / "hostile-template.yaml").read_text()

    async def body() -> None:
        async with mcp_client(db) as client:
            laughs = await client.call("stratum_validate", spec=billion_laughs)
            assert laughs["valid"] is False
            pow_spec = hostile.replace("ENSURE", "10**10**10 > 0")
            assert (await client.call("stratum_validate", spec=pow_spec))["errors"][0]["code"] == "bad_expression"
            dunder = hostile.replace("ENSURE", "result.__ｃｌａｓｓ__ is None")
            assert (await client.call("stratum_validate", spec=dunder))["errors"][0]["code"] == "bad_expression"

            data_driven = hostile.replace("ENSURE", "len(result.s * result.n) > 0")
            first = await client.call("stratum_plan", spec=data_driven, flow="main", inputs={})
            answer = await client.call("stratum_step_done", flow_id=first["flow_id"], step_id="only",
                                       result={"s": "a", "n": 10**12})
            assert answer["status"] == "ensure_failed"
            assert "string length limit" in answer["violations"][0]["message"]
            assert len((await client.session.list_tools()).tools) == len(TOOLS)

    run_async(body)


def test_a_flow_survives_kill_9_and_finishes_on_a_new_server(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str, kill_server: Any,
) -> None:
    state: dict[str, Any] = {}

    async def first_server() -> None:
        async with mcp_client(db) as client:
            flow_id = (await plan(client, review_spec))["flow_id"]
            await client.call("stratum_step_done", flow_id=flow_id, step_id="classify", result=CLASSIFY_LOW)
            await client.call("stratum_step_done", flow_id=flow_id, step_id="classify", result=CLASSIFY)
            state["flow_id"] = flow_id
            kill_server(db)
            # The dead server closes its stdout, so the next call fails (bounded by run_async's timeout).
            with pytest.raises(Exception):  # noqa: B017 - any transport error; the server is dead
                await client.call("stratum_audit", flow_id=flow_id)

    async def second_server() -> None:
        async with mcp_client(db) as client:
            flow_id = state["flow_id"]
            audit = await client.call("stratum_audit", flow_id=flow_id)
            assert (audit["status"], audit["current_step"]) == ("running", "extract")
            await client.call("stratum_step_done", flow_id=flow_id, step_id="extract", result=EXTRACT)
            done = await client.call("stratum_step_done", flow_id=flow_id, step_id="summarize", result=SUMMARIZE)
            assert done["status"] == "complete"

    async def third_server() -> None:
        async with mcp_client(db) as client:
            audit = await client.call("stratum_audit", flow_id=state["flow_id"])
            assert audit["status"] == "complete"
            assert [s["attempts"] for s in audit["steps"]] == [2, 1, 1]
            assert audit["steps"][0]["attempt_log"][0]["violations"][0]["actual"] == {"result.confidence": 0.4}

    try:
        run_async(first_server)
    except BaseException as exc:  # the dead server may also surface as a transport error on exit
        if isinstance(exc, AssertionError | KeyboardInterrupt):
            raise
    assert "flow_id" in state
    run_async(second_server)
    run_async(third_server)


def test_two_servers_reporting_the_same_step_at_once_do_not_double_count(
    mcp_client: Any, run_async: Any, db: Path, review_spec: str,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as one, mcp_client(db) as two:
            flow_id = (await plan(one, review_spec))["flow_id"]
            answers: list[dict[str, Any]] = []

            async def report(client: Any) -> None:
                answers.append(await client.call("stratum_step_done", flow_id=flow_id, step_id="classify",
                                                 result=CLASSIFY))

            async with anyio.create_task_group() as group:
                group.start_soon(report, one)
                group.start_soon(report, two)
            assert sorted(a.get("status") for a in answers) == ["error", "execute_step"]
            audit = await two.call("stratum_audit", flow_id=flow_id)
            assert audit["steps"][0]["attempts"] == 1 and audit["current_step"] == "extract"

    run_async(body)


def test_the_server_never_imports_litellm_or_stratum(
    mcp_client: Any, run_async: Any, server_env: Any, db: Path, review_spec: str, tmp_path: Path,
) -> None:
    log = tmp_path / "importtime.log"

    async def body() -> None:
        with log.open("w") as errlog:
            async with mcp_client(command=sys.executable, args=["-X", "importtime", "-m", "stratum_mcp"],
                                  env=server_env(db), cwd=tmp_path, errlog=errlog) as client:
                flow_id = (await plan(client, review_spec))["flow_id"]
                await client.call("stratum_step_done", flow_id=flow_id, step_id="classify", result=CLASSIFY)
                await client.call("stratum_audit", flow_id=flow_id)

    run_async(body)
    modules = {line.split("|")[-1].strip() for line in log.read_text().splitlines() if line.startswith("import time:")}
    assert "stratum_mcp._service" in modules  # the log covers a full round of tool calls
    tops = {name.split(".")[0] for name in modules}
    assert "litellm" not in tops
    assert "stratum" not in tops


def test_the_db_flag_overrides_the_environment(
    mcp_client: Any, run_async: Any, server_env: Any, tmp_path: Path, review_spec: str,
) -> None:
    flagged = tmp_path / "flag" / "flows.db"

    async def body() -> None:
        env = server_env(tmp_path / "env" / "flows.db")
        async with mcp_client(tmp_path / "env" / "flows.db", args=["--db", str(flagged)], env=env) as client:
            await plan(client, review_spec)

    run_async(body)
    assert flagged.exists()
    assert not (tmp_path / "env" / "flows.db").exists()


def test_the_round_trip_example_runs_and_exits_zero() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "mcp_roundtrip.py"
    if not example.exists():
        pytest.skip("the repository's examples are not next to this package")
    import subprocess

    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rejected (ensure_failed)" in done.stdout
    assert done.stdout.strip().endswith("MCP round trip OK")


def test_the_server_closes_its_store_when_the_client_goes_away(
    mcp_client: Any, run_async: Any, server_env: Any, connection_probe: list[str], db: Path, review_spec: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "probe.log"

    async def body() -> None:
        with log.open("w") as errlog:
            async with mcp_client(command=connection_probe[0], args=[*connection_probe[1:], "serve"],
                                  env=server_env(db), cwd=tmp_path, errlog=errlog) as client:
                await plan(client, review_spec)

    run_async(body)
    # The client waits for the server to exit, and the server reports only after serve() has returned.
    assert log.read_text().strip().endswith("sqlite connections: 1 opened, 0 left open"), log.read_text()
