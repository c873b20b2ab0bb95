"""file_exists / file_contains: only regular files under the project root, read within a bound."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stratum_mcp import Limits
from stratum_mcp.errors import EvaluationError
from stratum_mcp.expressions import ProjectFiles


@pytest.fixture
def files(tmp_path: Path) -> ProjectFiles:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("def main():\n    return 1\n")
    return ProjectFiles(tmp_path)


def test_files_under_the_root_can_be_checked(files: ProjectFiles) -> None:
    assert files.exists("src/main.py")
    assert not files.exists("src/other.py")
    assert files.contains("src/main.py", "def main")
    assert not files.contains("src/main.py", "def other")
    assert not files.contains("src/missing.py", "x")


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "src/../../x", ""])
def test_paths_outside_the_root_are_an_error_not_false(files: ProjectFiles, path: str) -> None:
    with pytest.raises(EvaluationError):
        files.exists(path)


def test_a_symlink_pointing_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("token")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(EvaluationError, match="outside the project root"):
        ProjectFiles(root).contains("link.txt", "token")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(files: ProjectFiles) -> None:
    os.mkfifo(files.root / "pipe")
    with pytest.raises(EvaluationError, match="not a regular file"):
        files.contains("pipe", "x")


def test_reading_stops_at_the_byte_limit(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"a" * 200_000 + b"NEEDLE")
    assert not ProjectFiles(tmp_path, limits=Limits(file_read_bytes=100_000)).contains("big.txt", "NEEDLE")
    assert ProjectFiles(tmp_path).contains("big.txt", "NEEDLE")


def test_text_split_across_read_chunks_is_still_found(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"x" * (64 * 1024 - 3) + b"NEEDLE")
    assert ProjectFiles(tmp_path).contains("f.txt", "NEEDLE")
