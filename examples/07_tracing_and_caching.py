"""OpenTelemetry spans and result caching, end to end.

Spans go to a real OTLP/HTTP receiver started on 127.0.0.1 for the example
(point ``stratum.exporters.otel`` at Jaeger, Tempo, Honeycomb or Langfuse
instead: see docs/observability.md). The flow classifies two tickets twice:
the repeats are answered from the caches without a model call, and the
printed span tree shows which.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

import stratum
from _support import start
from stratum import compute, contract, flow, infer
from stratum.cache import SQLiteCacheStore
from stratum.testing.otlp_receiver import LocalOTLPReceiver


@contract
class Triage(BaseModel):
    team: Literal["billing", "shipping", "technical"]
    urgent: bool


@infer(intent="Route this support ticket to a team", cache="global")
def route(text: str) -> Triage: ...


@infer(intent="Write a one-line acknowledgement for a {team} ticket", cache="session")
def acknowledge(text: str, team: str) -> str: ...


@compute
def priority(triage: Triage) -> int:
    return 1 if triage.urgent else 3


@flow
async def handle(text: str) -> str:
    triage = await route(text=text)
    note = await acknowledge(text=text, team=triage.team)
    await acknowledge(text=text, team=triage.team)  # same flow, same inputs: the session cache answers
    return f"P{priority(triage)} {triage.team}: {note}"


SCRIPT = [
    {"team": "shipping", "urgent": True},
    {"result": "Thanks - we're tracking your parcel now."},
    {"team": "billing", "urgent": False},
    {"result": "Thanks - billing will look at your invoice."},
    # The second run of each ticket needs one more acknowledgement (a new flow, a new session);
    # the routing comes from the global cache.
    {"result": "Thanks - we're tracking your parcel now."},
    {"result": "Thanks - billing will look at your invoice."},
]


def print_tree(spans: list[dict[str, Any]]) -> None:
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: int(s["startTimeUnixNano"])):
        children.setdefault(span.get("parentSpanId"), []).append(span)

    def show(span: dict[str, Any], depth: int) -> None:
        values = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
        hit = " (cache hit)" if values.get("stratum.cache_hit") is True else ""
        ms = (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e6
        print(f"  {'  ' * depth}{span['name']}  {ms:.2f} ms{hit}")
        for child in children.get(span["spanId"], []):
            show(child, depth + 1)

    for root in children.get(None, []):
        show(root, 0)


def main() -> None:
    start("07_tracing_and_caching", SCRIPT)
    tickets = ["My parcel is two weeks late!", "I was charged twice this month."]
    with tempfile.TemporaryDirectory() as cache_dir, LocalOTLPReceiver() as receiver:
        store = SQLiteCacheStore(Path(cache_dir) / "cache.sqlite3")
        tracer = stratum.exporters.otel(receiver.endpoint, service_name="support-desk")
        stratum.configure(tracer=tracer, cache_store=store)
        for round_number in (1, 2):
            for ticket in tickets:
                print(f"round {round_number}: {stratum.run(handle(ticket))}")
        stratum.shutdown()  # sends the queued spans now (it also runs at exit)
        store.close()
        spans = receiver.spans()
        print(f"{len(spans)} spans in {len({s['traceId'] for s in spans})} traces received over OTLP/HTTP:")
        print_tree(spans)
    records = stratum.trace.records(kind="infer")
    hits = [r for r in records if r.cache_hit]
    steps = stratum.trace.records(kind="compute")
    print(f"trace records: {len(records)} @infer calls, {len(hits)} cache hits (cost 0, no request)")
    print(f"               {len(steps)} @compute steps")


if __name__ == "__main__":
    main()
