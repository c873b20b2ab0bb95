"""The clients side by side in one run: per-call cost, concurrency, and what a retry sends.

    python benchmarks/clients.py [--rounds 7] [--calls 200] [--skip-concurrency]

Prints numbers and markdown tables; asserts nothing. The server is the
project's LocalOpenAIServer in a process of its own (benchmarks/_server.py),
so its CPU is never counted as the client's. Every variant answers the same
structured call (contract ``Sentiment``, strict json_schema), and the
variants are interleaved round by round so that drift in the machine's load
hits them alike; figures are medians over rounds.

1. Sequential calls: wall time and client CPU (the process's CPU time, its
   threads included) per call through (a) the scripted client (no HTTP),
   (b) the direct client, (b') the direct client on its httpx transport,
   (c) the LiteLLM client; and the floors: raw ``litellm.acompletion`` and
   the raw ``openai`` SDK, sending the same request without Stratum.
2. Concurrent calls at 200 ms server latency, each run in a fresh process:
   wall, peak RSS, client CPU, and the most requests the server saw in flight.
3. Retry cost: message characters and request bytes over all attempts of a
   call that fails ``ensure`` twice, next to a conversation-replay retry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from _report import Row, Server, load, row, table
from pydantic import BaseModel

import stratum
from stratum import contract, infer
from stratum.clients import LiteLLMClient, OpenAICompatible
from stratum.testing import ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer

ANSWER = {"label": "positive", "confidence": 0.9, "reasoning": "clear"}
REVIEW = (
    "The blender arrived two days late and the lid was cracked, but support replaced it within a week "
    "and it has worked perfectly since."
)
INTENT = "Classify the emotional tone of customer feedback"


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasoning: str


@infer(intent=INTENT, ensure=lambda r: r.confidence > 0.7)
def classify(text: str) -> Sentiment: ...


def request_parts() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages and response_format of our call, for the floors to send as they are."""
    ctx = stratum.compile_prompt(classify, text=REVIEW)
    schema = stratum.contract_schema(Sentiment, strict=True)
    fmt = {"type": "json_schema", "json_schema": {"name": "Sentiment", "schema": schema, "strict": True}}
    return ctx.messages(), fmt


# -- 1. sequential -------------------------------------------------------------------------
Call = Callable[[], Awaitable[Any]]


def fresh(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same messages in new objects, as a real caller builds them for each call.

    LiteLLM remembers work by the identity of the messages object: handed the
    very same list every time, its per-call CPU drops by about a tenth, which
    no program sending different prompts ever sees.
    """
    return [dict(m) for m in messages]


def variants(url: str) -> dict[str, tuple[Callable[[], None], Call]]:
    """name -> (configure, one call)."""
    import litellm
    import openai

    messages, fmt = request_parts()
    scripted = ScriptedClient(respond=lambda request: ANSWER, max_requests_kept=1)
    direct = OpenAICompatible(url, "sk-bench")
    via_httpx = OpenAICompatible(url, "sk-bench", http2=True)
    through_litellm = LiteLLMClient(api_base=url, api_key="sk-bench")
    sdk = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0)

    def use(client: Any, model: str) -> Callable[[], None]:
        return lambda: stratum.configure(client=client, default_model=model, trace_capacity=1000)

    async def ours() -> Any:
        return await classify(text=REVIEW)

    async def raw_litellm() -> Any:
        return await litellm.acompletion(
            model="openai/gpt-4o-mini", messages=fresh(messages), response_format=fmt, api_base=url,
            api_key="sk-bench", num_retries=0, max_retries=0,
        )  # fmt: skip

    async def raw_sdk() -> Any:
        return await sdk.chat.completions.create(model="gpt-4o-mini", messages=fresh(messages), response_format=fmt)  # type: ignore[arg-type]

    return {
        "@infer, scripted client (no HTTP)": (use(scripted, "gpt-4o-mini"), ours),
        "@infer, direct client": (use(direct, "gpt-4o-mini"), ours),
        "@infer, direct client, httpx transport": (use(via_httpx, "gpt-4o-mini"), ours),
        "@infer, LiteLLM client": (use(through_litellm, "openai/gpt-4o-mini"), ours),
        "raw litellm.acompletion (floor)": (lambda: None, raw_litellm),
        "raw openai SDK (floor)": (lambda: None, raw_sdk),
    }


async def sequential(url: str, rounds: int, calls: int) -> dict[str, tuple[float, float]]:
    """name -> (median wall us per call, median client CPU us per call)."""
    table_ = variants(url)
    for configure, call in table_.values():  # warm every path: imports, connections, caches
        configure()
        for _ in range(50):
            await call()
    walls: dict[str, list[float]] = {name: [] for name in table_}
    cpus: dict[str, list[float]] = {name: [] for name in table_}
    for _ in range(rounds):
        for name, (configure, call) in table_.items():
            configure()
            stratum.trace.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                await call()
            walls[name].append((time.perf_counter() - wall) / calls * 1e6)
            cpus[name].append((time.process_time() - cpu) / calls * 1e6)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in table_}


# -- 2. concurrency (in a fresh process per run) -------------------------------------------
async def concurrent_child(kind: str, url: str, n: int, max_connections: int) -> dict[str, Any]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    messages, fmt = request_parts()
    if kind == "direct":
        stratum.configure(client=OpenAICompatible(url, "sk-bench", max_connections=max_connections),
                          default_model="gpt-4o-mini", trace_capacity=n)  # fmt: skip
        call: Call = lambda: classify(text=REVIEW)  # noqa: E731
    elif kind == "litellm":
        stratum.configure(client=LiteLLMClient(api_base=url, api_key="sk-bench"), default_model="openai/gpt-4o-mini",
                          trace_capacity=n)  # fmt: skip
        call = lambda: classify(text=REVIEW)  # noqa: E731
    elif kind == "openai":
        import openai

        sdk = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0)
        call = lambda: sdk.chat.completions.create(  # noqa: E731
            model="gpt-4o-mini", messages=fresh(messages), response_format=fmt  # type: ignore[arg-type]
        )
    else:
        raise SystemExit(f"unknown kind {kind}")
    await call()  # imports and the first connection: not part of the figure
    bursts = []
    for _ in range(2):  # cold: every connection opened on the way; warm: the pool kept from the first
        wall, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        failed = [r for r in results if isinstance(r, BaseException)]
        bursts.append({"wall_s": wall, "cpu_s": cpu, "failed": len(failed),
                       "error": repr(failed[0])[:200] if failed else ""})  # fmt: skip
        stratum.trace.clear()
    return {"cold": bursts[0], "warm": bursts[1], "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's over fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def concurrent(kind: str, n: int, max_connections: int = 1000) -> dict[str, Any]:
    with Server(delay_s=0.2) as server:
        command = [sys.executable, __file__, "--child", kind, "--url", server.url, "--n", str(n),
                   "--max-connections", str(max_connections)]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"{kind} x {n} failed:\n{out.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        stats = server.stats()
        result["max_in_flight"], result["server_cpu_s"] = stats["max_in_flight"], stats["cpu_s"]
    return result


# -- 3. what a retry sends --------------------------------------------------------------------
def _sizes(bodies: list[dict[str, Any]]) -> tuple[int, int]:
    """(message characters, request bytes as compact JSON) summed over ``bodies``."""
    chars = 0
    for body in bodies:
        for message in body["messages"]:
            content = message["content"]
            chars += len(content) if isinstance(content, str) else sum(len(p.get("text", "")) for p in content)
    size = sum(len(json.dumps(b, ensure_ascii=False, separators=(",", ":")).encode()) for b in bodies)
    return chars, size


async def retry_cost() -> dict[str, tuple[int, int, int, int]]:
    """name -> (chars per call, bytes per call, chars over a twice-failing call, bytes over it)."""
    unsure = {"label": "positive", "confidence": 0.4, "reasoning": "unsure"}
    _messages, fmt = request_parts()
    out: dict[str, tuple[int, int, int, int]] = {}
    with LocalOpenAIServer() as server:
        client = OpenAICompatible(server.url, "sk-bench")
        stratum.configure(client=client, default_model="gpt-4o-mini")
        server.push(ANSWER)
        await classify(text=REVIEW)
        one = _sizes(list(server.requests))
        server.requests.clear()
        server.push(unsure, unsure, ANSWER)
        await classify(text=REVIEW)
        out["stratum (targeted retry)"] = (*one, *_sizes(list(server.requests)))
        await client.aclose()
    # A conversation-replay retry, as the peers do it: the prompt, then for each failure the
    # model's output and the validation error appended to the conversation.
    first = [{"role": "user", "content": f"{INTENT}.\n\ntext: {REVIEW}"}]
    failure = "1 validation error: confidence must be greater than 0.7 (got 0.4). Fix the output and respond again."
    bodies, conversation = [], list(first)
    for _ in range(3):
        bodies.append({"model": "gpt-4o-mini", "messages": list(conversation), "response_format": fmt})
        conversation += [{"role": "assistant", "content": json.dumps(unsure)}, {"role": "user", "content": failure}]
    out["conversation replay (peers)"] = (*_sizes(bodies[:1]), *_sizes(bodies))
    return out


# -- the report ------------------------------------------------------------------------------
def main(rounds: int, calls: int, skip_concurrency: bool) -> list[Row]:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load average {load()}")
    rows: list[Row] = []
    with Server() as server:
        seq = asyncio.run(sequential(server.url, rounds, calls))
    print(f"\nSequential calls, local server in its own process ({rounds} rounds x {calls} calls, medians)\n")
    print("| path | wall per call | client CPU per call |\n|---|---|---|")
    for name, (wall, cpu) in seq.items():
        print(f"| {name} | {wall:.0f} us | {cpu:.0f} us |")
    direct, sdk = seq["@infer, direct client"], seq["raw openai SDK (floor)"]
    ours, raw = seq["@infer, LiteLLM client"], seq["raw litellm.acompletion (floor)"]
    scripted = seq["@infer, scripted client (no HTTP)"]
    print()
    rows.append(row("per call", "@infer, scripted client: CPU", f"{scripted[1]:.0f} us", "", "the runtime alone"))
    rows.append(row("per call", "@infer, direct client: CPU", f"{direct[1]:.0f} us", "<= 500 us"))
    rows.append(row("per call", "openai SDK / direct client, CPU", f"{sdk[1] / direct[1]:.1f}x", ">= 3x",
                    f"SDK {sdk[1]:.0f} us"))  # fmt: skip
    httpx_cpu = seq["@infer, direct client, httpx transport"][1]
    rows.append(row("per call", "direct client on httpx: CPU", f"{httpx_cpu:.0f} us", "", "why the own pool"))
    rows.append(row("per call", "LiteLLM client / raw acompletion, wall", f"{ours[0] / raw[0]:.3f}", "<= 1.10",
                    f"{ours[0]:.0f} vs {raw[0]:.0f} us"))  # fmt: skip
    rows.append(row("per call", "LiteLLM client / raw acompletion, CPU", f"{ours[1] / raw[1]:.3f}", "<= 1.10",
                    f"{ours[1]:.0f} vs {raw[1]:.0f} us"))  # fmt: skip

    if not skip_concurrency:
        print("Concurrent calls at 200 ms server latency (each run in a fresh process)\n")
        print("Cold: the pool opens its connections during the burst; warm: a second burst on the kept pool.\n")
        print("| run | burst | wall | client CPU | peak RSS | max in flight (server) | server CPU | failed |")
        print("|---|---|---|---|---|---|---|---|")
        runs = [
            ("direct client", "direct", 1000, 1000, "< 0.6 s"),
            ("openai SDK (floor)", "openai", 1000, 1000, ""),
            ("LiteLLM client", "litellm", 1000, 1000, ""),
            ("direct client", "direct", 10_000, 1000, "< 4 s, RSS < 300 MB"),
            ("direct client", "direct", 10_000, 10_000, "< 4 s, RSS < 300 MB"),
        ]
        for label, kind, n, connections, target in runs:
            got = concurrent(kind, n, connections)
            name = f"{label}, {n:,} calls" + (f", max_connections={connections:,}" if kind == "direct" else "")
            for burst in ("cold", "warm"):
                b, rss, seen = got[burst], f"{got['peak_rss_mb']:.0f} MB", f"{got['max_in_flight']:,}"
                print(f"| {name} | {burst} | {b['wall_s']:.2f} s | {b['cpu_s']:.2f} s | {rss} | {seen} | "
                      f"{got['server_cpu_s']:.2f} s | {b['failed']} {b['error']} |")  # fmt: skip
                rows.append(row("concurrency", f"{name}, {burst}", f"{b['wall_s']:.2f} s, {rss}", target,
                                f"client CPU {b['cpu_s']:.2f} s; {seen} in flight"))  # fmt: skip
        print()

    costs = asyncio.run(retry_cost())
    print("What one call sends (message text; request body as compact JSON)\n")
    print("| retry style | chars per call | bytes per call | chars, call failing ensure twice | bytes, same |")
    print("|---|---|---|---|---|")
    for name, (chars, size, all_chars, all_size) in costs.items():
        print(f"| {name} | {chars:,} | {size:,} | {all_chars:,} | {all_size:,} |")
        rows.append(row("prompt", f"{name}: chars / bytes per call", f"{chars:,} / {size:,}"))
        rows.append(row("prompt", f"{name}: chars / bytes, twice-failing call", f"{all_chars:,} / {all_size:,}"))
    print(f"\nload average after: {load()}\n")
    print(table(rows))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--skip-concurrency", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--max-connections", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(concurrent_child(args.child, args.url, args.n, args.max_connections))))
    else:
        main(args.rounds, args.calls, args.skip_concurrency)
