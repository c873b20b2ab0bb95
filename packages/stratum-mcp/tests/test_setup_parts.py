"""The parts setup is built from: marked blocks, config edits, bounded reads, the manifest."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from stratum_mcp.cli import main
from stratum_mcp.errors import ConfigUnparsable, FileUnreadable, MarkersBroken
from stratum_mcp.setup.blocks import Markers, block_body, drop_block, put_block
from stratum_mcp.setup.clients import CLIENTS, holds_nothing, read_server, with_server, without_server
from stratum_mcp.setup.files import read_text
from stratum_mcp.setup.paths import ServerLaunch

HERE = Path("CLAUDE.md")
M = Markers("test:block", "managed")
LAUNCH = ServerLaunch("/venv/bin/stratum-mcp", ("--project-root", "/p", "serve"))


@pytest.mark.parametrize("original", ["", "# Title\n", "# Title", "# Title\n\n", "a\r\nb\r\n", "a\r\nb"])
def test_a_block_put_then_dropped_gives_back_a_file_that_ends_the_same_way(original: str) -> None:
    with_block = put_block(original or None, M, "body line", HERE)
    assert block_body(with_block, M, HERE) == ("body line\r\n" if "\r\n" in original else "body line\n")
    dropped = drop_block(with_block, M, HERE)
    # Exact for files that end with a newline; the rest differ by the newline the block needed.
    assert dropped == original or dropped == original + ("\r\n" if "\r\n" in original else "\n")


def test_a_block_is_replaced_where_it_stands() -> None:
    text = put_block("top\n", M, "one", HERE) + "bottom\n"
    assert put_block(text, M, "two", HERE) == text.replace("\none\n", "\ntwo\n")


@pytest.mark.parametrize(("text", "reason"), [
    ("<!-- test:block:begin (x) -->\nno end\n", "have a begin line but no end line"),
    ("<!-- test:block:end -->\n", "have an end line but no begin line"),
    ("<!-- test:block:end -->\n<!-- test:block:begin (x) -->\n", "have the end line before the begin line"),
    ("<!-- test:block:begin -->\n<!-- test:block:end -->\n<!-- test:block:begin -->\n<!-- test:block:end -->\n",
     "appear more than once"),
])
def test_markers_that_do_not_pair_up_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(MarkersBroken) as caught:
        put_block(text, M, "body", HERE)
    assert (caught.value.reason, caught.value.marker, caught.value.path) == (reason, "test:block", HERE)


def test_json_configs_gain_and_lose_the_entry_and_keep_everything_else() -> None:
    claude = CLIENTS["claude"]
    original = '{"mcpServers": {"a": {"command": "a"}}, "x": true}'
    added = with_server(claude, HERE, original, LAUNCH)
    assert json.loads(added)["mcpServers"]["stratum"]["args"] == list(LAUNCH.args)
    assert with_server(claude, HERE, added, LAUNCH) == added
    assert json.loads(without_server(claude, HERE, added)) == json.loads(original)
    assert without_server(claude, HERE, original) == original
    assert holds_nothing(claude, without_server(claude, HERE, with_server(claude, HERE, None, LAUNCH)))
    entry = read_server(claude, HERE, added)
    assert entry is not None and (entry.command, entry.args) == (LAUNCH.command, LAUNCH.args)


@pytest.mark.parametrize("original", [
    'mcp_servers = { other = { command = "x" } }\n',
    'mcp_servers.other.command = "x"\n',
    "[mcp_servers.stratum]\ncommand = 'old'\nargs = []\n[mcp_servers.stratum.env]\nTOKEN = 'keep'\n",
])
def test_toml_configs_of_every_spelling_gain_the_table(original: str) -> None:
    codex = CLIENTS["codex"]
    added = tomllib.loads(with_server(codex, HERE, original, LAUNCH))
    assert added["mcp_servers"]["stratum"]["command"] == LAUNCH.command
    assert added["mcp_servers"]["stratum"].get("env", {"TOKEN": "keep"}) == {"TOKEN": "keep"}
    stripped = tomllib.loads(without_server(codex, HERE, with_server(codex, HERE, original, LAUNCH)))
    assert "stratum" not in stripped.get("mcp_servers", {})


def test_toml_where_mcp_servers_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConfigUnparsable) as caught:
        with_server(CLIENTS["codex"], HERE, "mcp_servers = 3\n", LAUNCH)
    assert caught.value.reason == "`mcp_servers` is not a table"


def test_reads_refuse_directories_large_files_and_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "big").write_bytes(b"x" * 2000)
    (tmp_path / "latin1").write_bytes(b"caf\xe9\n")
    for name, reason in (("dir", "not a regular file"), ("big", "2000 bytes; the limit is 1000"),
                         ("latin1", "not UTF-8 text (byte 3)")):
        with pytest.raises(FileUnreadable) as caught:
            read_text(tmp_path / name, limit=1000)
        assert caught.value.reason == reason
    assert read_text(tmp_path / "missing") is None
    (tmp_path / "crlf").write_bytes(b"a\r\nb")
    assert read_text(tmp_path / "crlf") == "a\r\nb"  # no newline translation: restores stay exact


def test_a_corrupt_manifest_stops_setup_before_anything_is_written(
    home: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / ".stratum").mkdir()
    (home / ".stratum" / "setup-manifest.json").write_text('{"format": 99}')
    assert main(["setup"]) == 1
    assert "not a setup manifest: unknown format 99" in capsys.readouterr().err
    assert not (project / ".mcp.json").exists()
