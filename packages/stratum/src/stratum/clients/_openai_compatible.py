"""``OpenAICompatible``: Stratum's own client for OpenAI-compatible chat-completions endpoints.

OpenAI, Azure's ``/openai/v1`` bases, OpenRouter, Groq, Together, vLLM, the
llama.cpp server, Ollama's OpenAI API, a LiteLLM proxy: anything that answers
``POST {base_url}/chat/completions``. The request path is short on purpose:
one JSON encoding, one write on a kept-alive connection (``stratum.clients._http``),
one JSON decoding. Same semantics as the LiteLLM client:

- ``response_format`` is sent as the runtime built it (strict ``json_schema``,
  or ``json_object`` when the model is known to lack schema support);
- usage and cost: prices from ``models=`` first, else LiteLLM's price map
  (``stratum.clients._prices``, loaded once in a worker thread); unknown -> None;
- 408, 409, 429, 5xx, dropped connections and timeouts are ``TransientError``
  (with the server's ``Retry-After``), retried by the runtime's policy;
  another error status is a ``ProviderError`` at once;
- a reply without a usable completion is a ``MalformedResponse``, retried first;
- cancelling the caller closes the HTTP request (its connection is aborted).

``configure(client=OpenAICompatible(...))`` selects it; so does a model named
``openai-compatible/<model>`` when no client is configured (the endpoint then
comes from ``STRATUM_OPENAI_COMPATIBLE_BASE_URL`` and, if it needs one,
``STRATUM_OPENAI_COMPATIBLE_API_KEY``). The prefix is never sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from .._json import canonical_json
from .._retry import retry_after
from .._version import __version__
from ..exceptions import MalformedResponse, ProviderError, StratumConfigError
from . import _prices
from ._http import ConnectionClosed, HttpxPool, Pool, ProtocolError, Reply
from ._identity import kept_settings, left_out
from ._protocol import BaseClient, CompletionRequest, CompletionResponse, ModelInfo, TransientError

__all__ = ["API_KEY_ENV", "BASE_URL_ENV", "PREFIX", "OpenAICompatible", "drop", "from_environment"]

PREFIX = "openai-compatible/"
BASE_URL_ENV = "STRATUM_OPENAI_COMPATIBLE_BASE_URL"
API_KEY_ENV = "STRATUM_OPENAI_COMPATIBLE_API_KEY"

#: Statuses worth another try besides 5xx (the OpenAI SDK's choice): timeout, conflict, rate limit.
_RETRIED = frozenset({408, 409, 429})
#: Idle connections are dropped after this long: under the 5 s keep-alive of uvicorn (vLLM), the shortest common one.
_KEEPALIVE_S = 4.0


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    raise TypeError(f"a {type(value).__name__} cannot be sent as JSON")


# One encoder for every request: json.dumps(..., separators=...) would build a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default).encode
_encode_ascii = json.JSONEncoder(separators=(",", ":"), default=_default).encode


class OpenAICompatible(BaseClient):
    """Chat completions over HTTP to one OpenAI-compatible endpoint, on one pool of kept-alive connections.

    ``base_url`` defaults to ``$OPENAI_BASE_URL``, else OpenAI's; ``api_key``
    to ``$OPENAI_API_KEY`` (sent as a bearer token; None sends none, as local
    servers want). ``max_connections`` bounds the connections (so the
    requests in flight); later requests wait their turn. ``timeout`` is the
    most one request may take, connecting included (None: no limit but the
    call's budget). ``headers`` go with every request (``{"api-key": ...}``
    for Azure); ``extra_body`` too, merged into every request body (sampling
    defaults such as ``{"seed": 7}``; they are part of the cache identity).
    ``models`` maps model names to what the endpoint's models are
    (``ModelInfo``: prices, output limit, schema support); otherwise
    LiteLLM's price map is asked, and a model it does not know is unpriced
    and gets strict ``json_schema`` output. ``http2=True`` (or a proxy in the
    environment for this host) sends through ``httpx`` instead, which
    negotiates HTTP/2 where the server offers it.

    Bound to one event loop at a time; ``await client.aclose()`` (or ``async
    with``) closes its connections.

    >>> client = OpenAICompatible("http://127.0.0.1:8000/v1", max_connections=64)
    >>> client
    OpenAICompatible('http://127.0.0.1:8000/v1')
    >>> # stratum.configure(client=client, default_model="meta-llama/Llama-3.1-8B-Instruct")
    """

    __module__ = "stratum.clients"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        max_connections: int = 1000,
        timeout: float | None = 600.0,
        headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        models: Mapping[str, ModelInfo] | None = None,
        http2: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise StratumConfigError(f"OpenAICompatible: max_connections must be an int >= 1, got {max_connections!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise StratumConfigError(f"OpenAICompatible: timeout must be seconds > 0 or None, got {timeout!r}")
        if models is not None and not all(isinstance(m, ModelInfo) for m in models.values()):
            raise StratumConfigError("OpenAICompatible: models must map model names to stratum.clients.ModelInfo")
        self._base_url = base_url
        self._url = urllib.parse.urlsplit(base_url)
        if self._url.scheme not in ("http", "https") or not self._url.hostname:
            raise StratumConfigError(f"OpenAICompatible: base_url must be an http(s) URL, got {base_url!r}")
        self._max_connections = max_connections
        self._timeout = None if timeout is None else float(timeout)
        self._extra = dict(extra_body or {})
        self._models = dict(models or {})
        self._ssl = ssl_context
        self._headers = _headers(self._url, api_key, headers or {})
        self._httpx = http2 or _proxied(self._url)
        if http2:
            import importlib.util

            if importlib.util.find_spec("h2") is None:
                raise StratumConfigError("OpenAICompatible(http2=True) needs h2: pip install 'stratum-py[http2]'")
        self._http2 = http2
        self._pool: Pool | HttpxPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prices_ready: asyncio.Future[None] | None = None
        _prices.start()  # in the background, long before a first answer needs a price

    def __repr__(self) -> str:
        return f"OpenAICompatible({self._base_url!r})"

    async def __aenter__(self) -> OpenAICompatible:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the kept-alive connections (requests in flight finish; later ones open new ones)."""
        pool, self._pool, self._loop = self._pool, None, None
        if pool is not None:
            await pool.aclose()

    # -- the protocol -----------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        model = request.model.removeprefix(PREFIX)
        body: dict[str, Any] = {
            "model": model,
            "messages": request.messages,
            "response_format": request.response_format,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if self._extra:
            body = {**self._extra, **body}
        try:
            data = _encode(body).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: escaped, the JSON stays valid
            data = _encode_ascii(body).encode("ascii")
        pool = self._pool_here()
        try:
            if self._timeout is None:
                reply = await pool.post(data)
            else:
                async with asyncio.timeout(self._timeout) as deadline:
                    reply = await pool.post(data)
        except TimeoutError:
            if self._timeout is None or not deadline.expired():
                raise
            error = ProviderError(request.function, f"no answer within {self._timeout:g} s", model=request.model)
            raise TransientError(str(error), None, error) from None
        except ssl.SSLCertVerificationError as exc:
            raise ProviderError(request.function, f"TLS: {exc}", model=request.model) from exc
        except (ConnectionError, OSError) as exc:
            said = "the connection was closed" if isinstance(exc, ConnectionClosed) else f"{type(exc).__name__}: {exc}"
            error = ProviderError(request.function, said, model=request.model)
            raise TransientError(str(error), None, error) from exc
        except ProtocolError as exc:
            error_ = MalformedResponse(request.function, str(exc), model=request.model)
            raise TransientError(str(error_), None, error_) from exc
        return await self._response(reply, request, model)

    def model_info(self, model: str) -> ModelInfo | None:
        """What ``models=`` says, else LiteLLM's map (None while it loads, or for a model it does not know)."""
        found = self._models.get(model)
        if found is not None:
            return found
        name = model.removeprefix(PREFIX)
        return self._models.get(name) or _prices.lookup(name)

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int | None:
        return None  # no tokenizer on this path: the runtime estimates from the prompt's length

    def warm(self, model: str) -> None:
        """Load LiteLLM's price map now, and httpx if this client sends through it.

        The runtime calls this once per model, in a worker thread and off every budget's clock:
        neither import then blocks the event loop or eats into a first call's time budget.
        """
        if self._httpx:
            import httpx  # noqa: F401
        _prices.wait()

    def cache_identity(self) -> str:
        """The endpoint and the body defaults every request carries (never keys or headers), for cache keys."""
        query = urllib.parse.parse_qsl(self._url.query, keep_blank_values=True)
        kept = urllib.parse.urlencode([(k, v) for k, v in query if not left_out(k)])
        host = self._url.hostname or ""
        endpoint = f"{self._url.scheme}://{host}:{_port(self._url)}{self._url.path.rstrip('/')}"
        return canonical_json(
            {"client": "openai-compatible", "endpoint": endpoint + (f"?{kept}" if kept else ""),
             "extra_body": kept_settings(self._extra)}
        )  # fmt: skip

    # -- the pieces -------------------------------------------------------------------
    def _pool_here(self) -> Pool | HttpxPool:
        """The pool of the running loop: a client used from another loop starts a new one."""
        loop = asyncio.get_running_loop()
        pool = self._pool
        if pool is not None and self._loop is loop:
            return pool
        if pool is not None:
            pool.abandon()  # its connections belong to the other loop
        url = self._url
        target = url.path.rstrip("/") + "/chat/completions" + (f"?{url.query}" if url.query else "")
        if self._httpx:
            full = urllib.parse.urlunsplit((url.scheme, url.netloc, target.split("?")[0], url.query, ""))
            headers = {k: v for k, v in self._headers if k.lower() != "host"}
            pool = HttpxPool(full, headers=headers, ssl=self._ssl, max_connections=self._max_connections,
                             keepalive_s=_KEEPALIVE_S, http2=self._http2)  # fmt: skip
        else:
            context = self._ssl or (_default_ssl() if url.scheme == "https" else None)
            lines = [f"POST {target} HTTP/1.1", *(f"{k}: {v}" for k, v in self._headers)]
            head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
            pool = Pool(url.hostname or "", _port(url), head=head, ssl=context,
                        max_connections=self._max_connections, keepalive_s=_KEEPALIVE_S)  # fmt: skip
        self._pool, self._loop, self._prices_ready = pool, loop, None
        return pool

    async def _response(self, reply: Reply, request: CompletionRequest, model: str) -> CompletionResponse:
        status = reply.status
        if not 200 <= status < 300:
            error = ProviderError(request.function, _error_message(reply.body), status_code=status, model=request.model)
            if status in _RETRIED or status >= 500:
                raise TransientError(str(error), retry_after(reply.headers), error)
            raise error
        try:
            payload = json.loads(reply.body)
        except ValueError:
            payload = None
        message = _message(payload)
        if isinstance(message, str):  # what is wrong with the reply: retried like a 5xx, then reported
            malformed = MalformedResponse(request.function, message, model=request.model)
            raise TransientError(str(malformed), None, malformed)
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        tokens_in, tokens_out = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
        cost = None
        if tokens_in is not None and tokens_out is not None:
            info = self.model_info(request.model)
            if info is None and not _prices.ready():
                await self._prices_loaded()
                info = self.model_info(request.model)
            if info is not None and info.priced:
                cost = tokens_in * info.input_usd_per_token + tokens_out * info.output_usd_per_token  # type: ignore[operator]
        reported = payload.get("model")
        refusal = message.get("refusal")
        return CompletionResponse(
            content=message.get("content"),
            model=reported if isinstance(reported, str) else None,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            refusal=refusal if isinstance(refusal, str) else None,
        )

    async def _prices_loaded(self) -> None:
        """Wait, without blocking the loop, for the price map the worker thread is loading."""
        future = self._prices_ready
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._prices_ready = loop.create_future()
            _prices.when_ready(lambda: loop.call_soon_threadsafe(_settle, future))
        await asyncio.shield(future)  # shared by every waiting call: one's cancellation is not the others'


def from_environment() -> OpenAICompatible:
    """The client of ``openai-compatible/<model>`` names: its endpoint from the environment."""
    base = os.environ.get(BASE_URL_ENV)
    if not base:
        raise StratumConfigError(
            f"a model named {PREFIX}<model> is sent to ${BASE_URL_ENV}, which is not set; set it "
            "(and $" + API_KEY_ENV + " if the endpoint needs a key), or configure(client=OpenAICompatible(...))"
        )
    return OpenAICompatible(base, os.environ.get(API_KEY_ENV) or None)


def drop(client: OpenAICompatible) -> None:
    """Close the idle connections of a client nobody will use again, now (from synchronous code)."""
    pool, client._pool, client._loop = client._pool, None, None
    if pool is not None:
        pool.abandon()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _message(payload: Any) -> Any:
    """The first choice's message (a dict), or a sentence saying why the reply has none."""
    if not isinstance(payload, dict):
        return "the reply is not a JSON object"
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices:
        return "the reply has no choices"
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        return "the first choice has no message"
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        return f"the message content is a {type(content).__name__}, not text"
    return message


def _error_message(body: bytes) -> str:
    """The provider's own words from an error body (``{"error": {"message": ...}}``), else its start."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace") or "(no body)"
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:2000]
    if isinstance(error, str):
        return error[:2000]
    return json.dumps(payload)[:300]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _port(url: urllib.parse.SplitResult) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _headers(url: urllib.parse.SplitResult, api_key: str | None, extra: Mapping[str, str]) -> list[tuple[str, str]]:
    host = url.hostname or ""
    shown = f"[{host}]" if ":" in host else host  # an IPv6 literal
    if url.port is not None:
        shown += f":{url.port}"
    headers = [("Host", shown), ("User-Agent", f"stratum-py/{__version__}"), ("Accept", "application/json"),
               ("Content-Type", "application/json")]  # fmt: skip
    if api_key:
        headers.append(("Authorization", f"Bearer {api_key}"))
    for name, value in extra.items():
        if any(c in f"{name}{value}" for c in "\r\n") or not name or ":" in name:
            raise StratumConfigError(f"OpenAICompatible: header {name!r} is not a valid header")
        headers = [h for h in headers if h[0].lower() != name.lower()] + [(name, str(value))]
    return headers


def _proxied(url: urllib.parse.SplitResult) -> bool:
    """Whether the environment sends this host through a proxy (then httpx, which speaks to proxies, is used)."""
    names = (f"{url.scheme}_proxy", "all_proxy")
    if not any(os.environ.get(n) or os.environ.get(n.upper()) for n in names):
        return False
    import urllib.request  # deferred: only when a proxy variable is set at all

    return not urllib.request.proxy_bypass(url.hostname or "")


_ssl_default: ssl.SSLContext | None = None


def _default_ssl() -> ssl.SSLContext:
    """One verifying TLS context per process: certifi's roots when installed (as httpx), else the system's."""
    global _ssl_default
    if _ssl_default is None:
        try:
            import certifi

            context = ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            context = ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        _ssl_default = context
    return _ssl_default
