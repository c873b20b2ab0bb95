"""The function, queue and client of ``bulk.py``, importable by its ``stratum worker`` processes.

``BENCH_SERVER`` (an OpenAI-compatible base URL) sends the calls there
through LiteLLM; without it a scripted client answers at once, so what is
measured is the engine alone.
"""

from __future__ import annotations

import os

from pydantic import BaseModel

import stratum
from stratum import contract, infer

#: Tasks one process runs at once (and the bound of the asyncio.gather baseline).
PER_PROCESS = 64


@contract
class Tag(BaseModel):
    tag: str


@infer(intent="Tag item {n}", retries=0)
def tag(n: int) -> Tag: ...


queue = stratum.durable.Queue("bench-bulk", worker_concurrency=PER_PROCESS, poll_interval_s=0.05)


def configure_client() -> None:
    server = os.environ.get("BENCH_SERVER")
    if server:
        from stratum.clients import LiteLLMClient

        client: object = LiteLLMClient(api_base=server, api_key="sk-bench")
        model = "openai/gpt-4o-mini"
    else:
        from stratum.testing import ScriptedClient

        client = ScriptedClient(respond=lambda request: {"tag": "t"}, max_requests_kept=16)
        model = "bench-model"
    stratum.configure(client=client, default_model=model, max_output_tokens=16, max_transient_retries=0)  # type: ignore[arg-type]


configure_client()
