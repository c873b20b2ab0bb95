"""The main job: run every example end to end, then the MCP round trip.

Each ``NN_*.py`` runs in its own interpreter; if ``NN_*.stdin`` exists it is
piped in (examples that ask a human get their answer from it). Exits non-zero
if any example fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))
    roundtrip = HERE / "mcp_roundtrip.py"
    if roundtrip.exists():
        scripts.append(roundtrip)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP", "True")}
    failed: list[str] = []
    for script in scripts:
        stdin_file = script.with_suffix(".stdin")
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        with open(stdin_file) if stdin_file.exists() else open(os.devnull) as stdin:
            code = subprocess.run([sys.executable, str(script)], stdin=stdin, env=env, timeout=300).returncode
        took = time.perf_counter() - started
        print(f"--- {script.name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {took:.1f}s", flush=True)
        if code != 0:
            failed.append(script.name)
    print(f"\n{len(scripts) - len(failed)}/{len(scripts)} examples passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
