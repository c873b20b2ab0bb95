"""OpenAICompatible on the wire: the HTTP/1.1 its own pool must read, against a server that writes raw bytes.

The local OpenAI server always answers with a Content-Length and keeps the
connection open; real servers and proxies also send chunked and compressed
bodies, interim answers, replies framed by the connection's end, and close
idle connections under a client's feet.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel

import stratum
from stratum import MalformedResponse, contract, infer
from stratum.clients import OpenAICompatible


@contract
class Verdict(BaseModel):
    label: str


@infer(intent="Judge")
def judge(text: str) -> Verdict: ...


def completion(label: str = "ok") -> bytes:
    message = {"role": "assistant", "content": json.dumps({"label": label})}
    usage = {"prompt_tokens": 3, "completion_tokens": 2}
    body = {"model": "m", "choices": [{"index": 0, "message": message}], "usage": usage}
    return json.dumps(body).encode()


Handler = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class RawServer:
    """Answers each request with what ``handler(n, reader, writer)`` writes; False ends the connection."""

    handler: Handler
    connections: int = 0
    requests: int = 0
    url: str = ""
    _server: asyncio.base_events.Server | None = field(default=None, repr=False)

    async def start(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
                await reader.readexactly(length)
                self.requests += 1
                if not await self.handler(self.requests, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    """Start a RawServer with a handler, and an OpenAICompatible client for it; both are closed after the test."""
    servers: list[RawServer] = []
    clients: list[OpenAICompatible] = []

    async def start(handler: Handler) -> RawServer:
        server = await RawServer(handler).start()
        client = OpenAICompatible(server.url, "sk-test")
        stratum.configure(client=client, default_model="m")
        servers.append(server)
        clients.append(client)
        return server

    yield start
    for client in clients:
        await client.aclose()
    for server in servers:
        await server.stop()


def head(status: str = "200 OK", *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]) + "\r\n\r\n").encode()


async def test_a_chunked_reply_arriving_in_pieces_is_read(raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def chunked(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        body = completion("chunked")
        writer.write(head("200 OK", "Transfer-Encoding: chunked"))
        for start in range(0, len(body), 7):  # many chunks, each written apart
            piece = body[start : start + 7]
            writer.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        await writer.drain()
        return True

    server = await raw(chunked)
    assert (await judge(text="a")).label == "chunked"
    assert (await judge(text="b")).label == "chunked"  # the connection stays usable after the trailers
    assert server.connections == 1


async def test_a_gzip_reply_is_decoded(raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def gzipped(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        body = gzip.compress(completion("zipped"))
        writer.write(head("200 OK", "Content-Encoding: gzip", f"Content-Length: {len(body)}") + body)
        await writer.drain()
        return True

    await raw(gzipped)
    assert (await judge(text="a")).label == "zipped"


async def test_a_reply_framed_by_the_end_of_the_connection_is_read_and_the_next_call_reconnects(
    raw: Callable[[Handler], Awaitable[RawServer]],
) -> None:
    async def until_close(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + completion(f"close-{n}"))
        await writer.drain()
        return False

    server = await raw(until_close)
    assert (await judge(text="a")).label == "close-1"
    assert (await judge(text="b")).label == "close-2"
    assert server.connections == 2


async def test_an_interim_continue_is_skipped(raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def interim(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        body = completion("after-continue")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + head("200 OK", f"Content-Length: {len(body)}") + body)
        await writer.drain()
        return True

    await raw(interim)
    assert (await judge(text="a")).label == "after-continue"


async def test_connection_close_in_a_reply_is_honoured(raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def closing(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        body = completion()
        writer.write(head("200 OK", "Connection: close", f"Content-Length: {len(body)}") + body)
        await writer.drain()
        await asyncio.sleep(0.05)  # the client must not send on this connection again
        return False

    server = await raw(closing)
    await judge(text="a")
    await judge(text="b")
    assert (server.connections, server.requests) == (2, 2)


async def test_a_kept_alive_connection_the_server_dropped_is_retried_once_on_a_fresh_one(
    raw: Callable[[Handler], Awaitable[RawServer]],
) -> None:
    async def drops_the_second(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if n == 2:  # as a server whose keep-alive timer fired just as the request came in
            return False
        body = completion(f"r{n}")
        writer.write(head("200 OK", f"Content-Length: {len(body)}") + body)
        await writer.drain()
        return True

    server = await raw(drops_the_second)
    assert (await judge(text="a")).label == "r1"
    assert (await judge(text="b")).label == "r3"
    assert server.connections == 2
    # Not a provider failure: no transient retry, no backoff.
    assert stratum.trace.all_records()[-1].transient_retries == 0


async def test_bytes_that_are_not_http_are_a_malformed_response(raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def garbage(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        return False

    stratum.configure(max_transient_retries=1)
    await raw(garbage)
    with pytest.raises(MalformedResponse) as info:
        await judge(text="a")
    assert "not an HTTP/1.x status line" in info.value.reason


async def test_a_body_that_is_not_json_is_a_malformed_response(raw: Callable[[Handler], Awaitable[RawServer]]) -> None:
    async def html(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        body = b"<html>502 Bad Gateway</html>"
        writer.write(head("200 OK", f"Content-Length: {len(body)}") + body)
        await writer.drain()
        return True

    stratum.configure(max_transient_retries=0)
    await raw(html)
    with pytest.raises(MalformedResponse) as info:
        await judge(text="a")
    assert info.value.reason == "the reply is not a JSON object"


def test_importing_and_building_the_direct_client_loads_neither_httpx_nor_litellm() -> None:
    code = (
        "import sys, stratum; from stratum.clients import OpenAICompatible; "
        "OpenAICompatible('http://127.0.0.1:9/v1'); print('httpx' in sys.modules, 'litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False False"


def test_a_client_sending_through_httpx_loads_it_in_the_warm_up_not_in_its_first_call() -> None:
    # The runtime warms a client in a worker thread, off every budget's clock: importing httpx there
    # neither blocks the event loop nor eats into the first call's time budget.
    code = (
        "import sys; from stratum.clients import OpenAICompatible; "
        "client = OpenAICompatible('http://127.0.0.1:9/v1', http2=True); before = 'httpx' in sys.modules; "
        "client.warm('gpt-4o-mini'); print(before, 'httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False True"
