"""Hard budgets hold on the first call of a fresh process, and with a 200 KB prompt.

Each test runs ``first_call.py`` (the product page's ``Budget(ms=500, usd=0.001)`` example) in a new
interpreter, so LiteLLM's import, its tokenizer and its first request happen inside the call, the
way a user meets them. The server runs here, in the test's process, so the test decides whether it
answers at once or holds the request.

Lateness is measured twice against the budget's own deadline: by the budget itself (``spent`` on
``BudgetExceeded``, read on the loop's clock) and from outside (the caller's wall time less the
one-time warm-up the trace record reports, which is not charged to the budget).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stratum.testing.openai_server import LocalOpenAIServer

SCRIPT = Path(__file__).with_name("first_call.py")
GOOD = {"label": "positive", "confidence": 0.9, "reasoning": "praises the product"}
#: The one timing bound the budget promises: BudgetExceeded no later than this after the deadline.
LATE_MS = 50

# A latency bound is only meaningful on a machine that is not also running the rest of the suite:
# `make test` runs these after the parallel part, alone.
pytestmark = pytest.mark.serial


def first_call(server: LocalOpenAIServer, *, prompt_chars: int = 35, usd: float = 0.001) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # LiteLLM otherwise downloads its price map at import
    env["LITELLM_OFFLINE_MODE"] = "true"  # ... and some tokenizers on first use
    done = subprocess.run(
        [sys.executable, str(SCRIPT), server.url, str(prompt_chars), str(usd)],
        capture_output=True, text=True, timeout=150, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def assert_on_time(result: dict[str, Any]) -> None:
    assert result["outcome"] == "BudgetExceeded" and result["axis"] == "time", result
    assert result["spent"] - result["limit"] <= LATE_MS, result  # the budget's own clock
    assert result["elapsed_ms"] - result["warmup_ms"] - result["limit"] <= LATE_MS, result  # the caller's


@pytest.mark.timeout(180)
def test_the_first_call_of_a_fresh_process_succeeds_within_its_budget_when_the_server_answers(
    server: LocalOpenAIServer,
) -> None:
    server.respond = lambda _body: GOOD
    result = first_call(server)
    assert result["outcome"] == "ok", result
    assert len(server.requests) == 1


@pytest.mark.timeout(180)
def test_the_first_call_of_a_fresh_process_raises_budget_exceeded_within_50_ms_of_its_deadline(
    server: LocalOpenAIServer,
) -> None:
    server.respond = lambda _body: GOOD
    server.hold()  # the request arrives and is never answered
    try:
        result = first_call(server)
    finally:
        server.release()
    assert_on_time(result)
    assert len(server.requests) == 1  # the time went to the request, not to setting up


@pytest.mark.timeout(180)
def test_a_200_kb_prompt_raises_budget_exceeded_within_50_ms_of_its_deadline(server: LocalOpenAIServer) -> None:
    server.respond = lambda _body: GOOD
    server.hold()
    try:
        # ~50k tokens cost more than the product page's $0.001: a limit they fit under, so that the
        # prompt is still priced, counted (off the loop) and sent before the time runs out.
        result = first_call(server, prompt_chars=200_000, usd=0.05)
    finally:
        server.release()
    assert_on_time(result)
    assert len(server.requests) == 1
