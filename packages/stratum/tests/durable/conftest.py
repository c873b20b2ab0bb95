"""Fixtures of the durable tests: a preloaded host forking worker processes, a throwaway PostgreSQL.

Without PostgreSQL's binaries the Postgres tests are skipped (listed at the
end of the run), unless ``STRATUM_REQUIRE_POSTGRES=1`` (set in CI), in which
case they fail.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import stratum
from stratum.testing import LocalPostgres

WORKER = Path(__file__).with_name("durable_worker.py")


class Host:
    """The worker host: ``fork(role, **args)`` starts a child process, ``wait(pid)`` reaps it."""

    def __init__(self) -> None:
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._answer(180)
        assert ready.get("ready"), "the worker host did not start"
        #: The budgets of the worker's flows, in USD.
        self.budgets: dict[str, float] = ready["budgets"]
        #: The limits of the bulk queues: ``limited`` (requests, per_seconds), ``shared_concurrency``.
        self.bulk: dict[str, Any] = ready["bulk"]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self._lines.put(line)

    def _answer(self, within_s: float) -> dict[str, Any]:
        try:
            return dict(json.loads(self._lines.get(timeout=within_s)))
        except queue.Empty:
            raise AssertionError(f"the worker host did not answer within {within_s} s") from None

    def _send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def fork(self, role: str, **args: Any) -> int:
        self._send({"role": role, "args": args})
        return int(self._answer(30)["pid"])

    def wait(self, pid: int, within_s: float = 90) -> int:
        self._send({"wait": pid})
        return int(self._answer(within_s)["exit"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="session")
def worker_host() -> Iterator[Host]:
    host = Host()
    try:
        yield host
    finally:
        host.close()


@pytest.fixture(scope="module")
def bulk_host() -> Iterator[Host]:
    """A host of its own for the bulk-job tests: a test that fails with a child still running leaves it
    out of step, and that must not spill into the crash tests' host."""
    host = Host()
    try:
        yield host
    finally:
        host.close()


@pytest.fixture(scope="session")
def local_postgres() -> Iterator[LocalPostgres]:
    if LocalPostgres.find() is None:
        message = "missing service: PostgreSQL is not installed (apt-get install -y postgresql)"
        if os.environ.get("STRATUM_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; STRATUM_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(message)
    with LocalPostgres() as server:
        yield server


@pytest.fixture
def durable_queues() -> tuple[str, ...]:
    """The queues whose tasks ``durable_sqlite`` takes; a module of bulk-job tests names its own.

    None by default: every queue declared in this process (the suite's bulk-job modules declare
    several, each polled every 20 ms) would otherwise be polled through every durable test.
    """
    return ()


@pytest.fixture
async def durable_sqlite(tmp_path: Path, durable_queues: tuple[str, ...]) -> AsyncIterator[str]:
    """DBOS on a fresh SQLite file for this test, shut down after it."""
    url = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    stratum.configure(
        durable=stratum.durable.dbos(url, poll_interval_s=0.05, recovery_poll_s=0.1, queues=durable_queues)
    )
    try:
        yield url
    finally:
        await stratum.durable.shutdown()
