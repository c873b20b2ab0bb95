"""DBOS on Python >= 3.12 with a SQLite library older than 3.42.

On Python 3.12 and newer, DBOS 3.4 writes millisecond timestamps with
``unixepoch('subsec')``, which SQLite understands from 3.42 on. An interpreter
linked against an older library (Debian 12's 3.40, which pyenv and distribution
builds use) evaluates it to NULL, and DBOS's first launch fails with
``NOT NULL constraint failed: application_versions.version_timestamp``.

Where that is the case, every SQLite connection SQLAlchemy opens gets a
one-argument ``unixepoch`` that answers ``'subsec'`` as newer SQLite does and
hands every other argument to the library's own built-in (on a private
in-memory connection), so nothing else changes. Nothing is installed where the
library is new enough.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from typing import Any

__all__ = ["install", "needed"]

_installed = False
_lock = threading.Lock()
_builtin: sqlite3.Connection | None = None


def needed() -> bool:
    return sys.version_info >= (3, 12) and sqlite3.sqlite_version_info < (3, 42, 0)


def install() -> None:
    """Register the shim for the SQLite engines SQLAlchemy creates in this process (once)."""
    global _installed
    if not needed():
        return
    with _lock:
        if _installed:
            return
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "connect", _on_connect)
        _installed = True


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("unixepoch", 1, _unixepoch)


def _unixepoch(value: Any) -> Any:
    if value == "subsec":  # "now, with the fraction" in SQLite >= 3.42
        return time.time()
    global _builtin
    with _lock:
        if _builtin is None:
            _builtin = sqlite3.connect(":memory:", check_same_thread=False)
        return _builtin.execute("SELECT unixepoch(?)", (value,)).fetchone()[0]
