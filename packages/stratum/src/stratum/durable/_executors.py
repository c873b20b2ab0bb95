"""Executor ids: unique among live processes, stable across restarts.

DBOS recovers, at launch, the pending runs recorded under its own executor
id, and nothing else; two live processes with one id run the same steps
twice. Unless an id is configured, a process takes the lowest free *slot*
``slot-N`` and holds it while it lives:

- SQLite: an exclusive ``flock`` on ``<database>.executors/slot-N.lock``
  (every process sharing the file is on this machine);
- Postgres: a session advisory lock on a connection kept open, so the
  server frees it when the process dies, on any machine.

A restarted process takes the slot its predecessor left and recovers its
work. At launch a process also tries the slots of other executors with
pending runs: a slot it can lock belongs to a dead process, whose runs it
re-enqueues for any live process to take.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = ["SlotLock", "acquire_slot", "slot_id", "slot_of", "try_slot"]

_MAX_SLOTS = 1024
_PREFIX = "slot-"


def slot_id(n: int) -> str:
    return f"{_PREFIX}{n}"


def slot_of(executor_id: str) -> int | None:
    if not executor_id.startswith(_PREFIX):
        return None
    number = executor_id[len(_PREFIX) :]
    return int(number) if number.isdigit() else None


class SlotLock:
    """A held slot; ``release()`` frees it (the process dying frees it too)."""

    def __init__(self, n: int, handle: Any, kind: str) -> None:
        self.n = n
        self.executor_id = slot_id(n)
        self._handle = handle
        self._kind = kind

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        if self._kind == "file":
            os.close(handle)  # closing the descriptor drops the flock
        else:
            with contextlib.suppress(Exception):
                handle.close()  # the server drops the advisory lock with the session


def _lock_dir(database_path: Path) -> Path:
    folder = database_path.with_name(database_path.name + ".executors")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _try_file(database_path: Path, n: int) -> SlotLock | None:
    import fcntl

    path = _lock_dir(database_path) / f"{slot_id(n)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return SlotLock(n, fd, "file")


def _advisory_key(app: str, n: int) -> int:
    digest = hashlib.sha256(f"stratum-executor:{app}:{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _try_advisory(url: str, app: str, n: int) -> SlotLock | None:
    import psycopg  # installed with dbos

    conn = psycopg.connect(url, autocommit=True, application_name=f"stratum executor {n}")
    try:
        locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (_advisory_key(app, n),)).fetchone()
    except Exception:
        conn.close()
        raise
    if not (locked and locked[0]):
        conn.close()
        return None
    return SlotLock(n, conn, "advisory")


def _target(database_url: str) -> tuple[str, Any, str]:
    import sqlalchemy as sa

    url = sa.make_url(database_url)
    if url.drivername.startswith("sqlite"):
        return "file", Path(url.database or "").resolve(), ""
    # Advisory locks live in one database; the server's maintenance database exists before DBOS
    # has created the flows' database (the key names that database).
    maintenance = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    return "advisory", maintenance, url.database or ""


def try_slot(database_url: str, app: str, n: int) -> SlotLock | None:
    """Lock slot ``n`` if no live process holds it."""
    kind, target, database = _target(database_url)
    if kind == "file":
        return _try_file(target, n)
    return _try_advisory(target, f"{database}/{app}", n)


def acquire_slot(database_url: str, app: str) -> SlotLock:
    """The lowest free slot, held until released or the process ends."""
    for n in range(_MAX_SLOTS):
        lock = try_slot(database_url, app, n)
        if lock is not None:
            return lock
    raise RuntimeError(f"all {_MAX_SLOTS} executor slots are taken; set executor_id explicitly")
