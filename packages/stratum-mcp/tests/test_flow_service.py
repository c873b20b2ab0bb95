"""Flow control through the service: one store shared by several services, a clock the test moves, real git."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from stratum_mcp import FlowService, Limits, PriceTable
from stratum_mcp.engine import AwaitGate, ExecuteStep, ExecuteTasks, FlowCompleted, RunStopped
from stratum_mcp.errors import (
    GateAlreadyResolved,
    InputsInvalid,
    PriceTableInvalid,
    UnknownModelPrice,
    UsdBudgetExceeded,
    WorktreesUnavailable,
)
from stratum_mcp.persistence import SqliteStore, StoredRun

SPEC = """\
version: "0.2"
contracts:
  Draft: {text: string}
  Plan:
    tasks: {type: array, items: {type: object, properties: {id: string, file: string}}}
  Change: {file: string}
functions:
  write: {mode: infer, intent: Write., output: Draft}
  approve: {mode: gate, intent: Approve the draft., timeout: 30}
flows:
  gated:
    budget: {usd: 1.0}
    steps:
      - id: write
        function: write
      - id: review
        function: approve
        on_revise: write
      - id: publish
        function: write
  fanout:
    steps:
      - id: plan
        intent: List one task per file.
        output_contract: Plan
      - id: edit
        type: parallel_dispatch
        source: $.steps.plan.output.tasks
        max_concurrent: 2
        isolation: worktree
        intent_template: "Edit {task.file}"
        output_contract: Change
      - id: merge
        intent: Merge the task branches.
"""
DRAFT = {"text": "hello"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "flows.db"


def waiting_gate(service: FlowService) -> str:
    first = service.plan(SPEC, "gated", {})
    assert isinstance(first, ExecuteStep)
    assert isinstance(service.step_done(first.flow_id, "write", DRAFT), AwaitGate)
    return first.flow_id


def test_a_gate_decided_by_another_process_is_seen_on_the_agents_next_call(open_service: Any, db: Path) -> None:
    agent, terminal = open_service(db), open_service(db)
    flow_id = waiting_gate(agent)
    assert isinstance(agent.resume(flow_id), AwaitGate)
    moved = terminal.resolve_gate(flow_id, "review", "approve", "looks right", "human")
    assert isinstance(moved, ExecuteStep) and moved.step.id == "publish"
    seen = agent.resume(flow_id)
    assert isinstance(seen, ExecuteStep) and seen.step.id == "publish"
    with pytest.raises(GateAlreadyResolved):
        agent.resolve_gate(flow_id, "review", "kill", "too late", "agent")


class RendezvousStore(SqliteStore):
    """Makes two deciders read the same version of the run before either writes."""

    def __init__(self, path: Path, barrier: threading.Barrier) -> None:
        super().__init__(path)
        self.barrier: threading.Barrier | None = barrier

    def load(self, flow_id: str) -> StoredRun | None:
        stored = super().load(flow_id)
        if self.barrier is not None:
            barrier, self.barrier = self.barrier, None
            barrier.wait(timeout=10)
        return stored


def test_two_decisions_at_once_are_serialised_so_exactly_one_wins(open_service: Any, db: Path) -> None:
    flow_id = waiting_gate(open_service(db))
    barrier = threading.Barrier(2)
    deciders = [open_service(store=RendezvousStore(db, barrier)) for _ in range(2)]
    answers: list[Any] = [None, None]

    def decide(index: int, outcome: str) -> None:
        try:
            answers[index] = deciders[index].resolve_gate(flow_id, "review", outcome, "", "human")
        except Exception as exc:  # collected and asserted on below
            answers[index] = exc

    threads = [threading.Thread(target=decide, args=(0, "approve")), threading.Thread(target=decide, args=(1, "kill"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    assert sum(isinstance(a, GateAlreadyResolved) for a in answers) == 1
    assert sum(isinstance(a, ExecuteStep | RunStopped) for a in answers) == 1  # approve moved on, or kill stopped
    gate = open_service(db).run(flow_id).steps[1].gate
    assert gate is not None and len(gate.resolutions) == 1


def test_a_gate_past_its_timeout_is_killed_on_the_next_call_and_stays_killed(
    open_service: Any, db: Path, clock: Any
) -> None:
    service = open_service(db, clock=clock)
    flow_id = waiting_gate(service)
    clock.advance_ms(29_999)
    assert isinstance(service.resume(flow_id), AwaitGate)
    clock.advance_ms(1)
    with pytest.raises(GateAlreadyResolved) as late:
        service.resolve_gate(flow_id, "review", "approve", "", "human")
    assert late.value.resolved_by == "system"
    run = open_service(db).run(flow_id)  # the refused call still saved the expiry
    assert run.status == "killed" and run.error is not None and run.error["resolved_by"] == "system"
    assert isinstance(service.resume(flow_id), RunStopped)


def test_check_timeouts_sweeps_every_running_run_and_kills_only_the_due_gates(
    open_service: Any, db: Path, clock: Any
) -> None:
    service = open_service(db, clock=clock)
    old = waiting_gate(service)
    clock.advance_ms(20_000)
    new = waiting_gate(service)
    assert {g.run.flow_id for g in service.pending_gates()} == {old, new}
    clock.advance_ms(15_000)
    expiries = {e.flow_id: e.expired for e in service.check_timeouts()}
    assert expiries == {old: True, new: False}
    assert [g.run.flow_id for g in service.pending_gates()] == [new]


def test_usage_in_tokens_is_priced_from_the_table_and_an_override_file_adds_models(
    open_service: Any, db: Path, tmp_path: Path
) -> None:
    service = open_service(db)
    first = service.plan(SPEC, "gated", {})
    service.step_done(first.flow_id, "write", DRAFT, {"input_tokens": 100_000, "output_tokens": 10_000,
                                                      "model": "claude-sonnet-4-5-20250929"})
    assert round(service.run(first.flow_id).usage.usd, 4) == 0.45  # 0.1 M * $3 + 0.01 M * $15
    with pytest.raises(UnknownModelPrice) as unknown:
        service.step_done(first.flow_id, "review", {}, {"input_tokens": 1, "model": "house-model"})
    assert unknown.value.model == "house-model"
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"models": {"house-model": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}}))
    assert PriceTable.load(override).usd("house-model", 1_000_000, 1_000_000) == 3.0
    assert PriceTable.load(override).usd("gpt-4o", 1_000_000, 0) == 2.5  # the bundled models stay
    override.write_text('{"models": {"bad": {"input_per_mtok": -1}}}')
    with pytest.raises(PriceTableInvalid):
        PriceTable.load(override)


def test_malformed_usage_is_refused_before_anything_changes(open_service: Any, db: Path) -> None:
    service = open_service(db)
    first = service.plan(SPEC, "gated", {})
    for usage in ({"usd": -1}, {"input_tokens": 5}, {"tokens": 5}, "lots"):
        with pytest.raises(InputsInvalid):
            service.step_done(first.flow_id, "write", DRAFT, usage)
    assert service.run(first.flow_id).steps[0].attempts == ()


def test_a_usd_budget_passed_by_reported_usage_ends_the_run_after_it_is_saved(open_service: Any, db: Path) -> None:
    service = open_service(db)
    first = service.plan(SPEC, "gated", {})
    with pytest.raises(UsdBudgetExceeded):
        service.step_done(first.flow_id, "write", DRAFT, {"usd": 1.5})
    run = open_service(db).run(first.flow_id)
    assert run.status == "budget_exceeded" and run.usage.usd == 1.5


def test_checkpoints_survive_a_new_service_and_revert_returns_the_step_to_do(open_service: Any, db: Path) -> None:
    service = open_service(db)
    first = service.plan(SPEC, "gated", {})
    committed = service.commit(first.flow_id, "start")
    assert (committed.labels, committed.step_id) == (("start",), "write")
    service.step_done(first.flow_id, "write", DRAFT)
    with pytest.raises(InputsInvalid):
        service.commit(first.flow_id, "../escape")
    back = open_service(db).revert(first.flow_id, "start")
    assert isinstance(back, ExecuteStep) and back.step.id == "write"


# --- task worktrees in a real git repository --------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,  # noqa: S607
                          timeout=60)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "Test")
    (path / "a.txt").write_text("a\n")
    git(path, "add", "a.txt")
    git(path, "commit", "-q", "-m", "first")
    return path


def worktree_paths(repo: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")][1:]


PLAN = {"tasks": [{"id": f"t{i}", "file": f"f{i}.txt"} for i in range(1, 5)]}


def test_worktree_tasks_get_real_worktrees_bounded_by_max_concurrent_and_removed_when_done(
    open_service: Any, db: Path, repo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "state" / "worktrees"
    service = open_service(db, project_root=repo, worktree_root=root)
    first = service.plan(SPEC, "fanout", {})
    fan = service.step_done(first.flow_id, "plan", PLAN)
    assert isinstance(fan, ExecuteTasks)
    running = [t for t in fan.tasks if t.status == "running"]
    assert len(running) == 2 and sorted(worktree_paths(repo)) == sorted(t.worktree for t in running)
    for task in running:
        assert task.worktree is not None and Path(task.worktree).parent == root / first.flow_id
        assert (Path(task.worktree) / "a.txt").read_text() == "a\n"
    # The agent commits its work on the task's branch; finishing the task removes its worktree, not the branch.
    done = running[0]
    assert done.worktree is not None and done.branch is not None
    (Path(done.worktree) / "f1.txt").write_text("one\n")
    git(Path(done.worktree), "add", "f1.txt")
    git(Path(done.worktree), "commit", "-q", "-m", "task one")
    fan = service.parallel_done(first.flow_id, "edit", [{"task_id": done.task_id, "result": {"file": "f1.txt"}}])
    assert isinstance(fan, ExecuteTasks)
    assert not Path(done.worktree).exists() and len(worktree_paths(repo)) == 2
    assert done.branch in git(repo, "branch", "--list", done.branch)
    rest = [{"task_id": t.task_id, "result": {"file": "x"}} for t in fan.tasks if t.status == "running"]
    fan = service.parallel_done(first.flow_id, "edit", rest)
    rest = [{"task_id": t.task_id, "result": {"file": "x"}} for t in fan.tasks if t.status == "running"]
    merge = service.parallel_done(first.flow_id, "edit", rest)
    assert isinstance(merge, ExecuteStep) and worktree_paths(repo) == []
    output = service.run(first.flow_id).steps[1].output
    assert done.branch in [t.get("branch") for t in output["tasks"]]
    # Merged branches, and branches never committed to, go when the run ends; unmerged work would stay.
    git(repo, "merge", "-q", "--ff-only", done.branch)
    assert isinstance(service.step_done(first.flow_id, "merge", {"merged": 1}), FlowCompleted)
    assert git(repo, "branch", "--list", f"stratum/{first.flow_id}/*").strip() == ""
    assert not (root / first.flow_id).exists()


def test_killing_a_flow_or_reverting_past_its_tasks_removes_their_worktrees(
    open_service: Any, db: Path, repo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "state" / "worktrees"
    service = open_service(db, project_root=repo, worktree_root=root)
    first = service.plan(SPEC, "fanout", {})
    service.commit(first.flow_id, "before-tasks")
    service.step_done(first.flow_id, "plan", PLAN)
    assert len(worktree_paths(repo)) == 2
    assert isinstance(service.revert(first.flow_id, "before-tasks"), ExecuteStep)
    assert worktree_paths(repo) == [] and not any((root / first.flow_id).iterdir())
    service.step_done(first.flow_id, "plan", PLAN)
    assert len(worktree_paths(repo)) == 2
    service.skip_step(first.flow_id, "edit", "not needed after all")
    assert worktree_paths(repo) == []


def test_worktrees_lost_or_left_behind_by_a_killed_server_are_put_right_on_the_next_call(
    open_service: Any, db: Path, repo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "state" / "worktrees"
    service = open_service(db, project_root=repo, worktree_root=root)
    first = service.plan(SPEC, "fanout", {})
    fan = service.step_done(first.flow_id, "plan", PLAN)
    assert isinstance(fan, ExecuteTasks)
    lost = next(t.worktree for t in fan.tasks if t.worktree)
    assert lost is not None
    git(repo, "worktree", "remove", "--force", lost)  # as if a crash happened before it was created
    stray = root / first.flow_id / "leftover.1.t9"
    stray.mkdir()
    restarted = open_service(db, project_root=repo, worktree_root=root)
    assert isinstance(restarted.resume(first.flow_id), ExecuteTasks)
    assert Path(lost).is_dir() and not stray.exists() and len(worktree_paths(repo)) == 2


def test_worktree_isolation_is_refused_up_front_outside_a_git_repository(
    open_service: Any, db: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    service = open_service(db, project_root=plain, worktree_root=tmp_path / "wt")
    with pytest.raises(WorktreesUnavailable) as refused:
        service.plan(SPEC, "fanout", {})
    assert "git" in refused.value.reason
    assert service.recent(5) == []


def test_a_flow_may_hold_no_more_worktrees_than_the_bound(open_service: Any, db: Path, repo: Path,
                                                          tmp_path: Path) -> None:
    from stratum_mcp.spec import validate_spec

    tight = Limits(worktrees_per_run=1)
    issues = validate_spec(SPEC, limits=tight)
    assert [(i.path, i.code) for i in issues] == [("flows.fanout.steps[1].max_concurrent", "bad_value")]
    service = open_service(db, project_root=repo, worktree_root=tmp_path / "wt",
                           limits=Limits(worktrees_per_run=2))
    first = service.plan(SPEC, "fanout", {})
    fan = service.step_done(first.flow_id, "plan", {"tasks": PLAN["tasks"] * 1})
    assert isinstance(fan, ExecuteTasks) and len(worktree_paths(repo)) == 2
