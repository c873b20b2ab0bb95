"""A review inbox for the person who approves: a durable flow waits, a web page decides.

1. A durable flow drafts a refund reply (one model call) and waits for a
   reviewer; the decision type is a contract, so the inbox builds its form.
2. ``stratum reviews serve`` starts the inbox on the same database and prints
   its URL (with a one-time token). Open it: the review lists the order, the
   reply as a diff, and a form generated from ``RefundDecision``.
3. Run interactively, this waits for you to decide in the browser. Run by a
   script (stdin is not a terminal, as in ``examples/run_all.py``), it plays
   a chat bot instead: it reads ``GET /api/reviews`` and answers with
   ``POST /api/reviews/{id}/resolve``, first with an invalid amount (refused,
   the review stays pending), then with a valid one.
4. The flow completes with the decision.

Everything lives in a temporary directory; nothing is left behind. See
docs/reviews.md.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import BaseModel, Field

import stratum
from _support import start
from stratum import HumanReviewContext, await_human, contract, flow, infer
from stratum.clients import CompletionRequest


@contract
class Reply(BaseModel):
    text: str


@contract
class RefundDecision(BaseModel):
    action: Literal["refund", "partial", "deny"]
    amount_eur: float = Field(ge=0, le=200, description="at most the order's total")
    notify_customer: bool = True


@infer(intent="Draft a short reply telling the customer what happens to their refund request")
def draft_reply(complaint: str) -> Reply: ...


ORIGINAL = "Dear customer,\nwe cannot refund this order.\nKind regards,"


@flow(durable=True)
async def refund_request(order_id: int, complaint: str) -> str:
    draft = await draft_reply(complaint=complaint)
    diff = "\n".join(["--- a/reply.txt", "+++ b/reply.txt", "@@ -1,3 +1,3 @@", " Dear customer,",
                      "-we cannot refund this order.", f"+{draft.text}", " Kind regards,"])  # fmt: skip
    order = {"id": order_id, "total_eur": 129.9, "items": ["kettle"]}
    context = HumanReviewContext(
        f"Refund order {order_id}?", artifacts={"order": order, "complaint": complaint, "reply": diff}
    )
    decision = await await_human(context, RefundDecision)
    value = decision.value
    return f"{value.action} {value.amount_eur:.2f} EUR, decided by {decision.reviewer or 'someone'}"


def scripted(request: CompletionRequest) -> dict[str, str]:
    return {"text": "we have refunded your order in full."}


async def read_url(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
    if not line.startswith("stratum inbox: "):
        raise SystemExit(f"the inbox did not start: {line!r}")
    return line.split(": ", 1)[1].strip()


async def play_the_bot(url: str) -> None:
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    base = f"{parts.scheme}://{parts.netloc}"
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        for _ in range(200):
            listed = (await api.get("/api/reviews")).json()
            if listed["count"]:
                break
            await asyncio.sleep(0.05)
        review = listed["reviews"][0]
        print(f"   GET /api/reviews -> {listed['count']} open: {review['question']!r} ({review['decision_type']})")
        resolve = f"/api/reviews/{review['review_id']}/resolve"
        wrong = await api.post(resolve, json={"value": {"action": "refund", "amount_eur": 500}, "reviewer": "bot"})
        print(f"   POST {resolve} amount 500 -> {wrong.status_code} {wrong.json()['errors']}")
        right = await api.post(resolve, json={"value": {"action": "refund", "amount_eur": 129.9},
                                              "reviewer": "refund-bot", "rationale": "parcel lost"})  # fmt: skip
        print(f"   POST {resolve} amount 129.9 -> {right.status_code}")


async def main(database: str) -> int:
    start("09 review inbox", respond=scripted)
    stratum.configure(durable=stratum.durable.dbos(database, poll_interval_s=0.1, recovery_poll_s=0.2))
    print("1. a durable flow drafts a reply and waits for a reviewer")
    handle = await stratum.durable.start(refund_request, 1042, "My kettle never arrived.", flow_id="refund-1042")

    print("2. the inbox starts on the same database:")
    print(f"   $ stratum --db {database} reviews serve --port 0")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "stratum", "--db", database, "reviews", "serve", "--port", "0"]
    server = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, env=env)
    try:
        url = await read_url(server)
        print(f"   inbox: {url}")
        if sys.stdin.isatty():
            print("3. open the URL, click the review and decide; this waits for the flow")
        else:
            print("3. no terminal: a chat bot decides through the JSON API")
            await play_the_bot(url)
        result = await handle.result(timeout_s=None if sys.stdin.isatty() else 120)
        print(f"4. the flow completed: {result}")
    finally:
        server.terminate()
        await server.wait()
        await stratum.durable.shutdown()
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="stratum-inbox-") as folder:
        url = f"sqlite:///{Path(folder) / 'durable.sqlite'}"
        sys.exit(asyncio.run(main(url)))
