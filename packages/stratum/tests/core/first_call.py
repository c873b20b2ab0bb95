"""The product page's example as the first call of a fresh process; run by test_first_call_budget.py.

``python first_call.py SERVER_URL PROMPT_CHARS BUDGET_USD`` calls ``classify_sentiment`` once through
LiteLLM and prints one JSON line: the outcome, the budget's limit and what it counted as spent, the
call's wall time measured here, and the one-time warm-up its trace record says it waited for.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Literal

from pydantic import BaseModel

import stratum
from stratum import Budget, BudgetExceeded, contract, infer
from stratum.clients import LiteLLMClient

REVIEW = "Great product but shipping was slow. "


@contract
class SentimentResult(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasoning: str


async def main(url: str, prompt_chars: int, usd: float) -> dict[str, object]:
    @infer(
        intent="Classify the emotional tone of customer feedback",
        ensure=lambda r: r.confidence > 0.7,
        budget=Budget(ms=500, usd=usd),
        retries=3,
    )
    def classify_sentiment(text: str) -> SentimentResult: ...

    stratum.configure(client=LiteLLMClient(api_base=url, api_key="sk-local-test"), default_model="openai/gpt-4o-mini")
    text = (REVIEW * (prompt_chars // len(REVIEW) + 1))[:prompt_chars]
    outcome: dict[str, object] = {}
    started = time.perf_counter()
    try:
        result = await classify_sentiment(text=text)
        outcome = {"outcome": "ok", "label": result.label}
    except BudgetExceeded as exc:
        outcome = {"outcome": "BudgetExceeded", "axis": exc.axis, "limit": exc.limit, "spent": exc.spent}
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    (record,) = stratum.trace.all_records()
    return {**outcome, "elapsed_ms": elapsed_ms, "warmup_ms": record.warmup_ms, "attempts": record.attempts}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))))
