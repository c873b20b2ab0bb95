"""Every request passes here first: the token, the Host, the body's size, the CSRF cookie, the headers.

* **Token.** With a token, a request carries it as ``Authorization: Bearer``,
  as the cookie a first visit to ``/?token=...`` sets (then redirected to the
  same page without it, so it stays out of history and logs), or is refused
  with 401. Compared in constant time.
* **Host.** Without a token (``--no-token``, loopback only) the ``Host``
  header must name the loopback: a page on another site cannot reach the
  inbox by pointing its own domain at 127.0.0.1 (DNS rebinding).
* **Size.** A declared body over the limit is refused with 413 before it is
  read; ``read_body`` stops a body without a declared length at the limit.
* **CSRF.** A random cookie (``SameSite=Strict``, ``HttpOnly``) is set on
  first sight; a form posts it back and ``csrf_ok`` compares the two, and any
  ``Origin`` header must be this server's. JSON endpoints take only
  ``application/json`` (which another site's page cannot send without a
  preflight the inbox never grants).
* **Headers.** A strict Content-Security-Policy (no script, styles from
  ``/static`` only), no framing, no referrer to other sites, no caching.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["CSRF_COOKIE", "BodyTooLarge", "Guard", "csrf_ok", "is_loopback", "read_body", "token_cookie"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def token_cookie(token: str) -> str:
    """The token cookie's name: one per token, since cookies ignore ports and two inboxes may share a host."""
    return "stratum_inbox_" + hashlib.sha256(token.encode()).hexdigest()[:12]


CSRF_COOKIE = "stratum_inbox_csrf"
_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
     b"base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # "no-referrer" would make a form post Origin: null
    (b"cache-control", b"no-store"),
]  # fmt: skip


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, or ``BodyTooLarge`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is no cookie
        return {}
    return {k: m.value for k, m in jar.items()}


def csrf_ok(scope: Scope, posted: str | None) -> bool:
    """Whether a form's ``csrf`` field matches this browser's cookie (and any Origin is ours)."""
    headers = _headers(scope)
    origin = headers.get("origin")
    # The host, not the scheme: behind a TLS proxy the page is https and this server sees http.
    ours = {headers.get("host"), headers.get("x-forwarded-host")} - {None}
    if origin is not None and urlsplit(origin).netloc not in ours:
        return False
    cookie = _cookies(headers).get(CSRF_COOKIE)
    return bool(cookie and posted and hmac.compare_digest(cookie.encode(), posted.encode()))


@dataclass(frozen=True, slots=True)
class Guard:
    """The ASGI middleware in front of the inbox."""

    app: App
    token: str | None
    max_body: int = 64 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here: returning without accepting refuses the connection
        headers = _headers(scope)
        cookies = _cookies(headers)
        api = scope.get("path", "").startswith("/api/")
        if self.token is None:
            if not is_loopback(_hostname(headers.get("host", ""))):
                await _plain(send, 421, "this inbox answers only to a loopback Host (it runs without a token)")
                return
        else:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            offered = query.get("token")
            if offered is not None and scope.get("method") == "GET" and _same(offered, self.token):
                rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
                location = scope.get("path", "/") + (f"?{rest}" if rest else "")
                cookie = f"{token_cookie(self.token)}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                moved = [(b"location", location.encode()), (b"set-cookie", cookie.encode())]
                await _plain(send, 303, "signed in", moved)
                return
            bearer = headers.get("authorization", "")
            given = bearer[7:] if bearer.lower().startswith("bearer ") else cookies.get(token_cookie(self.token))
            if given is None or not _same(given, self.token):
                why = (
                    "a token is required: Authorization: Bearer TOKEN"
                    if api
                    else ("a token is required: open the inbox URL printed by `stratum reviews serve` (…/?token=…)")
                )
                await _plain(send, 401, why, [(b"www-authenticate", b'Bearer realm="stratum-inbox"')])
                return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _plain(send, 413, f"request body over {self.max_body} bytes")
            return
        extra = list(_HEADERS)
        csrf = cookies.get(CSRF_COOKIE)
        if not csrf:
            csrf = secrets.token_urlsafe(24)
            extra.append((b"set-cookie", f"{CSRF_COOKIE}={csrf}; Path=/; HttpOnly; SameSite=Strict".encode()))
        scope.setdefault("state", {})["csrf"] = csrf

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _hostname(host: str) -> str:
    """``127.0.0.1`` of ``127.0.0.1:8765``, ``::1`` of ``[::1]:8765``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0]


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                    *_HEADERS, *(headers or [])],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
