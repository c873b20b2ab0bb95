"""Bind, make the token, run uvicorn: what ``stratum reviews serve`` does.

Loopback is the default and the only place ``--no-token`` is allowed. The
token is 32 random bytes, written with mode 0600 to ``--token-file`` (then
never printed) or printed once in the inbox's URL. A port of 0 picks a free
one; the first line printed is the URL, so a script (or a test) can read it.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..exceptions import StratumUsageError
from ._guard import is_loopback

__all__ = ["ServeOptions", "serve"]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    token_file: Path | None = None
    no_token: bool = False
    max_body: int = 64 * 1024


def _write_token(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: narrow it
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    """Serve the inbox until interrupted (uvicorn handles SIGINT and SIGTERM)."""
    if options.no_token and not is_loopback(options.host):
        raise StratumUsageError(f"--no-token is allowed only on a loopback address, not {options.host}")
    if not 0 <= options.port <= 65535:
        raise StratumUsageError(f"--port must be in [0, 65535], got {options.port}")
    import uvicorn  # the inbox extra; only this command needs it

    from ._app import app

    token = None if options.no_token else secrets.token_urlsafe(32)
    if token is not None and options.token_file is not None:
        _write_token(options.token_file, token)
    sock = _bind(options.host, options.port)
    port = sock.getsockname()[1]
    shown = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{shown}:{port}/"
    if token is not None and options.token_file is None:
        url += f"?token={token}"
    print(f"stratum inbox: {url}", file=out, flush=True)
    if token is not None and options.token_file is not None:
        print(f"token written to {options.token_file} (send it as Authorization: Bearer, or open /?token=…)",
              file=out, flush=True)  # fmt: skip
    config = uvicorn.Config(
        app(token=token, max_body=options.max_body), log_level="warning", access_log=False, lifespan="off",
        limit_concurrency=100, timeout_keep_alive=5, h11_max_incomplete_event_size=32 * 1024,
    )  # fmt: skip
    server = uvicorn.Server(config)
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
    return 0
