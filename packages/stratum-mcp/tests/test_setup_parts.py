"""The parts setup is built from, seen through the plans it makes: marked blocks, config edits, bounded reads."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from stratum_mcp.cli import main
from stratum_mcp.errors import ConfigUnparsable, FileUnreadable, MarkersBroken, SetupError
from stratum_mcp.setup import apply_plan, plan_setup, plan_uninstall, server_launch

pytestmark = pytest.mark.usefixtures("home")

BEGIN = "<!-- stratum:execution-model:begin"
END = "<!-- stratum:execution-model:end -->"
MARKER = "stratum:execution-model"


def text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # no newline translation: CRLF files must stay CRLF


def setup_then_forget(project: Path, home: Path, clients: tuple[str, ...] = ("claude",)) -> None:
    """Set up, then lose the manifest: uninstall must then find and strip setup's parts by itself."""
    apply_plan(plan_setup(project, clients))
    (home / ".stratum" / "setup-manifest.json").unlink()


def only_problem(project: Path, clients: tuple[str, ...] = ("claude",)) -> SetupError:
    plan = plan_setup(project, clients)
    assert len(plan.problems) == 1 and not plan.changes
    return plan.problems[0]


@pytest.mark.parametrize("original", ["", "# Title\n", "# Title", "# Title\n\n", "a\r\nb\r\n", "a\r\nb"])
def test_a_block_put_then_dropped_gives_back_a_file_that_ends_the_same_way(
    project: Path, home: Path, original: str
) -> None:
    claude_md = project / "CLAUDE.md"
    if original:
        claude_md.write_bytes(original.encode())
    setup_then_forget(project, home)
    with_block = text_of(claude_md)
    newline = "\r\n" if "\r\n" in original else "\n"
    assert with_block.startswith(original) and with_block.endswith(END + newline)
    assert ("\r\n" in with_block) == ("\r\n" in original)
    apply_plan(plan_uninstall(project))
    dropped = text_of(claude_md)
    # Exact for files that end with a newline; the rest differ by the newline the block needed.
    assert dropped in (original, original + newline)


@pytest.mark.parametrize(("text", "reason"), [
    (f"{BEGIN} (x) -->\nno end\n", "have a begin line but no end line"),
    (f"{END}\n", "have an end line but no begin line"),
    (f"{END}\n{BEGIN} (x) -->\n", "have the end line before the begin line"),
    (f"{BEGIN} -->\n{END}\n{BEGIN} -->\n{END}\n", "appear more than once"),
])
def test_markers_that_do_not_pair_up_are_refused_with_the_reason(project: Path, text: str, reason: str) -> None:
    (project / "CLAUDE.md").write_text(text)
    problem = only_problem(project)
    assert isinstance(problem, MarkersBroken)
    assert (problem.reason, problem.marker, problem.path) == (reason, MARKER, project / "CLAUDE.md")


def test_json_configs_gain_and_lose_the_entry_and_keep_everything_else(project: Path, home: Path) -> None:
    original = '{"mcpServers": {"a": {"command": "a"}}, "x": true}'
    (project / ".mcp.json").write_text(original)
    setup_then_forget(project, home)
    added = json.loads((project / ".mcp.json").read_text())
    launch = server_launch(project)
    assert added["mcpServers"]["stratum"]["command"] == launch.command
    assert added["mcpServers"]["stratum"]["args"] == list(launch.args)
    assert (added["mcpServers"]["a"], added["x"]) == ({"command": "a"}, True)
    again = plan_setup(project, ("claude",))
    assert project / ".mcp.json" not in {change.path for change in again.pending}
    apply_plan(plan_uninstall(project))
    assert json.loads((project / ".mcp.json").read_text()) == json.loads(original)


@pytest.mark.parametrize("original", [
    'mcp_servers = { other = { command = "x" } }\n',
    'mcp_servers.other.command = "x"\n',
    "[mcp_servers.stratum]\ncommand = 'old'\nargs = []\n[mcp_servers.stratum.env]\nTOKEN = 'keep'\n",
])
def test_toml_configs_of_every_spelling_gain_the_table(project: Path, home: Path, original: str) -> None:
    config = project / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(original)
    setup_then_forget(project, home, ("codex",))
    added = tomllib.loads(config.read_text())
    assert added["mcp_servers"]["stratum"]["command"] == server_launch(project).command
    assert added["mcp_servers"]["stratum"].get("env", {"TOKEN": "keep"}) == {"TOKEN": "keep"}
    apply_plan(plan_uninstall(project))
    assert "stratum" not in tomllib.loads(config.read_text()).get("mcp_servers", {})


def test_toml_where_mcp_servers_is_not_a_table_is_refused(project: Path) -> None:
    (project / ".codex").mkdir()
    (project / ".codex" / "config.toml").write_text("mcp_servers = 3\n")
    problem = only_problem(project, ("codex",))
    assert isinstance(problem, ConfigUnparsable)
    assert problem.reason == "`mcp_servers` is not a table"


@pytest.mark.parametrize(("make", "reason"), [
    (lambda path: path.mkdir(), "not a regular file"),
    (lambda path: path.write_bytes(b"x" * (1024 * 1024 + 1)), "1048577 bytes; the limit is 1048576"),
    (lambda path: path.write_bytes(b"caf\xe9\n"), "not UTF-8 text (byte 3)"),
])
def test_reads_refuse_directories_large_files_and_non_utf8(project: Path, make: object, reason: str) -> None:
    make(project / "CLAUDE.md")  # type: ignore[operator]
    problem = only_problem(project)
    assert isinstance(problem, FileUnreadable)
    assert (problem.path, problem.reason) == (project / "CLAUDE.md", reason)


def test_a_corrupt_manifest_stops_setup_before_anything_is_written(
    home: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / ".stratum").mkdir()
    (home / ".stratum" / "setup-manifest.json").write_text('{"format": 99}')
    assert main(["setup"]) == 1
    assert "not a setup manifest: unknown format 99" in capsys.readouterr().err
    assert not (project / ".mcp.json").exists()
