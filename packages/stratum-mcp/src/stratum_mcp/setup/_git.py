"""Asking git whether it tracks a file, the way Claude Code asks it (bounded, no hooks, no fsmonitor)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Literal

__all__ = ["Tracked", "git_tracks"]

Tracked = Literal["tracked", "untracked", "no_repository", "no_git"]


def git_tracks(root: Path, rel: str) -> Tracked:
    """Whether git tracks ``rel`` in ``root``: ``no_repository`` when git says it is not a repository (or fails)."""
    git = shutil.which("git")
    if git is None:
        return "no_git"
    try:
        done = subprocess.run(  # noqa: S603 - git, found on PATH, with fixed arguments
            [git, "-c", "core.hooksPath=" + os.devnull, "-c", "core.fsmonitor=", "-C", str(root),
             "ls-files", "--error-unmatch", "--", rel],
            capture_output=True, timeout=5, check=False, env={**os.environ, "GIT_LITERAL_PATHSPECS": "1"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return "no_repository"
    if done.returncode == 0:
        return "tracked"
    return "untracked" if done.returncode == 1 else "no_repository"
