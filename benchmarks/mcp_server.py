"""Benchmark the stratum-mcp server over stdio: start-up time and step_done round trips.

Prints numbers; asserts nothing. Run from the repository root with the project's
Python, after installing packages/stratum-mcp:

    python benchmarks/mcp_server.py [--starts 5] [--flows 4] [--steps 50]

* start-up: from spawning `stratum-mcp` to the answer of the first tools/list
  (the MCP initialize handshake included), with the import cost broken down;
* step_done: round-trip latency of stratum_step_done over stdio with durable
  persistence (SQLite WAL, synchronous=FULL) for passing and rejected results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _report import row
from mcp import ClientSession, StdioServerParameters, stdio_client

SERVER = str(Path(sys.executable).parent / "stratum-mcp")


def chain_spec(steps: int) -> str:
    """A flow of `steps` steps, each reading the previous step's output."""
    lines = [
        'version: "0.1"',
        "contracts:",
        "  Value:",
        "    value: integer",
        "    note: string",
        "functions:",
        "  bump:",
        "    mode: compute",
        "    intent: Add one to the value.",
        "    input: {value: integer}",
        "    output: Value",
        "    ensure: ['result.value == inputs.value + 1', 'len(result.note) > 0']",
        "    retries: 10",
        "flows:",
        "  chain:",
        "    input: {start: integer}",
        "    output: Value",
        "    steps:",
        "      - {id: s0, function: bump, inputs: {value: $.input.start}}",
    ]
    lines += [f"      - {{id: s{i}, function: bump, inputs: {{value: $.steps.s{i - 1}.output.value}}}}"
              for i in range(1, steps)]
    return "\n".join(lines) + "\n"


def params(db: Path, command: list[str] | None = None) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env["STRATUM_MCP_DB"] = str(db)
    command = command or [SERVER]
    return StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(db.parent))


async def time_start(db: Path, errlog: Any) -> float:
    started = time.perf_counter()
    async with stdio_client(params(db), errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.list_tools()
        return time.perf_counter() - started


async def time_steps(db: Path, errlog: Any, flows: int, steps: int) -> tuple[list[float], list[float]]:
    spec = chain_spec(steps)
    passing: list[float] = []
    rejected: list[float] = []
    async with stdio_client(params(db), errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def call(name: str, **arguments: Any) -> dict[str, Any]:
            result = await session.call_tool(name, arguments)
            assert result.structured_content is not None and not result.is_error, result
            return dict(result.structured_content)

        for _ in range(flows):
            step = await call("stratum_plan", spec=spec, flow="chain", inputs={"start": 0})
            while step["status"] == "execute_step":
                value = step["inputs"]["value"]
                began = time.perf_counter()
                bad = await call("stratum_step_done", flow_id=step["flow_id"], step_id=step["step_id"],
                                 result={"value": value, "note": "wrong"})
                rejected.append(time.perf_counter() - began)
                assert bad["status"] == "ensure_failed"
                began = time.perf_counter()
                step = await call("stratum_step_done", flow_id=step["flow_id"], step_id=step["step_id"],
                                  result={"value": value + 1, "note": "ok"})
                passing.append(time.perf_counter() - began)
            assert step["status"] == "complete"
    return passing, rejected


def import_seconds(module: str) -> float:
    """Median in-process import time of `module` in a fresh interpreter (exit teardown excluded)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    command = [sys.executable, "-c", code]
    runs = [
        float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        for _ in range(5)
    ]
    return statistics.median(runs)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def measure(db: Path, errlog: Any, starts: int, flows: int, steps: int) -> tuple[list[float], ...]:
    await time_start(db, errlog)  # warm the bytecode caches
    startups = [await time_start(db, errlog) for _ in range(starts)]
    passing, rejected = await time_steps(db, errlog, flows, steps)
    return startups, passing, rejected


def main(starts: int, flows: int, steps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="stratum-bench-", dir=Path.cwd()) as tmp:
        db = Path(tmp) / "flows.db"
        with (Path(tmp) / "server.log").open("w") as errlog:
            startups, passing, rejected = anyio.run(measure, db, errlog, starts, flows, steps)

    sdk = import_seconds("mcp.server.mcpserver")
    server = import_seconds("stratum_mcp.tools._server")
    print("stratum-mcp server benchmark (stdio, durable SQLite WAL + synchronous=FULL)")
    print(f"start-up to first tools/list: median {statistics.median(startups) * 1000:.0f} ms, "
          f"min {min(startups) * 1000:.0f} ms over {starts} starts (target < 500 ms)")
    print(f"  of which importing the MCP SDK (mcp.server.mcpserver) takes {sdk * 1000:.0f} ms, and all of "
          f"stratum_mcp.tools._server {server * 1000:.0f} ms (medians, in-process)")
    for label, samples in (("passing", passing), ("ensure_failed", rejected)):
        print(f"stratum_step_done {label:>13}: p50 {pct(samples, 0.5):.2f} ms, p95 {pct(samples, 0.95):.2f} ms, "
              f"max {max(samples) * 1000:.2f} ms over {len(samples)} calls (target p50 < 5 ms)")
    row("mcp", "stratum_step_done p50 / p95, passing", f"{pct(passing, 0.5):.2f} / {pct(passing, 0.95):.2f} ms",
        "p50 < 5 ms", f"{len(passing)} calls over stdio, durable SQLite")  # fmt: skip
    row("mcp", "stratum_step_done p50, ensure_failed", f"{pct(rejected, 0.5):.2f} ms", "p50 < 5 ms")
    row("mcp", "start-up to first tools/list", f"{statistics.median(startups) * 1000:.0f} ms", "< 500 ms")
    print(json.dumps({
        "startup_median_ms": round(statistics.median(startups) * 1000, 1),
        "sdk_import_ms": round(sdk * 1000, 1),
        "step_done_p50_ms": round(pct(passing, 0.5), 2),
        "step_done_p95_ms": round(pct(passing, 0.95), 2),
    }))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--flows", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    main(args.starts, args.flows, args.steps)
