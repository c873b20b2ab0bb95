"""A durable flow survives a crash while a human decides, and nothing is paid twice.

1. A worker process starts the flow: it drafts a reply (one model call) and
   waits for a reviewer. The review is stored, not held in memory.
2. The worker is killed with SIGKILL while the review is pending.
3. A reviewer approves it from another process, with the ``stratum`` command.
4. This process recovers the run: the draft comes back from its checkpoint
   (no request is sent for it again), the decision is read, and only the
   polishing call goes to the model.

Everything lives in a temporary directory (the SQLite database DBOS keeps);
nothing is left behind. See docs/durable.md.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

import stratum
from _support import start
from stratum import Budget, HumanReviewContext, await_human, contract, flow, infer
from stratum.clients import CompletionRequest


@contract
class Reply(BaseModel):
    text: str


@infer(intent="Draft a short, polite reply to this customer complaint")
def draft_reply(complaint: str) -> Reply: ...


@infer(intent="Polish this approved reply for sending; keep its meaning")
def polish(text: str) -> Reply: ...


@flow(durable=True, budget=Budget(usd=0.01))
async def handle_complaint(complaint: str) -> str:
    draft = await draft_reply(complaint=complaint)
    decision = await await_human(
        HumanReviewContext("Send this reply to the customer?", artifacts={"draft": draft}),
        Literal["approve", "reject"],
        options=["approve", "reject"],
        timeout=timedelta(days=1),
        on_timeout="reject",
    )
    if decision.value == "reject":
        return "(not sent)"
    return (await polish(text=draft.text)).text


COMPLAINT = "My parcel is two weeks late and nobody answers the phone."
FLOW_ID = "complaint-1042"


def scripted(request: CompletionRequest) -> dict[str, str]:
    if request.function == "draft_reply":
        return {"text": "We're sorry your parcel is late; it ships today and we'll call you tomorrow."}
    return {"text": "We're very sorry your parcel is late. It ships today, and we will call you tomorrow."}


def configure(database: str) -> stratum.testing.ScriptedClient | None:
    client = start("08 durable review", respond=scripted)
    stratum.configure(durable=stratum.durable.dbos(database, poll_interval_s=0.1, recovery_poll_s=0.2))
    return client


async def worker(database: str) -> None:
    configure(database)
    handle = await stratum.durable.start(handle_complaint, COMPLAINT, flow_id=FLOW_ID)
    await handle.result()  # never reached: this process is killed while the review waits


async def wait_for_review() -> stratum.hitl.PendingReview:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = await stratum.reviews.pending(flow_id=FLOW_ID)
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise SystemExit("the worker never asked for a review")


async def main(database: str) -> int:
    client = configure(database)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    print("1. a worker process starts the flow; it drafts a reply and waits for a reviewer")
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", database, stdout=subprocess.DEVNULL, env=env
    )
    try:
        review = await wait_for_review()
    finally:
        print("2. the worker is killed (SIGKILL) while the review is pending")
        process.kill()
        await process.wait()
    print(f"   stored review {review.review_id}: {review.context.question}")
    print(f"   draft: {review.context.artifacts['draft']['text']}")

    print("3. a reviewer approves it from another process:")
    print(f"   $ stratum reviews resolve {review.review_id} approve --reviewer ana")
    command = [sys.executable, "-m", "stratum", "--db", database, "reviews", "resolve", review.review_id, "approve",
               "--reviewer", "ana"]  # fmt: skip
    resolved = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=env, timeout=120)
    print(f"   {resolved.stdout.strip() or resolved.stderr.strip()}")
    if resolved.returncode != 0:
        return 1

    print("4. this process recovers the run")
    handle = await stratum.durable.start(handle_complaint, COMPLAINT, flow_id=FLOW_ID)  # attaches to the run
    sent = await handle.result(timeout_s=120)
    print(f"   sent: {sent}")
    for step in await stratum.durable.steps(FLOW_ID):
        if step.name in ("draft_reply", "polish"):
            cost = "" if step.cost_usd is None else f"  ${step.cost_usd:.6f}"
            print(f"   step {step.position}: {step.name}{cost}")
    restored = [r.function for r in stratum.trace.all_records() if r.extra.get("restored")]
    print(f"   restored from checkpoint, not re-sent: {', '.join(restored)}")
    await stratum.durable.shutdown()
    if client is not None:
        asked = [r.function for r in client.requests]
        print(f"   model requests made by this process: {asked}")
        if asked != ["polish"]:
            print("   !! a completed step was sent again")
            return 1
    print("   no step was paid twice")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        asyncio.run(worker(sys.argv[2]))
        sys.exit(0)
    with tempfile.TemporaryDirectory(prefix="stratum-durable-") as folder:
        url = f"sqlite:///{Path(folder) / 'durable.sqlite'}"
        sys.exit(asyncio.run(main(url)))
