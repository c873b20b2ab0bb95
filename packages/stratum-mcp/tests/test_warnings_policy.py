"""The suite's warnings policy: a warning from our code fails its test, a third-party warning is only shown.

Checked by running pytest, with this package's own configuration, on a tiny test file in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "pyproject.toml"

THIRD_PARTY = '''\
import warnings

# What a dependency's import-time warning looks like (LiteLLM once emitted this one).
warnings.warn("Items 'device_code', 'user_code' on TypedDict class '_DeviceCode' are using the ReadOnly qualifier",
              UserWarning)
'''

TESTS = '''\
import warnings


def test_a_warning_raised_in_stratum_mcp_code():
    # As if a function of the package had called warnings.warn: the warning is attributed to its module.
    warnings.warn_explicit("stratum_mcp warns", UserWarning, "stratum_mcp/engine/_machine.py", 1,
                           module="stratum_mcp.engine._machine")


def test_a_warning_raised_in_a_test():
    warnings.warn("a test warns", UserWarning)


def test_a_warning_raised_by_a_third_party_module():
    import thirdparty  # noqa: F401


def test_a_module_whose_name_only_starts_like_ours():
    warnings.warn_explicit("not ours", UserWarning, "stratum_mcpx.py", 1, module="stratum_mcpx")
'''


def test_our_warnings_fail_their_tests_and_third_party_warnings_do_not(tmp_path: Path) -> None:
    assert CONFIG.is_file(), "the package's pyproject.toml is not beside its tests"
    (tmp_path / "thirdparty.py").write_text(THIRD_PARTY)
    (tmp_path / "test_policy.py").write_text(TESTS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(CONFIG), "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
         "-q", "-rfE", str(tmp_path / "test_policy.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": os.environ.get("PATH", ""), "COLUMNS": "300"},  # wide enough for whole summary lines
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "FAILED test_policy.py::test_a_warning_raised_in_stratum_mcp_code - UserWarning: stratum_mcp warns" in out
    assert "FAILED test_policy.py::test_a_warning_raised_in_a_test - UserWarning: a test warns" in out
    assert "2 failed, 2 passed, 2 warnings" in out, out
    assert "ReadOnly qualifier" in out and "not ours" in out  # shown in the warnings summary
