"""The stdio edges of a real `stratum-mcp` process: lines no SDK client would send, signals, and stdin closing."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform == "win32", reason="signals and pipes as on POSIX"),
]

PARSE_ERROR, INVALID_REQUEST = -32700, -32600


def test_valid_json_the_sdk_cannot_parse_is_answered_with_a_parse_error_carrying_its_id(raw_server: Any) -> None:
    server = raw_server()
    assert server.initialize()["result"]["serverInfo"]["name"] == "stratum"
    validate = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"stratum_validate","arguments":%s}}'
    server.send(validate % (7, '{"spec":"\\ud800"}'))  # a lone surrogate
    server.send(validate % (8, '{"spec":' + "9" * 5000 + "}"))  # an integer of 5,000 digits
    server.send(validate % (9, '{"spec":' + "[" * 300 + "]" * 300 + "}"))  # nested 300 levels deep
    answers = [server.receive() for _ in range(3)]
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(7, PARSE_ERROR), (8, PARSE_ERROR), (9, PARSE_ERROR)]
    # The server keeps serving.
    assert server.call(10, "stratum_validate", spec="version: '0.1'")["valid"] is False


def test_lines_that_are_not_requests_get_the_json_rpc_answer_and_notifications_get_none(raw_server: Any) -> None:
    server = raw_server()
    server.initialize()
    server.send('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"x":"\\ud800"}}')  # never answered
    server.send('{"jsonrpc": ')  # not JSON: the id cannot be known
    server.send('{"jsonrpc":"2.0","id":11,"method":5}')  # JSON, but not a JSON-RPC request
    server.send('{"jsonrpc":"2.0","id":"\\udc00","method":"ping","params":{"n":' + "1" * 5000 + "}}")  # id unusable
    answers = [server.receive() for _ in range(3)]
    assert [(a["id"], a["error"]["code"]) for a in answers] == [
        (None, PARSE_ERROR), (11, INVALID_REQUEST), (None, PARSE_ERROR)]
    assert server.request(12, "ping") == {"jsonrpc": "2.0", "id": 12, "result": {}}


@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_sigint_and_sigterm_stop_the_server_quietly_while_stdin_stays_open(
    raw_server: Any, review_spec: str, tmp_path: Path, stop: signal.Signals, status: int,
) -> None:
    db = tmp_path / "flows.db"
    server = raw_server(db)
    server.initialize()
    first = server.call(1, "stratum_plan", spec=review_spec, flow="review", inputs={"text": "I love it."})
    server.process.send_signal(stop)
    # The client never closes stdin: the signal alone must end the process (bounded wait, not a speed claim).
    assert server.wait(timeout=30) == status
    assert "Traceback" not in server.stderr()
    # Every answer was persisted before it was sent: a new server continues the run.
    again = raw_server(db)
    again.initialize()
    assert again.call(2, "stratum_audit", flow_id=first["flow_id"])["current_step"] == "classify"


def test_the_server_exits_when_stdin_closes_right_after_a_heavy_step_report(
    raw_server: Any, specs: Path,
) -> None:
    spec = (specs / "hostile-template.yaml").read_text().replace(
        "ENSURE", "[[0] * result.n] * result.n == [[0] * result.n] * result.n")
    server = raw_server()
    server.initialize()
    first = server.call(1, "stratum_plan", spec=spec, flow="main", inputs={})
    answer = server.call(2, "stratum_step_done", flow_id=first["flow_id"], step_id="only", result={"n": 10_000})
    assert answer["status"] == "ensure_failed" and "nested items limit" in answer["violations"][0]["message"]
    # The client sends the same report and leaves at once, as a client that gave up would.
    server.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "stratum_step_done", "arguments": {"flow_id": first["flow_id"], "step_id": "only",
                                                   "result": {"n": 10_000}}}})
    server.close_stdin()
    # Unbounded, this comparison ran for half an hour after its client had gone; 30 s only bounds the wait.
    assert server.wait(timeout=30) == 0
    assert "Traceback" not in server.stderr()
