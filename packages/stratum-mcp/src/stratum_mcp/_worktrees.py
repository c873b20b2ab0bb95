"""The git worktrees of parallel tasks (``isolation: worktree``): created, kept and removed by the server.

Every worktree of a run lives under ``<root>/<flow_id>/`` (``root`` is the
server's own directory, next to its store) on a branch of its own,
``stratum/<flow_id>/<task key>``, made from the project's ``HEAD``. The engine
decides which worktrees a run needs (those of its running tasks); after each
saved change the service calls :meth:`Worktrees.reconcile`, which makes the
disk match: missing worktrees are created, the others removed. Because it
only compares the saved state with the disk, a server killed at any moment
leaves nothing that the next call does not put right.

Removing a worktree keeps its branch: a finished task's commits are its
result, for a later step to merge. When the run ends, the task branches are
deleted the safe way (``git branch -d``): those merged (or never committed
to) go, a branch with unmerged work stays and is listed in the audit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from stratum_mcp.errors import WorktreeError, WorktreesUnavailable

__all__ = ["Worktrees"]

_GIT_SECONDS = 60


class Worktrees:
    """Task worktrees of one project, under ``root``."""

    def __init__(self, root: Path, project: Path) -> None:
        self.root = root
        self.project = project

    def check(self) -> None:
        """:class:`WorktreesUnavailable` unless git can make worktrees of the project."""
        if shutil.which("git") is None:
            raise WorktreesUnavailable("git is not on PATH")
        try:
            done = self._git("rev-parse", "--is-inside-work-tree", check=False)
        except OSError as exc:
            raise WorktreesUnavailable(f"git cannot be run: {exc.strerror or exc}") from None
        if done.returncode != 0 or done.stdout.strip() != "true":
            raise WorktreesUnavailable(f"{self.project} is not inside a git work tree")
        if self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode != 0:
            raise WorktreesUnavailable(f"the repository at {self.project} has no commit to branch from")

    def reconcile(self, flow_id: str, wanted: Mapping[str, str], *, ended: bool) -> None:
        """Make the worktrees of ``flow_id`` on disk exactly ``wanted`` (path -> branch)."""
        base = self.root / flow_id
        if not wanted and not base.exists():
            return  # a run that never had worktrees (or whose clean-up is done): no git call at all
        for path, branch in wanted.items():
            self._ensure(base, Path(path), branch)
        if base.is_dir():
            for entry in sorted(base.iterdir()):
                if str(entry) not in wanted:
                    self._remove(entry)
        if ended:
            # Branches first: the directory is what says the clean-up is still to do.
            self._delete_branches(flow_id)
            if base.is_dir() and not any(base.iterdir()):
                base.rmdir()

    def _ensure(self, base: Path, path: Path, branch: str) -> None:
        if path.parent != base or not path.name or path.name.startswith("."):
            raise WorktreeError(path, f"is not a task worktree under {base}")
        if (path / ".git").exists():
            return
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists():
            shutil.rmtree(path)  # a half-made directory from an interrupted `git worktree add`
            self._git("worktree", "prune", check=False)
        exists = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0
        command = ("worktree", "add", str(path), branch) if exists else ("worktree", "add", "-b", branch, str(path),
                                                                         "HEAD")
        done = self._git(*command, check=False)
        if done.returncode != 0:
            raise WorktreeError(path, f"git worktree add failed: {done.stderr.strip()[:500]}")

    def _remove(self, path: Path) -> None:
        done = self._git("worktree", "remove", "--force", str(path), check=False)
        if done.returncode != 0 and path.exists():
            shutil.rmtree(path, ignore_errors=True)
        self._git("worktree", "prune", check=False)

    def _delete_branches(self, flow_id: str) -> None:
        listed = self._git("for-each-ref", "--format=%(refname:short)", f"refs/heads/stratum/{flow_id}/", check=False)
        for branch in listed.stdout.split():
            self._git("branch", "-d", branch, check=False)  # refuses, and keeps, a branch with unmerged work

    def _git(self, *args: str, check: bool) -> subprocess.CompletedProcess[str]:
        git = shutil.which("git")
        if git is None:
            raise WorktreeError(self.project, "git is not on PATH")
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            return subprocess.run(  # noqa: S603 - a fixed git command line; paths are arguments, never parsed
                [git, "-C", str(self.project), *args], capture_output=True, text=True, timeout=_GIT_SECONDS,
                check=check, env=env,
            )
        except subprocess.TimeoutExpired:
            raise WorktreeError(self.project, f"git {args[0]} took longer than {_GIT_SECONDS} s") from None
