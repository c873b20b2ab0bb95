"""Shared by the benchmarks: a server process, timing helpers, and the rows ``run_all.py`` gathers.

A benchmark prints its own markdown table; under ``run_all.py`` (which sets
``STRATUM_BENCH_ROWS=1``) each row is also printed as one ``@@ {json}`` line,
collected into the summary table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

Row = dict[str, str]


def row(area: str, measure: str, value: str, target: str = "", note: str = "") -> Row:
    entry = {"area": area, "measure": measure, "value": value, "target": target, "note": note}
    if os.environ.get("STRATUM_BENCH_ROWS") == "1":
        print("@@ " + json.dumps(entry), flush=True)
    return entry


def table(rows: list[Row]) -> str:
    lines = ["| area | measure | value | target | note |", "|---|---|---|---|---|"]
    lines += [f"| {r['area']} | {r['measure']} | {r['value']} | {r['target']} | {r['note']} |" for r in rows]
    return "\n".join(lines)


class Server:
    """benchmarks/_server.py in its own process: ``url``, ``stats()``, ``close()``."""

    def __init__(self, delay_s: float = 0.0) -> None:
        command = [sys.executable, str(HERE / "_server.py"), "--delay-s", str(delay_s)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url:
            raise RuntimeError("the benchmark server did not start")

    def stats(self) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("stats\n")
        self._process.stdin.flush()
        return dict(json.loads(self._process.stdout.readline()))

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load() -> str:
    """The machine's load averages, for the record: every figure here is noisy on a shared machine."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"
