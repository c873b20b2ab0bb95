"""The package's public face, its error tree, and the one mapping of errors to tool results."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import stratum_mcp
from stratum_mcp import cli, engine, errors, expressions, learn, persistence, setup, spec, tools
from stratum_mcp.engine import Violation
from stratum_mcp.errors import (
    FlowBudgetExceeded,
    InputsInvalid,
    RetriesExhausted,
    SpecInvalid,
    StepMismatch,
    StratumMcpError,
    UsageError,
)
from stratum_mcp.spec import SpecIssue
from stratum_mcp.tools import error_payload


def test_public_names_are_deliberate() -> None:
    assert stratum_mcp.__all__ == [
        "DEFAULT_LIMITS", "FlowService", "FlowStore", "Limits", "MemoryStore", "PriceTable", "ServerConfig",
        "SqliteStore",
        "StoredRun", "__version__", "cli", "engine", "errors", "expressions", "learn", "persistence",
        "resolve_config", "setup", "spec", "tools",
    ]
    assert expressions.__all__ == [
        "FUNCTIONS", "CompiledExpression", "Evaluation", "FileProbe", "ProjectFiles", "compile_expression", "evaluate",
    ]
    assert spec.__all__ == [
        "ANY_OBJECT", "FIELD_TYPES", "GATE_OUTPUT", "PARALLEL_OUTPUT", "SPEC_VERSION", "SPEC_VERSIONS", "Binding",
        "Budget", "Contract", "FieldType", "Flow", "Function", "Iteration", "Literal", "Parallel", "Reference",
        "ReferenceSyntaxError", "Routes", "Spec", "SpecIssue", "Step", "StepKind", "Template", "TemplateSyntaxError",
        "binding_from", "fields_schema", "load_spec", "parse_reference", "parse_template", "render_template",
        "resolve_reference", "spec_digest", "spec_schema", "validate_spec",
    ]
    assert engine.__all__ == [
        "Attempt", "AttemptRejected", "AwaitGate", "Checker", "Checkpoint", "Context", "Dispatch", "Event",
        "ExecuteStep", "ExecuteTasks", "Feedback", "FlowCompleted", "FlowRun", "Frame", "GateRun", "IterationAnswer",
        "IterationRun", "Outcome", "Resolution", "ResultChecker", "RunEnded", "RunStatus", "RunStopped", "StepRun",
        "StepStatus", "TaskResult", "TaskRun", "Usage", "Violation", "abort_iteration", "audit_view",
        "check_timeouts", "commit", "dispatch_of", "expire", "report", "report_iteration", "report_tasks",
        "resolve_gate", "revert", "skip", "start", "start_iteration", "step_trace", "worktrees_wanted",
    ]
    assert persistence.__all__ == ["FlowStore", "MemoryStore", "SqliteStore", "StoredRun"]
    assert tools.__all__ == [
        "ToolRunner", "audit_payload", "build_server", "commit_payload", "error_payload", "internal_error_payload",
        "outcome_payload", "serve", "timeouts_payload", "validate_payload",
    ]
    assert cli.__all__ == ["OUTPUT_SCHEMAS", "build_parser", "main", "output_schema"]
    assert setup.__all__ == [
        "CLIENTS", "SKILL_NAMES", "Activation", "Check", "Client", "Diagnosis", "Plan", "ServerLaunch", "Skill",
        "Verdict", "activation", "apply_plan", "claude_home", "diagnose", "find_project_root", "plan_setup",
        "plan_uninstall", "server_launch", "shipped_skills",
    ]
    assert learn.__all__ == [
        "Conclusion", "Evidence", "LearnResult", "LearnSources", "TranscriptLimits", "learn", "project_slug",
    ]


def test_every_error_class_is_exported_and_drawn_in_the_tree() -> None:
    classes = {name for name, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, StratumMcpError) and obj.__module__ == errors.__name__}
    assert classes == set(errors.__all__)
    assert errors.__doc__ is not None
    for name in classes:
        assert name in errors.__doc__, name


def test_error_codes_are_unique() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))


def test_usage_errors_map_to_error_results_with_their_fields() -> None:
    payload = error_payload(StepMismatch("f", "a", "b", "step `b` has not been dispatched yet"))
    assert payload["status"] == "error" and payload["error"] == "step_mismatch"
    assert (payload["expected_step"], payload["step_id"]) == ("a", "b")
    assert payload["next"]
    json.dumps(payload)


def test_run_failures_map_to_failed_results() -> None:
    violation = Violation("ensure", "result.x > 1", "evaluated to false", {"result.x": 0})
    payload = error_payload(RetriesExhausted("f", "s", 4, [violation]))
    assert (payload["status"], payload["attempts"]) == ("failed", 4)
    assert payload["violations"][0]["expression"] == "result.x > 1"
    assert error_payload(FlowBudgetExceeded("f", 10, 20))["spent_ms"] == 20


def test_error_fields_are_json_ready() -> None:
    samples: list[StratumMcpError] = [
        SpecInvalid([SpecIssue("a.b", "code", "msg", "hint")]),
        InputsInvalid([Violation("input", "text", "expected string, got integer", 3)]),
    ]
    for error in samples:
        assert isinstance(error, UsageError)
        json.dumps(error_payload(error))


def test_importing_the_package_does_not_import_the_sdk_or_yaml() -> None:
    code = (
        "import sys, stratum_mcp, stratum_mcp.cli; "
        "print(sorted(m for m in ('mcp', 'yaml', 'jsonschema') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == "[]"


def test_a_json_schema_for_each_spec_version_ships_in_the_package() -> None:
    from stratum_mcp.spec import SPEC_VERSIONS, spec_schema

    assert SPEC_VERSIONS == ("0.1", "0.2")
    for version in SPEC_VERSIONS:
        version_key = spec_schema(version)["properties"]["version"]
        assert version_key == {"const": version, "description": "Spec format version."}
    assert spec_schema() == spec_schema("0.2")  # the newest, for editors


def test_the_usage_examples_in_the_public_docstrings_run() -> None:
    import doctest

    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner()
    attempted = 0
    for face in (stratum_mcp, cli, engine, expressions, learn, persistence, setup, spec, tools):
        for obj in (face, *(getattr(face, name) for name in face.__all__)):
            globs = vars(obj) if inspect.ismodule(obj) else vars(face)
            for test in finder.find(obj, getattr(obj, "__name__", face.__name__), globs=globs):
                result = runner.run(test)
                assert result.failed == 0, test.name
                attempted += result.attempted
    assert attempted >= 3  # expressions, evaluate, parse_reference
