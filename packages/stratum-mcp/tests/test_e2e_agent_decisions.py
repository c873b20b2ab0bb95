"""The agent's own decisions over stdio, and a server that keeps answering while it judges a heavy result.

A real `stratum-mcp` subprocess, driven by the MCP SDK's ClientSession: the agent
skips steps and aborts loops with valid arguments, a gate's `on_approve` names a
later step, a parallel step needs any one task, and a ping is answered while a
report's ensure expressions are still being evaluated.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import struct
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytestmark = pytest.mark.e2e

SPEC = """\
version: "0.2"
contracts:
  Draft: {text: string, score: number}
  Done: {ok: boolean}
  Findings:
    findings: {type: array, items: {type: object, properties: {id: string}}}
  Plan:
    tasks: {type: array, items: {type: object, properties: {id: string, description: string}}}
  Build: {built: string}
  Rows: {a: array, b: array}
functions:
  write: {mode: infer, intent: Write the draft., output: Draft}
  finish: {mode: compute, intent: Publish it., output: Done}
  approve: {mode: gate, intent: Approve the draft.}
flows:
  skipping:
    output: Done
    steps:
      - {id: write, function: write}
      - {id: review, function: approve}
      - {id: polish, intent: Polish the draft., output_contract: Draft, inputs: {text: $.steps.write.output.text}}
      - {id: publish, function: finish}
  hunting:
    output: Findings
    steps:
      - id: hunt
        intent: Look for issues; report each once.
        output_contract: Findings
        max_iterations: 5
        accumulate: findings
        accumulate_key: id
        exit_criterion: "False"
  approving:
    output: Done
    steps:
      - {id: write, function: write}
      - {id: review, function: approve, on_approve: publish, on_kill: polish}
      - {id: polish, intent: Polish the draft., output_contract: Draft}
      - {id: publish, intent: Publish it., output_contract: Done, inputs: {polished: $.steps.polish.output}}
  racing:
    steps:
      - {id: plan, intent: Split the work into tasks., output_contract: Plan}
      - id: build
        type: parallel_dispatch
        source: $.steps.plan.output.tasks
        require: any
        max_concurrent: 2
        intent_template: "Build {task.description}"
        output_contract: Build
        retries: 0
      - {id: publish, intent: Publish what was built., output_contract: Done,
         inputs: {built: $.steps.build.output.outputs}}
"""
DRAFT = {"text": "a draft", "score": 0.9}
DONE = {"ok": True}
A, B = {"id": "a"}, {"id": "b"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "flows.db"


def test_the_agent_skips_an_optional_step_but_is_refused_a_gate_and_the_step_whose_output_is_the_flows(
    mcp_client: Any, run_async: Any, db: Path,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            first = await client.call("stratum_plan", spec=SPEC, flow="skipping", inputs={})
            flow_id = first["flow_id"]
            gate = await client.call("stratum_skip_step", flow_id=flow_id, step_id="write", reason="already written")
            assert (gate["status"], gate["step_id"]) == ("await_gate", "review")
            skipped = gate["events"][0]
            assert (skipped["event"], skipped["reason"], skipped["by"]) == ("step_skipped", "already written", "agent")

            refused = await client.call("stratum_skip_step", flow_id=flow_id, step_id="review", reason="no time")
            assert (refused["status"], refused["error"], refused["step_id"]) == ("error", "skip_refused", "review")
            assert "gate" in refused["message"]
            assert (await client.call("stratum_resume", flow_id=flow_id))["status"] == "await_gate"  # unchanged

            polish = await client.call("stratum_gate_resolve", flow_id=flow_id, step_id="review", outcome="approve",
                                       rationale="go on")
            assert (polish["step_id"], polish["inputs"]) == ("polish", {"text": None})  # the skipped step reads null
            publish = await client.call("stratum_skip_step", flow_id=flow_id, step_id="polish", reason="fine as is")
            assert (publish["status"], publish["step_id"]) == ("execute_step", "publish")

            last = await client.call("stratum_skip_step", flow_id=flow_id, step_id="publish", reason="no")
            assert (last["error"], last["step_id"]) == ("skip_refused", "publish")
            assert "flow's output" in last["message"]
            done = await client.call("stratum_step_done", flow_id=flow_id, step_id="publish", result=DONE)
            assert (done["status"], done["output"]) == ("complete", DONE)
            assert [(s["step_id"], s["status"], s.get("skip_reason")) for s in done["trace"]] == [
                ("write", "skipped", "already written"), ("review", "complete", None),
                ("polish", "skipped", "fine as is"), ("publish", "complete", None)]
            audit = await client.call("stratum_audit", flow_id=flow_id)
            assert [(e["step_id"], e["by"]) for e in audit["events"] if e["event"] == "step_skipped"] == [
                ("write", "agent"), ("polish", "agent")]

    run_async(body)


def test_aborting_a_loop_keeps_the_last_iteration_or_fails_the_step_when_there_is_none(
    mcp_client: Any, run_async: Any, db: Path,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            first = await client.call("stratum_plan", spec=SPEC, flow="hunting", inputs={})
            flow_id = first["flow_id"]
            await client.call("stratum_iteration_start", flow_id=flow_id, step_id="hunt")
            for findings in ([A], [A, B]):
                going = await client.call("stratum_iteration_report", flow_id=flow_id, step_id="hunt",
                                          result={"findings": findings})
                assert going["loop"]["outcome"] == "continue"
            aborted = await client.call("stratum_iteration_abort", flow_id=flow_id, step_id="hunt",
                                        reason="nothing new to find")
            assert (aborted["status"], aborted["loop"]["outcome"], aborted["loop"]["iterations"]) == (
                "complete", "aborted", 2)
            assert aborted["output"] == {"findings": [A, B]}  # the last iteration, with what it accumulated
            audit = await client.call("stratum_audit", flow_id=flow_id)
            assert audit["status"] == "complete"
            assert audit["steps"][0]["iteration"]["outcome"] == "aborted"
            assert [(e["reason"], e["iterations"]) for e in audit["events"] if e["event"] == "iteration_aborted"] == [
                ("nothing new to find", 2)]

            empty = await client.call("stratum_plan", spec=SPEC, flow="hunting", inputs={})
            await client.call("stratum_iteration_start", flow_id=empty["flow_id"], step_id="hunt")
            failed = await client.call("stratum_iteration_abort", flow_id=empty["flow_id"], step_id="hunt",
                                       reason="cannot start")
            assert (failed["status"], failed["error"], failed["reason"]) == ("failed", "iteration_aborted",
                                                                             "cannot start")
            after = await client.call("stratum_resume", flow_id=empty["flow_id"])
            assert (after["status"], after["reason"]["code"]) == ("failed", "iteration_aborted")
            audit = await client.call("stratum_audit", flow_id=empty["flow_id"])
            assert (audit["steps"][0]["status"], audit["steps"][0]["iteration"]["iterations"]) == ("failed", 0)
            again = await client.call("stratum_iteration_report", flow_id=empty["flow_id"], step_id="hunt",
                                      result={"findings": [A]})
            assert again["error"] == "flow_finished"

    run_async(body)


def test_an_approved_gate_hands_out_the_later_step_its_on_approve_names_next(
    mcp_client: Any, run_async: Any, db: Path,
) -> None:
    async def body() -> None:
        async with mcp_client(db) as client:
            first = await client.call("stratum_plan", spec=SPEC, flow="approving", inputs={})
            flow_id = first["flow_id"]
            gate = await client.call("stratum_step_done", flow_id=flow_id, step_id="write", result=DRAFT)
            assert (gate["status"], gate["step_id"]) == ("await_gate", "review")
            publish = await client.call("stratum_gate_resolve", flow_id=flow_id, step_id="review", outcome="approve",
                                        rationale="ship it", resolved_by="human")
            # `polish`, the next step written, is jumped over: it never ran, so `publish` reads null from it.
            assert (publish["status"], publish["step_id"], publish["inputs"]) == (
                "execute_step", "publish", {"polished": None})
            wrong = await client.call("stratum_step_done", flow_id=flow_id, step_id="polish", result=DRAFT)
            assert wrong["error"] == "step_mismatch"
            done = await client.call("stratum_step_done", flow_id=flow_id, step_id="publish", result=DONE)
            assert (done["status"], done["output"]) == ("complete", DONE)
            assert [(s["step_id"], s["status"], s["attempts"]) for s in done["trace"]] == [
                ("write", "complete", 1), ("review", "complete", 0), ("polish", "pending", 0),
                ("publish", "complete", 1)]
            audit = await client.call("stratum_audit", flow_id=flow_id)
            dispatched = [e["step_id"] for e in audit["events"] if e["event"] == "step_dispatched"]
            assert dispatched == ["write", "publish"]

    run_async(body)


def test_a_parallel_step_requiring_any_completes_on_the_first_success_and_cancels_the_other_tasks(
    mcp_client: Any, run_async: Any, db: Path,
) -> None:
    plan = {"tasks": [{"id": f"t{i}", "description": f"part {i}"} for i in (1, 2, 3)]}

    async def body() -> None:
        async with mcp_client(db) as client:
            first = await client.call("stratum_plan", spec=SPEC, flow="racing", inputs={})
            flow_id = first["flow_id"]
            tasks = await client.call("stratum_step_done", flow_id=flow_id, step_id="plan", result=plan)
            assert (tasks["status"], tasks["require"]) == ("execute_tasks", 1)
            assert [(t["task_id"], t["status"]) for t in tasks["tasks"]] == [
                ("t1", "running"), ("t2", "running"), ("t3", "pending")]

            publish = await client.call("stratum_parallel_done", flow_id=flow_id, step_id="build",
                                        results=[{"task_id": "t2", "result": {"built": "part 2"}}])
            assert (publish["status"], publish["step_id"], publish["inputs"]) == (
                "execute_step", "publish", {"built": [{"built": "part 2"}]})
            (completed,) = [e for e in publish["events"] if e["event"] == "parallel_completed"]
            assert (completed["completed"], completed["failed"], completed["cancelled"]) == (1, 0, 2)
            late = await client.call("stratum_parallel_done", flow_id=flow_id, step_id="build",
                                     results=[{"task_id": "t1", "result": {"built": "part 1"}}])
            assert late["status"] == "error"  # the step is over: a cancelled task's result is not taken

            done = await client.call("stratum_step_done", flow_id=flow_id, step_id="publish", result=DONE)
            assert done["status"] == "complete"
            audit = await client.call("stratum_audit", flow_id=flow_id)
            build = audit["steps"][1]
            assert build["status"] == "complete"
            assert [(t["task_id"], t["status"]) for t in build["tasks"]] == [
                ("t1", "cancelled"), ("t2", "complete"), ("t3", "cancelled")]

    run_async(body)


# --- a ping while a heavy ensure is evaluated --------------------------------------------------

#: Each evaluates until it hits the step bound (50,000 steps), the heaviest an expression may be: a filter that
#: never passes, so nothing is collected and no smaller bound stops it first; and comparisons of 90,901 values
#: each (as many as one may visit), repeated until the steps run out.
HEAVY_LOOP = "not any(x for x in range(10000) for y in range(10000) if y < 0)"
HEAVY_COMPARISON = "all(result.a == result.b for x in range(100))"
ROWS = [[0] * 100 for _ in range(900)]
_IN_OPEN = 0x20


def _inotify_open_watch(path: Path) -> int:
    """A non-blocking inotify descriptor that becomes readable once ``path`` is opened (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
    if fd < 0:
        pytest.skip(f"inotify is not available: {os.strerror(ctypes.get_errno())}")
    if libc.inotify_add_watch(fd, str(path).encode(), _IN_OPEN) < 0:
        os.close(fd)
        pytest.skip(f"inotify cannot watch {path}: {os.strerror(ctypes.get_errno())}")
    return fd


def _drain(fd: int) -> None:
    """Forget the events so far."""
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass


async def _opened(fd: int) -> None:
    """Return once the watched file has been opened (events queue up: none is missed)."""
    while True:
        try:
            event = os.read(fd, 4096)
        except BlockingIOError:
            await anyio.sleep(0.002)
            continue
        _wd, mask, _cookie, _length = struct.unpack_from("iIII", event)
        if mask & _IN_OPEN:
            return


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sees the evaluation start through inotify")
def test_a_ping_is_answered_while_a_heavy_ensure_is_still_being_evaluated(
    mcp_client: Any, server_env: Any, run_async: Any, tmp_path: Path,
) -> None:
    # The first ensure opens `signal.txt` (seen through inotify, so the test knows evaluation has begun); the
    # nineteen after it each run to the step bound. The ping must be answered before they are all done.
    project = tmp_path / "project"
    project.mkdir()
    signal = project / "signal.txt"
    signal.write_text("evaluating")
    ensure = ["file_contains('signal.txt', 'evaluating')", *[HEAVY_LOOP, HEAVY_COMPARISON] * 9, HEAVY_LOOP]
    spec = SPEC.split("flows:")[0] + "flows:\n  heavy:\n    steps:\n      - id: judge\n        intent: Report.\n" \
        f"        output_contract: Rows\n        retries: 0\n        ensure: {ensure!r}\n"
    db = tmp_path / "state" / "flows.db"
    watch = _inotify_open_watch(signal)

    async def body() -> None:
        env = server_env(db, STRATUM_MCP_PROJECT_ROOT=str(project))
        async with mcp_client(db, env=env) as client:
            first = await client.call("stratum_plan", spec=spec, flow="heavy", inputs={})
            assert first["status"] == "execute_step", first
            _drain(watch)  # from here on, an open of the signal file is the evaluation reaching it
            answer: dict[str, Any] = {}
            reported = anyio.Event()

            async def report() -> None:
                answer.update(await client.call("stratum_step_done", flow_id=first["flow_id"], step_id="judge",
                                                result={"a": ROWS, "b": ROWS}))
                reported.set()

            async with anyio.create_task_group() as group:
                group.start_soon(report)
                await _opened(watch)  # the server is evaluating the first of the twenty expressions
                await client.session.send_ping()
                assert not reported.is_set(), "the ping waited for the evaluation to finish"
            assert (answer["status"], answer["error"]) == ("failed", "retries_exhausted")
            audit = await client.call("stratum_audit", flow_id=first["flow_id"])
            violations = audit["steps"][0]["attempt_log"][0]["violations"]
            assert len(violations) == 19  # the signal passed; every heavy expression ran into its bound
            assert all("could not be evaluated" in v["message"] for v in violations), violations

    try:
        run_async(body, timeout=60)
    finally:
        os.close(watch)
