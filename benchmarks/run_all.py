"""Run every benchmark in this directory and print its numbers (no asserts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed package costs
    code = 0
    for script in sorted(HERE.glob("*.py")):
        if script.name in ("run_all.py",) or script.name.startswith("_"):
            continue
        print(f"\n=== {script.name} ===", flush=True)
        code |= subprocess.run([sys.executable, str(script)], env=env, timeout=900).returncode
    return code


if __name__ == "__main__":
    sys.exit(main())
