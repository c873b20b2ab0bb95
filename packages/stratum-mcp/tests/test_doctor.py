"""`stratum-mcp doctor`, and the configuration setup writes, driven as a user would: real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(server_command: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(ARGS, cwd=..., home=...)``: `stratum-mcp ARGS` in ``cwd`` with a temporary HOME, as a user would run it."""

    def run(args: list[str], *, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "SYSTEMROOT", "TMPDIR")}
        env["HOME"] = str(home)
        return subprocess.run([server_command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                              check=False)

    return run


@pytest.fixture
def spaces(tmp_path: Path) -> tuple[Path, Path]:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    (project / ".git").mkdir(parents=True)
    return home, project.resolve()


def test_doctor_starts_each_configured_server_and_gets_its_tools(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    done = cli(["setup", "--client", "claude", "--client", "codex"], cwd=project, home=home)
    assert done.returncode == 0, done.stderr
    assert (home / ".claude" / "skills" / "stratum-learn" / "SKILL.md").exists()
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ok  ] .mcp.json server: started and listed 14 tools" in done.stdout
    assert "[ok  ] .codex/config.toml server: started and listed 14 tools" in done.stdout
    assert "[ok  ] skills: all 7 installed and current" in done.stdout
    assert done.stdout.strip().endswith("healthy")


def test_doctor_fails_when_the_configured_command_is_gone(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    config = json.loads((project / ".mcp.json").read_text())
    config["mcpServers"]["stratum"]["command"] = str(project / "old-venv" / "bin" / "stratum-mcp")
    (project / ".mcp.json").write_text(json.dumps(config))
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 1
    assert "[FAIL] .mcp.json command:" in done.stdout and "does not exist" in done.stdout
    assert "fix: run `stratum-mcp setup` again" in done.stdout


def test_doctor_fails_when_the_command_does_not_speak_mcp(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    config = json.loads((project / ".mcp.json").read_text())
    config["mcpServers"]["stratum"].update(command=sys.executable,
                                           args=["-c", "import sys; print('boom', file=sys.stderr)"])
    (project / ".mcp.json").write_text(json.dumps(config))
    done = cli(["doctor", "--timeout", "10"], cwd=project, home=home)
    assert done.returncode == 1
    assert "[FAIL] .mcp.json server: did not answer tools/list" in done.stdout
    assert "boom" in done.stdout  # the server's own stderr is shown


def test_doctor_without_any_configuration_says_to_run_setup(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 1
    assert "no client config in this project has the stratum server" in done.stdout


def test_doctor_reports_a_broken_config_rather_than_ignoring_it(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    (project / ".mcp.json").write_text('{"mcpServers": ')
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 1
    assert "[FAIL] .mcp.json:" in done.stdout and "invalid JSON" in done.stdout


def test_doctor_warns_about_an_outdated_block_and_missing_skills(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    claude_md = project / "CLAUDE.md"
    claude_md.write_text(claude_md.read_text().replace("## Execution model: Stratum", "## Old"))
    (home / ".claude" / "skills" / "stratum-test" / "SKILL.md").unlink()
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 0  # warnings, not failures: the server still works
    assert "[warn] CLAUDE.md: the execution-model block is not this version's" in done.stdout
    assert "[warn] skill stratum-test:" in done.stdout and "is missing" in done.stdout


def test_the_configured_server_runs_a_flow_that_learn_then_finds(
    cli: Any, mcp_client: Any, run_async: Any, review_spec: str, spaces: tuple[Path, Path],
) -> None:
    """Setup's entry, launched exactly as Claude Code would, tags its runs with the project for learn."""
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["stratum"]
    async def session() -> None:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
        # Claude Code may start it anywhere; --project-root in the entry is what counts.
        with open(home / "server.log", "w") as log:
            async with mcp_client(command=entry["command"], args=entry["args"], env=env, cwd=home,
                                  errlog=log) as client:
                for _ in range(2):
                    first: dict[str, Any] = await client.call("stratum_plan", spec=review_spec, flow="review",
                                                              inputs={"text": "I love it."})
                    for result in ({"label": "positive", "confidence": 0.5},
                                   {"label": "positive", "confidence": 0.95}):
                        await client.call("stratum_step_done", flow_id=first["flow_id"], step_id="classify",
                                          result=result)

    run_async(session)
    done = cli(["learn", "--no-transcripts"], cwd=project, home=home)
    assert done.returncode == 0, done.stderr
    assert "`result.confidence > 0.7` in `classify` was false twice in 2 runs" in (project / "MEMORY.md").read_text()


def test_setup_then_uninstall_from_the_command_line_leaves_no_trace(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    (project / ".codex").mkdir()
    (project / ".codex" / "config.toml").write_text('model = "o3"\n')
    assert cli(["setup", "--client", "codex"], cwd=project, home=home).returncode == 0
    assert tomllib.loads((project / ".codex" / "config.toml").read_text())["mcp_servers"]["stratum"]["args"][-1] == \
        "serve"
    again = cli(["setup", "--client", "codex"], cwd=project, home=home)
    assert "Nothing to change" in again.stdout
    assert cli(["uninstall"], cwd=project, home=home).returncode == 0
    assert (project / ".codex" / "config.toml").read_text() == 'model = "o3"\n'
    assert sorted(p.name for p in project.iterdir()) == [".codex", ".git"]
    assert list(home.iterdir()) == []
