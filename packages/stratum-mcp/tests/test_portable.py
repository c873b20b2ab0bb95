"""Server entries a team can share: portable by default, absolute on request, and doctor says which and why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

GIT = shutil.which("git") or "git"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths and symlinks"),
    pytest.mark.skipif(shutil.which("git") is None, reason="projects here are git repositories"),
]


def entry(project: Path) -> dict[str, Any]:
    return dict(json.loads((project / ".mcp.json").read_text())["mcpServers"]["stratum"])


def approve(project: Path) -> None:
    (project / ".claude").mkdir(exist_ok=True)
    (project / ".claude" / "settings.local.json").write_text('{\n  "enabledMcpjsonServers": [\n    "stratum"\n  ]\n}\n')


def test_setup_writes_portable_entries_with_the_project_root_taken_from_the_client(
    cli: Any, spaces: tuple[Path, Path],
) -> None:
    home, project = spaces
    done = cli(["setup", "--client", "claude", "--client", "codex", "--client", "cursor"], cwd=project, home=home)
    assert done.returncode == 0, done.stderr
    assert "note:" not in done.stdout  # `stratum-mcp` is on PATH and is this installation
    assert entry(project) == {"type": "stdio", "command": "stratum-mcp", "args": ["serve"]}
    codex = tomllib.loads((project / ".codex" / "config.toml").read_text())["mcp_servers"]["stratum"]
    assert codex == {"command": "stratum-mcp", "args": ["serve"]}
    cursor = json.loads((project / ".cursor" / "mcp.json").read_text())["mcpServers"]["stratum"]
    assert cursor["args"] == ["--project-root", "${workspaceFolder}", "serve"]
    assert str(project) not in (project / ".mcp.json").read_text() + (project / ".codex" / "config.toml").read_text()


def test_a_teammate_who_clones_the_project_gets_an_entry_that_starts(
    cli: Any, spaces: tuple[Path, Path], tmp_path: Path,
) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    git = [GIT, "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", ".mcp.json", "CLAUDE.md"], check=True, timeout=60)
    subprocess.run([*git, "commit", "-qm", "Use stratum"], check=True, timeout=60)
    teammate_home, clone = tmp_path / "teammate", tmp_path / "clone"
    teammate_home.mkdir()
    subprocess.run([GIT, "clone", "-q", str(project), str(clone)], check=True, timeout=60)
    approve(clone)
    done = cli(["doctor", "--client", "claude"], cwd=clone, home=teammate_home)
    assert "[ok  ] .mcp.json command: stratum-mcp serve: portable (found on PATH here:" in done.stdout
    assert "claude: connected-ready" in done.stdout, done.stdout


def test_an_absolute_entry_is_explained_and_flagged_once_git_tracks_it(cli: Any, spaces: tuple[Path, Path],
                                                                       server_command: str) -> None:
    home, project = spaces
    assert cli(["setup", "--absolute"], cwd=project, home=home).returncode == 0
    assert entry(project) == {"type": "stdio", "command": server_command,
                              "args": ["--project-root", str(project), "serve"]}
    approve(project)
    done = cli(["doctor"], cwd=project, home=home)
    assert "absolute, so it works on this machine only (this installation)" in done.stdout
    assert done.returncode == 0
    subprocess.run([GIT, "-C", str(project), "add", ".mcp.json"], check=True, timeout=60)
    done = cli(["doctor"], cwd=project, home=home)
    assert "git tracks .mcp.json, so whoever clones the project gets an entry that fails to connect" in done.stdout
    assert "fix: run `stratum-mcp setup` without --absolute for a portable entry" in done.stdout


def test_a_portable_entry_that_this_machine_cannot_find_fails_with_what_to_do(
    cli: Any, spaces: tuple[Path, Path],
) -> None:
    home, project = spaces
    no_venv = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                              if not (Path(p) / "stratum-mcp").exists())
    done = cli(["setup"], cwd=project, home=home, path=no_venv)
    assert "note: `stratum-mcp` is not on PATH here, so the clients will not find it" in done.stdout
    assert "`stratum-mcp setup --absolute`" in done.stdout
    done = cli(["doctor"], cwd=project, home=home, path=no_venv)
    assert done.returncode == 1
    assert "[FAIL] .mcp.json command: stratum-mcp serve: portable, but `stratum-mcp` is not on PATH here" in done.stdout


def test_a_copied_project_names_this_installation_and_only_the_old_project_root_is_flagged(
    cli: Any, spaces: tuple[Path, Path], tmp_path: Path, server_command: str,
) -> None:
    home, project = spaces
    assert cli(["setup", "--absolute"], cwd=project, home=home).returncode == 0
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True)
    approve(copy)
    # Reach this installation through a symlinked directory, as a copied or moved checkout often does.
    venv_link = tmp_path / "venv-link"
    venv_link.symlink_to(Path(server_command).parent.parent)
    config = json.loads((copy / ".mcp.json").read_text())
    config["mcpServers"]["stratum"]["command"] = str(venv_link / "bin" / "stratum-mcp")
    (copy / ".mcp.json").write_text(json.dumps(config, indent=2))
    done = cli(["doctor"], cwd=copy, home=home)
    assert "(this installation)" in done.stdout and "not this installation" not in done.stdout
    assert f"[warn] .mcp.json command: serves another project root: {project} (copied from another checkout?)" \
        in done.stdout
    assert "claude: connected-ready" in done.stdout


def test_claude_code_variables_are_expanded_the_way_claude_code_expands_them(
    cli: Any, spaces: tuple[Path, Path], server_command: str,
) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    approve(project)
    config = json.loads((project / ".mcp.json").read_text())
    config["mcpServers"]["stratum"]["command"] = "${STRATUM_MCP_BIN:-stratum-mcp}"
    (project / ".mcp.json").write_text(json.dumps(config))
    done = cli(["doctor"], cwd=project, home=home, env={"STRATUM_MCP_BIN": server_command})
    assert f"[ok  ] .mcp.json command: {server_command} serve: absolute" in done.stdout
    assert "claude: connected-ready" in done.stdout
    config["mcpServers"]["stratum"]["command"] = "${STRATUM_VENV}/bin/stratum-mcp"
    (project / ".mcp.json").write_text(json.dumps(config))
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 1
    assert "${STRATUM_VENV} is not set here, so Claude Code cannot start it" in done.stdout
