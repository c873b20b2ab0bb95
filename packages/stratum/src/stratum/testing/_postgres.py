"""``LocalPostgres``: a throwaway PostgreSQL server on 127.0.0.1, for tests.

It runs the machine's own PostgreSQL binaries (``initdb``, ``pg_ctl``) on a
free loopback port, in a fresh temporary directory that is removed on exit,
with ``fsync`` off and password-less ``trust`` auth for the ``postgres``
role. Nothing else on the machine is touched::

    from stratum.testing import LocalPostgres

    with LocalPostgres() as pg:
        stratum.configure(durable=stratum.durable.dbos(pg.url("flows")))

The binaries are found on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin``
(where Debian's ``postgresql`` package puts them); ``LocalPostgres.find()``
returns their directory or None, for a test to skip on. PostgreSQL refuses
to run as root: as root, the server runs as the ``postgres`` user that the
package creates (``LocalPostgres(user=...)`` picks another).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["LocalPostgres"]


class LocalPostgres:
    """Start with ``with LocalPostgres() as pg:`` (or ``start()``/``stop()``); ``pg.url(db)`` names a database."""

    def __init__(self, *, bin_dir: str | os.PathLike[str] | None = None, user: str = "postgres") -> None:
        found = Path(bin_dir) if bin_dir is not None else self.find()
        if found is None:
            raise FileNotFoundError("PostgreSQL is not installed (initdb/pg_ctl not found; apt-get install postgresql)")
        self.bin_dir = found
        self.user = user
        self.port = 0
        self.base: Path | None = None

    @staticmethod
    def find() -> Path | None:
        """The directory holding ``initdb`` and ``pg_ctl``, newest version first; None if absent."""
        on_path = shutil.which("initdb")
        if on_path and shutil.which("pg_ctl"):
            return Path(on_path).parent
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
        return Path(candidates[0]).parent if candidates else None

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``database`` (DBOS creates it on first launch)."""
        if not self.port:
            raise RuntimeError("LocalPostgres is not started")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        # PostgreSQL will not run as root: then its commands run as `user` (set by the child, not a preexec hook).
        as_root = os.geteuid() == 0
        subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            check=True,
            cwd=self.base,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
            user=self.user if as_root else None,
            group=self.user if as_root else None,
            extra_groups=[] if as_root else None,
        )

    def start(self) -> LocalPostgres:
        self.base = Path(tempfile.mkdtemp(prefix="stratum-pg-"))
        try:
            if os.geteuid() == 0:
                shutil.chown(self.base, self.user, self.user)
            data = self.base / "data"
            self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            self._run("pg_ctl", "-D", str(data), "-l", str(self.base / "server.log"), "-w", "-o", options, "start")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once and remove its directory."""
        base, self.base = self.base, None
        if base is None:
            return
        if (base / "data" / "postmaster.pid").exists():
            self.base = base
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run("pg_ctl", "-D", str(base / "data"), "-m", "immediate", "-w", "stop")
            self.base = None
        shutil.rmtree(base, ignore_errors=True)
        self.port = 0

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version(path: str) -> tuple[int, ...]:
    name = Path(path).parent.parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)
