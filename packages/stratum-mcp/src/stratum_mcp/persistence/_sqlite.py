"""The embedded store: one SQLite file, safe across threads and processes.

Each run is one row holding its state as JSON and a ``version``; the
compare-and-swap of :class:`~.FlowStore` is an ``UPDATE ... WHERE version = ?``.
Every write commits before the call returns; the database runs in WAL mode
with full sync, so a server killed with ``kill -9`` between two calls loses
nothing it acknowledged.

The store owns its one connection and closes it in :meth:`SqliteStore.close`
(or on leaving a ``with`` block); a closed store refuses every call with
:class:`~stratum_mcp.errors.StoreError`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

from stratum_mcp._config import stratum_home
from stratum_mcp._fs import private_dir
from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp.engine import FlowRun
from stratum_mcp.errors import StoreError
from stratum_mcp.persistence._codec import decode_run, encode_run
from stratum_mcp.persistence._retention import Retention
from stratum_mcp.persistence._store import StoredRun

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS specs (
    digest TEXT PRIMARY KEY,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    flow_id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    spec_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_update ON runs (status, updated_ms);
"""

# Added after the first release: stores created before it gain the column on open.
_PROJECT_COLUMN = "ALTER TABLE runs ADD COLUMN project TEXT"
_PROJECT_INDEX = "CREATE INDEX IF NOT EXISTS runs_by_project ON runs (project, updated_ms)"


def _create_private(path: Path) -> None:
    """Make the store's directory (0700) and file (0600) unless they exist, before SQLite opens it.

    SQLite creates a new database through the umask (usually 0644) and gives its
    ``-wal`` and ``-shm`` files the database file's permissions, so creating the
    empty file first keeps all three private. stratum's own ``~/.stratum`` is
    tightened if an older version left it open to others.
    """
    private_dir(path.parent, tighten=path.parent == stratum_home())
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SqliteStore:
    """A :class:`FlowStore` in one SQLite file (WAL, full sync), safe across threads and processes.

    Example::

        with SqliteStore(Path.home() / ".stratum" / "flows.db") as store:
            runs = store.recent(10)
    """

    def __init__(self, path: Path, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self._limits = limits
        self._retention = Retention.of(limits)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            _create_private(path)
            # Autocommit: every statement outside BEGIN is its own durable transaction.
            self._db = db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=10000")
            with self._transaction() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
                if "project" not in columns:
                    db.execute(_PROJECT_COLUMN)
                db.execute(_PROJECT_INDEX)
        except (OSError, sqlite3.Error) as exc:
            self.close()  # a connection opened before the failure is not left for the garbage collector
            raise StoreError(f"cannot open the flow store at {path}: {exc}") from exc

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        # Called with the lock held, so a concurrent close() cannot pull the connection away mid-call.
        if self._db is None:
            raise StoreError(f"the flow store at {self.path} is closed")
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def create(self, run: FlowRun, spec_text: str, *, project: str | None = None) -> None:
        state = encode_run(run, self._limits)
        try:
            with self._transaction() as db:
                db.execute("INSERT OR IGNORE INTO specs (digest, text) VALUES (?, ?)", (run.spec_digest, spec_text))
                db.execute(
                    "INSERT INTO runs (flow_id, flow, spec_digest, status, version, created_ms, updated_ms, state,"
                    " project) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
                    (run.flow_id, run.flow, run.spec_digest, run.status, run.created_ms, run.updated_ms, state,
                     project),
                )
                self._prune(db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save flow run {run.flow_id}: {exc}") from exc

    def _prune(self, db: sqlite3.Connection) -> None:
        # The rule of Retention.expired, in SQL: the same order, so both stores drop the same runs.
        pruned = 0
        for where, keep in (("status != 'running'", self._retention.finished),
                            ("status = 'running'", self._retention.running)):
            pruned += db.execute(
                f"DELETE FROM runs WHERE flow_id IN (SELECT flow_id FROM runs WHERE {where}"  # noqa: S608 - constants
                " ORDER BY updated_ms DESC, flow_id DESC LIMIT -1 OFFSET ?)",
                (keep,),
            ).rowcount
        if pruned:
            db.execute("DELETE FROM specs WHERE digest NOT IN (SELECT spec_digest FROM runs)")

    def load(self, flow_id: str) -> StoredRun | None:
        try:
            with self._lock:
                row = self._connection().execute(
                    "SELECT state, version FROM runs WHERE flow_id = ?", (flow_id,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read flow run {flow_id}: {exc}") from exc
        return None if row is None else StoredRun(decode_run(row[0]), row[1])

    def update(self, run: FlowRun, expected_version: int) -> bool:
        state = encode_run(run, self._limits)
        try:
            with self._lock:
                cursor = self._connection().execute(
                    "UPDATE runs SET status = ?, version = version + 1, updated_ms = ?, state = ?"
                    " WHERE flow_id = ? AND version = ?",
                    (run.status, run.updated_ms, state, run.flow_id, expected_version),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save flow run {run.flow_id}: {exc}") from exc
        return cursor.rowcount == 1

    def spec_text(self, digest: str) -> str | None:
        try:
            with self._lock:
                row = self._connection().execute("SELECT text FROM specs WHERE digest = ?", (digest,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the spec {digest[:12]}: {exc}") from exc
        return None if row is None else str(row[0])

    def recent(self, limit: int, *, project: str | None = None, status: str | None = None) -> list[FlowRun]:
        # NULL matches every row: `? IS NULL OR column = ?` keeps one statement for every combination.
        try:
            with self._lock:
                rows = self._connection().execute(
                    "SELECT state FROM runs WHERE (? IS NULL OR project = ?) AND (? IS NULL OR status = ?)"
                    " ORDER BY updated_ms DESC, flow_id DESC LIMIT ?",
                    (project, project, status, status, max(0, limit)),
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot list flow runs: {exc}") from exc
        return [decode_run(row[0]) for row in rows]

    def close(self) -> None:
        """Close the connection; closing again does nothing, and any other call raises :class:`StoreError`."""
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()
