"""Blocking work in daemon threads that the event loop can stop waiting for.

Tool bodies (SQLite, project files, expression evaluation) and the stdio
reader block. anyio's worker threads cannot be left behind: a cancelled wait
still joins them, and the interpreter joins them again at exit, so one stuck
call kept the whole server alive after its client had gone. A daemon thread
can be abandoned: cancelling :func:`in_daemon_thread` returns at once, and the
process exits without waiting for the thread. What an abandoned call had
persisted is durable; what it had not is as if it never ran.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

__all__ = ["in_daemon_thread"]

T = TypeVar("T")


async def in_daemon_thread(work: Callable[[], T], *, name: str) -> T:
    """Run ``work`` in a new daemon thread and return its result (or raise its exception).

    Cancelling the caller stops the wait, not the thread.
    """
    token = anyio.lowlevel.current_token()
    finished = anyio.Event()
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # handed back to the awaiting task, whatever it is
            outcome.append((False, exc))
        with contextlib.suppress(Exception):  # the event loop has ended: nobody is waiting for this result
            anyio.from_thread.run_sync(finished.set, token=token)

    threading.Thread(target=run, name=name, daemon=True).start()
    await finished.wait()
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]  # `work`'s own result
