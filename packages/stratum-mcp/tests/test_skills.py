"""The seven shipped skills: frontmatter, content, and spec templates the server accepts and can run."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from stratum_mcp import FlowService
from stratum_mcp.engine import AttemptRejected, AwaitGate, ExecuteStep, FlowCompleted, IterationAnswer
from stratum_mcp.persistence import MemoryStore
from stratum_mcp.setup import SKILL_NAMES, shipped_skills
from stratum_mcp.spec import validate_spec

SKILLS = {skill.name: skill.text for skill in shipped_skills("/opt/venv/bin/stratum-mcp")}
_TEMPLATE = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def spec_templates(text: str) -> list[str]:
    """The spec templates embedded in a skill: fenced YAML blocks that declare a spec ``version``."""
    return [block for block in _TEMPLATE.findall(text) if re.search(r"^version:", block, re.MULTILINE)]


def test_seven_skills_are_shipped_under_the_names_of_the_product() -> None:
    assert set(SKILLS) == {"stratum-review", "stratum-feature", "stratum-debug", "stratum-refactor",
                           "stratum-migrate", "stratum-test", "stratum-learn"}


@pytest.mark.parametrize("name", SKILL_NAMES)
def test_every_skill_has_frontmatter_that_tells_claude_when_to_use_it(name: str) -> None:
    text = SKILLS[name]
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n", 2)[1])
    assert set(front) == {"name", "description"}
    assert front["name"] == name
    assert 80 < len(front["description"]) <= 1024
    assert "Use when" in front["description"]


@pytest.mark.parametrize("name", SKILL_NAMES)
def test_every_embedded_spec_template_passes_the_servers_validator(name: str) -> None:
    templates = spec_templates(SKILLS[name])
    assert len(templates) == 1
    assert validate_spec(templates[0]) == []


@pytest.mark.parametrize("name", SKILL_NAMES)
def test_every_skill_reads_memory_first_and_walks_the_whole_tool_loop(name: str) -> None:
    text = SKILLS[name]
    for needle in ("MEMORY.md", "stratum_plan", "stratum_step_done", "ensure_failed", "stratum_audit",
                   "Never paste the spec"):
        assert needle in text, needle
    # Memory is read before the spec is written and updated after the audit.
    assert text.index("MEMORY.md") < text.index("```yaml")
    assert text.rindex("MEMORY.md") > text.rindex("stratum_audit")


def test_the_learn_skill_names_this_installations_command() -> None:
    text = SKILLS["stratum-learn"]
    assert "{{stratum-mcp}}" not in text  # the placeholder in the shipped source
    assert "/opt/venv/bin/stratum-mcp learn --json" in text


# --- each template runs to completion through the real engine, and its key checks really reject


@dataclass(frozen=True)
class Decide:
    """Resolve the gate, as the user would tell the agent to."""

    outcome: str
    rationale: str = ""


@dataclass(frozen=True)
class Start:
    """Start the step's iteration loop."""


@dataclass(frozen=True)
class Iteration:
    """Report one iteration of the step's loop."""

    result: dict[str, Any]


START = Start()
Action = dict[str, Any] | Decide | Start | Iteration


@dataclass
class Run:
    flow: str
    inputs: dict[str, Any]
    steps: list[tuple[str, Action, str]]
    before: Callable[[Path], None] = field(default=lambda root: None)


def _files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


FINDING = {"file": "app/auth.py", "line": 12, "severity": "high", "issue": "SQL built with an f-string",
           "evidence": "cur.execute(f'select {name}')", "fix": "pass parameters"}
LOGIC = {"file": "app/auth.py", "line": 30, "severity": "medium", "issue": "None is not handled",
         "evidence": "user.name.lower()", "fix": "return early on None"}

EXAMPLES: dict[str, tuple[dict[str, str], list[Run]]] = {
    "stratum-review": ({"app/auth.py": "def login(): ...\n"}, [Run("review", {"scope": "app/"}, [
        ("security", START, "started"),
        ("security", Iteration({"files_reviewed": ["app/auth.py"], "findings": [FINDING]}), "continue"),
        ("security", Iteration({"files_reviewed": ["app/auth.py"], "findings": []}), "criterion_met"),
        ("logic", START, "started"),
        ("logic", Iteration({"files_reviewed": ["app/auth.py"], "findings": [FINDING]}), "ensure_failed"),  # a repeat
        ("logic", Iteration({"files_reviewed": ["app/auth.py"], "findings": [LOGIC]}), "continue"),
        ("logic", Iteration({"files_reviewed": ["app/auth.py"], "findings": [LOGIC]}), "criterion_met"),
        ("performance", {"files_reviewed": ["app/auth.py"], "findings": []}, "execute_step"),
        ("consolidate", {"verdict": "approve", "summary": "ok", "critical": 0, "high": 1,
                         "findings": [{**FINDING, "pass": "security"}]}, "ensure_failed"),
        ("consolidate", {"verdict": "request_changes", "summary": "one high", "critical": 0, "high": 1,
                         "findings": [{**FINDING, "pass": "security"}, {**LOGIC, "pass": "logic"}]}, "complete"),
    ])]),
    "stratum-feature": ({"app/cli.py": "", "app/export.py": "", "tests/test_export.py": ""}, [
        Run("feature", {"request": "add a CSV export command"}, [
            ("patterns", {"similar_code": [{"file": "app/cli.py", "why": "commands live here"}],
                          "conventions": ["one module per command"], "test_command": "pytest -q"}, "execute_step"),
            ("design", {"summary": "export", "files_to_change": ["app/cli.py"], "files_to_create": ["app/export.py"],
                        "tests_to_add": ["writes rows", "rejects a bad path"]}, "await_gate"),
            ("approve", Decide("revise", "also test an empty export"), "execute_step"),  # back to design
            ("design", {"summary": "export", "files_to_change": ["app/cli.py"], "files_to_create": ["app/export.py"],
                        "tests_to_add": ["writes rows", "rejects a bad path", "empty"]}, "await_gate"),
            ("approve", Decide("approve", "go"), "execute_step"),
            ("implement", {"changed_files": ["app/cli.py"], "test_files": ["tests/test_export.py"]},
             "ensure_failed"),  # the new module was never written
            ("implement", {"changed_files": ["app/cli.py", "app/export.py"], "test_files": ["tests/test_export.py"]},
             "execute_step"),
            ("tests", {"command": "pytest -q", "exit_code": 1, "passed": 3, "failed": 1, "output_tail": "1 failed"},
             "ensure_failed"),
            ("tests", {"command": "pytest -q", "exit_code": 0, "passed": 4, "failed": 0, "output_tail": "4 passed"},
             "complete"),
        ])]),
    "stratum-debug": ({"app/export.py": "", "tests/test_export.py": ""}, [Run("debug", {"symptom": "test fails"}, [
        ("reproduce", {"command": "pytest tests/test_export.py", "exit_code": 1, "error": "AssertionError: dates",
                       "test_file": "tests/test_export.py"}, "execute_step"),
        ("read_code", {"files": ["app/export.py"], "suspects": [{"file": "app/export.py", "line": 3, "why": "tz"}]},
         "execute_step"),
        ("check_env", {"checked": ["python", "TZ"], "differences": ["TZ is unset"]}, "execute_step"),
        ("hypothesise", {"hypotheses": [{"id": "tz", "claim": "local time", "test": "TZ=UTC"},
                                        {"id": "locale", "claim": "locale", "test": "LANG=C"}]}, "execute_step"),
        ("test_hypotheses", {"verdicts": [{"id": "tz", "status": "confirmed", "evidence": "passes with TZ=UTC"},
                                          {"id": "locale", "status": "confirmed", "evidence": "?"}],
                             "root_cause": "?"}, "ensure_failed"),  # two root causes is no conclusion
        ("test_hypotheses", {"verdicts": [{"id": "tz", "status": "confirmed", "evidence": "passes with TZ=UTC"},
                                          {"id": "locale", "status": "ruled_out", "evidence": "fails with LANG=C"}],
                             "root_cause": "dates use local time"}, "await_gate"),
        ("confirm", Decide("approve", "convincing"), "execute_step"),
        ("fix", {"changed_files": ["app/export.py"], "command": "pytest tests/test_export.py", "exit_code": 0,
                 "failed": 0}, "complete"),
    ])]),
    "stratum-refactor": ({"app/big.py": "", "app/cli.py": ""}, [
        Run("plan_split", {"file": "app/big.py"}, [
            ("analyse", {"file": "app/big.py", "lines": 900, "importers": ["app/cli.py"], "responsibilities": [
                {"name": "parsing", "symbols": ["parse", "Token"]}, {"name": "rendering", "symbols": ["render"]}]},
             "execute_step"),
            ("design", {"modules": [{"path": "app/parsing.py", "responsibility": "parsing", "symbols": ["parse"]},
                                    {"path": "app/rendering.py", "responsibility": "rendering",
                                     "symbols": ["render"]}]}, "ensure_failed"),  # `Token` was forgotten
            ("design", {"modules": [
                {"path": "app/parsing.py", "responsibility": "parsing", "symbols": ["parse", "Token"]},
                {"path": "app/rendering.py", "responsibility": "rendering", "symbols": ["render"]}]}, "execute_step"),
            ("order", {"order": ["app/parsing.py", "app/rendering.py"], "reasons": ["rendering imports parsing"]},
             "await_gate"),
            ("approve", Decide("approve", "good plan"), "complete"),
        ]),
        Run("extract_one", {"source": "app/big.py", "module": "app/parsing.py", "symbols": ["parse", "Token"],
                            "test_command": "pytest -q"}, [
            ("extract", {"module": "app/parsing.py", "moved": ["Token", "parse"], "source_lines": 700,
                         "test_command": "pytest -q", "exit_code": 0, "failed": 0}, "complete"),
        ], before=lambda root: _files(root, {"app/parsing.py": "def parse(): ...\nclass Token: ...\n"})),
    ]),
    "stratum-migrate": ({"app/llm.py": "@contract\nclass Label(BaseModel): ...\n@infer(intent='x')\n"}, [
        Run("migrate", {"scope": "app/"}, [
            ("find", {"sites": [{"file": "app/llm.py", "line": 10, "client": "openai", "purpose": "classify",
                                 "output_used_as": "the label field"}]}, "execute_step"),
            ("contracts", {"contracts": [{"name": "Label", "fields": ["label", "confidence"], "function": "classify",
                                          "ensure": ["r.confidence > 0.7"]}]}, "await_gate"),
            ("approve", Decide("approve"), "execute_step"),
            ("rewrite", {"files": ["app/llm.py"], "functions": ["classify"], "remaining_bare_calls": 1},
             "ensure_failed"),
            ("rewrite", {"files": ["app/llm.py"], "functions": ["classify"], "remaining_bare_calls": 0},
             "execute_step"),
            ("verify", {"command": "pytest", "exit_code": 0, "passed": 5, "failed": 0}, "complete"),
        ])]),
    "stratum-test": ({"app/export.py": "", "tests/test_export.py": "def test_writes_rows(): ...\n"
                                                                   "def test_rejects_a_bad_path(): ...\n"}, [
        Run("test", {"target": "app/export.py"}, [
            ("surface", {"module": "app/export.py", "test_dir": "tests", "test_command": "pytest -q", "functions": [
                {"name": "export", "signature": "export(rows, path)", "tested": False, "raises": ["ValueError"]},
                {"name": "load", "signature": "load(path)", "tested": True, "raises": []}]}, "execute_step"),
            ("golden", {"test_file": "tests/test_export.py", "tests": ["test_writes_rows"], "covers": ["load"]},
             "ensure_failed"),  # the untested function is not covered
            ("golden", {"test_file": "tests/test_export.py", "tests": ["test_writes_rows"], "covers": ["export"]},
             "execute_step"),
            ("errors", START, "started"),
            ("errors", Iteration({"test_file": "tests/test_export.py", "tests": ["test_rejects_a_bad_path"],
                                  "covers": ["ValueError"]}), "criterion_met"),  # every raised error is covered
            ("run", {"command": "pytest -q", "exit_code": 0, "passed": 2, "failed": 0}, "complete"),
        ])]),
    "stratum-learn": ({"MEMORY.md": "<!-- stratum:learned:begin (x) -->\n<!-- stratum:learned:end -->\n"
                                    "- Report quote_count even when there are no quotes.\n"}, [
        Run("learn", {}, [
            ("gather", {"runs": 3, "sessions": 1, "lessons": ["`quote_count` of `summarize` results was rejected"]},
             "execute_step"),
            ("explain", {"patterns": [{"lesson": "quote_count", "root_cause": "no quotes, no count",
                                       "rule": "Report quote_count even when there are no quotes."}]},
             "await_gate"),
            ("approve", Decide("approve", "keep it"), "execute_step"),
            ("remember", {"memory_file": "MEMORY.md", "lines_added": ["- A line that was never written."]},
             "ensure_failed"),
            ("remember", {"memory_file": "MEMORY.md",
                          "lines_added": ["- Report quote_count even when there are no quotes."]}, "complete"),
        ])]),
}


def _status(outcome: Any) -> str:
    if isinstance(outcome, IterationAnswer):
        return outcome.verdict
    if isinstance(outcome, ExecuteStep):
        return "execute_step"
    if isinstance(outcome, AwaitGate):
        return "await_gate"
    if isinstance(outcome, AttemptRejected):
        return outcome.status
    assert isinstance(outcome, FlowCompleted)
    return "complete"


def _act(service: FlowService, flow_id: str, step_id: str, action: Action) -> Any:
    if isinstance(action, Decide):
        return service.resolve_gate(flow_id, step_id, action.outcome, action.rationale, "human")
    if isinstance(action, Start):
        return service.iteration_start(flow_id, step_id)
    if isinstance(action, Iteration):
        return service.iteration_report(flow_id, step_id, action.result)
    return service.step_done(flow_id, step_id, action)


@pytest.mark.parametrize("name", SKILL_NAMES)
def test_every_template_runs_to_completion_and_its_checks_reject_bad_results(name: str, tmp_path: Path) -> None:
    files, runs = EXAMPLES[name]
    _files(tmp_path, files)
    service = FlowService(MemoryStore(), project_root=tmp_path)
    (template,) = spec_templates(SKILLS[name])
    for run in runs:
        run.before(tmp_path)
        first = service.plan(template, run.flow, run.inputs)
        assert isinstance(first, ExecuteStep) and first.step.id == run.steps[0][0]
        for step_id, action, expected in run.steps:
            outcome = _act(service, first.flow_id, step_id, action)
            violations = getattr(outcome, "violations", ())
            assert _status(outcome) == expected, (step_id, [v.to_json() for v in violations])


#: Where each skill asks a person to decide, and where it iterates.
GATES = {"stratum-feature": "approve", "stratum-debug": "confirm", "stratum-refactor": "approve",
         "stratum-migrate": "approve", "stratum-learn": "approve"}
LOOPS = {"stratum-review": ("security", "logic"), "stratum-test": ("errors",)}


@pytest.mark.parametrize("name", SKILL_NAMES)
def test_skills_ask_a_person_where_a_decision_matters_and_loop_where_they_iterate(name: str) -> None:
    from stratum_mcp.spec import load_spec

    (template,) = spec_templates(SKILLS[name])
    spec = load_spec(template)
    steps = {s.id: s for flow in spec.flows.values() for s in flow.steps}
    gates = sorted(i for i, s in steps.items() if s.kind == "gate")
    loops = tuple(i for i, s in steps.items() if s.iteration is not None)
    assert gates == ([GATES[name]] if name in GATES else [])
    assert loops == LOOPS.get(name, ())
    text = SKILLS[name]
    if gates:
        assert "stratum_gate_resolve" in text and '`resolved_by: "human"`' in text
        assert all(steps[g].routes.on_revise for g in gates)  # a person can always send the work back
    if loops:
        assert "stratum_iteration_start" in text and "stratum_iteration_report" in text


def test_refactor_approves_the_extraction_plan_before_any_file_moves() -> None:
    from stratum_mcp.spec import load_spec

    (template,) = spec_templates(SKILLS["stratum-refactor"])
    plan = load_spec(template).flows["plan_split"]
    assert plan.steps[-1].kind == "gate" and plan.steps[-1].routes.on_revise == "design"
