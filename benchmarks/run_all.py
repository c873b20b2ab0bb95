"""Run every benchmark in this directory, then print one markdown table of their headline figures.

    python benchmarks/run_all.py          # or: make bench

Asserts nothing. Each script prints its own report as it runs; the rows it
marks (``_report.row``) are gathered here into the closing table. The
scripts run one after another, each in its own process; figures on a shared
machine are noisy, and every script interleaves the variants it compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import load, table  # noqa: E402


def main() -> int:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "STRATUM_BENCH_ROWS": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed package costs
    code = 0
    rows: list[dict[str, str]] = []
    print(f"load average before: {load()}")
    for script in sorted(HERE.glob("*.py")):
        if script.name in ("run_all.py",) or script.name.startswith("_"):
            continue
        print(f"\n=== {script.name} ===", flush=True)
        process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("@@ "):
                rows.append(json.loads(line[3:]))
            else:
                print(line, end="", flush=True)
        code |= process.wait(timeout=900)
    print(f"\n=== summary (load average after: {load()}) ===\n")
    print(table(rows))
    return code


if __name__ == "__main__":
    sys.exit(main())
