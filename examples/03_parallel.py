"""Concurrency: three @infer calls at once with parallel(), then a quorum vote.

``stratum.parallel(require="all")`` runs the three analyses of one review
concurrently (the wall time is that of the slowest, not the sum) and
returns their typed results in input order. A quorum then asks the same
question three times and keeps the answer at least two invocations agree on.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, Field

import stratum
from _support import start
from stratum import Budget, contract, flow, infer
from stratum.testing import Reply


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "mixed"]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]


@contract
class Aspects(BaseModel):
    aspects: list[str]


@contract
class Summary(BaseModel):
    sentence: str


@contract
class Triage(BaseModel):
    needs_reply: bool
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    reason: str


@infer(intent="Classify the overall tone of the product review")
def classify(review: str) -> Sentiment: ...


@infer(intent="List the product aspects the review talks about", ensure=lambda r: 1 <= len(r.aspects) <= 5)
def aspects(review: str) -> Aspects: ...


@infer(intent="Summarise the review in one sentence", ensure=lambda r: len(r.sentence) <= 200)
def summarise(review: str) -> Summary: ...


@infer(
    intent="Decide whether customer support should reply to this review",
    quorum=3,
    agree_on="needs_reply",
    threshold=2,
)
def triage(review: str) -> Triage: ...


@flow(budget=Budget(ms=60_000, usd=0.05))
async def analyse(review: str) -> None:
    started = time.perf_counter()
    sentiment, found, summary = await stratum.parallel(
        classify(review=review), aspects(review=review), summarise(review=review)
    )
    took = time.perf_counter() - started
    calls = sum(r.duration_ms for r in stratum.trace.all_records()) / 1000
    print(f"parallel: 3 calls in {took:.2f}s wall time ({calls:.2f}s if run one after another)")
    print(f"  sentiment: {sentiment.label} ({sentiment.confidence:.2f})")
    print(f"  aspects:   {', '.join(found.aspects)}")
    print(f"  summary:   {summary.sentence}")

    decision = await triage(review=review)
    print(f"quorum: needs_reply={decision.needs_reply} confidence={decision.confidence:.2f} ({decision.reason})")
    for record in stratum.trace.records(function="triage"):
        vote = record.extra["quorum"]
        mark = "chosen" if vote["chosen"] else "agreed" if vote["agreed"] else "outvoted"
        print(f"  invocation {vote['index']}: needs_reply={vote['vote']} -> {mark}")


REVIEW = (
    "The kettle boils fast and looks great on the counter, but the lid started "
    "leaking after two weeks and nobody answered my email."
)

# Scripted answers arrive after 300 ms each, like a hosted model would.
SCRIPT = [
    Reply('{"label": "mixed", "confidence": 0.88}', latency_s=0.3),
    Reply('{"aspects": ["boiling speed", "design", "lid", "customer service"]}', latency_s=0.3),
    Reply('{"sentence": "Fast, good-looking kettle whose lid leaked; support did not answer."}', latency_s=0.3),
    Reply('{"needs_reply": true, "confidence": 0.8, "reason": "unanswered complaint"}', latency_s=0.2),
    Reply('{"needs_reply": false, "confidence": 0.6, "reason": "mostly positive"}', latency_s=0.2),
    Reply('{"needs_reply": true, "confidence": 0.93, "reason": "a defect and no reply"}', latency_s=0.2),
]


if __name__ == "__main__":
    start("03_parallel", SCRIPT)
    stratum.run(analyse(REVIEW))
