"""`stratum-mcp setup` and `uninstall`: exact file shapes, merges, idempotence, refusals, byte-for-byte undo."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stratum_mcp.cli import main
from stratum_mcp.errors import FileChanged
from stratum_mcp.setup import SKILL_NAMES, apply_plan, plan_setup

pytestmark = pytest.mark.usefixtures("home")

BEGIN = "<!-- stratum:execution-model:begin"
END = "<!-- stratum:execution-model:end -->"


#: What setup writes by default: a command found on PATH, the project root from the client's working directory.
PORTABLE = {"type": "stdio", "command": "stratum-mcp", "args": ["serve"]}


def absolute_entry(project: Path, command: str) -> dict[str, object]:
    """What `setup --absolute` writes: this installation and this project, by path."""
    return {"type": "stdio", "command": command, "args": ["--project-root", str(project), "serve"]}


def manifest(home: Path) -> dict[str, object]:
    return dict(json.loads((home / ".stratum" / "setup-manifest.json").read_text()))


def digest(text: str) -> str:
    """What the setup manifest records of a file it wrote: the SHA-256 of its UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_setup_registers_the_server_in_mcp_json_at_the_project_root(project: Path) -> None:
    assert main(["setup"]) == 0
    config = json.loads((project / ".mcp.json").read_text())
    assert config == {"mcpServers": {"stratum": PORTABLE}}
    assert not (project / ".claude" / "mcp.json").exists()


def test_setup_absolute_names_this_installation_and_the_project(server_command: str, project: Path) -> None:
    assert main(["setup", "--absolute"]) == 0
    config = json.loads((project / ".mcp.json").read_text())
    assert config == {"mcpServers": {"stratum": absolute_entry(project, server_command)}}
    command = Path(config["mcpServers"]["stratum"]["command"])
    assert command.is_absolute() and os.access(command, os.X_OK)
    assert main(["setup"]) == 0  # and back: each run writes the form it is asked for
    assert json.loads((project / ".mcp.json").read_text()) == {"mcpServers": {"stratum": PORTABLE}}


def test_the_project_root_is_the_nearest_parent_with_git(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert main(["setup"]) == 0
    assert (project / ".mcp.json").exists() and not (deep / ".mcp.json").exists()


def test_without_git_the_working_directory_is_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    assert main(["setup"]) == 0
    assert (plain / ".mcp.json").exists()


def test_the_project_option_overrides_discovery_and_must_exist(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    assert main(["setup", "--project", str(other), "--absolute"]) == 0
    assert json.loads((other / ".mcp.json").read_text())["mcpServers"]["stratum"]["args"][1] == str(other.resolve())
    assert not (project / ".mcp.json").exists()
    assert main(["setup", "--project", str(tmp_path / "missing")]) == 1
    assert "no such directory" in capsys.readouterr().err


def test_setup_merges_into_an_existing_mcp_json_without_touching_other_servers(
    server_command: str, project: Path,
) -> None:
    original = {"mcpServers": {"db": {"command": "db-mcp", "args": ["--ro"], "env": {"DSN": "x"}}}, "other": [1, 2]}
    (project / ".mcp.json").write_text(json.dumps(original, indent=4) + "\n")
    assert main(["setup"]) == 0
    text = (project / ".mcp.json").read_text()
    merged = json.loads(text)
    assert merged["mcpServers"]["db"] == original["mcpServers"]["db"]
    assert merged["other"] == [1, 2]
    assert merged["mcpServers"]["stratum"] == PORTABLE
    assert '\n    "mcpServers"' in text  # the file's own four-space indentation is kept


def test_an_existing_stratum_entry_is_updated_and_keeps_its_other_settings(server_command: str, project: Path) -> None:
    stale = {"type": "stdio", "command": "/old/venv/bin/stratum-mcp", "args": [], "env": {"STRATUM_MCP_DB": "/db"}}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"stratum": stale}}))
    assert main(["setup"]) == 0
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["stratum"]
    assert entry == {**PORTABLE, "env": {"STRATUM_MCP_DB": "/db"}}


def test_setup_appends_the_execution_model_block_to_claude_md_and_keeps_the_rest(project: Path) -> None:
    original = "# Project rules\n\nUse tabs.\n"
    (project / "CLAUDE.md").write_text(original)
    assert main(["setup"]) == 0
    text = (project / "CLAUDE.md").read_text()
    assert text.startswith(original + "\n" + BEGIN)
    assert text.endswith(END + "\n")
    block = text[len(original):]
    for needle in ("MEMORY.md", "stratum_plan", "stratum_step_done", "stratum_audit", "ensure_failed",
                   "/stratum-learn"):
        assert needle in block


def test_setup_creates_claude_md_when_missing(project: Path) -> None:
    assert main(["setup"]) == 0
    text = (project / "CLAUDE.md").read_text()
    assert text.startswith(BEGIN) and text.count(BEGIN) == 1


@pytest.mark.parametrize("clients", [["claude"], ["codex"], ["cursor"], ["claude", "codex", "cursor"]])
def test_running_setup_twice_changes_nothing_and_says_so(
    snapshot: Any, project: Path, home: Path, capsys: pytest.CaptureFixture[str], clients: list[str]
) -> None:
    (project / "CLAUDE.md").write_text("# Notes\n")
    options = [arg for name in clients for arg in ("--client", name)]
    assert main(["setup", *options]) == 0
    before = {**snapshot(project), **snapshot(home)}
    mtimes = {p: p.stat().st_mtime_ns for root in (project, home) for p in root.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["setup", *options]) == 0
    assert "Nothing to change" in capsys.readouterr().out
    assert {**snapshot(project), **snapshot(home)} == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_an_outdated_block_is_replaced_in_place_not_duplicated(project: Path) -> None:
    assert main(["setup"]) == 0
    text = (project / "CLAUDE.md").read_text()
    head, tail = "# Mine\n\n", "\n## After\nkeep me\n"
    old = text.replace("## Execution model: Stratum", "## An old version of the block")
    (project / "CLAUDE.md").write_text(head + old + tail)
    assert main(["setup"]) == 0
    updated = (project / "CLAUDE.md").read_text()
    assert updated == head + text + tail
    assert updated.count(BEGIN) == 1


def test_dry_run_prints_what_it_would_write_and_writes_nothing(
    snapshot: Any, server_command: str,
    project: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would create .mcp.json" in out
    assert '"command": "stratum-mcp"' in out
    assert "would create CLAUDE.md" in out and "+## Execution model: Stratum" in out
    assert "would create ~/.claude/skills/stratum-review/SKILL.md" in out
    assert snapshot(project) == {".git": None}
    assert snapshot(home) == {}


def test_setup_installs_the_seven_skills_with_frontmatter(project: Path, home: Path) -> None:
    import yaml

    assert main(["setup"]) == 0
    for name in SKILL_NAMES:
        text = (home / ".claude" / "skills" / name / "SKILL.md").read_text()
        assert text.startswith("---\n")
        front = yaml.safe_load(text.split("---\n")[1])
        assert front["name"] == name
        assert "Use when" in front["description"] or "Use " in front["description"]
    installed = set(json.loads((home / ".stratum" / "setup-manifest.json").read_text())["skills"])
    assert installed == set(SKILL_NAMES)


def test_claude_config_dir_moves_where_skills_go(project: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    assert main(["setup"]) == 0
    assert (tmp_path / "claude-config" / "skills" / "stratum-debug" / "SKILL.md").exists()


CODEX_CONFIG = """\
# Codex settings, kept by hand
model = "o4-mini"   # fast enough

[mcp_servers.github]
command = "gh-mcp"
args = ["--stdio"]

[profiles.deep]
model = "o3"
"""


def test_codex_gets_an_mcp_servers_table_and_keeps_comments_and_other_tables(
    server_command: str, project: Path, home: Path,
) -> None:
    (project / ".codex").mkdir()
    (project / ".codex" / "config.toml").write_text(CODEX_CONFIG)
    assert main(["setup", "--client", "codex"]) == 0
    text = (project / ".codex" / "config.toml").read_text()
    data = tomllib.loads(text)
    assert data["mcp_servers"]["stratum"] == {"command": "stratum-mcp", "args": ["serve"]}
    assert data["mcp_servers"]["github"] == {"command": "gh-mcp", "args": ["--stdio"]}
    assert data["profiles"] == {"deep": {"model": "o3"}}
    for line in CODEX_CONFIG.splitlines():
        assert line in text
    assert (project / "AGENTS.md").read_text().startswith(BEGIN)
    assert not (project / ".mcp.json").exists() and not (project / "CLAUDE.md").exists()
    assert not (home / ".claude").exists()  # skills are for Claude Code


def test_cursor_gets_its_own_mcp_json(server_command: str, project: Path) -> None:
    assert main(["setup", "--client", "cursor"]) == 0
    config = json.loads((project / ".cursor" / "mcp.json").read_text())
    # Cursor expands ${workspaceFolder} to the project it has open.
    assert config == {"mcpServers": {"stratum": {"type": "stdio", "command": "stratum-mcp",
                                                 "args": ["--project-root", "${workspaceFolder}", "serve"]}}}
    assert "stratum-mcp learn" in (project / "AGENTS.md").read_text()


def test_codex_and_cursor_share_one_agents_md_block(project: Path) -> None:
    assert main(["setup", "--client", "codex", "--client", "cursor"]) == 0
    assert (project / "AGENTS.md").read_text().count(BEGIN) == 1
    assert main(["uninstall", "--client", "codex"]) == 0
    assert BEGIN in (project / "AGENTS.md").read_text()  # cursor still uses it
    assert main(["uninstall", "--client", "cursor"]) == 0
    assert not (project / "AGENTS.md").exists()


def test_uninstall_restores_every_original_file_byte_for_byte(snapshot: Any, project: Path, home: Path) -> None:
    (project / "CLAUDE.md").write_bytes(b"# Rules\r\n\r\nNo trailing newline, CRLF endings")
    (project / ".mcp.json").write_bytes(b'{"mcpServers":{"db":{"command":"db"}},  "z": 1}')
    (project / ".codex").mkdir()
    (project / ".codex" / "config.toml").write_text(CODEX_CONFIG)
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text("{}")
    project_before, home_before = snapshot(project), snapshot(home)
    assert main(["setup", "--client", "claude", "--client", "codex", "--client", "cursor"]) == 0
    assert snapshot(project) != project_before
    assert main(["uninstall"]) == 0
    assert snapshot(project) == project_before
    assert snapshot(home) == home_before


def test_uninstall_after_later_edits_removes_only_what_setup_added(project: Path, home: Path) -> None:
    assert main(["setup"]) == 0
    config = json.loads((project / ".mcp.json").read_text())
    config["mcpServers"]["db"] = {"command": "db-mcp"}
    (project / ".mcp.json").write_text(json.dumps(config, indent=2) + "\n")
    with (project / "CLAUDE.md").open("a") as handle:
        handle.write("\n## Added later\nkeep me\n")
    assert main(["uninstall"]) == 0
    assert json.loads((project / ".mcp.json").read_text()) == {"mcpServers": {"db": {"command": "db-mcp"}}}
    text = (project / "CLAUDE.md").read_text()
    assert BEGIN not in text and END not in text
    assert text == "\n## Added later\nkeep me\n"  # exactly what the user appended
    assert not (home / ".claude" / "skills").exists()
    assert not (home / ".stratum").exists()


def test_uninstall_without_a_manifest_still_removes_the_entry_and_the_block(project: Path, home: Path) -> None:
    (project / ".mcp.json").write_text('{"mcpServers": {"db": {"command": "db"}}}\n')
    assert main(["setup"]) == 0
    (home / ".stratum" / "setup-manifest.json").unlink()
    assert main(["uninstall"]) == 0
    assert json.loads((project / ".mcp.json").read_text()) == {"mcpServers": {"db": {"command": "db"}}}
    assert (project / "CLAUDE.md").read_text() == ""  # created by setup, but nothing records that any more


def test_uninstall_keeps_the_skills_while_another_project_uses_them(
    project: Path, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    assert main(["setup"]) == 0
    assert main(["setup", "--project", str(other)]) == 0
    assert main(["uninstall"]) == 0
    assert "other project(s)" in capsys.readouterr().out
    assert (home / ".claude" / "skills" / "stratum-review" / "SKILL.md").exists()
    assert main(["uninstall", "--project", str(other)]) == 0
    assert not (home / ".claude").exists() and not (home / ".stratum").exists()


def test_an_upgrade_replaces_unmodified_skills_and_removes_retired_ones(project: Path, home: Path) -> None:
    assert main(["setup"]) == 0
    skills = home / ".claude" / "skills"
    # Pretend an older release installed an older review skill and a skill it no longer ships.
    old_review = "---\nname: stratum-review\ndescription: old\n---\nold text\n"
    (skills / "stratum-review" / "SKILL.md").write_text(old_review)
    (skills / "stratum-retired").mkdir()
    (skills / "stratum-retired" / "SKILL.md").write_text("retired\n")
    data = manifest(home)
    data["skills"]["stratum-review"]["sha256"] = digest(old_review)  # type: ignore[index]
    data["skills"]["stratum-retired"] = {"path": str(skills / "stratum-retired" / "SKILL.md"),  # type: ignore[index]
                                         "sha256": digest("retired\n")}
    data["home_dirs"].append(str(skills / "stratum-retired"))  # type: ignore[attr-defined]
    (home / ".stratum" / "setup-manifest.json").write_text(json.dumps(data))

    assert main(["setup"]) == 0
    assert (skills / "stratum-review" / "SKILL.md").read_text() != old_review
    assert not (skills / "stratum-retired").exists()
    assert "stratum-retired" not in manifest(home)["skills"]  # type: ignore[operator]


def test_a_skill_changed_by_hand_is_kept_unless_forced(
    project: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup"]) == 0
    skill = home / ".claude" / "skills" / "stratum-debug" / "SKILL.md"
    shipped = skill.read_text()
    skill.write_text(shipped + "\nMy own extra rule.\n")
    (project / "CLAUDE.md").unlink()  # give setup something else to do
    capsys.readouterr()
    assert main(["setup"]) == 0
    assert "changed by hand" in capsys.readouterr().out
    assert skill.read_text().endswith("My own extra rule.\n")
    assert main(["uninstall"]) == 0
    assert skill.read_text().endswith("My own extra rule.\n")  # uninstall keeps it too
    assert main(["setup", "--force"]) == 0
    assert skill.read_text() == shipped
    assert main(["uninstall"]) == 0
    assert not skill.exists()


def test_a_users_own_skill_of_the_same_name_is_neither_overwritten_nor_removed(project: Path, home: Path) -> None:
    mine = home / ".claude" / "skills" / "stratum-test" / "SKILL.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("---\nname: stratum-test\ndescription: mine\n---\n")
    assert main(["setup"]) == 0
    assert main(["uninstall"]) == 0
    assert mine.read_text() == "---\nname: stratum-test\ndescription: mine\n---\n"


@pytest.mark.parametrize(("rel", "content", "reason"), [
    (".mcp.json", '{"mcpServers": {"db": {"command": "db"},}}', "invalid JSON at line 1"),
    (".mcp.json", '{"mcpServers": []}', "`mcpServers` is not an object"),
    (".mcp.json", '{"a": 1, "a": 2}', "duplicate key"),
    (".mcp.json", '["not", "an", "object"]', "not a JSON object"),
])
def test_an_unparsable_config_is_left_untouched_and_nothing_is_written(
    snapshot: Any, project: Path, home: Path, capsys: pytest.CaptureFixture[str], rel: str, content: str, reason: str
) -> None:
    (project / rel).write_text(content)
    assert main(["setup"]) == 1
    err = capsys.readouterr().err
    assert "nothing was changed" in err and str(project / rel) in err and reason in err
    assert (project / rel).read_text() == content
    assert not (project / "CLAUDE.md").exists()
    assert snapshot(home) == {}


def test_an_unparsable_codex_config_is_refused_with_the_toml_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".codex").mkdir()
    broken = "[mcp_servers.github\ncommand = 'x'\n"
    (project / ".codex" / "config.toml").write_text(broken)
    assert main(["setup", "--client", "codex"]) == 1
    assert "invalid TOML" in capsys.readouterr().err
    assert (project / ".codex" / "config.toml").read_text() == broken
    assert not (project / "AGENTS.md").exists()


def test_a_read_only_file_is_reported_and_nothing_is_written(
    snapshot: Any, project: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claude_md = project / "CLAUDE.md"
    claude_md.write_text("# Locked\n")
    claude_md.chmod(0o444)
    assert main(["setup"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert claude_md.read_text() == "# Locked\n"
    assert not (project / ".mcp.json").exists()
    assert snapshot(home) == {}


def test_broken_markers_are_refused_rather_than_guessed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = f"# Notes\n{BEGIN} (managed) -->\nhalf a block\n"
    (project / "CLAUDE.md").write_text(text)
    assert main(["setup"]) == 1
    assert "begin line but no end line" in capsys.readouterr().err
    assert (project / "CLAUDE.md").read_text() == text


def test_a_file_changed_after_planning_is_not_overwritten(project: Path) -> None:
    plan = plan_setup(project, ("claude",))
    (project / "CLAUDE.md").write_text("written by someone else meanwhile\n")
    with pytest.raises(FileChanged) as caught:
        apply_plan(plan)
    assert caught.value.path == project / "CLAUDE.md"
    assert (project / "CLAUDE.md").read_text() == "written by someone else meanwhile\n"
    assert not (project / ".mcp.json").exists()


def test_writes_keep_the_file_mode_leave_no_temporary_files_and_follow_symlinks(project: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "CLAUDE.md").write_text("# Shared\n")
    (project / "CLAUDE.md").symlink_to(dotfiles / "CLAUDE.md")
    (project / ".mcp.json").write_text("{}")
    (project / ".mcp.json").chmod(0o600)
    assert main(["setup"]) == 0
    assert (project / "CLAUDE.md").is_symlink()
    assert BEGIN in (dotfiles / "CLAUDE.md").read_text()
    assert stat.S_IMODE((project / ".mcp.json").stat().st_mode) == 0o600
    assert not [p for p in (*project.iterdir(), *dotfiles.iterdir()) if p.name.endswith(".tmp")]


def test_the_server_command_falls_back_to_the_interpreter_when_no_script_is_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stratum_mcp.setup import server_launch

    python = tmp_path / "bin" / "python3"
    monkeypatch.setattr(sys, "executable", str(python))
    launch = server_launch(tmp_path, absolute=True)
    assert (launch.command, launch.args) == (str(python), ("-m", "stratum_mcp", "--project-root", str(tmp_path),
                                                            "serve"))


def test_uninstall_in_a_project_never_set_up_changes_nothing(
    snapshot: Any, project: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "CLAUDE.md").write_text("# Mine\n")
    assert main(["uninstall"]) == 0
    assert "Nothing to remove" in capsys.readouterr().out
    assert snapshot(project) == {".git": None, "CLAUDE.md": b"# Mine\n"}
    assert snapshot(home) == {}


def test_uninstall_dry_run_changes_nothing(
    snapshot: Any, project: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["setup"]) == 0
    before = {**snapshot(project), **snapshot(home)}
    capsys.readouterr()
    assert main(["uninstall", "--dry-run"]) == 0
    assert "would delete .mcp.json" in capsys.readouterr().out
    assert {**snapshot(project), **snapshot(home)} == before
