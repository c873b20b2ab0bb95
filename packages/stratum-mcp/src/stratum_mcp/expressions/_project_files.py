"""``file_exists`` and ``file_contains`` for ensure expressions, fenced to the project root.

Paths come from a model, so each one is resolved (symlinks included) and must
land inside the root; anything else is an evaluation error, not ``False``, so
an attempt to look outside is visible in the trace. Only regular files are
read (a FIFO or device would block or never end) and reads stop at a byte
limit.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp.errors import EvaluationError

__all__ = ["ProjectFiles"]

_CHUNK = 64 * 1024
#: Bytes read and searched for each evaluation step charged: about the time of an interpreter step each.
BYTES_PER_STEP = 1024


class ProjectFiles:
    """A read-only view of the files under ``root``.

    Example::

        files = ProjectFiles(Path.cwd())
        files.exists("pyproject.toml")
    """

    def __init__(self, root: Path, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.root = root.resolve()
        self._limits = limits

    def _resolve(self, path: str) -> Path:
        if not path or "\x00" in path or len(path) > 4096:
            raise EvaluationError("file path must be a non-empty string without NUL characters")
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise EvaluationError(f"path {path!r} is outside the project root")
        return resolved

    def exists(self, path: str) -> bool:
        """True when ``path`` names an existing file or directory inside the root."""
        return self._resolve(path).exists()

    def contains(self, path: str, text: str, *, charge: Callable[[int], None] | None = None) -> bool:
        """True when the regular file ``path`` contains ``text`` within its first ``file_read_bytes``.

        ``charge`` is told, as each chunk is read, how many evaluation steps it cost (one per
        :data:`BYTES_PER_STEP`), so an expression that reads large files over and over runs out of steps.
        """
        resolved = self._resolve(path)
        if not text:
            raise EvaluationError("file_contains needs non-empty text to look for")
        needle = text.encode("utf-8")
        try:
            # O_NONBLOCK so a FIFO planted in the tree cannot hang the open itself.
            fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise EvaluationError(f"cannot open {path!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise EvaluationError(f"{path!r} is not a regular file")
            budget, tail = self._limits.file_read_bytes, b""
            while budget > 0:
                chunk = handle.read(min(_CHUNK, budget))
                if charge is not None:  # a chunk is at most 64 KiB: well under a millisecond before it is counted
                    charge(1 + len(chunk) // BYTES_PER_STEP)
                if not chunk:
                    return False
                window = tail + chunk
                if needle in window:
                    return True
                tail = window[-(len(needle) - 1) :] if len(needle) > 1 else b""
                budget -= len(chunk)
        return False
