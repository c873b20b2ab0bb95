"""The spec format's documentation: every example spec in docs/spec.md validates, and the original's run.

The section "Coming from the original stratum-mcp" holds the original
stratum-mcp's README examples for gates, parallel dispatch and iteration, each
marked with a `# the original's README: ...` line; each is driven to the end
here through the real service (the parallel one in a real git repository).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stratum_mcp import FlowService, MemoryStore
from stratum_mcp.engine import AwaitGate, ExecuteStep, ExecuteTasks, FlowCompleted, IterationAnswer
from stratum_mcp.spec import validate_spec

DOC = Path(__file__).resolve().parents[1] / "docs" / "spec.md"
_BLOCK = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_ORIGINAL = re.compile(r"\A# the original's README: (.+)\n")


def example_specs() -> list[str]:
    return [b for b in _BLOCK.findall(DOC.read_text()) if re.search(r"^version:", b, re.MULTILINE)]


def originals() -> dict[str, str]:
    return {m.group(1): block for block in example_specs() if (m := _ORIGINAL.match(block))}


def test_every_example_spec_in_the_format_documentation_validates() -> None:
    examples = example_specs()
    assert len(examples) >= 14  # the complete 0.1 example, one per 0.2 feature, and the original's
    for block in examples:
        assert validate_spec(block) == [], block[:200]


def test_the_documentation_carries_the_originals_examples_for_gates_parallel_dispatch_and_iteration() -> None:
    assert sorted(originals()) == ["gates", "iteration", "iteration with an accumulator", "parallel dispatch"]


def test_the_originals_gate_example_runs_through_a_revise_and_an_approval() -> None:
    service = FlowService(MemoryStore())
    first = service.plan(originals()["gates"], "reviewed_work", {"text": "the brief"})
    assert isinstance(first, ExecuteStep) and first.step.id == "work"
    waiting = service.step_done(first.flow_id, "work", {"result": "v1", "quality_score": 0.85})
    assert isinstance(waiting, AwaitGate) and waiting.function.timeout == 3600
    again = service.resolve_gate(first.flow_id, "review", "revise", "tighten the intro", "human")
    assert isinstance(again, ExecuteStep) and again.feedback[0].rationale == "tighten the intro"
    service.step_done(first.flow_id, "work", {"result": "v2", "quality_score": 0.9})
    done = service.resolve_gate(first.flow_id, "review", "approve", "good", "human")
    assert isinstance(done, FlowCompleted) and done.run.output == {"result": "v2", "quality_score": 0.9}


def test_the_originals_iteration_examples_run_to_their_exit_criteria() -> None:
    service = FlowService(MemoryStore())
    first = service.plan(originals()["iteration"], "improve", {})
    service.iteration_start(first.flow_id, "refine")
    verdicts = [service.iteration_report(first.flow_id, "refine", {"quality": q}) for q in (0.7, 0.96)]
    assert [v.verdict for v in verdicts if isinstance(v, IterationAnswer)] == ["continue", "criterion_met"]

    hunt = service.plan(originals()["iteration with an accumulator"], "hunting", {})
    service.iteration_start(hunt.flow_id, "hunt")
    rounds = [[{"id": "a"}, {"id": "b"}], [{"id": "b"}], []]  # then two rounds in a row find nothing new
    answers = [service.iteration_report(hunt.flow_id, "hunt", {"findings": items}) for items in rounds]
    assert [a.verdict for a in answers if isinstance(a, IterationAnswer)] == ["continue", "continue",
                                                                             "criterion_met"]
    assert service.run(hunt.flow_id).output == {"findings": [{"id": "a"}, {"id": "b"}]}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,  # noqa: S607
                          timeout=60)
    return done.stdout


def test_the_originals_parallel_dispatch_example_runs_its_tasks_in_worktrees(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (("init", "-q"), ("config", "user.email", "t@example.com"), ("config", "user.name", "T")):
        git(repo, *args)
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "start")
    service = FlowService(MemoryStore(), project_root=repo, worktree_root=tmp_path / "worktrees")
    first = service.plan(originals()["parallel dispatch"], "build", {"feature": "export"})
    tasks: Any = service.step_done(first.flow_id, "decompose", {"tasks": [
        {"id": "api", "description": "the export endpoint"},
        {"id": "cli", "description": "the export command"},
        {"id": "docs", "description": "the export docs"},
    ]})
    assert isinstance(tasks, ExecuteTasks)
    assert [t.intent for t in tasks.tasks] == ["Implement the export endpoint", "Implement the export command",
                                               "Implement the export docs"]
    assert all(t.worktree is not None and Path(t.worktree).is_dir() for t in tasks.tasks)
    done = service.parallel_done(first.flow_id, "execute", [{"task_id": t.task_id, "result": {"done": True}}
                                                            for t in tasks.tasks])
    assert isinstance(done, FlowCompleted)
    assert git(repo, "worktree", "list").count("\n") == 1  # only the project's own checkout is left


@pytest.mark.parametrize("name", ["gates", "parallel dispatch", "iteration"])
def test_each_original_example_keeps_the_originals_keys(name: str) -> None:
    block = originals()[name]
    keys = {"gates": ["mode: gate", "timeout: 3600", "max_rounds: 3", "on_approve: ~", "on_revise: work",
                      "on_kill: ~"],
            "parallel dispatch": ["type: parallel_dispatch", 'source: "$.steps.decompose.output.tasks"',
                                  "max_concurrent: 3", "isolation: worktree", "require: all",
                                  'intent_template: "Implement {task.description}"'],
            "iteration": ["max_iterations: 5", 'exit_criterion: "result.quality >= 0.95"']}[name]
    for key in keys:
        assert key in block, key
