"""``stratum check`` on a sample project with mistakes (sample_project/support_desk), as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stratum.checks import check

SAMPLE = Path(__file__).resolve().parent / "sample_project"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<severity>error|warning): .* \[(?P<rule>[a-z-]+)\]$")

#: (file, line, severity, rule) of every mistake written into the sample project.
EXPECTED = {
    ("support_desk/calls.py", 9, "error", "ensure-field"),
    ("support_desk/calls.py", 13, "error", "ensure-value"),
    ("support_desk/calls.py", 17, "error", "ensure-field"),
    ("support_desk/calls.py", 21, "error", "given-parameter"),
    ("support_desk/calls.py", 25, "error", "quorum"),
    ("support_desk/calls.py", 31, "error", "infer-body"),
    ("support_desk/calls.py", 35, "error", "return-type"),
    ("support_desk/calls.py", 42, "error", "refine-calls-infer"),
    ("support_desk/calls.py", 48, "error", "unresolved-annotation"),
    ("support_desk/calls.py", 54, "error", "opaque-interpolation"),
    ("support_desk/contracts.py", 24, "error", "contract-empty"),
    ("support_desk/flows.py", 16, "warning", "budget-sufficiency"),
    ("support_desk/flows.py", 17, "warning", "sequential-independence"),
    ("support_desk/flows.py", 23, "error", "flow-async"),
}


def run(*args: str, command: tuple[str, ...] = (sys.executable, "-m", "stratum")) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([*command, *args], cwd=SAMPLE, env=env, capture_output=True, text=True, timeout=120)


def findings(stdout: str) -> set[tuple[str, int, str, str]]:
    found = set()
    for line in stdout.splitlines()[:-1]:
        match = LINE.match(line)
        assert match, line
        found.add((match["file"], int(match["line"]), match["severity"], match["rule"]))
    return found


def test_check_prints_every_mistake_with_its_file_and_line_and_fails() -> None:
    result = run("check", "support_desk")
    assert result.returncode == 1, result.stderr
    assert findings(result.stdout) == EXPECTED
    assert result.stdout.splitlines()[-1] == "Found 12 errors and 2 warnings in 3 of 5 files."
    line = next(li for li in result.stdout.splitlines() if "[ensure-field]" in li)
    assert "@infer route" in line and "`r.confidnce > 0.7`" in line and "did you mean `confidence`?" in line


def test_the_console_script_is_the_same_command() -> None:
    script = Path(sys.executable).with_name("stratum")
    if not script.exists():
        pytest.skip("the stratum console script is not installed next to this interpreter")
    result = run("check", "support_desk/flows.py", command=(str(script),))
    assert result.returncode == 1
    assert findings(result.stdout) == {f for f in EXPECTED if f[0] == "support_desk/flows.py"}


def test_a_module_without_mistakes_passes_and_warnings_alone_do_not_fail() -> None:
    clean = run("check", "support_desk.replies")
    assert (clean.returncode, clean.stdout) == (0, "No mistakes found in 1 file.\n")
    flows_only = check(SAMPLE / "support_desk" / "flows.py")
    assert {f.rule for f in flows_only.warnings} == {"budget-sufficiency", "sequential-independence"}


def test_a_target_that_does_not_exist_is_a_usage_error() -> None:
    result = run("check", "no_such_module")
    assert result.returncode == 2
    assert "no such file, directory or module: no_such_module" in result.stderr


def test_the_stratum_command_lists_its_subcommands() -> None:
    result = run("--help")
    assert result.returncode == 0 and "check" in result.stdout
    unknown = run("frobnicate")
    assert unknown.returncode == 2 and "frobnicate" in unknown.stderr


def test_check_forgets_the_modules_it_imported_and_keeps_those_the_process_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.py").write_text("def plain() -> int:\n    return 1\n")
    (tmp_path / "theirs.py").write_text("def plain() -> int:\n    return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import mine  # type: ignore[import-not-found]  # the process's own module, imported before the check

    before = set(sys.modules)
    report = check(tmp_path / "mine.py", tmp_path / "theirs.py", SAMPLE / "support_desk")
    assert len(report.files) == 2 + len(list((SAMPLE / "support_desk").glob("*.py")))
    checked = (str(tmp_path), str(SAMPLE))
    left = sorted(
        name for name, module in sys.modules.items()
        if name not in before and str(getattr(module, "__file__", "") or "").startswith(checked)
    )  # fmt: skip
    assert left == []  # neither the single files nor the package's modules stay imported
    assert sys.modules["mine"] is mine  # the process keeps the module it had
    monkeypatch.delitem(sys.modules, "mine")
