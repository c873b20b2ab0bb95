"""The flow store: durable, compare-and-swap updates, bounded history."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from stratum_mcp import DEFAULT_LIMITS, Limits
from stratum_mcp.engine import FlowRun, StepRun
from stratum_mcp.errors import StoreError
from stratum_mcp.persistence import FlowStore, MemoryStore, SqliteStore


def a_run(flow_id: str, *, status: str = "running", updated_ms: int = 1) -> FlowRun:
    return FlowRun(
        flow_id=flow_id, flow="review", spec_digest="d" * 64, status=status,  # type: ignore[arg-type]
        inputs={"text": "hi"}, created_ms=1, updated_ms=updated_ms, current=0,
        steps=(StepRun(step_id="a", function="f", status="running", inputs={"x": 1}, dispatched_ms=1),),
    )


@pytest.fixture(params=["sqlite", "memory"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., FlowStore]]:
    """Opens the store under test (each kind in turn) with the given limits; closes it after the test."""
    opened: list[FlowStore] = []

    def open_(limits: Limits = DEFAULT_LIMITS) -> FlowStore:
        store = SqliteStore(tmp_path / "flows.db", limits=limits) if request.param == "sqlite" else \
            MemoryStore(limits=limits)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., FlowStore]) -> FlowStore:
    return open_store()


def test_a_created_run_loads_back_equal_at_version_one(store: FlowStore) -> None:
    run = a_run("r1")
    store.create(run, "spec text")
    stored = store.load("r1")
    assert stored is not None and stored.run == run and stored.version == 1
    assert store.spec_text(run.spec_digest) == "spec text"
    assert store.load("missing") is None


def test_an_update_at_the_expected_version_wins_and_a_stale_one_loses(store: FlowStore) -> None:
    store.create(a_run("r1"), "spec")
    assert store.update(replace(a_run("r1"), updated_ms=2), expected_version=1)
    assert not store.update(replace(a_run("r1"), updated_ms=3), expected_version=1)
    stored = store.load("r1")
    assert stored is not None and (stored.version, stored.run.updated_ms) == (2, 2)


def test_recent_lists_the_newest_runs_first(store: FlowStore) -> None:
    for i in range(5):
        store.create(a_run(f"r{i}", updated_ms=i), "spec")
    assert [r.flow_id for r in store.recent(3)] == ["r4", "r3", "r2"]


def test_runs_survive_reopening_the_database(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "flows.db") as store:
        store.create(a_run("r1"), "spec")
    with SqliteStore(tmp_path / "flows.db") as reopened:
        stored = reopened.load("r1")
    assert stored is not None and stored.run.flow_id == "r1"


def test_the_database_runs_in_wal_mode(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "flows.db").close()
    with closing(sqlite3.connect(tmp_path / "flows.db")) as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_finished_history_is_pruned_to_its_bound_and_running_runs_are_kept(
    open_store: Callable[..., FlowStore],
) -> None:
    store = open_store(Limits(finished_runs_kept=3))
    store.create(a_run("live", updated_ms=0), "spec")
    for i in range(6):
        store.create(a_run(f"done{i}", status="complete", updated_ms=i + 1), "spec")
    ids = {r.flow_id for r in store.recent(100)}
    assert ids == {"live", "done3", "done4", "done5"}
    assert store.load("done2") is None


def test_abandoned_running_runs_are_bounded_too(open_store: Callable[..., FlowStore]) -> None:
    store = open_store(Limits(finished_runs_kept=20))
    for i in range(5):
        store.create(a_run(f"run{i}", updated_ms=i), "spec")
    assert [r.flow_id for r in store.recent(100)] == ["run4", "run3"]


def test_a_run_that_has_ended_counts_against_the_finished_bound_not_the_running_one(
    open_store: Callable[..., FlowStore],
) -> None:
    store = open_store(Limits(finished_runs_kept=10))  # keeps one running run
    store.create(a_run("a", updated_ms=1), "spec")
    assert store.update(a_run("a", status="failed", updated_ms=2), expected_version=1)
    store.create(a_run("b", updated_ms=3), "spec")
    store.create(a_run("c", updated_ms=4), "spec")  # b, still running, is older than c; a has ended
    assert [r.flow_id for r in store.recent(100)] == ["c", "a"]


def test_runs_updated_at_the_same_moment_are_pruned_in_flow_id_order(open_store: Callable[..., FlowStore]) -> None:
    store = open_store(Limits(finished_runs_kept=2))
    for flow_id in ("r2", "r4", "r1", "r3"):
        store.create(a_run(flow_id, status="complete", updated_ms=7), "spec")
    assert [r.flow_id for r in store.recent(100)] == ["r4", "r3"]


def test_specs_no_run_uses_are_pruned_with_their_runs(open_store: Callable[..., FlowStore]) -> None:
    store = open_store(Limits(finished_runs_kept=1))
    store.create(replace(a_run("old", status="complete", updated_ms=1), spec_digest="a" * 64), "old spec")
    store.create(replace(a_run("new", status="complete", updated_ms=2), spec_digest="b" * 64), "new spec")
    assert store.spec_text("a" * 64) is None
    assert store.spec_text("b" * 64) == "new spec"


def test_an_unopenable_store_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError):
        SqliteStore(tmp_path / "file" / "flows.db")


def test_a_run_with_attempts_and_violations_round_trips_through_the_store(tmp_path: Path) -> None:
    from stratum_mcp.engine import Attempt, Violation

    violation = Violation("ensure", "result.x > 1", "evaluated to false", {"result.x": [1, {"a": None}]})
    step = StepRun(step_id="a", function="f", status="complete", inputs={"x": [1, 2]}, dispatched_ms=None,
                   attempts=(Attempt(1, 1, 5, "ensure_failed", (violation,)), Attempt(2, 5, 9, "passed")),
                   output={"x": 2})
    run = replace(a_run("r1", status="failed"), steps=(step,), finished_ms=9, output={"x": 2},
                  error={"code": "retries_exhausted", "message": "m"})
    with SqliteStore(tmp_path / "flows.db") as store:
        store.create(run, "spec")
        stored = store.load("r1")
    assert stored is not None and stored.run == run


def test_a_run_too_large_to_store_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    from stratum_mcp.errors import ArgumentTooLarge

    with SqliteStore(tmp_path / "flows.db", limits=Limits(run_state_bytes=2000)) as store:
        store.create(a_run("r1"), "spec")
        big = replace(a_run("r1"), inputs={"text": "x" * 5000})
        with pytest.raises(ArgumentTooLarge):
            store.update(big, expected_version=1)
        stored = store.load("r1")
    assert stored is not None and stored.version == 1 and stored.run.inputs == {"text": "hi"}


def test_recent_can_be_limited_to_the_runs_of_one_project(store: FlowStore) -> None:
    store.create(a_run("here", updated_ms=1), "spec", project="/home/me/app")
    store.create(a_run("there", updated_ms=2), "spec", project="/home/me/other")
    store.create(a_run("untagged", updated_ms=3), "spec")
    assert [r.flow_id for r in store.recent(10, project="/home/me/app")] == ["here"]
    assert [r.flow_id for r in store.recent(10)] == ["untagged", "there", "here"]


def test_a_store_written_before_runs_had_a_project_gains_the_column_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "flows.db"
    with SqliteStore(path) as store:
        store.create(a_run("old"), "spec")
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP INDEX runs_by_project")
        db.execute("ALTER TABLE runs DROP COLUMN project")
        db.commit()
    with SqliteStore(path) as reopened:
        reopened.create(a_run("new", updated_ms=2), "spec", project="/home/me/app")
        assert [r.flow_id for r in reopened.recent(10)] == ["new", "old"]
        assert [r.flow_id for r in reopened.recent(10, project="/home/me/app")] == ["new"]


def test_the_service_tags_each_planned_run_with_its_resolved_project_root(tmp_path: Path, review_spec: str) -> None:
    from stratum_mcp import FlowService

    (tmp_path / "app").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "app")
    with FlowService(SqliteStore(tmp_path / "flows.db"), project_root=link) as service:
        first = service.plan(review_spec, "review", {"text": "fine"})
        tagged = service.store.recent(10, project=str((tmp_path / "app").resolve()))
    assert [r.flow_id for r in tagged] == [first.flow_id]


def test_a_closed_store_refuses_every_call_and_closing_again_is_harmless(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "flows.db") as store:
        store.create(a_run("r1"), "spec")
    store.close()
    calls = [lambda: store.create(a_run("r2"), "spec"), lambda: store.load("r1"), lambda: store.spec_text("d" * 64),
             lambda: store.update(a_run("r1"), expected_version=1), lambda: store.recent(1)]
    for call in calls:
        with pytest.raises(StoreError, match="is closed"):
            call()


# --- flow control state (spec version 0.2) ----------------------------------------------------------

RICH_SPEC = """\
version: "0.2"
contracts:
  Plan:
    tasks: {type: array, items: {type: object, properties: {id: string}}}
  Notes: {notes: {type: array, items: string}}
functions:
  approve: {mode: gate, intent: Approve., timeout: 60}
flows:
  inner:
    steps:
      - {id: note, intent: Take notes., output_contract: Notes, max_iterations: 2, accumulate: notes}
  main:
    steps:
      - {id: nested, flow: inner}
      - {id: plan, intent: Plan., output_contract: Plan}
      - {id: fan, type: parallel_dispatch, source: $.steps.plan.output.tasks, require: 1, max_concurrent: 1,
         isolation: worktree}
      - {id: review, function: approve, on_revise: plan}
"""


@pytest.fixture
def rich_run() -> FlowRun:
    """A run through every kind of state: a loop in a sub-flow, tasks in worktrees, a revised gate, a checkpoint."""
    from stratum_mcp.engine import (
        Context,
        ResultChecker,
        TaskResult,
        Usage,
        commit,
        report,
        report_iteration,
        report_tasks,
        resolve_gate,
        start,
        start_iteration,
    )
    from stratum_mcp.spec import load_spec

    spec = load_spec(RICH_SPEC)

    def at(ms: int) -> Context:
        return Context(ms, ResultChecker(), worktree_root="/srv/worktrees")

    run, _ = start(spec, "main", "00000000-0000-4000-8000-0000000000aa", {}, at(1))
    run = commit(run, spec, "start", at(2))
    run, _ = start_iteration(run, spec, "nested/note", at(3))
    for ms, notes in ((4, ["a"]), (5, ["a", "b"])):
        run, _ = report_iteration(run, spec, "nested/note", {"notes": notes}, at(ms), usage=Usage(0.25, 10, 5, 1))
    run, _ = report(run, spec, "plan", {"tasks": [{"id": "t1"}, {"id": "t2"}]}, at(6))
    run, _ = report_tasks(run, spec, "fan", [TaskResult("t1", result={"done": True})], at(7))
    run, _ = resolve_gate(run, spec, "review", "revise", "split t1", "human", at(8))
    run, _ = report(run, spec, "plan", {"tasks": [{"id": "t3"}]}, at(9))
    assert run.rounds == 1 and run.checkpoints and run.steps[2].tasks and run.steps[2].tasks[0].worktree
    return run


def test_a_run_with_flow_control_state_loads_back_equal(store: FlowStore, rich_run: FlowRun) -> None:
    store.create(rich_run, RICH_SPEC)
    stored = store.load(rich_run.flow_id)
    assert stored is not None and stored.run == rich_run
    assert store.update(replace(rich_run, updated_ms=99), expected_version=1)


def test_a_row_stored_in_the_first_format_still_loads(tmp_path: Path) -> None:
    import json

    with SqliteStore(tmp_path / "flows.db") as store:
        store.create(a_run("r1"), "spec")
    first_format = {  # as the first release wrote a run: no visits, events, rounds or usage
        "format": 1, "flow_id": "r1", "flow": "review", "spec_digest": "d" * 64, "status": "running",
        "inputs": {"text": "hi"}, "created_ms": 1, "updated_ms": 5, "current": 1, "finished_ms": None,
        "output": None, "error": None,
        "steps": [
            {"step_id": "a", "function": "f", "status": "complete", "inputs": {}, "dispatched_ms": None,
             "attempts": [{"number": 1, "started_ms": 1, "finished_ms": 2, "outcome": "passed", "violations": []}],
             "output": {"label": "positive"}},
            {"step_id": "b", "function": "g", "status": "running", "inputs": {}, "dispatched_ms": 2, "attempts": [],
             "output": None},
            {"step_id": "c", "function": "h", "status": "pending", "inputs": None, "dispatched_ms": None,
             "attempts": [], "output": None},
        ],
    }
    with closing(sqlite3.connect(tmp_path / "flows.db")) as db, db:
        db.execute("UPDATE runs SET state = ? WHERE flow_id = 'r1'", (json.dumps(first_format),))
    with SqliteStore(tmp_path / "flows.db") as store:
        stored = store.load("r1")
    assert stored is not None
    run = stored.run
    assert [s.visit for s in run.steps] == [1, 1, 0] and run.steps[1].failures == 0
    assert (run.last_output, run.events, run.rounds) == ({"label": "positive"}, (), 0)


def test_recent_runs_can_be_listed_by_status(store: FlowStore) -> None:
    store.create(a_run("r1", updated_ms=1), "spec")
    store.create(a_run("r2", status="killed", updated_ms=2), "spec")
    store.create(a_run("r3", updated_ms=3), "spec")
    assert [r.flow_id for r in store.recent(10, status="running")] == ["r3", "r1"]
    assert [r.flow_id for r in store.recent(10, status="killed")] == ["r2"]
