"""What every part of the durable layer shares: the serializer, access to one database, the running executor.

``Access`` is enough to list, resolve and cancel (Stratum's tables and a
``DBOSClient``): the CLI and review inboxes use it without launching DBOS.
``Runtime`` is DBOS launched in this process. ``claim`` is the one way a
stored review is decided: validate first, then a conditional update that
only a pending, unexpired review of a running flow accepts, then the wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..exceptions import ReviewNotPending
from ..hitl._decision import DecisionType, known_decision_type
from ..hitl._review import HumanDecision, HumanReviewContext, PendingReview
from . import _codec

if TYPE_CHECKING:
    from ._backend import DBOSBackend
    from ._job_store import JobStore
    from ._store import ReviewRow, Store

__all__ = [
    "FINISHED", "FOREVER_S", "Access", "Runtime", "active", "claim", "kind_of", "review_from_row", "serializer",
    "set_active",
]  # fmt: skip

#: The longest a recv may wait: DBOS stores its wake time; "forever" is ten years.
FOREVER_S = 10 * 365 * 24 * 3600.0
#: DBOS statuses of a run that will never read its review again.
FINISHED = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})


# -- the serializer DBOS writes through ---------------------------------------------
_serializers: dict[bool, Any] = {}


def serializer(strict: bool) -> Any:
    """A ``dbos.Serializer`` over ``_codec`` (strict in executors, lenient in clients)."""
    found = _serializers.get(strict)
    if found is not None:
        return found
    from dbos import Serializer

    class StratumJSON(Serializer):
        def serialize(self, data: Any) -> str:
            return _codec.dumps(data)

        def deserialize(self, serialized_data: str) -> Any:
            return _codec.loads(serialized_data, strict=strict)

        def name(self) -> str:
            return "stratum_json"  # stored per row: every process must use this serializer

    made = _serializers[strict] = StratumJSON()
    return made


# -- read-and-resolve access (any process) -----------------------------------------
@dataclass(eq=False)
class Access:
    """Stratum's tables and a ``DBOSClient`` on one database: enough to list, resolve, cancel."""

    backend: DBOSBackend
    store: Store
    _client: Any = None
    _jobs: JobStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: bool = False

    def exists(self) -> bool:
        """Whether the database is there at all: nobody has created it until a durable flow first ran."""
        if self._seen:
            return True
        path = self.backend.sqlite_path
        if path is not None:
            self._seen = path.exists()
            return self._seen
        try:
            self.store.ping()
        except Exception as exc:  # a Postgres database DBOS has not created yet
            if "does not exist" in str(exc):
                return False
            raise
        self._seen = True
        return True

    @property
    def jobs(self) -> JobStore:
        """Stratum's job tables in this database (``stratum.durable.map``)."""
        with self._lock:
            if self._jobs is None:
                from ._job_store import JobStore

                self._jobs = JobStore(self.store)
            return self._jobs

    def client(self) -> Any:
        """The ``DBOSClient`` (blocking to build: call from a thread)."""
        with self._lock:
            if self._client is None:
                from dbos import DBOSClient

                from . import _sqlite_compat

                _sqlite_compat.install()
                self._client = DBOSClient(
                    system_database_url=self.backend.database_url,
                    serializer=serializer(strict=False),
                    application_name=self.backend.app_name,
                )
            return self._client

    async def notify(self, flow_id: str, review_id: str, decided_at: float) -> None:
        """Wake the flow waiting on ``review_id`` (idempotent per decision)."""

        def send() -> None:
            self.client().send(flow_id, {"review_id": review_id}, review_id, f"{review_id}:{decided_at!r}")
            self.store.mark_notified(review_id)

        await asyncio.to_thread(send)

    async def flow_statuses(self, flow_ids: list[str]) -> dict[str, str]:
        if not flow_ids or not self.exists():
            return {}

        def read() -> dict[str, str]:
            found = self.client().list_workflows(workflow_ids=flow_ids, load_input=False, load_output=False)
            return {w.workflow_id: str(w.status) for w in found}

        return await asyncio.to_thread(read)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.destroy()
        self.store.close()


# -- the executor (a process that runs flows) ----------------------------------------
@dataclass(eq=False)
class Runtime:
    """DBOS launched in this process for ``backend``."""

    backend: DBOSBackend
    executor_id: str
    access: Access
    slot: Any
    workflows: dict[str, Any]
    unsubscribe: Any = None
    maintenance: Any = None
    #: Queue name -> the ``Queue`` whose row this process wrote.
    queues: dict[str, Any] = field(default_factory=dict)
    #: This process's own queue limits (``_queues.LocalLimits``), once installed.
    limits: Any = None
    #: Job items running in this process: workflow id -> its task.
    items: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    #: Job id -> this process's view of the job (``_job_items.JobView``), the most recent few.
    jobs: dict[str, Any] = field(default_factory=dict)
    #: This process's batching writer of job changes (``_job_writer.JobWriter``), once made.
    writer: Any = None

    @property
    def store(self) -> Store:
        return self.access.store


_runtime: Runtime | None = None
#: Set while a runtime is active. DBOS starts dequeuing and recovering inside ``launch()``, before the
#: runtime exists: work it hands over in that moment waits for this (``wait_active``).
_ready = threading.Event()


def active() -> Runtime | None:
    """DBOS as launched in this process, if it is."""
    return _runtime


def set_active(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime
    if runtime is None:
        _ready.clear()
    else:
        _ready.set()


def wait_active(timeout_s: float) -> Runtime | None:
    """The active runtime, waiting up to ``timeout_s`` for a launch under way to finish (blocking)."""
    _ready.wait(timeout_s)
    return _runtime


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def kind_of(row: ReviewRow) -> DecisionType:
    known = known_decision_type(row.contract_hash)
    if known is not None:
        return known
    return DecisionType.from_schema(row.body.get("decision_type", "value"), row.body.get("decision_schema", {}),
                                    row.contract_hash)  # fmt: skip


def review_from_row(store_access: Access, row: ReviewRow, *, kind: DecisionType | None = None) -> PendingReview:
    """The stored review as a ``PendingReview`` whose ``resolve`` goes through the store."""
    kind = kind or kind_of(row)
    body = row.body
    context = HumanReviewContext(row.question, trigger=body.get("trigger") or "explicit",
                                 artifacts=body.get("artifacts") or {})  # fmt: skip
    decision = None
    if row.state == "resolved" and row.decided_at is not None:
        value = row.decision
        with contextlib.suppress(Exception):  # else shown as stored; the flow is the one that refuses it
            value = kind.validate(value, row.review_id)
        decided_at = _moment(row.decided_at) or datetime.now(UTC)
        decision = HumanDecision(
            value, reviewer=row.reviewer, rationale=row.rationale, decided_at=decided_at, review_id=row.review_id
        )

    async def deliver(accepted: HumanDecision[Any]) -> HumanDecision[Any]:
        return await claim(store_access, row.review_id, kind, accepted.value, accepted.reviewer, accepted.rationale)

    options = body.get("options")
    return PendingReview(
        row.review_id, context, options=options, expires_at=_moment(row.expires_at), decision_type=kind,
        flow_id=row.flow_id, created_at=_moment(row.created_at), deliver=deliver, state=row.state, decision=decision,
    )  # fmt: skip


async def claim(
    where: Access, review_id: str, kind: DecisionType, typed: Any, reviewer: str | None, rationale: str | None
) -> HumanDecision[Any]:
    for name, item in (("reviewer", reviewer), ("rationale", rationale)):
        if item is not None and not isinstance(item, str):
            raise TypeError(f"{name} must be a str or None, got {type(item).__name__}")
    row = await asyncio.to_thread(where.store.get_review, review_id)
    if row is None:
        raise ReviewNotPending(review_id, "unknown")
    if row.state != "pending":
        raise ReviewNotPending(review_id, row.state)
    status = (await where.flow_statuses([row.flow_id])).get(row.flow_id)
    now = time.time()
    if status in FINISHED:
        await asyncio.to_thread(where.store.cancel_flow_reviews, row.flow_id, now=now)
        raise ReviewNotPending(review_id, "cancelled")
    result = await asyncio.to_thread(
        where.store.claim, review_id, decision=kind.dump(typed), reviewer=reviewer, rationale=rationale, now=now
    )
    if not result.won:
        raise ReviewNotPending(review_id, result.state)
    await where.notify(row.flow_id, review_id, now)
    return HumanDecision(typed, reviewer=reviewer, rationale=rationale, decided_at=datetime.fromtimestamp(now, UTC),
                         review_id=review_id)  # fmt: skip
