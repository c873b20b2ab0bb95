"""``ConsoleReviewSink``: ask on the terminal, read the answer from stdin.

Works interactively and with piped input (``python app.py < answers.txt``).
A line is read in a daemon thread, one at a time and only while a question
is open, so the event loop keeps running and stdin is not consumed ahead of
the program's own reads. Invalid answers are explained and asked again;
standard input closing before a valid answer fails the review with
``HITLDeliveryError``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading
import weakref
from typing import IO, Any

from ..exceptions import HITLDeliveryError, InvalidDecision, ReviewNotPending
from ._review import HumanDecision, PendingReview, as_json

__all__ = ["ConsoleReviewSink", "default_console"]

_MAX_LINE = 64 * 1024
_SHOW_CHARS = 2000


class ConsoleReviewSink:
    """The default sink: print the question and numbered options, read a decision.

    An answer is an option number, or free text cast to the decision type
    (``approve`` for a ``Literal``, ``42`` for an ``int``, a JSON object for a
    contract). When options exist, a number in range picks that option.

    >>> import stratum
    >>> from stratum.hitl import ConsoleReviewSink
    >>> stratum.configure(review_sink=ConsoleReviewSink(reviewer="ana"))  # doctest: +ELLIPSIS
    Config(...)
    >>> stratum.reset_defaults()

    ``stdin``/``stdout`` default to the process's streams at the time of
    each question.
    """

    def __init__(
        self, *, reviewer: str | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None
    ) -> None:
        self.reviewer = reviewer
        self._input = stdin
        self._output = stdout
        self._reader = _LineReader()
        # One question at a time per event loop; answers must not cross.
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    async def emit(self, review: PendingReview) -> None:
        loop = asyncio.get_running_loop()
        turn = self._turns.setdefault(loop, asyncio.Lock())
        async with turn:
            await self._ask(review)

    async def _ask(self, review: PendingReview) -> None:
        stream = self._input if self._input is not None else sys.stdin
        for stale in self._reader.drain():
            # Typed before this question was shown: it answered a review that already closed.
            self._say(f"[HITL] ignoring an answer given after its review closed: {stale!r}")
        self._say(_render(review))
        tries = 0
        while True:
            self._say("Decision (option number or value): " if review.options else "Decision: ", end="")
            line = await self._reader.next_line(stream)
            tries += 1
            if line is None:
                self._say("")
                raise HITLDeliveryError(
                    review.review_id, "ConsoleReviewSink", "standard input closed before a valid answer", attempts=tries
                )
            if not _interactive(stream):
                self._say(line)  # echo piped answers so the transcript reads like a live exchange
            try:
                value = _choose(review, line)
                await review.resolve(HumanDecision(value, reviewer=self.reviewer, review_id=review.review_id))
            except InvalidDecision as exc:
                self._say(f"  not accepted: {'; '.join(exc.errors) or exc}. Try again.")
                continue
            except ReviewNotPending:
                self._say(f"[HITL] review {review.review_id} was closed elsewhere; answer not applied")
                return
            self._say(f"[HITL] decision recorded for review {review.review_id}")
            return

    def _say(self, text: str, end: str = "\n") -> None:
        out = self._output if self._output is not None else sys.stdout
        out.write(text + end)
        out.flush()


def _render(review: PendingReview) -> str:
    lines = ["", f"[HITL] Review required: {review.context.question}", f"  review id: {review.review_id}"]
    if review.expires_at is not None:
        lines.append(f"  expires at: {review.expires_at.isoformat(timespec='seconds')}")
    for key, value in review.context.artifacts.items():
        lines.append(f"  {key}: {_show(as_json(value, key))}")
    if review.options:
        dump = review.decision_type.dump
        lines += [f"  [{i}] {_show(dump(option))}" for i, option in enumerate(review.options)]
    else:
        lines.append(f"  (answer with a value of type {review.decision_type.name})")
    return "\n".join(lines)


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _choose(review: PendingReview, line: str) -> Any:
    text = line.strip()
    if not text:
        raise InvalidDecision(
            review.review_id, review.decision_type.name, line, errors=["an empty answer is not a decision"]
        )
    if review.options and text.isdigit():
        index = int(text)
        if index < len(review.options):
            return review.options[index]
    return review.decision_type.parse_text(text, review.review_id)


def _interactive(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class _LineReader:
    """Reads one line at a time in a daemon thread, never losing one.

    A daemon thread (not the loop's executor) so that a question abandoned
    on timeout does not keep the process alive at exit. A line that arrives
    after its asker gave up is kept for ``drain()``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reading = False
        self._waiter: asyncio.Future[str | None] | None = None
        self._unclaimed: collections.deque[str | None] = collections.deque(maxlen=16)

    async def next_line(self, stream: IO[str]) -> str | None:
        """The next line without its newline, or None at end of input."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._unclaimed:
                return self._unclaimed.popleft()
            waiter: asyncio.Future[str | None] = loop.create_future()
            self._waiter = waiter
            if not self._reading:
                self._reading = True
                threading.Thread(target=self._read, args=(stream,), name="stratum-hitl-stdin", daemon=True).start()
        try:
            return await waiter
        finally:
            with self._lock:
                if self._waiter is waiter:
                    self._waiter = None

    def drain(self) -> list[str]:
        """Lines read while nobody was asking (end of input is kept, not drained)."""
        with self._lock:
            lines = [line for line in self._unclaimed if line is not None]
            ended = None in self._unclaimed
            self._unclaimed.clear()
            if ended:
                self._unclaimed.append(None)
        return lines

    def _read(self, stream: IO[str]) -> None:
        line = _read_line(stream)
        with self._lock:
            self._reading = False
            waiter, self._waiter = self._waiter, None
            if waiter is None or waiter.done():
                self._unclaimed.append(line)
                return
        try:
            waiter.get_loop().call_soon_threadsafe(self._hand_over, waiter, line)
        except RuntimeError:  # that loop is closed
            with self._lock:
                self._unclaimed.append(line)

    def _hand_over(self, waiter: asyncio.Future[str | None], line: str | None) -> None:
        if waiter.done():  # the asker was cancelled meanwhile
            with self._lock:
                self._unclaimed.appendleft(line)
        else:
            waiter.set_result(line)


def _read_line(stream: IO[str]) -> str | None:
    try:
        line = stream.readline(_MAX_LINE)
    except (OSError, ValueError):  # closed or unreadable: no human can answer
        return None
    if line == "":
        return None
    if not line.endswith("\n") and len(line) >= _MAX_LINE:
        # Too long to be an answer: skip the rest of it and hand back the head.
        while True:
            more = stream.readline(_MAX_LINE)
            if more == "" or more.endswith("\n"):
                break
    return line.rstrip("\r\n")


_default: ConsoleReviewSink | None = None


def default_console() -> ConsoleReviewSink:
    """The process-wide console sink used when no sink is configured."""
    global _default
    if _default is None:
        _default = ConsoleReviewSink()
    return _default
