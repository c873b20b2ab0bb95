"""OTLP/HTTP JSON export against a real receiver on 127.0.0.1.

Every payload the receiver captures is parsed into the official
``ExportTraceServiceRequest`` protobuf (from ``opentelemetry-proto``, a
test-only dependency) after mapping the hex ids to base64 as the OTLP/JSON
specification requires, so a misspelt field or a wrong type fails the test.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import BaseModel

import stratum
from stratum import contract, flow, infer
from stratum.exporters import OTLPExporter
from stratum.testing import ScriptedClient
from stratum.testing.openai_server import LocalOpenAIServer, Served
from stratum.testing.otlp_receiver import Answer, LocalOTLPReceiver
from stratum.trace import KIND_INTERNAL, SpanData

_HEX = {"traceId": 32, "spanId": 16, "parentSpanId": 16}


def as_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse OTLP/JSON strictly: hex ids become base64 (protobuf's bytes form) first."""
    data = json.loads(body)
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key, size in _HEX.items():
                    if key in span:
                        assert re.fullmatch(f"[0-9a-f]{{{size}}}", span[key]), (key, span[key])
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(data, ExportTraceServiceRequest())


@pytest.fixture
def receiver() -> Iterator[LocalOTLPReceiver]:
    with LocalOTLPReceiver() as rx:
        yield rx
        for request in list(rx.requests):
            as_protobuf(request.body)  # every captured payload obeys the schema


@pytest.fixture
def make_exporter() -> Iterator[Callable[..., OTLPExporter]]:
    made: list[OTLPExporter] = []

    def make(endpoint: str, **options: Any) -> OTLPExporter:
        settings: dict[str, Any] = {"flush_interval_s": 0.05, "retry_initial_s": 0.01, "retry_max_s": 0.05}
        settings.update(options)
        exporter = stratum.exporters.otel(endpoint, **settings)
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        exporter.shutdown(1.0)


@contract
class Verdict(BaseModel):
    label: str
    confidence: float


@infer(intent="Judge the text", ensure=lambda r: r.confidence > 0.5, retries=2)
def judge(text: str) -> Verdict: ...


@flow
async def review(text: str) -> Verdict:
    return await judge(text=text)


def span(name: str = "s") -> SpanData:
    now = time.time_ns()
    return SpanData(
        trace_id="a" * 32, span_id="b" * 16, parent_span_id=None, name=name, kind=KIND_INTERNAL, start_ns=now,
        end_ns=now + 1, attributes={"n": 1},
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def attributes(span_json: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in span_json.get("attributes", [])}


# -- encoding -----------------------------------------------------------------------
async def test_payload_follows_the_otlp_json_encoding(
    scripted: ScriptedClient, receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    stratum.configure(tracer=make_exporter(receiver.endpoint, service_name="tickets"))
    scripted.push({"label": "x", "confidence": 0.1}, {"label": "x", "confidence": 0.9})
    await review("hi")
    assert stratum.shutdown(5.0) is True
    (request,) = receiver.accepted()
    assert request.path == "/v1/traces"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    (resource,) = body["resourceSpans"]
    assert {"key": "service.name", "value": {"stringValue": "tickets"}} in resource["resource"]["attributes"]
    (scope,) = resource["scopeSpans"]
    assert scope["scope"] == {"name": "stratum", "version": stratum.__version__}
    by_name = {s["name"]: s for s in scope["spans"]}
    root, child = by_name["flow review"], by_name["infer judge"]
    assert "parentSpanId" not in root and child["parentSpanId"] == root["spanId"]
    assert child["traceId"] == root["traceId"]
    assert root["kind"] == 1 and child["kind"] == 3  # enums are integers
    for s in (root, child):
        assert re.fullmatch(r"[0-9]{19}", s["startTimeUnixNano"]) and re.fullmatch(r"[0-9]{19}", s["endTimeUnixNano"])
    values = attributes(child)
    assert values["stratum.attempts"] == {"intValue": "2"}  # int64 as a string
    assert values["stratum.cache_hit"] == {"boolValue": False}
    (event,) = child["events"]
    assert event["name"] == "stratum.attempt.failed" and re.fullmatch(r"[0-9]{19}", event["timeUnixNano"])
    violations = attributes(event)["stratum.violations"]["arrayValue"]["values"]
    assert violations == [{"stringValue": "ensure `r.confidence > 0.5` failed (actual: confidence=0.1)"}]
    parsed = as_protobuf(request.body)
    assert len(parsed.resource_spans[0].scope_spans[0].spans) == 2


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    good = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "a" * 32, "spanId": "b" * 16, "name": "x", "kind": 1, "startTimeUnixNano": "1"}
    ]}]}]}).encode()  # fmt: skip
    as_protobuf(good)
    with pytest.raises(json_format.ParseError):
        as_protobuf(good.replace(b"startTimeUnixNano", b"startTimeUnixNanos"))
    with pytest.raises(AssertionError):
        as_protobuf(good.replace(b'"' + b"a" * 32, b'"' + b"A" * 32))  # ids are lowercase hex


async def test_an_error_span_has_status_error_and_error_type(
    scripted: ScriptedClient, receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    stratum.configure(tracer=make_exporter(receiver.endpoint))
    scripted.push(*({"label": "x", "confidence": 0.1} for _ in range(3)))
    with pytest.raises(stratum.PostconditionFailed):
        await review("hi")
    spans = receiver.wait_for_spans(2)
    for s in spans:
        assert s["status"]["code"] == 2
        assert attributes(s)["error.type"] == {"stringValue": "stratum.exceptions.PostconditionFailed"}
    infer_span = next(s for s in spans if s["name"] == "infer judge")
    assert [e["name"] for e in infer_span["events"]] == ["stratum.attempt.failed"] * 3 + ["exception"]


async def test_spans_through_litellm_carry_genai_attributes(
    via_litellm: LocalOpenAIServer, receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    stratum.configure(tracer=make_exporter(receiver.endpoint))
    via_litellm.push(
        Served(content={"label": "yes", "confidence": 0.2}, prompt_tokens=300, completion_tokens=10),
        Served(content={"label": "yes", "confidence": 0.95}, prompt_tokens=321, completion_tokens=12),
    )
    await review("great")
    spans = receiver.wait_for_spans(2)
    infer_span = next(s for s in spans if s["name"] == "infer judge")
    flow_span = next(s for s in spans if s["name"] == "flow review")
    assert infer_span["parentSpanId"] == flow_span["spanId"] and infer_span["traceId"] == flow_span["traceId"]
    (event,) = infer_span["events"]
    assert attributes(event)["stratum.violations"]["arrayValue"]["values"] == [
        {"stringValue": "ensure `r.confidence > 0.5` failed (actual: confidence=0.2)"}
    ]
    values = attributes(infer_span)
    assert values["gen_ai.operation.name"] == {"stringValue": "chat"}
    assert values["gen_ai.provider.name"] == values["gen_ai.system"] == {"stringValue": "openai"}
    assert values["gen_ai.request.model"] == {"stringValue": "gpt-4o-mini"}
    assert values["gen_ai.response.model"] == {"stringValue": "gpt-4o-mini"}
    assert values["gen_ai.usage.input_tokens"] == {"intValue": "621"}  # both attempts
    assert values["gen_ai.usage.output_tokens"] == {"intValue": "22"}
    assert values["stratum.attempts"] == {"intValue": "2"}
    record = stratum.trace.all_records()[0]
    assert values["stratum.cost_usd"] == {"doubleValue": pytest.approx(record.cost_usd)}
    assert record.cost_usd and record.cost_usd > 0
    assert values["stratum.flow_id"] == {"stringValue": record.flow_id}
    assert values["stratum.contract_hash"] == {"stringValue": record.contract_hash}
    assert values["stratum.compiled_prompt_hash"] == {"stringValue": record.compiled_prompt_hash}


# -- batching -------------------------------------------------------------------------
def test_a_full_batch_is_sent_without_waiting_for_the_interval(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    exporter = make_exporter(receiver.endpoint, flush_interval_s=60, max_batch_size=3)
    for i in range(3):
        exporter.export(span(f"s{i}"))
    assert [s["name"] for s in receiver.wait_for_spans(3)] == ["s0", "s1", "s2"]


def test_a_partial_batch_is_sent_when_the_interval_passes(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    exporter = make_exporter(receiver.endpoint, flush_interval_s=0.1, max_batch_size=100)
    exporter.export(span("alone"))
    assert [s["name"] for s in receiver.wait_for_spans(1)] == ["alone"]
    assert exporter.flush(5.0)
    assert exporter.stats().exported == 1


def test_a_full_queue_drops_the_oldest_spans_and_counts_them(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    exporter = make_exporter(receiver.endpoint, flush_interval_s=60, max_batch_size=100, max_queue_size=4)
    for i in range(10):
        exporter.export(span(f"s{i}"))
    assert exporter.stats().dropped_queue_full == 6
    assert exporter.flush(5.0) is True
    assert [s["name"] for s in receiver.spans()] == ["s6", "s7", "s8", "s9"]
    assert exporter.stats().exported == 4


async def test_export_never_waits_for_the_receiver(
    scripted: ScriptedClient, receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    receiver.push(Answer(delay_s=30))  # the first POST is held until release()
    stratum.configure(tracer=make_exporter(receiver.endpoint, max_batch_size=1))
    scripted.push(*({"label": "x", "confidence": 0.9} for _ in range(20)))
    for i in range(10):
        await review(f"t{i}")
    assert len(stratum.trace.all_records()) == 10
    # Every flow finished while the first POST was still unanswered.
    assert receiver.requests == type(receiver.requests)()
    receiver.release()
    assert len(receiver.wait_for_spans(20)) == 20


# -- retries and failures ------------------------------------------------------------
def test_a_503_is_retried_and_the_batch_arrives_once(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    receiver.push(Answer(status=503), Answer(status=503))
    exporter = make_exporter(receiver.endpoint)
    exporter.export(span("kept"))
    assert [s["name"] for s in receiver.wait_for_spans(1)] == ["kept"]
    assert exporter.flush(5.0)
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    assert receiver.requests[0].body == receiver.requests[2].body
    stats = exporter.stats()
    assert (stats.retries, stats.exported, stats.dropped) == (2, 1, 0)


def test_retry_after_is_honoured(receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]) -> None:
    receiver.push(Answer(status=429, headers={"Retry-After": "0.5"}))
    exporter = make_exporter(receiver.endpoint, retry_initial_s=0.001, retry_max_s=2.0)
    exporter.export(span())
    first, second = receiver.wait_for_requests(2)
    # A lower bound on the wait the receiver asked for, not a speed limit: load only lengthens it.
    assert second.received_at - first.received_at >= 0.45  # backoff alone would be ~1 ms


def test_retry_after_is_capped_by_retry_max_s(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    receiver.push(Answer(status=429, headers={"Retry-After": "3600"}))
    exporter = make_exporter(receiver.endpoint, retry_initial_s=0.001, retry_max_s=0.05)
    exporter.export(span())
    # Not a speed assertion: uncapped, the exporter would wait the hour (or drop the batch).
    assert exporter.flush(30.0)
    assert [r.status for r in receiver.requests] == [429, 200]


def test_a_permanent_4xx_drops_the_batch_with_one_warning(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter], caplog: pytest.LogCaptureFixture
) -> None:
    receiver.push(Answer(status=400, body={"message": "bad"}), Answer(status=400, body={"message": "bad"}))
    exporter = make_exporter(receiver.endpoint, max_batch_size=1, flush_interval_s=60)
    with caplog.at_level(logging.WARNING, logger="stratum.exporters.otlp"):
        exporter.export(span("a"))
        assert exporter.flush(5.0) is False
        exporter.export(span("b"))
        assert exporter.flush(5.0) is False
    assert [r.status for r in receiver.requests] == [400, 400]  # not retried
    stats = exporter.stats()
    assert (stats.dropped_failed, stats.retries, stats.exported) == (2, 0, 0)
    warned = [r for r in caplog.records if r.name == "stratum.exporters.otlp"]
    assert len(warned) == 1 and "HTTP 400" in warned[0].getMessage()


async def test_a_collector_that_is_down_leaves_user_code_unaffected_and_counts_drops(
    scripted: ScriptedClient, make_exporter: Callable[..., OTLPExporter], caplog: pytest.LogCaptureFixture
) -> None:
    exporter = make_exporter(f"http://127.0.0.1:{free_port()}", max_retry_s=0.3)
    stratum.configure(tracer=exporter)
    scripted.push({"label": "x", "confidence": 0.9})
    with caplog.at_level(logging.WARNING, logger="stratum.exporters.otlp"):
        assert (await review("hi")).label == "x"
        assert await asyncio.to_thread(exporter.flush, 30.0) is False
    # Given up on after max_retry_s (flush returned as soon as both spans were dropped), not hanging.
    stats = exporter.stats()
    assert stats.dropped_failed == 2 and stats.exported == 0 and stats.retries >= 1
    assert any("ConnectError" in r.getMessage() for r in caplog.records)


def test_partial_success_rejections_are_counted(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter], caplog: pytest.LogCaptureFixture
) -> None:
    receiver.push(Answer(body={"partialSuccess": {"rejectedSpans": "1", "errorMessage": "too old"}}))
    exporter = make_exporter(receiver.endpoint)
    with caplog.at_level(logging.WARNING, logger="stratum.exporters.otlp"):
        exporter.export(span())
        assert exporter.flush(5.0)
    assert exporter.stats().rejected == 1
    assert any("too old" in r.getMessage() for r in caplog.records)


# -- shutdown -----------------------------------------------------------------------
async def test_shutdown_sends_every_queued_span(
    scripted: ScriptedClient, receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    exporter = make_exporter(receiver.endpoint, flush_interval_s=60)
    stratum.configure(tracer=exporter)
    scripted.push(*({"label": "x", "confidence": 0.9} for _ in range(3)))
    for i in range(3):
        await review(f"t{i}")
    assert receiver.requests == type(receiver.requests)()  # nothing sent yet: the interval is a minute
    assert stratum.shutdown(5.0) is True
    assert len(receiver.spans()) == 6
    exporter.export(span("late"))
    assert exporter.stats().dropped_after_shutdown == 1


def test_shutdown_gives_up_at_its_deadline_when_the_collector_is_down(
    make_exporter: Callable[..., OTLPExporter],
) -> None:
    exporter = make_exporter(f"http://127.0.0.1:{free_port()}", flush_interval_s=60, max_retry_s=60)
    for _ in range(5):
        exporter.export(span())
    assert exporter.shutdown(0.5) is False
    # Dropped when shutdown returned: the sender gave up at the deadline, not after max_retry_s.
    stats = exporter.stats()
    assert (stats.dropped_failed, stats.queued, stats.exported) == (5, 0, 0)


def _run_script(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, env=environment
    )


_SCRIPT_PRELUDE = """
    import os, stratum
    from stratum import flow
    from stratum.testing import ScriptedClient

    @stratum.infer(intent="Say yes")
    def yes(text: str) -> str: ...

    @flow
    async def main(tag: str) -> str:
        return await yes(text=tag)

    stratum.configure(
        client=ScriptedClient(respond=lambda request: {"result": "yes"}),
        default_model="test-model",
        tracer=stratum.exporters.otel(os.environ["ENDPOINT"], service_name=os.environ["SERVICE"], flush_interval_s=60),
    )
"""


def test_queued_spans_are_sent_at_interpreter_exit(receiver: LocalOTLPReceiver) -> None:
    code = _SCRIPT_PRELUDE + "\n    stratum.run(main('exit'))\n"
    done = _run_script(code, ENDPOINT=receiver.endpoint, SERVICE="exit")
    assert done.returncode == 0, done.stderr
    assert sorted(s["name"] for s in receiver.spans()) == ["flow main", "infer yes"]


def test_a_forked_child_exports_its_own_spans(receiver: LocalOTLPReceiver) -> None:
    code = _SCRIPT_PRELUDE + """
    stratum.run(main("parent-before-fork"))  # starts the parent's sender thread
    pid = os.fork()
    if pid == 0:
        stratum.run(main("child"))
        os._exit(0 if stratum.shutdown(5.0) else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    """
    done = _run_script(code, ENDPOINT=receiver.endpoint, SERVICE="fork")
    assert done.returncode == 0, done.stderr
    flow_ids = {attributes(s)["stratum.flow_id"]["stringValue"] for s in receiver.spans() if s["name"] == "flow main"}
    assert len(flow_ids) == 2  # the parent's (sent at its exit) and the child's
    assert len(receiver.spans()) == 4


# -- configuration ---------------------------------------------------------------------
def test_endpoint_gets_the_traces_path_once_and_headers_are_sent(
    receiver: LocalOTLPReceiver, make_exporter: Callable[..., OTLPExporter]
) -> None:
    assert make_exporter("http://collector:4318/").url == "http://collector:4318/v1/traces"
    assert make_exporter("https://otel.example/api/public/otel/v1/traces").url == (
        "https://otel.example/api/public/otel/v1/traces"
    )
    exporter = stratum.exporters.otel(receiver.endpoint, headers={"Authorization": "Basic c2VjcmV0"})
    exporter.export(span())
    assert exporter.shutdown(5.0)
    assert receiver.requests[0].headers["authorization"] == "Basic c2VjcmV0"


def test_standard_environment_variables_configure_the_exporter(
    receiver: LocalOTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=abc%3D%3D,x-extra = 1")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    exporter = stratum.exporters.otel()
    assert exporter.url == receiver.endpoint + "/v1/traces"
    exporter.export(span())
    assert exporter.shutdown(5.0)
    request = receiver.requests[0]
    assert request.headers["x-honeycomb-team"] == "abc=="
    assert request.headers["x-extra"] == "1"
    resource = request.json()["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "from-env"}} in resource
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://direct:1234/custom")
    assert stratum.exporters.otel().url == "http://direct:1234/custom"


@pytest.mark.parametrize("endpoint", ["http://localhost:4317", "https://collector.example:4317/v1/traces"])
def test_the_grpc_port_is_refused_when_the_exporter_is_built(endpoint: str) -> None:
    says = r"4317 is OTLP/gRPC.*use http://localhost:4318"
    with pytest.raises(stratum.StratumConfigError, match=says):
        stratum.exporters.otel(endpoint)
    with pytest.raises(stratum.StratumConfigError, match=says):
        stratum.exporters.OTLPExporter(endpoint)


def test_the_grpc_port_in_the_environment_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317")
    with pytest.raises(stratum.StratumConfigError):
        stratum.configure(tracer=stratum.exporters.otel())
    assert stratum.get_config().tracer is None


@pytest.mark.parametrize(
    ("endpoint", "options"),
    [
        ("localhost:4318", {}),
        ("grpc://localhost:4317", {}),
        ("http://localhost:4318", {"max_queue_size": 0}),
        ("http://localhost:4318", {"flush_interval_s": 0}),
        ("http://localhost:4318", {"timeout_s": -1}),
    ],
)
def test_bad_exporter_settings_are_refused(endpoint: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        stratum.exporters.otel(endpoint, **options)


def test_stratum_shutdown_also_closes_a_custom_tracer() -> None:
    class Custom:
        closed = False

        def export(self, span: SpanData) -> None: ...

        def shutdown(self) -> bool:
            Custom.closed = True
            return True

    stratum.configure(tracer=Custom())
    assert stratum.shutdown(1.0) is True
    assert Custom.closed


def test_stratum_shutdown_flushes_an_exporter_that_is_not_the_configured_tracer(receiver: LocalOTLPReceiver) -> None:
    exporter = OTLPExporter(receiver.endpoint + "/v1/traces", flush_interval_s=60)
    exporter.export(span("side"))
    assert stratum.shutdown(5.0) is True
    assert [s["name"] for s in receiver.spans()] == ["side"]


def test_exporters_are_tracked_weakly() -> None:
    exporter = OTLPExporter("http://127.0.0.1:9/v1/traces")
    exporter.shutdown(0.1)
    gone = weakref.ref(exporter)
    del exporter
    gc.collect()
    assert gone() is None  # the exit-time registry does not keep it alive


def test_import_stratum_loads_no_http_client_database_or_redis() -> None:
    code = "import sys, stratum; print(sorted(m for m in ('httpx', 'sqlite3', 'redis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
