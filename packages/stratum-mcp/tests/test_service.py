"""The service: plan and report through a durable store, concurrency, and argument checks."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from stratum_mcp import FlowService, Limits
from stratum_mcp.engine import AttemptRejected, ExecuteStep, FlowCompleted
from stratum_mcp.errors import (
    ArgumentTooLarge,
    FlowNotFound,
    InvalidFlowId,
    RetriesExhausted,
    SpecInvalid,
    StepMismatch,
)
from stratum_mcp.persistence import SqliteStore, StoredRun

TEXT = {"text": "I love it. Shipping was slow."}
GOOD = {"label": "positive", "confidence": 0.9}
LOW = {"label": "positive", "confidence": 0.2}


def test_plan_persists_the_run_before_answering(open_service: Any, service: FlowService, review_spec: str) -> None:
    first = service.plan(review_spec, "review", TEXT)
    reopened = open_service()
    assert reopened.run(first.flow_id).current_step is not None


def test_a_run_continues_in_a_new_service_on_the_same_store(open_service: Any, review_spec: str) -> None:
    first = open_service().plan(review_spec, "review", TEXT)
    # A fresh service has no cached spec: it rebuilds it from the store.
    later = open_service()
    outcome = later.step_done(first.flow_id, "classify", GOOD)
    assert isinstance(outcome, ExecuteStep) and outcome.step.id == "extract"


def test_an_invalid_spec_is_rejected_with_all_issues(service: FlowService) -> None:
    with pytest.raises(SpecInvalid) as caught:
        service.plan("version: '0.1'\nflows: {}\n", "x", {})
    assert len(caught.value.issues) >= 2


@pytest.mark.parametrize("flow_id", ["", "nope", "../../etc/passwd", "1; DROP TABLE runs", "x" * 10_000])
def test_flow_ids_that_are_not_uuids_are_rejected_before_any_lookup(service: FlowService, flow_id: str) -> None:
    def no_lookup(flow_id: str) -> StoredRun | None:
        raise AssertionError("looked up")

    service.store.load = no_lookup  # type: ignore[method-assign]
    with pytest.raises(InvalidFlowId):
        service.step_done(flow_id, "classify", GOOD)
    with pytest.raises(InvalidFlowId):
        service.run(flow_id)


def test_an_unknown_flow_id_is_a_clear_error(service: FlowService) -> None:
    with pytest.raises(FlowNotFound):
        service.step_done(str(uuid.uuid4()), "classify", GOOD)


def test_an_oversized_result_is_rejected_and_the_run_is_unchanged(open_service: Any, review_spec: str) -> None:
    service = open_service(limits=Limits(argument_bytes=1000))
    first = service.plan(review_spec, "review", TEXT)
    with pytest.raises(ArgumentTooLarge) as caught:
        service.step_done(first.flow_id, "classify", {**GOOD, "pad": "x" * 2000})
    assert caught.value.limit == 1000
    assert service.run(first.flow_id).steps[0].attempts == ()


def test_retries_exhausted_is_raised_after_the_failed_state_is_saved(service: FlowService, review_spec: str) -> None:
    first = service.plan(review_spec, "review", TEXT)
    for _ in range(2):
        assert isinstance(service.step_done(first.flow_id, "classify", LOW), AttemptRejected)
    with pytest.raises(RetriesExhausted):
        service.step_done(first.flow_id, "classify", LOW)
    run = service.run(first.flow_id)
    assert run.status == "failed" and len(run.steps[0].attempts) == 3


def test_durations_come_from_the_clock(service: FlowService, review_spec: str, clock: Any) -> None:
    first = service.plan(review_spec, "review", TEXT)
    clock.advance_ms(1234)
    service.step_done(first.flow_id, "classify", GOOD)
    assert service.run(first.flow_id).steps[0].attempts[0].duration_ms == 1234


class SpecReadCounter(SqliteStore):
    """Counts how often the service has to read a spec's text back from the store."""

    spec_reads = 0

    def spec_text(self, digest: str) -> str | None:
        self.spec_reads += 1
        return super().spec_text(digest)


def test_the_compiled_spec_cache_is_bounded_and_refills_from_the_store(
    open_service: Any, tmp_path: Path, review_spec: str,
) -> None:
    store = SpecReadCounter(tmp_path / "flows.db")
    service = open_service(store=store, limits=Limits(spec_cache_entries=2))
    runs = [service.plan(review_spec + f"\n# variant {i}\n", "review", TEXT).flow_id for i in range(4)]
    service.step_done(runs[3], "classify", GOOD)
    service.step_done(runs[2], "classify", GOOD)
    assert store.spec_reads == 0  # the two newest specs are still compiled
    service.step_done(runs[0], "classify", GOOD)
    assert store.spec_reads == 1  # the oldest was dropped: read back and compiled again
    service.step_done(runs[0], "extract", {"quotes": ["I love it."]})
    assert store.spec_reads == 1


class RendezvousStore(SqliteStore):
    """Makes two reporters read the same version before either writes."""

    def __init__(self, path: Path, barrier: threading.Barrier) -> None:
        super().__init__(path)
        self.barrier: threading.Barrier | None = barrier

    def load(self, flow_id: str) -> StoredRun | None:
        stored = super().load(flow_id)
        if self.barrier is not None:
            barrier, self.barrier = self.barrier, None
            barrier.wait(timeout=10)
        return stored


def report_concurrently(
    open_service: Any, tmp_path: Path, spec: str, results: list[dict[str, Any]]
) -> tuple[str, list[Any]]:
    first = open_service().plan(spec, "review", TEXT)
    barrier = threading.Barrier(len(results))
    services = [open_service(store=RendezvousStore(tmp_path / "flows.db", barrier)) for _ in results]
    answers: list[Any] = [None] * len(results)

    def reporter(i: int) -> None:
        try:
            answers[i] = services[i].step_done(first.flow_id, "classify", results[i])
        except Exception as exc:  # collected and asserted on below
            answers[i] = exc

    threads = [threading.Thread(target=reporter, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    return first.flow_id, answers


def test_two_clients_reporting_the_same_step_at_once_advance_it_exactly_once(
    open_service: Any, tmp_path: Path, review_spec: str,
) -> None:
    flow_id, answers = report_concurrently(open_service, tmp_path, review_spec, [GOOD, GOOD])
    kinds = sorted(type(a).__name__ for a in answers)
    assert kinds == ["ExecuteStep", "StepMismatch"]
    mismatch = next(a for a in answers if isinstance(a, StepMismatch))
    assert "already complete" in mismatch.reason
    run = open_service().run(flow_id)
    assert len(run.steps[0].attempts) == 1 and run.current == 1


def test_two_failing_reports_at_once_are_both_counted_and_neither_is_lost(
    open_service: Any, tmp_path: Path, review_spec: str,
) -> None:
    flow_id, answers = report_concurrently(open_service, tmp_path, review_spec, [LOW, LOW])
    assert all(isinstance(a, AttemptRejected) for a in answers)
    assert sorted(a.attempt for a in answers) == [1, 2]
    run = open_service().run(flow_id)
    assert [a.number for a in run.steps[0].attempts] == [1, 2]


def test_a_whole_flow_completes_through_the_service(service: FlowService, review_spec: str) -> None:
    first = service.plan(review_spec, "review", TEXT)
    service.step_done(first.flow_id, "classify", GOOD)
    service.step_done(first.flow_id, "extract", {"quotes": ["I love it."]})
    done = service.step_done(first.flow_id, "summarize", {"text": "ok", "label": "positive", "quote_count": 1})
    assert isinstance(done, FlowCompleted) and done.run.output["quote_count"] == 1
    assert [r.flow_id for r in service.recent(5)] == [first.flow_id]


def test_a_result_that_would_grow_the_stored_run_past_its_bound_is_rejected(
    open_service: Any, review_spec: str,
) -> None:
    limits = Limits(run_state_bytes=4000)
    service = open_service(limits=limits)
    first = service.plan(review_spec, "review", TEXT)
    service.step_done(first.flow_id, "classify", GOOD)
    with pytest.raises(ArgumentTooLarge):
        service.step_done(first.flow_id, "extract", {"quotes": ["I love it."] * 300})
    assert service.run(first.flow_id).current_step is not None
    assert service.run(first.flow_id).steps[1].attempts == ()
