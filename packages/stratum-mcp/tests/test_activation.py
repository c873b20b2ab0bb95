"""`doctor` says whether each client will really load the server, read from settings files as the clients write them.

Claude Code keeps `stratum` pending until a settings file approves it; Codex ignores `.codex/config.toml` in a
project it does not trust. The files below are written the way the clients write them (Claude Code's
`enabledMcpjsonServers` in `.claude/settings.local.json`, its trust flag in `~/.claude.json`; Codex's
`[projects."<path>"]` table in `~/.codex/config.toml`), and `doctor --live` is checked against fake `claude` and
`codex` executables that print what the real ones printed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

GIT = shutil.which("git") or "git"

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sys.platform == "win32", reason="fake clients are scripts")]


def claude_settings(project: Path, name: str = "settings.local.json", **settings: Any) -> None:
    """A Claude Code settings file of the project, as Claude Code writes it (two-space JSON)."""
    (project / ".claude").mkdir(exist_ok=True)
    (project / ".claude" / name).write_text(json.dumps(settings, indent=2) + "\n")


def claude_trusts(home: Path, project: Path) -> None:
    """The project's entry in ~/.claude.json once the user accepted Claude Code's trust dialog."""
    (home / ".claude.json").write_text(json.dumps({"projects": {str(project): {"hasTrustDialogAccepted": True}}},
                                                  indent=2))


def codex_trust(home: Path, project: Path, level: str = "trusted") -> None:
    """What Codex writes to ~/.codex/config.toml when the user trusts (or distrusts) the project."""
    (home / ".codex").mkdir(exist_ok=True)
    (home / ".codex" / "config.toml").write_text(f'[projects."{project}"]\ntrust_level = "{level}"\n')


@pytest.fixture
def both(cli: Any, spaces: tuple[Path, Path]) -> tuple[Path, Path]:
    home, project = spaces
    done = cli(["setup", "--client", "claude", "--client", "codex"], cwd=project, home=home)
    assert done.returncode == 0, done.stderr
    return home, project


def verdicts(stdout: str) -> dict[str, str]:
    lines = [line for line in stdout.splitlines() if line.startswith(("claude: ", "codex: ", "cursor: "))]
    return dict(line.split(": ", 1) for line in lines)


def test_right_after_setup_doctor_says_claude_needs_approval_and_codex_trust_and_fails(
    cli: Any, both: tuple[Path, Path],
) -> None:
    home, project = both
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 1, done.stdout  # nothing would load the server, though it starts and answers
    assert "[ok  ] .mcp.json server: started and listed 14 tools" in done.stdout
    assert verdicts(done.stdout) == {
        "claude": f"needs approval (run `claude` in {project} and approve `stratum` when it asks, or add "
                  '"enabledMcpjsonServers": ["stratum"] to .claude/settings.local.json)',
        "codex": f"project not trusted (start `codex` in the project and trust it when asked, or set "
                 f'[projects."{project}"] trust_level = "trusted" in ~/.codex/config.toml)',
    }
    assert done.stdout.strip().endswith("not ready: no client would load the stratum server (0 problem(s), "
                                        "2 warning(s))")


def test_once_claude_approved_and_codex_trusts_the_project_doctor_is_healthy(
    cli: Any, both: tuple[Path, Path],
) -> None:
    home, project = both
    claude_settings(project, enabledMcpjsonServers=["stratum"])
    codex_trust(home, project)
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 0, done.stdout
    assert verdicts(done.stdout) == {"claude": "connected-ready", "codex": "connected-ready"}
    assert "[ok  ] Claude Code: loads it: .claude/settings.local.json approves it (enabledMcpjsonServers)" \
        in done.stdout
    assert f"[ok  ] Codex: loads it: ~/.codex/config.toml trusts {project}" in done.stdout
    assert done.stdout.strip().endswith("healthy")


def test_one_client_that_loads_the_server_is_enough_and_the_other_is_a_warning(
    cli: Any, both: tuple[Path, Path],
) -> None:
    home, project = both
    claude_settings(project, enableAllProjectMcpServers=True)  # Claude Code's "use all servers" choice
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 0
    assert verdicts(done.stdout)["claude"] == "connected-ready"
    assert verdicts(done.stdout)["codex"].startswith("project not trusted")
    assert done.stdout.strip().endswith("0 problem(s), 1 warning(s)")


def test_a_rejected_server_and_a_project_marked_untrusted_are_named_as_such(
    cli: Any, both: tuple[Path, Path],
) -> None:
    home, project = both
    claude_settings(project, enabledMcpjsonServers=["stratum"])
    claude_settings(project, "settings.json", disabledMcpjsonServers=["stratum"])  # rejection wins, from any file
    codex_trust(home, project, "untrusted")
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 1
    assert verdicts(done.stdout) == {
        "claude": 'rejected (remove "stratum" from disabledMcpjsonServers in .claude/settings.json)',
        "codex": f'project not trusted (start `codex` in the project and trust it when asked, or set '
                 f'[projects."{project}"] trust_level = "trusted" in ~/.codex/config.toml)',
    }
    assert f"~/.codex/config.toml marks {project} untrusted" in done.stdout


def test_an_untrusted_project_cannot_approve_its_server_through_its_shared_settings(
    cli: Any, spaces: tuple[Path, Path],
) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    claude_settings(project, "settings.json", enabledMcpjsonServers=["stratum"])  # committed with the project
    assert verdicts(cli(["doctor"], cwd=project, home=home).stdout)["claude"].startswith("needs approval")
    claude_trusts(home, project)
    assert verdicts(cli(["doctor"], cwd=project, home=home).stdout)["claude"] == "connected-ready"


@pytest.mark.skipif(shutil.which("git") is None, reason="git decides whether local settings count")
def test_local_settings_that_git_tracks_do_not_count_until_the_user_approves_in_their_own_settings(
    cli: Any, spaces: tuple[Path, Path],
) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    claude_settings(project, enabledMcpjsonServers=["stratum"])
    subprocess.run([GIT, "-C", str(project), "add", "-f", ".claude/settings.local.json"], check=True, timeout=60)
    done = cli(["doctor"], cwd=project, home=home)
    assert "git tracks .claude/settings.local.json" in done.stdout
    assert 'add "enabledMcpjsonServers": ["stratum"] to ~/.claude/settings.json' in verdicts(done.stdout)["claude"]
    (home / ".claude" / "settings.json").write_text(json.dumps({"enabledMcpjsonServers": ["stratum"]}))
    assert verdicts(cli(["doctor"], cwd=project, home=home).stdout)["claude"] == "connected-ready"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git for a linked worktree")
def test_codex_trust_of_the_main_checkout_covers_a_linked_worktree(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    git = [GIT, "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    (project / "README").write_text("x\n")
    subprocess.run([*git, "add", "README"], check=True, timeout=60, capture_output=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True, timeout=60, capture_output=True)
    worktree = project.parent / "feature"
    subprocess.run([*git, "worktree", "add", "-q", str(worktree)], check=True, timeout=60, capture_output=True)
    assert cli(["setup", "--client", "codex"], cwd=worktree, home=home).returncode == 0
    codex_trust(home, project)
    done = cli(["doctor"], cwd=worktree, home=home)
    assert verdicts(done.stdout) == {"codex": "connected-ready"}, done.stdout


def test_cursor_cannot_be_read_so_it_is_a_warning_that_does_not_fail(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    assert cli(["setup", "--client", "cursor"], cwd=project, home=home).returncode == 0
    done = cli(["doctor"], cwd=project, home=home)
    assert done.returncode == 0, done.stdout
    assert verdicts(done.stdout) == {"cursor": "not checked (enable `stratum` under Cursor Settings > MCP)"}


# --- doctor --live, against fakes that print what `claude mcp get stratum` and `codex mcp get stratum --json` print


def test_live_asks_the_clients_and_agrees_with_the_settings(
    cli: Any, both: tuple[Path, Path], fake_clients: Any,
) -> None:
    home, project = both
    done = cli(["doctor", "--live"], cwd=project, home=home, path=fake_clients(claude="pending", codex="missing"))
    assert "[ok  ] Claude Code (live): `claude mcp get stratum` says: ⏸ Pending approval (run `claude` to approve)" \
        in done.stdout
    assert ("[ok  ] Codex (live): `codex mcp get stratum --json` says: Error: No MCP server named 'stratum' found."
            in done.stdout)
    assert done.returncode == 1


def test_live_answers_win_where_the_clients_disagree_with_what_doctor_read(
    cli: Any, both: tuple[Path, Path], fake_clients: Any,
) -> None:
    home, project = both
    claude_settings(project, enabledMcpjsonServers=["stratum"])
    codex_trust(home, project)
    done = cli(["doctor", "--live"], cwd=project, home=home, path=fake_clients(claude="rejected", codex="enabled"))
    assert ("[warn] Claude Code (live): `claude mcp get stratum` says: ✘ Rejected (see disabledMcpjsonServers in "
            "settings), while its settings files read as 'connected-ready'") in done.stdout
    assert verdicts(done.stdout)["claude"].startswith("rejected")
    assert verdicts(done.stdout)["codex"] == "connected-ready"
    assert done.returncode == 0  # Codex loads it


def test_live_without_the_clients_on_path_says_it_did_not_ask(cli: Any, both: tuple[Path, Path],
                                                               server_command: str) -> None:
    home, project = both
    done = cli(["doctor", "--live"], cwd=project, home=home, path=str(Path(server_command).parent))
    assert "[ok  ] Claude Code (live): `claude` is not on PATH; not asked" in done.stdout
    assert "[ok  ] Codex (live): `codex` is not on PATH; not asked" in done.stdout


# --- uninstall and Claude Code's approval


def test_uninstall_mentions_the_approval_claude_code_wrote_and_purges_it_only_when_asked(
    cli: Any, spaces: tuple[Path, Path],
) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    claude_settings(project, enabledMcpjsonServers=["other", "stratum"], permissions={"allow": []})
    settings = project / ".claude" / "settings.local.json"
    kept = settings.read_text()
    done = cli(["uninstall"], cwd=project, home=home)
    assert done.returncode == 0
    assert ("note: .claude/settings.local.json still names `stratum` in enabledMcpjsonServers, as Claude Code wrote "
            "it; `stratum-mcp uninstall --purge-approvals` removes that too") in done.stdout
    assert settings.read_text() == kept  # not setup's file: left alone
    purged = cli(["uninstall", "--purge-approvals"], cwd=project, home=home)
    assert purged.returncode == 0, purged.stderr
    assert "updated .claude/settings.local.json (Claude Code's approval of the server)" in purged.stdout
    assert json.loads(settings.read_text()) == {"enabledMcpjsonServers": ["other"], "permissions": {"allow": []}}


def test_purging_the_only_approval_removes_the_file_claude_code_made_for_it(
    cli: Any, spaces: tuple[Path, Path], snapshot: Any,
) -> None:
    home, project = spaces
    before = snapshot(project)
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    claude_settings(project, enabledMcpjsonServers=["stratum"])
    assert cli(["uninstall", "--purge-approvals"], cwd=project, home=home).returncode == 0
    assert snapshot(project) == before
