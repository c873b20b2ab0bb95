"""The files setup and learn touch: bounded reads, atomic writes, and the change plan they share.

Everything setup, uninstall and learn write goes through :func:`apply_changes`:
each change carries the exact text it was planned from, every target is
checked (still the same text, writable) before the first byte is written,
and each file is written to a temporary file beside it and renamed over the
original, so a crash or a full disk never leaves a half-written config.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stratum_mcp.errors import FileChanged, FileReadOnly, FileUnreadable, WriteFailed

__all__ = ["MAX_FILE_BYTES", "Action", "FileChange", "apply_changes", "ensure_writable", "line_ending",
           "private_dir", "read_text", "remove_empty_dirs", "render_change", "with_line_ending"]

#: Config files, CLAUDE.md and MEMORY.md are small; anything bigger is not what we think it is.
MAX_FILE_BYTES = 1024 * 1024

Action = Literal["create", "update", "delete", "unchanged"]


def private_dir(path: Path, *, tighten: bool = False) -> None:
    """Create ``path`` (and missing parents) so that only its owner can enter it (0700).

    An existing directory is left as it is, unless ``tighten``: then one that
    others may enter, and that belongs to this user, loses those permissions
    (stratum's own ``~/.stratum``, which older versions created 0755).
    Best effort on systems without POSIX modes.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not tighten or os.name == "nt":
        return
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)


@dataclass(frozen=True)
class FileChange:
    """One file as it is (``before``) and as it should be (``after``); ``None`` means absent.

    A ``private`` file is created 0600 in a 0700 directory (it records what setup
    saw in the user's files); an existing file keeps its permissions either way.
    """

    path: Path
    before: str | None
    after: str | None
    what: str
    private: bool = False

    @property
    def action(self) -> Action:
        if self.before == self.after:
            return "unchanged"
        if self.before is None:
            return "create"
        return "delete" if self.after is None else "update"


def read_text(path: Path, *, limit: int = MAX_FILE_BYTES) -> str | None:
    """The file's text exactly as stored (no newline translation), or ``None`` when it does not exist.

    Raises :class:`FileUnreadable` for directories, devices, files over ``limit``
    bytes and text that is not UTF-8: setup never guesses at such a file.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileUnreadable(path, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise FileUnreadable(path, "not a regular file")
    if info.st_size > limit:
        raise FileUnreadable(path, f"{info.st_size} bytes; the limit is {limit}")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise FileUnreadable(path, exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise FileUnreadable(path, f"more than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileUnreadable(path, f"not UTF-8 text (byte {exc.start})") from None


def line_ending(text: str | None) -> str:
    """The file's own line ending: ``\\r\\n`` if it has any, else ``\\n`` (also for a new file)."""
    return "\r\n" if text and "\r\n" in text else "\n"


def with_line_ending(text: str, ending: str) -> str:
    """``text`` with every line ending made ``ending``, so an edit keeps a CRLF file CRLF."""
    unified = text.replace("\r\n", "\n")
    return unified if ending == "\n" else unified.replace("\n", ending)


def ensure_writable(path: Path) -> None:
    """Raise :class:`FileReadOnly` if ``path`` exists and is read-only.

    The owner's write bit is checked as well as ``os.access``: renaming over a
    file ignores its permissions, and for root ``os.access`` is always true, yet
    a file someone made read-only should stay as it is.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FileUnreadable(path, exc.strerror or str(exc)) from None
    if not info.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise FileReadOnly(path)


def _target(path: Path) -> Path:
    # A config kept in a dotfiles repository and linked in stays a link: write through it.
    return path.resolve() if path.is_symlink() else path


def _write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    target = _target(path)
    try:
        if private:
            private_dir(target.parent, tighten=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        # 0o666 through the umask, as a new file made by an editor would get; 0o600 for a private one.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    except OSError as exc:
        raise WriteFailed(path, exc.strerror or str(exc)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise WriteFailed(path, exc.strerror or str(exc)) from None


def _delete(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise WriteFailed(path, exc.strerror or str(exc)) from None


def apply_changes(changes: Sequence[FileChange]) -> list[FileChange]:
    """Write every change that changes something; return those.

    First every target is checked: it must still hold exactly ``before``
    (:class:`FileChanged` otherwise) and be writable (:class:`FileReadOnly`).
    Only then is anything written, one atomic replace per file.
    """
    pending = [c for c in changes if c.action != "unchanged"]
    for change in pending:
        if read_text(change.path) != change.before:
            raise FileChanged(change.path)
        ensure_writable(change.path)
    for change in pending:
        if change.after is None:
            _delete(change.path)
        else:
            _write_atomic(change.path, change.after, private=change.private)
    return pending


def remove_empty_dirs(dirs: Iterable[Path]) -> list[Path]:
    """Remove each directory that is now empty, deepest first; return the ones removed."""
    removed = []
    for directory in sorted(set(dirs), key=lambda d: len(d.parts), reverse=True):
        try:
            directory.rmdir()
        except OSError:
            continue  # not empty, or already gone: either way it is not ours to remove
        removed.append(directory)
    return removed


def render_change(change: FileChange, *, full: bool = True) -> str:
    """A unified diff of the change (or one summary line when ``full`` is false)."""
    head = f"{change.action} {change.path} ({change.what})"
    if not full or change.action == "unchanged":
        return head
    before = (change.before or "").splitlines(keepends=True)
    after = (change.after or "").splitlines(keepends=True)
    diff = difflib.unified_diff(before, after, fromfile=f"a/{change.path.name}", tofile=f"b/{change.path.name}")
    body = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)
    return f"{head}\n{body}".rstrip("\n")
