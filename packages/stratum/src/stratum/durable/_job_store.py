"""Stratum's job tables, beside DBOS's: what a bulk job is, what it has spent, how each item ended.

``stratum_jobs``: one row per job (``stratum.durable.map``): its function,
queue, item count and items' hash (a re-run with the same id must match),
its USD budget and what has been spent, how many items were enqueued and how
many finished. It is also the lock every change to the job takes: each
write transaction starts by updating this row, so on PostgreSQL the row
lock and on SQLite the write lock serialise them.

``stratum_job_holds``: the worst case of every request in flight under the
job's budget. A request is sent only once its hold is written, and only if
the recorded spend plus every hold plus its own worst case fits the budget;
when it returns, the hold goes and its real cost joins the spend. A hold
left by an execution that died is charged in full when the item runs again
(its request may have been paid for).

``stratum_job_items``: how each item ended, written once (a re-execution
finds it and stops): done or failed, the error's type, the cost, the outcome
as tagged JSON, and ``seq``, the order items finished in. ``seq`` is taken
from the job row under its lock, so rows commit in ``seq`` order and a
reader polling ``seq > n`` misses none.

Every function here blocks (SQLAlchemy); callers run them in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ._store import Store

__all__ = ["ChargeLost", "Finish", "Hold", "HoldResult", "ItemRow", "JobRow", "JobStore", "Op", "Release"]

_metadata = sa.MetaData()
#: Relative slack on the budget comparison: sums of floats round a hair either way.
_EPSILON = 1e-9

JOBS = sa.Table(
    "stratum_jobs",
    _metadata,
    sa.Column("job_id", sa.String(200), primary_key=True),
    sa.Column("app", sa.String(256), nullable=False),
    sa.Column("function", sa.String(512), nullable=False),  # module:qualname
    sa.Column("queue", sa.String(128), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("items_hash", sa.String(64), nullable=False),
    sa.Column("budget_usd", sa.Float, nullable=True),
    sa.Column("spent_usd", sa.Float, nullable=False, default=0.0),
    sa.Column("submitted", sa.Integer, nullable=False, default=0),  # items enqueued so far
    sa.Column("finished", sa.Integer, nullable=False, default=0),  # done + failed; the last seq given
    sa.Column("done", sa.Integer, nullable=False, default=0),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("touched_at", sa.Float, nullable=False),  # written by every change: the lock
    sa.Column("first_finished_at", sa.Float, nullable=True),
    sa.Column("last_finished_at", sa.Float, nullable=True),
    sa.Index("stratum_jobs_by_app", "app", "created_at"),
)

HOLDS = sa.Table(
    "stratum_job_holds",
    _metadata,
    sa.Column("job_id", sa.String(200), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("execution", sa.String(64), primary_key=True),
    sa.Column("n", sa.Integer, primary_key=True),
    sa.Column("usd", sa.Float, nullable=False),
    sa.Column("held_at", sa.Float, nullable=False),
)

ITEMS = sa.Table(
    "stratum_job_items",
    _metadata,
    sa.Column("job_id", sa.String(200), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # done | failed
    sa.Column("error_type", sa.String(128), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),  # the value or the error, as _codec JSON
    sa.Column("executor_id", sa.String(128), nullable=True),
    sa.Column("finished_at", sa.Float, nullable=False),
    sa.Index("stratum_job_items_by_seq", "job_id", "seq"),
)


@dataclass(frozen=True, slots=True)
class JobRow:
    job_id: str
    app: str
    function: str
    queue: str
    total: int
    items_hash: str
    budget_usd: float | None
    spent_usd: float
    submitted: int
    finished: int
    done: int
    failed: int
    created_at: float
    first_finished_at: float | None
    last_finished_at: float | None


@dataclass(frozen=True, slots=True)
class ItemRow:
    idx: int
    seq: int
    state: str
    outcome: str


@dataclass(frozen=True, slots=True)
class HoldResult:
    """Whether the hold was written, and the job's spend and holds as they stood after."""

    held: bool
    spent_usd: float
    reserved_usd: float


# -- what changes a job: applied in batches (``JobStore.apply``) --------------------
@dataclass(frozen=True, slots=True)
class Hold:
    """Hold ``usd`` for request ``n`` of an execution, if the budget has room (spend + holds + usd <= budget)."""

    job_id: str
    idx: int
    execution: str
    n: int
    usd: float


@dataclass(frozen=True, slots=True)
class Release:
    """Request ``n`` returned: its hold goes, its cost joins the spend."""

    job_id: str
    idx: int
    execution: str
    n: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ChargeLost:
    """Holds that earlier executions of this item left (they died in flight) become spend, in full."""

    job_id: str
    idx: int
    execution: str


@dataclass(frozen=True, slots=True)
class Finish:
    """How item ``idx`` ended, recorded once.

    ``unrecorded_usd`` joins the job's spend (what no hold settled: the whole
    cost of an item of a job without budget); holds the execution still has
    go (their requests failed, or settling them did).
    """

    job_id: str
    idx: int
    execution: str
    failed: bool
    error_type: str | None
    error: str | None
    cost_usd: float
    unrecorded_usd: float
    outcome: str
    executor_id: str


Op = Hold | Release | ChargeLost | Finish


class JobStore:
    """The three job tables of ``store``'s database, for its application."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready = False

    def ensure(self) -> bool:
        """Create the tables if this store may (an executor); False if they do not exist (a client)."""
        if self._ready:
            return True
        engine = self.store.engine()
        if self.store.may_create:
            _metadata.create_all(engine, checkfirst=True)
            self._ready = True
        else:
            self._ready = sa.inspect(engine).has_table(JOBS.name)
        return self._ready

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        self.ensure()
        with self.store.writing() as conn:
            yield conn

    @staticmethod
    def _lock(conn: sa.Connection, job_id: str) -> bool:
        """Take the job's lock: a write to its row, the first statement of the transaction."""
        touched = conn.execute(JOBS.update().where(JOBS.c.job_id == job_id).values(touched_at=time.time()))
        return bool(touched.rowcount)

    # -- jobs -------------------------------------------------------------------
    def create(self, row: JobRow) -> JobRow:
        """Insert the job unless its id is taken; returns the job under that id (this one or the earlier one)."""
        found = self.get(row.job_id)
        if found is not None:
            return found
        values = {name: getattr(row, name) for name in JobRow.__slots__}  # type: ignore[attr-defined]
        try:
            with self._begin() as conn:
                conn.execute(JOBS.insert().values(**values, touched_at=row.created_at))
        except sa.exc.IntegrityError:
            pass  # a concurrent submitter of the same id won
        created = self.get(row.job_id)
        assert created is not None
        return created

    def get(self, job_id: str) -> JobRow | None:
        if not self.ensure():
            return None
        with self.store.engine().connect() as conn:
            return self._get(conn, job_id)

    def newest(self, *, limit: int) -> list[JobRow]:
        if not self.ensure():
            return []
        query = sa.select(JOBS).where(JOBS.c.app == self.store.app).order_by(JOBS.c.created_at.desc()).limit(limit)
        with self.store.engine().connect() as conn:
            return [_job(r) for r in conn.execute(query).mappings()]

    def mark_submitted(self, job_id: str, upto: int) -> None:
        with self._begin() as conn:
            conn.execute(
                JOBS.update().where(JOBS.c.job_id == job_id, JOBS.c.submitted < upto).values(submitted=upto)
            )

    @staticmethod
    def _get(conn: sa.Connection, job_id: str) -> JobRow | None:
        found = conn.execute(sa.select(JOBS).where(JOBS.c.job_id == job_id)).mappings().first()
        return None if found is None else _job(found)

    # -- writes: the shared budget and the items' ends ---------------------------
    def reserved(self, job_id: str) -> float:
        with self.store.engine().connect() as conn:
            return _held(conn, job_id)

    def item_finished(self, job_id: str, idx: int) -> bool:
        with self.store.engine().connect() as conn:
            found = conn.execute(
                sa.select(ITEMS.c.seq).where(ITEMS.c.job_id == job_id, ITEMS.c.idx == idx)
            ).first()
            return found is not None

    def apply(self, ops: Sequence[Op]) -> list[Any]:
        """Apply ``ops`` in order, in one transaction; each job's lock is taken once, in job-id order.

        Results, per op: ``HoldResult`` for ``Hold`` and ``Release``, the USD
        charged for ``ChargeLost``, whether it was recorded now for ``Finish``.
        """
        with self._begin() as conn:
            for job_id in sorted({op.job_id for op in ops}):
                self._lock(conn, job_id)
            return [self._apply(conn, op) for op in ops]

    def _apply(self, conn: sa.Connection, op: Op) -> Any:
        if isinstance(op, Hold):
            return _hold(conn, op)
        if isinstance(op, Release):
            return _release(conn, op)
        if isinstance(op, ChargeLost):
            return _charge_lost(conn, op)
        return _finish(conn, op)

    def failures(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Failed items by error type, per job."""
        if not job_ids or not self.ensure():
            return {}
        query = (
            sa.select(ITEMS.c.job_id, ITEMS.c.error_type, sa.func.count())
            .where(ITEMS.c.job_id.in_(list(job_ids)), ITEMS.c.state == "failed")
            .group_by(ITEMS.c.job_id, ITEMS.c.error_type)
        )
        out: dict[str, dict[str, int]] = {}
        with self.store.engine().connect() as conn:
            for job_id, error_type, count in conn.execute(query):
                out.setdefault(job_id, {})[error_type or "?"] = int(count)
        return out

    def outcomes(self, job_id: str, *, from_idx: int, limit: int) -> list[ItemRow]:
        """Finished items from index ``from_idx`` on, in index order."""
        query = (
            sa.select(ITEMS.c.idx, ITEMS.c.seq, ITEMS.c.state, ITEMS.c.outcome)
            .where(ITEMS.c.job_id == job_id, ITEMS.c.idx >= from_idx)
            .order_by(ITEMS.c.idx)
            .limit(limit)
        )
        with self.store.engine().connect() as conn:
            return [ItemRow(*r) for r in conn.execute(query)]

    def finished_after(self, job_id: str, seq: int, *, limit: int) -> list[ItemRow]:
        """Items that finished after the ``seq``-th one, in the order they finished."""
        query = (
            sa.select(ITEMS.c.idx, ITEMS.c.seq, ITEMS.c.state, ITEMS.c.outcome)
            .where(ITEMS.c.job_id == job_id, ITEMS.c.seq > seq)
            .order_by(ITEMS.c.seq)
            .limit(limit)
        )
        with self.store.engine().connect() as conn:
            return [ItemRow(*r) for r in conn.execute(query)]


def _hold(conn: sa.Connection, op: Hold) -> HoldResult:
    budget, spent = conn.execute(
        sa.select(JOBS.c.budget_usd, JOBS.c.spent_usd).where(JOBS.c.job_id == op.job_id)
    ).one()
    reserved = _held(conn, op.job_id)
    if budget is not None and spent + reserved + op.usd > budget * (1 + _EPSILON):
        return HoldResult(False, spent, reserved)
    row = {"job_id": op.job_id, "idx": op.idx, "execution": op.execution, "n": op.n, "usd": op.usd}
    conn.execute(HOLDS.insert().values(**row, held_at=time.time()))
    return HoldResult(True, spent, reserved + op.usd)


def _release(conn: sa.Connection, op: Release) -> HoldResult:
    conn.execute(
        HOLDS.delete().where(
            HOLDS.c.job_id == op.job_id, HOLDS.c.idx == op.idx, HOLDS.c.execution == op.execution, HOLDS.c.n == op.n
        )
    )
    if op.cost_usd > 0:
        conn.execute(JOBS.update().where(JOBS.c.job_id == op.job_id).values(spent_usd=JOBS.c.spent_usd + op.cost_usd))
    spent = conn.execute(sa.select(JOBS.c.spent_usd).where(JOBS.c.job_id == op.job_id)).scalar_one()
    return HoldResult(True, spent, _held(conn, op.job_id))


def _charge_lost(conn: sa.Connection, op: ChargeLost) -> float:
    others = (HOLDS.c.job_id == op.job_id, HOLDS.c.idx == op.idx, HOLDS.c.execution != op.execution)
    lost = float(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(HOLDS.c.usd), 0.0)).where(*others)).scalar_one())
    if lost:
        conn.execute(HOLDS.delete().where(*others))
        conn.execute(JOBS.update().where(JOBS.c.job_id == op.job_id).values(spent_usd=JOBS.c.spent_usd + lost))
    return lost


def _finish(conn: sa.Connection, op: Finish) -> bool:
    if conn.execute(sa.select(ITEMS.c.seq).where(ITEMS.c.job_id == op.job_id, ITEMS.c.idx == op.idx)).first():
        return False
    now = time.time()
    seq = conn.execute(sa.select(JOBS.c.finished).where(JOBS.c.job_id == op.job_id)).scalar_one() + 1
    conn.execute(
        ITEMS.insert().values(
            job_id=op.job_id, idx=op.idx, seq=seq, state="failed" if op.failed else "done",
            error_type=op.error_type, error=op.error, cost_usd=op.cost_usd, outcome=op.outcome,
            executor_id=op.executor_id, finished_at=now,
        )
    )  # fmt: skip
    conn.execute(
        HOLDS.delete().where(HOLDS.c.job_id == op.job_id, HOLDS.c.idx == op.idx, HOLDS.c.execution == op.execution)
    )
    conn.execute(
        JOBS.update()
        .where(JOBS.c.job_id == op.job_id)
        .values(
            finished=seq,
            done=JOBS.c.done + (0 if op.failed else 1),
            failed=JOBS.c.failed + (1 if op.failed else 0),
            spent_usd=JOBS.c.spent_usd + max(0.0, op.unrecorded_usd),
            first_finished_at=sa.func.coalesce(JOBS.c.first_finished_at, now),
            last_finished_at=now,
        )
    )
    return True


def _held(conn: sa.Connection, job_id: str) -> float:
    return float(
        conn.execute(sa.select(sa.func.coalesce(sa.func.sum(HOLDS.c.usd), 0.0)).where(HOLDS.c.job_id == job_id))
        .scalar_one()
    )


def _job(found: Any) -> JobRow:
    return JobRow(**{name: found[name] for name in JobRow.__slots__})  # type: ignore[attr-defined]
