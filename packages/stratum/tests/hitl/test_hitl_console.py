"""The console sink: numbered options, free text cast to the type, re-asks, piped stdin."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import IO, Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import HITLTimeoutError, HumanDecision, await_human, contract, flow, infer
from stratum.hitl import ConsoleReviewSink, PendingReview
from stratum.testing import ScriptedClient

# Three reviews in one process, answered from piped stdin; the third finds
# stdin closed. Prints one RESULT line per outcome.
SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    from typing import Literal
    from stratum import HITLDeliveryError, HumanReviewContext, await_human

    async def main():
        first = await await_human(
            HumanReviewContext("Send the reply?", artifacts={"draft": "Hello there"}),
            Literal["approve", "edit", "reject"],
            options=["approve", "edit", "reject"],
            timeout=30,
        )
        print("RESULT", json.dumps(first.to_dict()))
        second = await await_human("How many stars?", int, timeout=30)
        print("RESULT", json.dumps(second.to_dict()))
        try:
            await await_human("Anything else?", str, timeout=30)
        except HITLDeliveryError as exc:
            print("RESULT", json.dumps({"error": type(exc).__name__, "review_id": exc.review_id,
                                        "sink": exc.sink, "attempts": exc.attempts}))

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def piped_run() -> Iterator[tuple[str, list[dict[str, object]]]]:
    answers = "maybe\n2\nlots\n 42 \n"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], input=answers, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line.split(" ", 1)[1]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    yield done.stdout, results


def test_piped_stdin_answers_a_review_by_option_number(piped_run: tuple[str, list[dict[str, object]]]) -> None:
    transcript, results = piped_run
    assert "[HITL] Review required: Send the reply?" in transcript
    assert "draft: Hello there" in transcript
    assert "[0] approve" in transcript and "[2] reject" in transcript
    assert results[0]["value"] == "reject"
    assert isinstance(results[0]["review_id"], str)


def test_invalid_piped_input_is_explained_and_asked_again(piped_run: tuple[str, list[dict[str, object]]]) -> None:
    transcript, results = piped_run
    assert transcript.count("not accepted") == 2  # "maybe" and "lots"
    assert results[1]["value"] == 42  # free text cast to int, surrounding spaces ignored


def test_stdin_closing_before_an_answer_fails_the_review(piped_run: tuple[str, list[dict[str, object]]]) -> None:
    _, results = piped_run
    assert results[2]["error"] == "HITLDeliveryError"
    assert results[2]["sink"] == "ConsoleReviewSink"
    assert results[2]["attempts"] == 1


@contract
class Resolution(BaseModel):
    action: Literal["approve", "edit", "reject"]
    reply: str | None = None


class Transcript(io.StringIO):
    """Console output a test can wait on."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def write(self, text: str) -> int:
        self._changed.set()
        return super().write(text)

    async def shows(self, text: str, within_s: float = 5.0) -> None:
        async with asyncio.timeout(within_s):
            while text not in self.getvalue():
                self._changed.clear()
                await self._changed.wait()


class WatchedStdin:
    """A stdin the test can watch: whether a line is being read, and by which thread."""

    def __init__(self, inner: IO[str]) -> None:
        self._inner = inner
        self.reading = threading.Event()
        self.reader: threading.Thread | None = None

    def readline(self, size: int = -1) -> str:
        self.reader = threading.current_thread()
        self.reading.set()
        return self._inner.readline(size)

    def isatty(self) -> bool:
        return False


@pytest.fixture
def pipe() -> Iterator[tuple[IO[str], IO[str]]]:
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "r"), os.fdopen(write_fd, "w")
    yield reader, writer
    for end in (writer, reader):
        with contextlib.suppress(OSError):
            end.close()


async def test_the_console_waits_for_input_without_blocking_the_event_loop(
    pipe: tuple[IO[str], IO[str]], scripted: ScriptedClient
) -> None:
    reader, writer = pipe
    out = io.StringIO()
    stratum.configure(review_sink=ConsoleReviewSink(stdin=reader, stdout=out, reviewer="ana"))
    scripted.push({"action": "approve"}, {"action": "reject"})

    @infer(intent="Suggest an action")
    def suggest(text: str) -> Resolution: ...

    @flow
    async def other_work() -> list[str]:
        return [(await suggest(text=t)).action for t in ("a", "b")]

    waiting = asyncio.create_task(await_human("Approve?", Literal["approve", "reject"], options=["approve", "reject"]))
    assert await asyncio.wait_for(other_work(), 5) == ["approve", "reject"]
    assert not waiting.done()  # the reader thread is blocked on the pipe, the loop is not
    writer.write("0\n")
    writer.flush()
    decision = await asyncio.wait_for(waiting, 5)
    assert (decision.value, decision.reviewer) == ("approve", "ana")


async def test_a_contract_decision_can_be_typed_as_json() -> None:
    stdin = io.StringIO('{"action": "shrug"}\n{"action": "edit", "reply": "Sorry!"}\n')
    out = io.StringIO()
    decision = await asyncio.wait_for(
        await_human("Decide", Resolution, sink=ConsoleReviewSink(stdin=stdin, stdout=out)), 5
    )
    assert decision.value == Resolution(action="edit", reply="Sorry!")
    assert out.getvalue().count("not accepted") == 1
    assert "(answer with a value of type Resolution)" in out.getvalue()


async def test_an_option_number_out_of_range_is_read_as_a_value_and_re_asked() -> None:
    stdin = io.StringIO("7\n\nreject\n")
    out = io.StringIO()
    decision = await asyncio.wait_for(
        await_human("Decide", Literal["approve", "reject"], options=["approve", "reject"],
                    sink=ConsoleReviewSink(stdin=stdin, stdout=out)),
        5,
    )  # fmt: skip
    assert decision.value == "reject"
    assert out.getvalue().count("not accepted") == 2  # "7" and the empty line


async def test_concurrent_console_reviews_are_asked_one_at_a_time() -> None:
    stdin = io.StringIO("approve\nreject\n")
    out = io.StringIO()
    console = ConsoleReviewSink(stdin=stdin, stdout=out)
    first, second = await asyncio.wait_for(
        asyncio.gather(
            await_human("First?", Literal["approve", "reject"], sink=console),
            await_human("Second?", Literal["approve", "reject"], sink=console),
        ),
        5,
    )
    assert (first.value, second.value) == ("approve", "reject")
    text = out.getvalue()
    assert text.index("First?") < text.index("decision recorded") < text.index("Second?")


async def test_an_answer_typed_after_its_review_timed_out_is_not_applied_to_the_next(
    pipe: tuple[IO[str], IO[str]],
) -> None:
    reader, writer = pipe
    out = Transcript()
    stdin = WatchedStdin(reader)
    console = ConsoleReviewSink(stdin=stdin, stdout=out)  # type: ignore[arg-type]
    with pytest.raises(HITLTimeoutError):
        await await_human("Old question?", Literal["approve", "reject"], timeout=0.05, sink=console)
    assert await asyncio.to_thread(stdin.reading.wait, 5)
    writer.write("approve\n")  # too late for the old question, before the new one is shown
    writer.flush()
    # The console's reader thread takes the late line, sets it aside and ends.
    assert stdin.reader is not None
    await asyncio.to_thread(stdin.reader.join, 5)
    assert not stdin.reader.is_alive()
    waiting = asyncio.create_task(await_human("New question?", Literal["approve", "reject"], sink=console))
    await out.shows("New question?")
    writer.write("reject\n")
    writer.flush()
    decision = await asyncio.wait_for(waiting, 5)
    assert decision.value == "reject"
    assert "ignoring an answer given after its review closed: 'approve'" in out.getvalue()


async def test_a_decision_arriving_another_way_stops_the_console_question(pipe: tuple[IO[str], IO[str]]) -> None:
    reader, writer = pipe
    out = Transcript()
    console = ConsoleReviewSink(stdin=reader, stdout=out)
    shown: list[PendingReview] = []

    class ConsoleAndWeb:  # asks on the console, while a web page may answer first
        async def emit(self, review: PendingReview) -> None:
            shown.append(review)
            await console.emit(review)

    waiting = asyncio.create_task(await_human("Approve?", bool, sink=ConsoleAndWeb()))
    await out.shows("Decision: ")
    await shown[0].resolve(HumanDecision(True, reviewer="web"))
    decision = await asyncio.wait_for(waiting, 5)
    assert (decision.value, decision.reviewer) == (True, "web")

    nxt = asyncio.create_task(await_human("Again?", bool, sink=console))  # the console is free again
    await out.shows("Again?")
    writer.write("false\n")
    writer.flush()
    assert (await asyncio.wait_for(nxt, 5)).value is False
