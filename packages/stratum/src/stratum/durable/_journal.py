"""A durable run's journal: each call is a DBOS step, each review a stored row and a ``recv``.

Live, a step runs the call as a plain flow would (the journal suspended) and
records one JSON outcome: the output through its contract (or the typed
error), the hashes, the trace record (cost, tokens, attempts) and how much of
the flow's time had passed. Replayed (a recovered run), DBOS returns that
outcome without calling anything: the journal checks that the code still
compiles the same prompt and contract, charges the recorded cost to the
budget, restores the elapsed time, re-emits the trace record and span marked
``restored``, and returns the same typed value (or raises the same error).

Steps are matched by position (DBOS numbers them in call order); the step
name and the hashes catch code that changed under a running flow.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import time
import typing
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pydantic

from .._core import scope
from .._core.budget import Envelope
from .._core.config import get_config
from .._core.contracts import contract_hash
from .._core.executor import execute, prompt_hash_of
from .._core.journal import DurableFlow, TraceParent
from .._core.spec import InferSpec
from .._json import canonical_hash
from .._observability import spans
from .._observability.attributes import RESTORED
from .._observability.records import ErrorInfo, TraceRecord, store
from ..exceptions import (
    CheckpointError,
    HITLDeliveryError,
    HITLTimeoutError,
    InvalidDecision,
    ReplayMismatch,
    ReviewNotPending,
)
from ..hitl._decision import DecisionType
from ..hitl._review import HumanDecision, HumanReviewContext, PendingReview, ReviewSink, as_json
from ..hitl._tracking import review_record
from . import _codec
from ._state import FOREVER_S, Runtime, active, review_from_row

__all__ = ["DBOSJournal", "workflow_body"]

log = logging.getLogger("stratum.durable")

_VERSION = 1
_MAX_REVIEW_ROUNDS = 20  # decisions the flow itself refuses before it gives up on a review
_UNWIND_S = 1.0


@dataclass(slots=True)
class _Step:
    """The step running now in this task: where its requests are noted."""

    flow_id: str
    position: int
    execution: str
    attempts: int = 0


_current_step: contextvars.ContextVar[_Step | None] = contextvars.ContextVar("stratum_durable_step", default=None)


async def workflow_body(flow: DurableFlow, request: Mapping[str, Any]) -> Any:
    """What the DBOS workflow of ``flow`` runs: the flow body in a scope carrying a journal."""
    from dbos import DBOS

    runtime = active()
    flow_id = DBOS.workflow_id
    if runtime is None or flow_id is None:
        raise RuntimeError("a durable flow ran without its DBOS runtime")
    journal = DBOSJournal(runtime, flow_id)
    trace = request.get("trace")
    parent = TraceParent(trace["trace_id"], trace.get("span_id")) if isinstance(trace, dict) else None
    args = tuple(request.get("args", ()))
    kwargs = dict(request.get("kwargs", {}))
    try:
        result = await flow.run(args, kwargs, flow_id, journal, parent)
    except Exception:
        await journal.finished()
        raise
    await journal.finished()
    return result


class DBOSJournal:
    """The ``stratum._core.journal.Journal`` of one run, on DBOS."""

    def __init__(self, runtime: Runtime, flow_id: str) -> None:
        self.runtime = runtime
        self.flow_id = flow_id

    # -- steps ----------------------------------------------------------------
    async def _step(self, name: str, body: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> dict[str, Any]:
        from dbos import DBOS
        from dbos._error import DBOSUnexpectedStepError

        try:
            payload: dict[str, Any] = await DBOS.run_step_async({"name": name}, body)
        except DBOSUnexpectedStepError as exc:
            _, position, expected, recorded = exc.inputs
            raise ReplayMismatch(self.flow_id, expected, "step", recorded, expected, position=position) from None
        return payload

    def _root(self) -> scope.FlowScope | None:
        node = scope.current()
        while node is not None and node.parent is not None and node.parent.journal is self:
            node = node.parent
        return node

    def _elapsed(self) -> float:
        root = self._root()
        if root is None:
            return 0.0
        return max(0.0, asyncio.get_running_loop().time() - root.envelope.started)

    def _restore_elapsed(self, payload: Mapping[str, Any]) -> None:
        root = self._root()
        seconds = payload.get("elapsed_s")
        if root is not None and isinstance(seconds, (int, float)):
            scope.restore_elapsed(root, float(seconds))

    async def infer(
        self,
        spec: InferSpec,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        refine_feedback: str | None,
        envelope: Envelope | None,
        record_sink: Callable[[TraceRecord], None] | None,
    ) -> Any:
        flow = scope.current()
        if envelope is None:  # as execute() would build it, so a restored cost lands on the same chain
            envelope = Envelope(spec.budget, spec.qualname, parent=flow.envelope if flow else None)
        live: dict[str, Any] = {}

        async def body() -> dict[str, Any]:
            # Under a cost budget, what a crashed execution of this step may have spent counts here.
            lost_n, lost_usd, step = await self._earlier_attempts(budgeted=envelope.remaining_usd() is not None)
            if lost_usd > 0:
                envelope.charge(lost_usd)
            captured: list[TraceRecord] = []
            token = _current_step.set(step)
            error: Exception | None = None
            value: Any = None
            try:
                with scope.journal_suspended():
                    value = await execute(
                        spec, args, kwargs, refine_feedback=refine_feedback, envelope=envelope,
                        record_sink=captured.append,
                    )  # fmt: skip
            except Exception as exc:
                error = exc
            finally:
                _current_step.reset(token)
            record = captured[-1] if captured else None
            if record is not None and lost_n:
                record = replace(record, extra={**record.extra, "lost_attempts": lost_n, "lost_usd_reserved": lost_usd})
            live.update(value=value, error=error, record=record)
            return {
                "v": _VERSION,
                "kind": "infer",
                "position": step.position,
                "function": spec.qualname,
                "prompt_hash": record.compiled_prompt_hash if record else None,
                "contract_hash": spec.output.hash,
                "output": spec.output.dump(value) if error is None else None,
                "error": error,
                "record": record.to_dict() if record else None,
                "lost_usd": lost_usd,
                "elapsed_s": self._elapsed(),
            }

        payload = await self._step(spec.qualname, body)
        sink = record_sink or store().append
        if live:
            if live["record"] is not None:
                sink(live["record"])
            if live["error"] is not None:
                raise live["error"]
            return live["value"]
        return await self._restore_infer(spec, args, kwargs, refine_feedback, envelope, sink, payload)

    async def _restore_infer(
        self,
        spec: InferSpec,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        refine_feedback: str | None,
        envelope: Envelope,
        sink: Callable[[TraceRecord], None],
        payload: Mapping[str, Any],
    ) -> Any:
        position = _position(payload)
        recorded_prompt = payload.get("prompt_hash")
        if recorded_prompt is not None:
            current = await prompt_hash_of(spec, args, kwargs, refine_feedback)
            if current != recorded_prompt:
                raise ReplayMismatch(
                    self.flow_id, spec.qualname, "compiled_prompt_hash", recorded_prompt, current, position=position
                )
        if payload.get("contract_hash") != spec.output.hash:
            raise ReplayMismatch(
                self.flow_id, spec.qualname, "contract_hash", payload.get("contract_hash"), spec.output.hash,
                position=position,
            )  # fmt: skip
        data = payload.get("record")
        record = _record_from(data) if isinstance(data, dict) else None
        spent = (record.cost_usd or 0.0) if record is not None else 0.0
        envelope.charge(spent + float(payload.get("lost_usd") or 0.0))
        self._restore_elapsed(payload)
        if record is not None:
            record = replace(record, extra={**record.extra, "restored": True})
            tracer = get_config().tracer
            if tracer is not None:
                span = spans.start_infer(spec.qualname, tracer)
                error = payload.get("error")
                spans.end_infer(span, record, error if isinstance(error, BaseException) else None)
            sink(record)
        error = payload.get("error")
        if isinstance(error, BaseException):
            raise error
        output = payload.get("output")
        return spec.output.parse(json.dumps({"result": output} if spec.output.wrapped else output))

    async def compute(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        name = fn.__qualname__
        kind = _output_kind(fn)
        live: dict[str, Any] = {}

        async def body() -> dict[str, Any]:
            error: Exception | None = None
            value: Any = None
            output: Any = None
            try:
                with scope.journal_suspended():
                    value = await fn(*args, **kwargs)
                output = kind.dump(value, name)
            except Exception as exc:
                error = exc
            live.update(value=value, error=error)
            return {
                "v": _VERSION, "kind": "compute", "position": _step_position(), "function": name,
                "contract_hash": kind.hash,
                "output": output, "error": error, "elapsed_s": self._elapsed(),
            }  # fmt: skip

        payload = await self._step(name, body)
        if live:
            if live["error"] is not None:
                raise live["error"]
            return live["value"]
        if payload.get("contract_hash") != kind.hash:
            raise ReplayMismatch(
                self.flow_id, name, "contract_hash", payload.get("contract_hash"), kind.hash,
                position=_position(payload),
            )  # fmt: skip
        self._restore_elapsed(payload)
        tracer = get_config().tracer
        error = payload.get("error")
        if tracer is not None and scope.current() is not None:
            span = spans.Span(f"compute {name}", spans.KIND_INTERNAL, tracer)
            span.end(
                {"stratum.function": name, "stratum.flow_id": self.flow_id, RESTORED: True},
                error if isinstance(error, BaseException) else None,
            )
        if isinstance(error, BaseException):
            raise error
        return kind.load(payload.get("output"))

    async def _earlier_attempts(self, *, budgeted: bool) -> tuple[int, float, _Step]:
        """Requests a crashed execution of this very step sent (noted before sending, never recorded)."""
        from dbos import DBOS

        position = int(DBOS.step_id or 0)
        step = _Step(self.flow_id, position, uuid.uuid4().hex)
        if not budgeted:
            return 0, 0.0, step  # requests are noted only under a cost budget
        count, usd = await asyncio.to_thread(
            self.runtime.store.earlier_attempts, self.flow_id, position, step.execution
        )
        return count, usd, step

    async def before_request(self, reserved_usd: float) -> None:
        step = _current_step.get()
        if step is None or step.flow_id != self.flow_id:
            return
        step.attempts += 1
        await asyncio.to_thread(
            self.runtime.store.note_attempt, step.flow_id, step.position, step.execution, step.attempts, reserved_usd
        )

    async def finished(self) -> None:
        """The run is over: reviews it left open are closed, its request notes dropped."""
        now = time.time()
        store_ = self.runtime.store
        await asyncio.to_thread(store_.cancel_flow_reviews, self.flow_id, now=now)
        await asyncio.to_thread(store_.forget_attempts, self.flow_id)

    # -- reviews ---------------------------------------------------------------
    async def ask_human(
        self,
        context: HumanReviewContext,
        kind: DecisionType,
        *,
        options: tuple[Any, ...] | None,
        timeout_s: float | None,
        fallback: tuple[bool, Any],
        sink: ReviewSink | None,
        flow: scope.FlowScope,
    ) -> HumanDecision[Any]:
        auto, fallback_value = fallback
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        runtime = self.runtime

        async def open_review() -> dict[str, Any]:
            created = time.time()
            body = {
                "trigger": context.trigger,
                "artifacts": {k: as_json(v, f"artifact {k!r}") for k, v in context.artifacts.items()},
                "options": None if options is None else [kind.dump(o) for o in options],
                "decision_type": kind.name,
                "decision_schema": kind.schema,
            }
            try:
                row = await asyncio.to_thread(
                    runtime.store.open_review, review_id=str(uuid.uuid4()), flow_id=self.flow_id,
                    question=context.question, body=body, contract_hash=kind.hash, created_at=created,
                    expires_at=None if timeout_s is None else created + timeout_s,
                    max_pending=runtime.backend.max_pending_reviews,
                )  # fmt: skip
            except OverflowError as exc:
                raise HITLDeliveryError("-", "durable review store", str(exc)) from None
            return {"review_id": row.review_id, "created_at": row.created_at, "expires_at": row.expires_at}

        opened = await self._step("stratum.review.open", open_review)
        review_id = str(opened["review_id"])
        row = await asyncio.to_thread(runtime.store.get_review, review_id)
        if row is None:
            raise ReviewNotPending(review_id, "unknown")  # deleted under a running flow
        review = review_from_row(runtime.access, row, kind=kind)
        decision: HumanDecision[Any] | None = None
        error: BaseException | None = None
        try:
            for _ in range(_MAX_REVIEW_ROUNDS):
                closed = await self._wait_and_close(review, sink, flow)
                state = closed["state"]
                if state == "resolved":
                    try:
                        value = kind.validate(closed["decision"], review_id)
                    except InvalidDecision:
                        # Checked against the schema elsewhere, refused here (a validator the schema lacks).
                        await self._step("stratum.review.reopen", lambda: self._reopen(review_id))
                        continue
                    decision = HumanDecision(
                        value, reviewer=closed.get("reviewer"), rationale=closed.get("rationale"),
                        decided_at=datetime.fromtimestamp(closed["decided_at"], UTC), review_id=review_id,
                    )  # fmt: skip
                    review.settle(decision)
                    return decision
                if state == "timed_out":
                    review.close("timed_out")
                    if not auto:
                        raise HITLTimeoutError(review_id, timeout_s)
                    decision = HumanDecision(fallback_value, reviewer="auto", rationale="timeout", review_id=review_id)
                    return decision
                review.close("cancelled")
                raise ReviewNotPending(review_id, state)
            raise HITLDeliveryError(review_id, "durable review", f"{_MAX_REVIEW_ROUNDS} decisions were refused")
        except BaseException as exc:
            error = exc
            raise
        finally:
            store().append(
                review_record(
                    review, decision, error=error, flow=flow, started_at=started_at, t0=t0, timeout_s=timeout_s
                )
            )

    async def _reopen(self, review_id: str) -> dict[str, Any]:
        await asyncio.to_thread(self.runtime.store.reopen, review_id)
        return {"reopened": review_id}

    async def _wait_and_close(
        self, review: PendingReview, sink: ReviewSink | None, flow: scope.FlowScope
    ) -> dict[str, Any]:
        """Tell the sink, wait on ``recv`` (durable, bounded by the expiry), then let the row decide."""
        from dbos import DBOS

        runtime = self.runtime
        row = await asyncio.to_thread(runtime.store.get_review, review.review_id)
        if row is not None and row.state == "resolved" and not row.notified and row.decided_at is not None:
            await runtime.access.notify(self.flow_id, row.review_id, row.decided_at)  # its resolver died first
        pending = row is not None and row.state == "pending"
        expires = row.expires_at if row is not None else None
        wait_s = FOREVER_S if expires is None else max(0.0, expires - time.time())
        delivery = asyncio.ensure_future(_tell(sink, review)) if (sink is not None and pending) else None
        try:
            with scope.clock_stopped(flow):
                # In this task: DBOS numbers the recv where the flow calls it, not when a task starts.
                await DBOS.recv_async(review.review_id, timeout_seconds=wait_s)
        finally:
            if delivery is not None:
                delivery.cancel()
                await asyncio.wait((delivery,), timeout=_UNWIND_S)

        async def close() -> dict[str, Any]:
            now = time.time()
            found = await asyncio.to_thread(runtime.store.get_review, review.review_id)
            if found is not None and found.state == "pending":
                # No decision came: the flow's deadline passed (or its recv gave up). A resolve racing
                # this close changes the row only while it is pending; one of the two wins.
                found = await asyncio.to_thread(runtime.store.close_review, review.review_id, "timed_out", now=now)
            if found is None:
                return {"state": "cancelled"}
            return {
                "state": found.state, "decision": found.decision, "reviewer": found.reviewer,
                "rationale": found.rationale, "decided_at": found.decided_at,
            }  # fmt: skip

        return await self._step("stratum.review.close", close)


async def _tell(sink: ReviewSink | None, review: PendingReview) -> None:
    """Hand the review to the configured sink; in a durable flow a failing sink is logged, not fatal."""
    if sink is None:
        return
    try:
        emitted = sink.emit(review)
        if asyncio.iscoroutine(emitted) or isinstance(emitted, asyncio.Future):
            await emitted
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the review stays answerable through stratum.reviews
        log.warning("review sink %r did not take review %s: %s", sink, review.review_id, exc)


# -- helpers -------------------------------------------------------------------------
def _position(payload: Mapping[str, Any]) -> int:
    position = payload.get("position")
    return position if isinstance(position, int) else -1


def _step_position() -> int:
    from dbos import DBOS

    return int(DBOS.step_id or 0)


def _record_from(data: Mapping[str, Any]) -> TraceRecord:
    error = data.get("error")
    return TraceRecord(
        function=data["function"],
        model=data.get("model"),
        inputs=dict(data.get("inputs") or {}),
        opaque_inputs=tuple(data.get("opaque_inputs") or ()),
        compiled_prompt_hash=data.get("compiled_prompt_hash"),
        contract_hash=data["contract_hash"],
        attempts=int(data.get("attempts") or 0),
        output=data.get("output"),
        duration_ms=float(data.get("duration_ms") or 0.0),
        cost_usd=data.get("cost_usd"),
        input_tokens=data.get("input_tokens"),
        output_tokens=data.get("output_tokens"),
        cache_hit=bool(data.get("cache_hit")),
        retry_reasons=tuple(data.get("retry_reasons") or ()),
        flow_id=data.get("flow_id"),
        review_id=data.get("review_id"),
        error=None if not error else ErrorInfo(error["type"], error["message"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        transient_retries=int(data.get("transient_retries") or 0),
        response_model=data.get("response_model"),
        temperature=data.get("temperature"),
        extra=dict(data.get("extra") or {}),
    )


@dataclass(frozen=True, slots=True)
class _OutputKind:
    """How an async @compute's result is checkpointed: through its return type, else the codec."""

    adapter: pydantic.TypeAdapter[Any] | None
    hash: str | None

    def dump(self, value: Any, name: str) -> Any:
        try:
            if self.adapter is not None:
                return self.adapter.dump_python(value, mode="json")
            _codec.dumps(value)  # fails here, inside the step, rather than when DBOS writes it
            return value
        except Exception as exc:
            raise CheckpointError(name, f"{type(exc).__name__}: {exc}") from None

    def load(self, data: Any) -> Any:
        return self.adapter.validate_python(data) if self.adapter is not None else data


@functools.lru_cache(maxsize=1024)
def _output_kind(fn: Callable[..., Any]) -> _OutputKind:
    try:
        annotation = typing.get_type_hints(fn).get("return", None)
    except Exception:
        annotation = None
    if annotation is None or annotation is Any:
        return _OutputKind(None, None)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return _OutputKind(pydantic.TypeAdapter(annotation), contract_hash(annotation))
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
        return _OutputKind(adapter, canonical_hash(adapter.json_schema()))
    except Exception:
        return _OutputKind(None, None)
