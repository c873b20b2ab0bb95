"""The span tree: flows are roots, @infer and @compute are children, branches are siblings."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import Any

import pytest
from pydantic import BaseModel

import stratum
from stratum import PostconditionFailed, compute, contract, flow, infer
from stratum.testing import Reply, ScriptedClient
from stratum.trace import KIND_CLIENT, KIND_INTERNAL, STATUS_ERROR, STATUS_UNSET, SpanData


class Collect:
    """An in-memory tracer: the smallest thing ``configure(tracer=...)`` accepts."""

    def __init__(self) -> None:
        self.spans: list[SpanData] = []
        self._lock = threading.Lock()

    def export(self, span: SpanData) -> None:
        with self._lock:
            self.spans.append(span)

    def named(self, name: str) -> list[SpanData]:
        """Spans called ``name`` ("infer judge"), also when the function is local to a test."""
        kind, _, function = name.partition(" ")
        return [
            s for s in self.spans
            if s.name.partition(" ")[0] == kind and s.name.partition(" ")[2].split(".")[-1] == function
        ]

    def one(self, name: str) -> SpanData:
        (span,) = self.named(name)
        return span


@pytest.fixture
def tracer() -> Collect:
    collect = Collect()
    stratum.configure(tracer=collect)
    return collect


@contract
class Verdict(BaseModel):
    label: str
    confidence: float


def ok(label: str = "yes", confidence: float = 0.9) -> dict[str, object]:
    return {"label": label, "confidence": confidence}


@infer(intent="Judge the text", ensure=lambda r: r.confidence > 0.5, retries=2)
def judge(text: str) -> Verdict: ...


@infer(intent="Judge the text strictly", ensure=lambda r: r.confidence > 0.99, retries=1)
def strict(text: str) -> Verdict: ...


@compute
def shout(text: str) -> str:
    return text.upper()


@compute
async def whisper(text: str) -> str:
    await asyncio.sleep(0)
    return text.lower()


@compute
def explode(text: str) -> str:
    raise KeyError(text)


@flow
async def pipeline(text: str) -> str:
    verdict = await judge(text=text)
    return shout(verdict.label) + await whisper("DONE")


async def test_a_flow_call_is_one_trace_rooted_at_the_flow_span(scripted: ScriptedClient, tracer: Collect) -> None:
    scripted.push(ok())
    assert await pipeline("hello") == "YESdone"
    root = tracer.one("flow pipeline")
    assert root.parent_span_id is None and root.kind == KIND_INTERNAL
    assert {s.trace_id for s in tracer.spans} == {root.trace_id}
    assert len(root.trace_id) == 32 and len(root.span_id) == 16
    assert root.attributes["stratum.flow_id"] == stratum.trace.all_records()[0].flow_id


async def test_infer_and_compute_inside_a_flow_are_children_of_the_flow_span(
    scripted: ScriptedClient, tracer: Collect
) -> None:
    scripted.push(ok())
    await pipeline("hello")
    root = tracer.one("flow pipeline")
    infer_span = tracer.one("infer judge")
    assert infer_span.kind == KIND_CLIENT
    for name in ("infer judge", "compute shout", "compute whisper"):
        child = tracer.one(name)
        assert child.parent_span_id == root.span_id, name
        assert root.start_ns <= child.start_ns <= child.end_ns <= root.end_ns
    assert tracer.one("compute shout").attributes["stratum.flow_id"] == root.attributes["stratum.flow_id"]


async def test_concurrent_branches_are_siblings_under_the_callers_span(
    scripted: ScriptedClient, tracer: Collect, wait_until: Any) -> None:
    scripted.push(*(ok() for _ in range(6)))

    @flow
    async def fan_out() -> None:
        await asyncio.gather(*(judge(text=f"g{i}") for i in range(3)))
        async with asyncio.TaskGroup() as group:
            for i in range(3):
                group.create_task(judge(text=f"t{i}"))

    scripted.hold()  # the gathered three are answered only once all three were asked
    running = asyncio.create_task(fan_out())
    await wait_until(lambda: scripted.in_flight == 3)
    scripted.release()
    await running
    root = tracer.one("flow fan_out")
    children = tracer.named("infer judge")
    assert len(children) == 6
    assert {c.parent_span_id for c in children} == {root.span_id}
    assert len({c.span_id for c in children}) == 6
    gathered = sorted(children, key=lambda s: s.start_ns)[:3]
    # Concurrent, not sequential: every branch started before any ended.
    assert max(s.start_ns for s in gathered) < min(s.end_ns for s in gathered)


async def test_concurrent_flows_never_share_parents(scripted: ScriptedClient, tracer: Collect) -> None:
    scripted.latency_s = 0.02
    scripted.push(*(ok() for _ in range(10)))

    @flow
    async def two_steps(i: int) -> None:
        await judge(text=f"a{i}")
        await judge(text=f"b{i}")

    await asyncio.gather(*(two_steps(i) for i in range(5)))
    roots = tracer.named("flow two_steps")
    assert len({r.trace_id for r in roots}) == 5
    by_span = {r.span_id: r for r in roots}
    for child in tracer.named("infer judge"):
        parent = by_span[child.parent_span_id]  # type: ignore[index]
        assert child.trace_id == parent.trace_id
        assert child.attributes["stratum.flow_id"] == parent.attributes["stratum.flow_id"]
    per_flow = [len([c for c in tracer.named("infer judge") if c.parent_span_id == r.span_id]) for r in roots]
    assert per_flow == [2] * 5


async def test_a_nested_flow_is_a_child_span_in_the_same_trace(scripted: ScriptedClient, tracer: Collect) -> None:
    scripted.push(ok())

    @flow
    async def outer() -> str:
        return await pipeline("x")

    await outer()
    outer_span, inner_span = tracer.one("flow outer"), tracer.one("flow pipeline")
    assert inner_span.parent_span_id == outer_span.span_id
    assert tracer.one("infer judge").parent_span_id == inner_span.span_id
    assert {s.trace_id for s in tracer.spans} == {outer_span.trace_id}


async def test_an_infer_call_outside_a_flow_is_a_root_span(scripted: ScriptedClient, tracer: Collect) -> None:
    scripted.push(ok(), ok())
    await judge(text="a")
    await judge(text="b")
    first, second = tracer.named("infer judge")
    assert first.parent_span_id is None and second.parent_span_id is None
    assert first.trace_id != second.trace_id
    assert stratum.trace.current_span() is None


def test_a_compute_call_outside_a_flow_makes_no_span(tracer: Collect) -> None:
    assert shout("a") == "A"
    assert tracer.spans == []


async def test_each_failed_attempt_is_an_event_carrying_its_violations(
    scripted: ScriptedClient, tracer: Collect
) -> None:
    scripted.push({"label": "x", "confidence": "high"}, ok(confidence=0.2), ok())
    await judge(text="t")
    span = tracer.one("infer judge")
    assert span.status_code == STATUS_UNSET
    assert span.attributes["stratum.attempts"] == 3
    first, second = span.events
    assert first.name == second.name == "stratum.attempt.failed"
    assert first.attributes["stratum.attempt"] == 1
    assert first.attributes["stratum.violation_kinds"] == ["parse"]
    assert "confidence" in first.attributes["stratum.violations"][0]
    assert second.attributes["stratum.attempt"] == 2
    assert second.attributes["stratum.violation_kinds"] == ["ensure"]
    assert second.attributes["stratum.violations"] == ["ensure `r.confidence > 0.5` failed (actual: confidence=0.2)"]
    assert first.attributes["stratum.compiled_prompt_hash"] == span.attributes["stratum.compiled_prompt_hash"]
    assert span.start_ns <= first.time_ns <= second.time_ns <= span.end_ns


async def test_a_failed_call_sets_status_error_with_error_type(scripted: ScriptedClient, tracer: Collect) -> None:
    scripted.push(ok(confidence=0.6), ok(confidence=0.7))

    @flow
    async def run_strict() -> Verdict:
        return await strict(text="t")

    with pytest.raises(PostconditionFailed):
        await run_strict()
    for name in ("infer strict", "flow run_strict"):
        span = tracer.one(name)
        assert span.status_code == STATUS_ERROR, name
        assert span.attributes["error.type"] == "stratum.exceptions.PostconditionFailed"
        assert span.events[-1].name == "exception"
        assert span.events[-1].attributes["exception.type"] == "stratum.exceptions.PostconditionFailed"
    assert [e.name for e in tracer.one("infer strict").events] == ["stratum.attempt.failed"] * 2 + ["exception"]


async def test_a_failing_compute_sets_status_error_and_still_raises(tracer: Collect) -> None:
    @flow
    async def boom() -> str:
        return explode("k")

    with pytest.raises(KeyError):
        await boom()
    span = tracer.one("compute explode")
    assert span.status_code == STATUS_ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert tracer.one("flow boom").status_code == STATUS_ERROR


def test_compute_keeps_its_signature_and_its_sync_or_async_nature() -> None:
    def plain(text: str, n: int = 2) -> str:
        return text * n

    async def coro(text: str, *, n: int = 2) -> str:
        return text * n

    wrapped_plain, wrapped_coro = compute(plain), compute(coro)
    assert inspect.signature(wrapped_plain) == inspect.signature(plain)
    assert inspect.signature(wrapped_coro) == inspect.signature(coro)
    assert not inspect.iscoroutinefunction(wrapped_plain)
    assert inspect.iscoroutinefunction(wrapped_coro)
    assert wrapped_plain.__name__ == "plain" and wrapped_plain.__stratum_compute__ is True  # type: ignore[attr-defined]
    assert wrapped_plain("ab") == "abab"
    assert asyncio.run(wrapped_coro("ab", n=3)) == "ababab"


async def test_no_tracer_means_no_span_is_ever_opened(scripted: ScriptedClient) -> None:
    scripted.push(ok())
    seen: list[object] = []

    @compute
    def peek() -> None:
        seen.append(stratum.trace.current_span())

    @flow
    async def quiet() -> None:
        await judge(text="t")
        peek()

    await quiet()
    assert seen == [None]


async def test_a_tracer_that_raises_never_breaks_the_call(
    scripted: ScriptedClient, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def export(self, span: SpanData) -> None:
            raise RuntimeError("collector bug")

    stratum.configure(tracer=Broken())
    scripted.push(ok())
    with caplog.at_level(logging.WARNING, logger="stratum.spans"):
        assert await pipeline("x") == "YESdone"
    assert any("failed to export" in r.getMessage() for r in caplog.records)


def test_configure_rejects_a_tracer_without_export() -> None:
    with pytest.raises(stratum.StratumConfigError, match="export"):
        stratum.configure(tracer=object())


async def test_infer_span_carries_genai_and_stratum_attributes(tracer: Collect) -> None:
    reply = Reply(content='{"label": "yes", "confidence": 0.9}', input_tokens=120, output_tokens=7, cost_usd=0.00042)
    client = ScriptedClient([reply])
    stratum.configure(client=client, default_model="anthropic/claude-sonnet-4-5")

    @infer(intent="Judge", temperature=0.2)
    def warm(text: str) -> Verdict: ...

    await warm(text="t")
    record = stratum.trace.all_records()[0]
    attributes = dict(tracer.one("infer warm").attributes)
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.model": "anthropic/claude-sonnet-4-5",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 7,
        "stratum.model": "anthropic/claude-sonnet-4-5",
        "stratum.function": record.function,
        "stratum.contract_hash": record.contract_hash,
        "stratum.compiled_prompt_hash": record.compiled_prompt_hash,
        "stratum.attempts": 1,
        "stratum.cost_usd": 0.00042,
        "stratum.cache_hit": False,
    }


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("openai/gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("gpt-4o", ("openai", "gpt-4o")),
        ("claude-3-5-haiku", ("anthropic", "claude-3-5-haiku")),
        ("bedrock/anthropic.claude-v2", ("aws.bedrock", "anthropic.claude-v2")),
        ("gemini/gemini-2.0-flash", ("gcp.gemini", "gemini-2.0-flash")),
        ("openrouter/meta/llama-3", ("openrouter", "meta/llama-3")),
        ("test-model", ("_OTHER", "test-model")),
    ],
)
async def test_model_routes_map_to_genai_provider_names(route: str, expected: tuple[str, str], tracer: Collect) -> None:
    stratum.configure(client=ScriptedClient([ok()]), default_model=route)
    await judge(text="t")
    attributes = tracer.one("infer judge").attributes
    assert (attributes["gen_ai.provider.name"], attributes["gen_ai.request.model"]) == expected
