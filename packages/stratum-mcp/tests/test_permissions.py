"""Run state can hold code and secrets: ~/.stratum is 0700 and the store's files 0600, whichever command made them."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits"),
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_setup_before_the_server_ever_ran_makes_stratum_home_private(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    assert mode(home / ".stratum") == 0o700
    assert mode(home / ".stratum" / "setup-manifest.json") == 0o600  # it keeps copies of the user's files


def test_the_store_and_its_wal_and_shm_files_are_private(
    raw_server: Any, review_spec: str, tmp_path: Path, cli: Any, spaces: tuple[Path, Path],
) -> None:
    db = tmp_path / "state" / "flows.db"
    server = raw_server(db)
    server.initialize()
    first = server.call(1, "stratum_plan", spec=review_spec, flow="review", inputs={"text": "I love it."})
    server.call(2, "stratum_step_done", flow_id=first["flow_id"], step_id="classify",
                result={"label": "positive", "confidence": 0.9})
    # Looked at while the server runs: SQLite removes the -wal and -shm files when the last connection closes.
    assert mode(db.parent) == 0o700
    assert {p.name: mode(p) for p in db.parent.iterdir()} == {
        "flows.db": 0o600, "flows.db-wal": 0o600, "flows.db-shm": 0o600}
    # The store a command opens (here `flows`) is created the same way.
    home, project = spaces
    listed = cli(["--db", str(tmp_path / "other" / "flows.db"), "flows"], cwd=project, home=home)
    assert listed.returncode == 0, listed.stderr
    assert mode(tmp_path / "other") == 0o700 and mode(tmp_path / "other" / "flows.db") == 0o600


def test_a_stratum_home_an_older_version_left_open_is_made_private(cli: Any, spaces: tuple[Path, Path]) -> None:
    home, project = spaces
    (home / ".stratum").mkdir(mode=0o755)
    (home / ".stratum").chmod(0o755)
    assert cli(["setup"], cwd=project, home=home).returncode == 0
    assert mode(home / ".stratum") == 0o700
