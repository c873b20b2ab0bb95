"""Stratum's own two tables, in the same database as DBOS's.

``stratum_reviews``: one row per durable review. It is where a decision is
decided exactly once: a resolve and a timeout both change a row only
``WHERE state = 'pending'``, so whichever commits first wins and the other
is told so. DBOS's ``send``/``recv`` only wakes the waiting flow; the row,
not the message, carries the decision (a resolver that dies between its
commit and its message loses nothing: the flow reads the row).

``stratum_attempts``: a durable note of every request a durable step is
about to send, with its worst-case cost. A step in flight when its process
dies is run again; the notes it left say what that may have cost already.

Every function here is blocking (SQLAlchemy); callers run them in a thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

__all__ = ["ClaimResult", "ReviewRow", "Store", "engine_url"]

_metadata = sa.MetaData()

REVIEWS = sa.Table(
    "stratum_reviews",
    _metadata,
    sa.Column("review_id", sa.String(64), primary_key=True),
    sa.Column("app", sa.String(256), nullable=False),
    sa.Column("flow_id", sa.String(512), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    # JSON: trigger, artifacts, options, decision_type (its name), decision_schema.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("contract_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("decision", sa.Text, nullable=True),  # the value, as JSON
    sa.Column("reviewer", sa.Text, nullable=True),
    sa.Column("rationale", sa.Text, nullable=True),
    sa.Column("decided_at", sa.Float, nullable=True),
    # The waiting flow was sent its wake-up (a resolver may die before sending it).
    sa.Column("notified", sa.Boolean, nullable=False, default=False),
    sa.Column("closed_at", sa.Float, nullable=True),
    sa.Index("stratum_reviews_by_state", "app", "state", "created_at"),
    sa.Index("stratum_reviews_by_flow", "flow_id"),
)

ATTEMPTS = sa.Table(
    "stratum_attempts",
    _metadata,
    sa.Column("flow_id", sa.String(512), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("execution", sa.String(64), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("reserved_usd", sa.Float, nullable=False),
    sa.Column("noted_at", sa.Float, nullable=False),
)

State = Literal["pending", "resolved", "timed_out", "cancelled"]


def engine_url(database_url: str) -> str:
    """The SQLAlchemy URL of a DBOS system database URL (psycopg 3 for Postgres)."""
    url = sa.make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class ReviewRow:
    review_id: str
    flow_id: str
    state: State
    question: str
    body: dict[str, Any]
    contract_hash: str
    created_at: float
    expires_at: float | None
    decision: Any
    reviewer: str | None
    rationale: str | None
    decided_at: float | None
    notified: bool

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What a resolve found: ``won`` with the row as it now is, or the state that stopped it."""

    won: bool
    state: str
    row: ReviewRow | None


class Store:
    """Both tables in the database at ``database_url``, for application ``app``."""

    def __init__(self, database_url: str, app: str, *, create: bool) -> None:
        self.app = app
        self._url = engine_url(database_url)
        self._create = create
        self._lock = threading.Lock()
        self._engine: sa.Engine | None = None
        self._ready = False
        self._write_lock = threading.Lock() if self._url.startswith("sqlite") else None

    # -- connection -------------------------------------------------------------
    @property
    def may_create(self) -> bool:
        """Whether this store creates missing tables (an executor) or only reads existing ones (a client)."""
        return self._create

    def engine(self) -> sa.Engine:
        """The engine (Stratum's other tables, ``_job_store``, share it)."""
        return self._get_engine()

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction. On SQLite, this process's writers queue here first: one file has one writer
        at a time, and threads waiting in SQLite's own busy handler back off by sleeping, far longer than
        the commits they wait for."""
        if self._write_lock is None:
            with self._get_engine().begin() as conn:
                yield conn
            return
        with self._write_lock, self._get_engine().begin() as conn:
            yield conn

    def _get_engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                if self._url.startswith("sqlite"):
                    engine = sa.create_engine(self._url, poolclass=sa.pool.NullPool)

                    @sa.event.listens_for(engine, "connect")
                    def _immediate(dbapi_conn: Any, _record: Any) -> None:
                        # Writers take the lock at BEGIN, and wait for each other (as DBOS's own engine does).
                        dbapi_conn.isolation_level = "IMMEDIATE"
                        dbapi_conn.execute("PRAGMA busy_timeout=30000")

                else:
                    # Job items in flight each settle a request now and then: a few connections more on demand.
                    engine = sa.create_engine(self._url, pool_size=2, max_overflow=8, pool_pre_ping=True)
                self._engine = engine
            return self._engine

    def ping(self) -> None:
        """Connect once (raises if the database is not there)."""
        with self._get_engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def ensure(self) -> bool:
        """Create the tables if this store may (an executor); False if they do not exist (a client)."""
        if self._ready:
            return True
        engine = self._get_engine()
        if self._create:
            _metadata.create_all(engine, checkfirst=True)
            self._ready = True
            return True
        self._ready = sa.inspect(engine).has_table(REVIEWS.name)
        return self._ready

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with self._get_engine().begin() as conn:
            yield conn

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
            self._ready = False
        if engine is not None:
            engine.dispose()

    # -- reviews ----------------------------------------------------------------
    def open_review(
        self,
        *,
        review_id: str,
        flow_id: str,
        question: str,
        body: dict[str, Any],
        contract_hash: str,
        created_at: float,
        expires_at: float | None,
        max_pending: int,
    ) -> ReviewRow:
        """Insert the review (a replay finds it there and gets it back unchanged)."""
        self.ensure()
        with self._begin() as conn:
            found = self._get(conn, review_id)
            if found is not None:
                return found
            pending = conn.execute(
                sa.select(sa.func.count())
                .select_from(REVIEWS)
                .where(REVIEWS.c.app == self.app, REVIEWS.c.state == "pending")
            ).scalar_one()
            if pending >= max_pending:
                raise OverflowError(f"{pending} reviews are already pending (max_pending_reviews={max_pending})")
            conn.execute(
                REVIEWS.insert().values(
                    review_id=review_id, app=self.app, flow_id=flow_id, state="pending", question=question,
                    body=json.dumps(body, ensure_ascii=False), contract_hash=contract_hash, created_at=created_at,
                    expires_at=expires_at, notified=False,
                )
            )  # fmt: skip
            row = self._get(conn, review_id)
        assert row is not None
        return row

    def get_review(self, review_id: str) -> ReviewRow | None:
        if not self.ensure():
            return None
        with self._begin() as conn:
            return self._get(conn, review_id)

    def list_reviews(
        self, *, states: tuple[State, ...] | None, flow_id: str | None, limit: int, newest_first: bool = False
    ) -> list[ReviewRow]:
        """Reviews in ``states``: oldest opened first, or most recently opened or closed first."""
        if not self.ensure():
            return []
        query = sa.select(REVIEWS).where(REVIEWS.c.app == self.app)
        if states is not None:
            query = query.where(REVIEWS.c.state.in_(states))
        if flow_id is not None:
            query = query.where(REVIEWS.c.flow_id == flow_id)
        if newest_first:
            moment = sa.func.coalesce(REVIEWS.c.decided_at, REVIEWS.c.closed_at, REVIEWS.c.created_at)
            query = query.order_by(moment.desc(), REVIEWS.c.review_id.desc())
        else:
            query = query.order_by(REVIEWS.c.created_at, REVIEWS.c.review_id)
        with self._begin() as conn:
            return [_row(r) for r in conn.execute(query.limit(limit)).mappings()]

    def expire_overdue(self, *, now: float) -> int:
        """Close pending reviews past their deadline whose flow has not run since (it applies the timeout later)."""
        if not self.ensure():
            return 0
        with self._begin() as conn:
            return int(
                conn.execute(
                    REVIEWS.update()
                    .where(REVIEWS.c.app == self.app, REVIEWS.c.state == "pending", REVIEWS.c.expires_at <= now)
                    .values(state="timed_out", closed_at=now)
                ).rowcount
            )

    def claim(
        self, review_id: str, *, decision: Any, reviewer: str | None, rationale: str | None, now: float
    ) -> ClaimResult:
        """Record the decision if the review is still pending and not expired: exactly one caller wins."""
        if not self.ensure():
            return ClaimResult(False, "unknown", None)
        with self._begin() as conn:
            won = conn.execute(
                REVIEWS.update()
                .where(
                    REVIEWS.c.review_id == review_id,
                    REVIEWS.c.app == self.app,
                    REVIEWS.c.state == "pending",
                    sa.or_(REVIEWS.c.expires_at.is_(None), REVIEWS.c.expires_at > now),
                )
                .values(
                    state="resolved", decision=json.dumps(decision, ensure_ascii=False), reviewer=reviewer,
                    rationale=rationale, decided_at=now,
                )
            ).rowcount  # fmt: skip
            if not won:
                # Expired but never closed (no process ran its flow): it can only time out now.
                conn.execute(
                    REVIEWS.update()
                    .where(
                        REVIEWS.c.review_id == review_id,
                        REVIEWS.c.state == "pending",
                        REVIEWS.c.expires_at <= now,
                    )
                    .values(state="timed_out", closed_at=now)
                )
            row = self._get(conn, review_id)
        if row is None:
            return ClaimResult(False, "unknown", None)
        return ClaimResult(bool(won), row.state, row)

    def close_review(self, review_id: str, state: State, *, now: float) -> ReviewRow | None:
        """Close a pending review as ``state`` (a timeout, a cancelled flow); returns the row as it ends up."""
        with self._begin() as conn:
            conn.execute(
                REVIEWS.update()
                .where(REVIEWS.c.review_id == review_id, REVIEWS.c.state == "pending")
                .values(state=state, closed_at=now)
            )
            return self._get(conn, review_id)

    def reopen(self, review_id: str) -> None:
        """A decision the flow itself refused (stricter than the schema it was checked against)."""
        with self._begin() as conn:
            conn.execute(
                REVIEWS.update()
                .where(REVIEWS.c.review_id == review_id, REVIEWS.c.state == "resolved")
                .values(state="pending", decision=None, reviewer=None, rationale=None, decided_at=None,
                        notified=False)
            )  # fmt: skip

    def mark_notified(self, review_id: str) -> None:
        with self._begin() as conn:
            conn.execute(REVIEWS.update().where(REVIEWS.c.review_id == review_id).values(notified=True))

    def unnotified(self, limit: int) -> list[ReviewRow]:
        """Resolved reviews whose flow may never have been woken (their resolver died between the two)."""
        if not self.ensure():
            return []
        with self._begin() as conn:
            rows = conn.execute(
                sa.select(REVIEWS)
                .where(REVIEWS.c.app == self.app, REVIEWS.c.state == "resolved", REVIEWS.c.notified.is_(False))
                .limit(limit)
            ).mappings()
            return [_row(r) for r in rows]

    def cancel_flow_reviews(self, flow_id: str, *, now: float) -> int:
        """Close every pending review of a flow that was cancelled or finished without them."""
        if not self.ensure():
            return 0
        with self._begin() as conn:
            return int(
                conn.execute(
                    REVIEWS.update()
                    .where(REVIEWS.c.flow_id == flow_id, REVIEWS.c.state == "pending")
                    .values(state="cancelled", closed_at=now)
                ).rowcount
            )

    def forget_closed(self, *, older_than: float) -> int:
        """Delete reviews closed before ``older_than`` (bounded retention)."""
        with self._begin() as conn:
            return int(
                conn.execute(
                    REVIEWS.delete().where(
                        REVIEWS.c.app == self.app,
                        REVIEWS.c.state != "pending",
                        sa.func.coalesce(REVIEWS.c.closed_at, REVIEWS.c.decided_at, REVIEWS.c.created_at)
                        < older_than,
                    )
                ).rowcount
            )

    @staticmethod
    def _get(conn: sa.Connection, review_id: str) -> ReviewRow | None:
        found = conn.execute(sa.select(REVIEWS).where(REVIEWS.c.review_id == review_id)).mappings().first()
        return None if found is None else _row(found)

    # -- attempts ---------------------------------------------------------------
    def note_attempt(self, flow_id: str, step: int, execution: str, attempt: int, reserved_usd: float) -> None:
        with self._begin() as conn:
            conn.execute(
                ATTEMPTS.insert().values(
                    flow_id=flow_id, step=step, execution=execution, attempt=attempt,
                    reserved_usd=reserved_usd, noted_at=time.time(),
                )
            )  # fmt: skip

    def earlier_attempts(self, flow_id: str, step: int, execution: str) -> tuple[int, float]:
        """Requests an earlier execution of this step noted and never recorded: count and worst-case USD."""
        with self._begin() as conn:
            count, usd = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(ATTEMPTS.c.reserved_usd), 0.0)).where(
                    ATTEMPTS.c.flow_id == flow_id, ATTEMPTS.c.step == step, ATTEMPTS.c.execution != execution
                )
            ).one()
        return int(count), float(usd)

    def forget_attempts(self, flow_id: str) -> None:
        with self._begin() as conn:
            conn.execute(ATTEMPTS.delete().where(ATTEMPTS.c.flow_id == flow_id))


def _row(found: Any) -> ReviewRow:
    decision = found["decision"]
    return ReviewRow(
        review_id=found["review_id"],
        flow_id=found["flow_id"],
        state=found["state"],
        question=found["question"],
        body=json.loads(found["body"]),
        contract_hash=found["contract_hash"],
        created_at=found["created_at"],
        expires_at=found["expires_at"],
        decision=None if decision is None else json.loads(decision),
        reviewer=found["reviewer"],
        rationale=found["rationale"],
        decided_at=found["decided_at"],
        notified=bool(found["notified"]),
    )
