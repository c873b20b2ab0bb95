"""`stratum-mcp doctor`, and the configuration setup writes, driven as a user would: real subprocesses.

Whether each client will load the server (approval, trust) is in test_activation.py; portable and absolute
entries in test_portable.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def approve(project: Path) -> None:
    """What Claude Code writes when the user approves the project's server."""
    (project / ".claude").mkdir(exist_ok=True)
    (project / ".claude" / "settings.local.json").write_text(json.dumps({"enabledMcpjsonServers": ["stratum"]},
                                                                        indent=2) + "\n")


def trust(home: Path, project: Path) -> None:
    """What Codex writes to ~/.codex/config.toml when the user trusts the project."""
    (home / ".codex").mkdir(exist_ok=True)
    (home / ".codex" / "config.toml").write_text(f'[projects."{project}"]\ntrust_level = "trusted"\n')


def test_doctor_starts_each_configured_server_and_gets_its_tools(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    done = cli(["setup", "--client", "claude", "--client", "codex"], cwd=project, home=home)
    assert done.returncode == 0, done.stderr
    assert (home / ".claude" / "skills" / "stratum-learn" / "SKILL.md").exists()
    approve(project)
    trust(home, project)
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
    approve(project)
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 0  # warnings, not failures: the server still works and Claude Code loads it
    assert "[warn] CLAUDE.md: the execution-model block is not this version's" in done.stdout
    assert "[warn] skill stratum-test:" in done.stdout and "is missing" in done.stdout


def test_the_configured_server_runs_a_flow_that_learn_then_finds(
    cli: Any, mcp_client: Any, run_async: Any, review_spec: str, spaces: tuple[Path, Path], server_command: str,
) -> None:
    """Setup's entry, launched exactly as Claude Code would, tags its runs with the project for learn."""
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["stratum"]
    async def session() -> None:
        # The portable entry, found on PATH, in the directory Claude Code starts it in: the project.
        env = {"PATH": os.pathsep.join([str(Path(server_command).parent), os.environ.get("PATH", "")]),
               "HOME": str(home)}
        command = shutil.which(entry["command"], path=env["PATH"])
        assert command is not None
        with open(home / "server.log", "w") as log:
            async with mcp_client(command=command, args=entry["args"], env=env, cwd=project,
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


def test_crlf_files_stay_crlf_and_doctor_agrees_with_setup_that_nothing_changed(
    cli: Any, spaces: tuple[Path, Path], snapshot: Any,
) -> None:
    home, project = spaces
    originals = {
        "CLAUDE.md": b"# Notes\r\n\r\nKeep it short.\r\n",
        "AGENTS.md": b"# Agents\r\n",
        ".mcp.json": b'{\r\n  "mcpServers": {\r\n    "other": {"command": "other"}\r\n  }\r\n}\r\n',
        ".codex/config.toml": b'model = "o3"\r\n',
    }
    (project / ".codex").mkdir()
    for name, data in originals.items():
        (project / name).write_bytes(data)
    approve(project)  # an approval from an earlier setup: uninstall leaves what Claude Code wrote
    before = snapshot(project)
    assert cli(["setup", "--client", "claude", "--client", "codex"], cwd=project, home=home).returncode == 0
    for name in originals:
        data = (project / name).read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n"), name  # every line ends CRLF, ours too
    again = cli(["setup", "--client", "claude", "--client", "codex"], cwd=project, home=home)
    assert "Nothing to change" in again.stdout
    done = cli(["doctor"], cwd=project, home=home)
    assert "[ok  ] CLAUDE.md: execution-model block is current" in done.stdout
    assert "[ok  ] AGENTS.md: execution-model block is current" in done.stdout
    assert "not this version's" not in done.stdout
    assert cli(["uninstall"], cwd=project, home=home).returncode == 0
    assert snapshot(project) == before
