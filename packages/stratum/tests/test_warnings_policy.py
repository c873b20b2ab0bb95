"""The suite's warnings policy, checked by running pytest on small test files.

Warnings from our own code fail a test; warnings from third-party code are
reported and never fail one, so an upstream release cannot turn the suite red.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "pyproject.toml"

THIRD_PARTY_MODULE = """\
import warnings
warnings.warn("this API is going away", DeprecationWarning, stacklevel=1)
warnings.warn("Items 'a', 'b' on TypedDict class '_X' are using the `ReadOnly` qualifier", UserWarning)
"""

TESTS = """\
import warnings
from typing import Literal

from pydantic import BaseModel

import stratum
from stratum import contract, infer
from stratum.testing import ScriptedClient


def test_a_third_party_warning_at_import():
    import noisy_upstream  # warns twice while it is imported


def test_a_warning_from_a_stratum_module():
    warnings.warn_explicit("ours", UserWarning, "stratum/somewhere.py", 1, module="stratum.somewhere")


@contract
class Label(BaseModel):
    label: Literal["a", "b"]


@infer(intent="Pick a label")
def pick(text: str) -> Label: ...


def test_a_stratum_warning_raised_by_the_runtime():
    # In test mode, a stable=True function that was never sampled warns (StratumWarning).
    stratum.configure(client=ScriptedClient([{"label": "a"}]), default_model="m", test_mode=True)
    stratum.run(pick(text="x"))
"""


def _outcome(tmp_path: Path, test_name: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "noisy_upstream.py").write_text(THIRD_PARTY_MODULE)
    (tmp_path / "test_policy_probe.py").write_text(TESTS)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(CONFIG), "-p", "no:cacheprovider", "-q",
         f"{tmp_path / 'test_policy_probe.py'}::{test_name}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip


def test_a_third_party_warning_is_reported_but_does_not_fail_the_suite(tmp_path: Path) -> None:
    result = _outcome(tmp_path, "test_a_third_party_warning_at_import")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "this API is going away" in result.stdout  # shown in the warnings summary
    assert "ReadOnly" in result.stdout


def test_a_warning_from_a_stratum_module_fails_the_test(tmp_path: Path) -> None:
    result = _outcome(tmp_path, "test_a_warning_from_a_stratum_module")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout


def test_a_stratum_warning_from_the_runtime_fails_the_test(tmp_path: Path) -> None:
    result = _outcome(tmp_path, "test_a_stratum_warning_raised_by_the_runtime")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "StratumWarning" in result.stdout and "1 failed" in result.stdout
