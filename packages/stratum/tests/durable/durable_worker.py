"""A preloaded host that forks worker processes for the crash tests (run as a script, never imported).

Importing LiteLLM and DBOS takes seconds on a loaded machine; the crash
tests start tens of worker processes and kill them with SIGKILL. The host
imports everything once, then forks one child per command it reads on stdin
(a JSON line ``{"role": ..., "args": {...}}``) and answers ``{"pid": N}``;
``{"wait": N}`` reaps child N and answers ``{"exit": code}``. Each child
is a real process: it configures Stratum (LiteLLM to the test's local
server, DBOS on the given database), runs its role, writes its result as
JSON to ``args["out"]`` and exits.

The flows are defined here at module level, so every child registers them
under the same names (``__main__.<name>``) before DBOS launches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import runpy
import sys
import traceback
from typing import Any, Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dbos  # noqa: F401 -- preloaded in the host, so forked children start at once
import litellm
from pydantic import BaseModel

import stratum
from stratum import Budget, HumanReviewContext, await_human, compute, contract, flow, infer
from stratum.clients import LiteLLMClient

stratum.durable.map  # noqa: B018 -- preloaded in the host: bulk jobs (SQLAlchemy)


@contract
class Draft(BaseModel):
    text: str


@infer(intent="Draft a reply to the ticket {ticket}, in a {tone} tone")
def draft_reply(ticket: str, tone: str) -> Draft: ...


@infer(intent="Polish the approved reply {text}")
def polish_reply(text: str) -> Draft: ...


@flow(durable=True)
async def review_flow(ticket: str) -> dict[str, Any]:
    # DRAFT_TONE stands for an edit of the code: it changes the compiled prompt.
    draft = await draft_reply(ticket=ticket, tone=os.environ.get("DRAFT_TONE", "plain"))
    decision = await await_human(
        HumanReviewContext("Send this reply?", artifacts={"draft": draft}),
        Literal["approve", "reject"],
        options=["approve", "reject"],
        timeout=float(os.environ.get("REVIEW_TIMEOUT_S", "600")),
        on_timeout="reject",
    )
    if decision.value != "approve":
        return {"sent": None, "reviewer": decision.reviewer}
    final = await polish_reply(text=draft.text)
    return {"sent": final.text, "reviewer": decision.reviewer}


@contract
class Tally(BaseModel):
    words: int


@contract
class TallyV2(BaseModel):
    """What ``Tally`` becomes after an edit of the code (TALLY_CONTRACT=v2 rebinds the name)."""

    words: int
    distinct: int = 0


@compute
async def count_words(ticket: str) -> Tally:
    return Tally(words=len(ticket.split()))


@flow(durable=True)
async def tally_flow(ticket: str) -> dict[str, Any]:
    tally = await count_words(ticket)
    decision = await await_human(f"{tally.words} words: right?", bool, timeout=600)
    return {"words": tally.words, "right": decision.value}


@infer(intent="Step {k} of run {run}")
def step(run: str, k: int) -> str: ...


#: Five steps cost about 5 x 3.2e-5 USD; the rest covers one request lost in flight at its worst case.
BUDGETS = {"five_steps": 0.00028, "spend": 0.00012}


@flow(durable=True, budget=Budget(usd=BUDGETS["five_steps"]))
async def five_steps(run: str) -> list[str]:
    return [await step(run=run, k=k) for k in range(1, 6)]


@flow(durable=True, budget=Budget(usd=BUDGETS["spend"]))
async def spend(run: str) -> list[str]:
    out: list[str] = []
    try:
        for k in range(1, 50):
            out.append(await step(run=run, k=k))
    except stratum.BudgetExceeded as exc:
        out.append(f"stopped at {k}: spent {exc.spent:.8f} of {exc.limit:.8f}")
    return out


@contract
class Tag(BaseModel):
    tag: str


@infer(intent="Tag item {n} of the bulk job", retries=0)
def tag_item(n: int) -> Tag: ...


#: The embedded job's rate limit: LIMITED[0] tasks started per LIMITED[1] seconds, on every process.
LIMITED = (50, 1.0)
#: Tasks of the shared queue running at once, across every worker.
SHARED_CONCURRENCY = 8
QUEUES = {
    "limited": stratum.durable.Queue("bulk-limited", limiter=LIMITED, poll_interval_s=0.02),
    "shared": stratum.durable.Queue("bulk-shared", concurrency=SHARED_CONCURRENCY, poll_interval_s=0.02),
}


class FileTracer:
    """Spans as JSON lines in a file, written as each span ends (a SIGKILL loses nothing ended)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, span: Any) -> None:
        line = json.dumps(
            {"trace_id": span.trace_id, "span_id": span.span_id, "parent": span.parent_span_id, "name": span.name,
             "attributes": dict(span.attributes), "pid": os.getpid()}, default=str
        )  # fmt: skip
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def configure(role: str, args: dict[str, Any]) -> None:
    # A child takes tasks only from the bulk queue its role works on: the flows' roles from none, so their
    # processes do not poll the bulk queues (every 20 ms each) through a crash test.
    queues = args.get("queues", [QUEUES[args["queue"]].name] if role.startswith("bulk_") else [])
    stratum.configure(
        client=LiteLLMClient(api_base=args["server"], api_key="sk-local-test"),
        default_model="openai/gpt-4o-mini",
        max_output_tokens=64,
        max_transient_retries=0,
        durable=stratum.durable.dbos(args["db"], poll_interval_s=0.05, recovery_poll_s=0.1, queues=queues),
    )
    if args.get("spans"):
        stratum.configure(tracer=FileTracer(args["spans"]))


async def role_review_start(args: dict[str, Any]) -> Any:
    handle = await stratum.durable.start(review_flow, args["ticket"], flow_id=args["flow_id"])
    return await handle.result(timeout_s=120)  # killed while the review waits


async def role_review_recover(args: dict[str, Any]) -> Any:
    handle = await stratum.durable.start(review_flow, args["ticket"], flow_id=args["flow_id"])
    return await handle.result(timeout_s=60)


async def role_chain(args: dict[str, Any]) -> Any:
    """Finish every earlier run (recovered at launch, or started if it never was), then run a new one."""
    results = {}
    for run in args["runs"]:
        handle = await stratum.durable.start(five_steps, run, flow_id=run)
        results[run] = await handle.result(timeout_s=60)
    return results


async def role_spend(args: dict[str, Any]) -> Any:
    handle = await stratum.durable.start(spend, args["run"], flow_id=args["run"])
    return await handle.result(timeout_s=60)


async def role_tally(args: dict[str, Any]) -> Any:
    handle = await stratum.durable.start(tally_flow, args["ticket"], flow_id=args["flow_id"])
    return await handle.result(timeout_s=120)


async def role_bulk_submit(args: dict[str, Any]) -> Any:
    """Submit (or attach to) a job of ``n`` items and wait for its results; runs them too unless ``queues=[]``."""
    queue = QUEUES[args["queue"]]
    handle = await stratum.durable.map(tag_item, list(range(args["n"])), queue=queue, job_id=args["job_id"])
    outcomes = await handle.results(timeout_s=180)
    tags = [o.value.tag if isinstance(o, stratum.Success) else type(o.error).__name__ for o in outcomes]
    return {"tags": tags, "progress": (await handle.progress()).to_dict()}


def role_bulk_worker(args: dict[str, Any]) -> int:
    """``python -m stratum worker --queue NAME`` itself (its exit code), in this preloaded process; its output to a
    file."""
    sys.argv = ["stratum", "--db", args["db"], "worker", "--queue", QUEUES[args["queue"]].name, "--grace",
                str(args.get("grace_s", 1))]
    with open(args["out"] + ".stdout", "w", buffering=1) as out, contextlib.redirect_stdout(out):
        try:
            runpy.run_module("stratum", run_name="__main__")
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


ROLES = {
    "tally": role_tally,
    "review_start": role_review_start,
    "review_recover": role_review_recover,
    "chain": role_chain,
    "spend": role_spend,
    "bulk_submit": role_bulk_submit,
}
#: Roles that run their own event loop.
SYNC_ROLES = {"bulk_worker": role_bulk_worker}


def child(role: str, args: dict[str, Any]) -> int:
    for name, value in (args.get("env") or {}).items():
        os.environ[name] = str(value)
    if os.environ.get("TALLY_CONTRACT") == "v2":
        globals()["Tally"] = TallyV2  # the step's return annotation now names another contract
    configure(role, args)

    async def main() -> Any:
        try:
            return await ROLES[role](args)
        finally:
            await stratum.durable.shutdown()
            stratum.shutdown()

    try:
        if role in SYNC_ROLES:
            code = SYNC_ROLES[role](args)
            result: Any = {"ok": code}
        else:
            result = {"ok": asyncio.run(main())}
            # Steps executed again after a crash say how many of their requests the crash lost.
            result["lost"] = [
                {"function": r.function, "attempts": r.extra["lost_attempts"], "usd": r.extra["lost_usd_reserved"]}
                for r in stratum.trace.records() if "lost_attempts" in r.extra
            ]  # fmt: skip
            code = 0
    except BaseException as exc:
        result = {"error": type(exc).__name__, "fields": {k: str(v) for k, v in vars(exc).items()},
                  "trace": traceback.format_exc()}  # fmt: skip
        code = 1
    with open(args["out"], "w") as f:
        json.dump(result, f, default=str)
    return code


def host() -> None:
    # LiteLLM loads its tokenizer on the first count (a second, here): once, before any fork.
    litellm.token_counter(model="gpt-4o-mini", messages=[{"role": "user", "content": "warm-up"}])
    bulk = {"limited": LIMITED, "shared_concurrency": SHARED_CONCURRENCY}
    print(json.dumps({"ready": True, "budgets": BUDGETS, "bulk": bulk}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if "wait" in command:
            _, status = os.waitpid(command["wait"], 0)
            print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            sys.stdin.close()
            code = 1
            try:
                code = child(command["role"], command["args"])
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
    # The test closed stdin: exit at once. Tearing down an interpreter that has LiteLLM, DBOS and
    # SQLAlchemy loaded takes a second or two of CPU, and nothing here needs it.
    os._exit(0)


if __name__ == "__main__":
    host()
