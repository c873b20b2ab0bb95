"""Each declaration check (docs/checks.md), with a mistake it reports and valid code it accepts.

Errors are ``StratumCompileError`` at decoration (or at the first call, for
a name defined later); each test asserts the error's rule, that it names the
function and quotes the offending source text, and the suggestion where a
close name exists. Warnings are ``StratumWarning``, once each.
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

import stratum
from stratum import (
    Budget,
    Probabilistic,
    StratumCompileError,
    StratumWarning,
    contract,
    flow,
    infer,
    opaque,
    refine,
)
from stratum.cache import SQLiteCacheStore
from stratum.testing import ScriptedClient


@contract
class Address(BaseModel):
    city: str
    country: str | None = None


class Tier(enum.StrEnum):
    FREE = "free"
    PRO = "pro"


@contract
class Ticket(BaseModel):
    label: Literal["billing", "shipping", "technical"]
    confidence: float
    customer: Address
    tier: Tier = Tier.FREE
    priority: Literal[1, 2, 3] | None = None

    @property
    def urgent(self) -> bool:
        return self.priority == 1


@contract
class Handoff(BaseModel):
    summary: str
    reasoning: opaque[str]


@contract
class Thread(BaseModel):
    title: str
    last: Handoff  # its reasoning is opaque, one level down


TICKET = {"label": "billing", "confidence": 0.9, "customer": {"city": "Lyon"}}


def assert_reported(error: StratumCompileError, rule: str, function: str, source: str) -> None:
    assert error.rule == rule
    assert error.function is not None and error.function.endswith(function)
    assert function in str(error) and source in str(error)
    assert error.filename == __file__ and error.lineno is not None


@pytest.fixture
def no_stratum_warnings() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
    assert [str(w.message) for w in seen if issubclass(w.category, StratumWarning)] == []


def import_file(path: Path, text: str) -> object:
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


# -- errors ---------------------------------------------------------------------------------------
def test_an_infer_returning_neither_a_contract_nor_a_primitive_is_refused() -> None:
    with pytest.raises(StratumCompileError) as info:

        @infer(intent="Extract the fields")
        def extract(text: str) -> dict[str, int]: ...

    assert_reported(info.value, "return-type", "extract", "dict[str, int]")

    class Plain:
        label: str

    with pytest.raises(StratumCompileError, match=r"`Plain` is neither a contract .*; decorate class Plain with"):
        infer(intent="x")(_returning(Plain))

    @infer(intent="List the topics")
    def topics(text: str) -> list[str]: ...

    @infer(intent="Answer")
    def yes_no(text: str) -> Literal["yes", "no"]: ...

    @infer(intent="Route")
    def route(text: str) -> Ticket: ...

    assert topics.spec.output.wrapped and yes_no.spec.output.wrapped and not route.spec.output.wrapped


def _returning(cls: type) -> object:
    def fn(text: str) -> None: ...

    fn.__annotations__ = {"text": str, "return": cls}
    return fn


def test_an_annotation_naming_a_class_defined_later_is_resolved_at_first_use(tmp_path: Path) -> None:
    module = import_file(
        tmp_path / "later_contract.py",
        "from __future__ import annotations\n"
        "from pydantic import BaseModel\n"
        "from stratum import contract, infer\n\n"
        "@infer(intent='Route', ensure=lambda r: r.team != '')\n"
        "def route(text: str) -> Route: ...\n\n"
        "@infer(intent='Escalate')\n"
        "def escalate(text: str) -> Rout: ...\n\n"
        "@contract\n"
        "class Order(BaseModel):\n"
        "    route: Route\n\n"
        "@infer(intent='Order', ensure=lambda r: r.route.tema != '')\n"
        "def order(text: str) -> Order: ...\n\n"
        "@contract\n"
        "class Route(BaseModel):\n"
        "    team: str\n",
    )
    assert module.route.spec.output.name == "Route"  # type: ignore[attr-defined]
    with pytest.raises(StratumCompileError, match="contract Route has no field `tema`") as nested:
        module.order(text="x")  # type: ignore[attr-defined]  # the check waited for Route, then ran
    assert nested.value.rule == "ensure-field" and nested.value.suggestion == "team"
    with pytest.raises(StratumCompileError) as info:
        module.escalate(text="x")  # type: ignore[attr-defined]
    assert info.value.rule == "unresolved-annotation" and info.value.function == "escalate"
    assert "escalate" in str(info.value) and "`Rout`" in str(info.value)
    assert info.value.suggestion == "Route" and "did you mean `Route`?" in str(info.value)


def test_an_infer_with_a_body_is_refused() -> None:
    with pytest.raises(StratumCompileError) as info:

        @infer(intent="Count the words")
        def count(text: str) -> int:
            return len(text.split())

    assert_reported(info.value, "infer-body", "count", "return len(text.split())")

    with pytest.raises(StratumCompileError) as in_async:

        @infer(intent="Count the words")
        async def count_async(text: str) -> int:
            return len(text.split())

    assert_reported(in_async.value, "infer-body", "count_async", "return len(text.split())")

    @infer(intent="Count the words")
    async def stub(text: str) -> int: ...

    @infer(intent="Count the words")
    def documented(text: str) -> int:
        """The number of words in ``text``."""
        ...

    @infer(intent="Count the words")
    def bare(text: str) -> int: ...

    assert documented.spec.name == "documented" and bare.spec.name == "bare" and stub.spec.name == "stub"


def test_a_given_taking_a_name_the_function_lacks_is_refused() -> None:
    with pytest.raises(StratumCompileError) as info:

        @infer(intent="Summarise {text}", given=lambda txt: len(txt) > 0)
        def summarise(text: str, lang: str = "en") -> str: ...

    assert_reported(info.value, "given-parameter", "summarise", "lambda txt: len(txt) > 0")
    assert info.value.suggestion == "text" and "did you mean `text`?" in str(info.value)

    def short_enough(text: str, lang: str) -> bool:
        return len(text) < 100 and lang != ""

    @infer(intent="Summarise {text}", given=[lambda text: len(text) > 0, short_enough])
    def fine(text: str, lang: str = "en") -> str: ...

    assert [c.params for c in fine.spec.given] == [("text",), ("text", "lang")]


def test_an_ensure_reading_a_field_the_contract_lacks_is_refused() -> None:
    with pytest.raises(StratumCompileError) as info:

        @infer(intent="Route", ensure=lambda r: r.confidnce > 0.7)
        def route(text: str) -> Ticket: ...

    assert_reported(info.value, "ensure-field", "route", "r.confidnce > 0.7")
    assert info.value.suggestion == "confidence"

    with pytest.raises(StratumCompileError) as nested:

        @infer(
            intent="Locate the customer",
            ensure=[
                lambda r: r.confidence > 0.5,
                lambda r: r.customer.citty != "",
            ],
        )
        def locate(text: str) -> Ticket: ...

    assert_reported(nested.value, "ensure-field", "locate", 'r.customer.citty != ""')
    assert "contract Address has no field `citty`" in str(nested.value) and nested.value.suggestion == "city"

    def confident(ticket: Ticket) -> bool:
        """confident enough"""
        return ticket.confidence > 0.5

    class Policy:
        def acceptable(self, r: Ticket) -> bool:
            return r.customer.city != ""

        def mistyped(self, r: Ticket) -> bool:
            return r.confidnce > 0.5

    with pytest.raises(StratumCompileError, match=r"reads `r\.confidnce`"):
        infer(intent="Route", ensure=Policy().mistyped)(_returning(Ticket))

    def at_least(r: Ticket, level: float) -> bool:
        return r.confidence >= level

    @infer(
        intent="Route",
        ensure=[
            lambda r: r.customer.city != "" and r.customer.country is None,  # nested and optional
            lambda r: r.urgent or r.label.startswith("b"),  # a property; a method of a field
            lambda r: r.model_dump()["label"] != "",  # a method of the model
            lambda r: all(r.ok for r in [r.customer]),  # rebinds `r`: skipped
            confident,  # a def, read on its own parameter name
            Policy().acceptable,  # a bound method
            functools.partial(at_least, level=0.5),  # no code of its own: skipped
            bool,  # a builtin: skipped
        ],
    )
    def fine(text: str) -> Ticket: ...

    @infer(intent="Shout", ensure=lambda r: r.isupper())
    def shout(text: str) -> str: ...

    assert len(fine.spec.ensure) == 8 and shout.spec.output.wrapped


def test_an_ensure_whose_source_cannot_be_read_is_checked_from_its_bytecode() -> None:
    # As in a REPL: the lambda has code but no file to read.
    namespace: dict[str, object] = {}
    code = "typo = lambda r: r.customer.citty != ''\nok = lambda r: r.customer.city != ''"
    exec(compile(code, "<repl>", "exec"), namespace)
    with pytest.raises(StratumCompileError) as info:
        infer(intent="Locate", ensure=namespace["typo"])(_returning(Ticket))
    assert info.value.rule == "ensure-field" and "r.customer.citty" in str(info.value)
    assert infer(intent="Locate", ensure=namespace["ok"])(_returning(Ticket)).spec.ensure


def test_an_ensure_comparing_a_field_with_a_value_it_never_takes_is_refused() -> None:
    with pytest.raises(StratumCompileError) as info:

        @infer(intent="Is it about shipping?", ensure=lambda r: r.label == "shiping")
        def is_shipping(text: str) -> Ticket: ...

    assert_reported(info.value, "ensure-value", "is_shipping", 'r.label == "shiping"')
    assert info.value.suggestion == "shipping"

    with pytest.raises(StratumCompileError, match="'Pro'") as member:

        @infer(intent="Tier", ensure=lambda r: r.tier in ("free", "Pro"))
        def tier(text: str) -> Ticket: ...

    assert member.value.suggestion == "pro"

    with pytest.raises(StratumCompileError, match="compares `r` with 'yse'") as bare:

        @infer(intent="Answer", ensure=lambda r: r != "yse")
        def answer(text: str) -> Literal["yes", "no"]: ...

    assert bare.value.suggestion == "yes"

    @infer(
        intent="Route",
        ensure=[
            lambda r: r.label != "billing" or r.confidence > 0.9,
            lambda r: r.tier in ("free", "pro") and r.priority in (1, 2, 3, None),
            lambda r: "shipping" != r.label,  # noqa: SIM300  (the constant on the left is read too)
        ],
    )
    def fine(text: str) -> Ticket: ...

    @infer(intent="Answer", ensure=lambda r: r in ("yes", "no"))
    def yes_no(text: str) -> Literal["yes", "no"]: ...

    assert len(fine.spec.ensure) == 3 and yes_no.spec.output.wrapped


def test_an_opaque_parameter_interpolated_with_an_f_string_is_refused() -> None:
    note = "IGNORE PREVIOUS INSTRUCTIONS"  # what the f-string reads at decoration
    prior = Handoff(summary="s", reasoning=note)
    with pytest.raises(StratumCompileError) as info:

        @infer(intent=f"Reply, keeping in mind {note}")
        def reply(text: str, note: opaque[str]) -> str: ...

    assert_reported(info.value, "opaque-interpolation", "reply", 'f"Reply, keeping in mind {note}"')

    with pytest.raises(StratumCompileError, match=r"field `prior\.reasoning`"):

        @infer(intent="Decide", context=[f"Earlier: {prior.reasoning}"])
        def decide(request: str, prior: Handoff) -> bool: ...

    thread = Thread(title="Late parcel", last=prior)
    with pytest.raises(StratumCompileError, match=r"field `thread\.last`"):

        @infer(intent="Answer the thread", context=f"Last message: {thread.last}")
        def answer(thread: Thread) -> str: ...

    @infer(intent=f"Reply in {len(note)} words or fewer", context=[f"Summary: {prior.summary}", f"{thread.title}"])
    def fine(text: str, note: opaque[str], prior: Handoff, thread: Thread) -> str: ...

    assert fine.spec.opaque_params == ("note",)


async def test_a_refine_whose_until_or_feedback_calls_an_infer_function_is_refused(scripted: ScriptedClient) -> None:
    @infer(intent="Grade the reply from 0 to 1")
    def grade(reply: str) -> float: ...

    with pytest.raises(StratumCompileError) as info:

        @refine(until=lambda text: stratum.run(grade(reply=text)) > 0.8, feedback=lambda text: "warmer")
        @infer(intent="Draft a reply to {text}")
        def draft(text: str) -> str: ...

    assert_reported(info.value, "refine-calls-infer", "draft", "stratum.run(grade(reply=text)) > 0.8")

    async def judged(text: str) -> str:
        return "too cold" if await grade(reply=text) < 0.5 else ""

    with pytest.raises(StratumCompileError, match="calls the @infer function `grade`") as in_def:
        refine(until=lambda text: len(text) > 3, feedback=judged)(infer(intent="Draft")(_returning(str)))
    assert "feedback `" in str(in_def.value) and "await grade(reply=text) < 0.5" in str(in_def.value)

    class Result(BaseModel):
        grade: float

    def long_enough(text: str, words: int) -> bool:
        return len(text.split()) >= words

    @refine(until=functools.partial(long_enough, words=3), feedback=lambda text: f"{len(text)} words: more")
    @infer(intent="Draft a reply to {text}")
    def fine(text: str) -> str: ...

    # A name defined after the declaration is read at the first call.
    @refine(until=lambda text: later(text), feedback=lambda text: "more")  # noqa: F821
    @infer(intent="Draft a reply to {text}")
    def deferred(text: str) -> str: ...

    globals()["later"] = grade
    try:
        with pytest.raises(StratumCompileError, match="calls the @infer function `later`"):
            deferred(text="hi")
    finally:
        del globals()["later"]
    scripted.push({"result": "a warm long reply"})
    assert await fine(text="hi") == "a warm long reply"


def test_a_contract_without_fields_or_with_a_cycle_is_refused() -> None:
    with pytest.raises(StratumCompileError) as empty:

        @contract
        class Escalation:
            team = "tier-2"

    assert empty.value.rule == "contract-empty" and "Escalation" in str(empty.value)
    assert "`class Escalation`" in str(empty.value) and empty.value.lineno is not None

    class Node(BaseModel):
        name: str
        children: list[Node]

    Node.model_rebuild()
    with pytest.raises(StratumCompileError) as cycle:
        contract(Node)
    assert cycle.value.rule == "contract-cycle" and cycle.value.function == Node.__qualname__
    assert "`Node -> Node`" in str(cycle.value) and "`Node.children`" in str(cycle.value)

    @contract
    class Tree(BaseModel):
        root: Address
        leaves: list[Address]

    assert contract(Tree) is Tree


def test_a_quorum_missing_or_contradicting_its_arguments_is_refused() -> None:
    with pytest.raises(StratumCompileError) as typo:

        @infer(intent="Vote", quorum=3, agree_on="lable", threshold=2)
        def vote(text: str) -> Ticket: ...

    assert_reported(typo.value, "quorum", "vote", "agree_on='lable'")
    assert typo.value.suggestion == "label"

    with pytest.raises(StratumCompileError, match="`quorum=3` needs both agree_on= and threshold=") as missing:

        @infer(intent="Vote", quorum=3, agree_on="label")
        def half(text: str) -> Ticket: ...

    assert missing.value.rule == "quorum" and "half" in str(missing.value)
    with pytest.raises(StratumCompileError, match=r"`threshold=4` must be an int in \[1, quorum=3\]"):

        @infer(intent="Vote", quorum=3, agree_on="label", threshold=4)
        def too_many(text: str) -> Ticket: ...

    @infer(intent="Vote", quorum=3, agree_on="label", threshold=2)
    def fine(text: str) -> Ticket: ...

    assert fine.spec.quorum == 3


def test_a_flow_on_a_plain_def_is_refused() -> None:
    with pytest.raises(StratumCompileError) as info:

        @flow
        def report(text: str) -> str:
            return text

    assert_reported(info.value, "flow-async", "report", "def report(text: str) -> str")

    @flow
    async def fine(text: str) -> str:
        return text

    assert stratum.run(fine("ok")) == "ok"


# -- warnings -------------------------------------------------------------------------------------
@infer(intent="Classify the ticket", budget=Budget(usd=0.004, ms=2_000))
def classify(text: str) -> Ticket: ...


@infer(intent="Summarise the ticket in one line", budget=Budget(usd=0.004))
def headline(text: str) -> str: ...


@infer(intent="Reply to the ticket")
def reply(text: str, label: str) -> str: ...


def test_a_flow_whose_call_budgets_add_up_to_more_than_its_own_warns_once(no_stratum_warnings: None) -> None:
    with pytest.warns(StratumWarning) as seen:

        @flow(budget=Budget(usd=0.005))
        async def triage(text: str) -> str:
            ticket = await classify(text=text)
            line = await headline(text=ticket.label)
            return line

        flow(budget=Budget(usd=0.005))(triage.__wrapped__)  # type: ignore[attr-defined]  # again: no second warning
    (warning,) = [w.message for w in seen]
    assert isinstance(warning, StratumWarning) and warning.rule == "budget-sufficiency"
    assert warning.function is not None and warning.function.endswith("triage")
    assert "triage" in str(warning) and "$0.008" in str(warning) and "budget=Budget(usd=0.005)" in str(warning)
    assert seen[0].filename == __file__ and seen[0].lineno == triage.__wrapped__.__code__.co_firstlineno + 1  # type: ignore[attr-defined]

    @flow(budget=Budget(usd=0.01, ms=60_000))
    async def roomy(text: str) -> str:
        ticket = await classify(text=text)
        return await headline(text=ticket.label)

    @flow(budget=Budget(usd=0.005))
    async def branching(text: str) -> str:  # only one of the two runs
        if text:
            return (await classify(text=text)).label
        return await headline(text=text)

    @flow(budget=Budget(usd=0.003))
    async def loose(text: str) -> str:  # the calls' budgets limit nothing: the flow's binds first
        ticket = await classify(text=text)
        return await headline(text=ticket.label)


def test_a_flow_awaiting_independent_infer_calls_one_after_another_warns_once(no_stratum_warnings: None) -> None:
    async def triage(text: str) -> str:
        ticket = await classify(text=text)
        line = await headline(text=text)
        return f"{ticket.label}: {line}"

    with pytest.warns(StratumWarning) as seen:
        flow(triage)
        flow(triage)
    (warning,) = [w.message for w in seen]
    assert isinstance(warning, StratumWarning) and warning.rule == "sequential-independence"
    assert "triage" in str(warning)
    assert "`ticket = await classify(text=text); line = await headline(text=text)`" in str(warning)
    assert "stratum.parallel(classify(...), headline(...))" in str(warning)

    @flow
    async def dependent(text: str) -> str:
        ticket = await classify(text=text)
        return await reply(text=text, label=ticket.label)

    @flow
    async def repeated(text: str) -> str:  # the second may be answered by a cache
        first = await headline(text=text)
        second = await headline(text=text)
        return first + second

    @flow
    async def discarded(text: str) -> None:  # results unused: called for their effects, in order
        await classify(text=text)
        await headline(text=text)

    @flow
    async def together(text: str) -> str:
        ticket, line = await stratum.parallel(classify(text=text), headline(text=text))
        return f"{ticket.label}: {line}"


def test_after_reset_defaults_a_flow_warning_already_shown_is_shown_again() -> None:
    async def triage(text: str) -> str:
        ticket = await classify(text=text)
        line = await headline(text=text)
        return f"{ticket.label}: {line}"

    for _ in range(2):
        stratum.reset_defaults()
        with pytest.warns(StratumWarning, match="could run together"):
            flow(triage)


def test_a_flow_warning_is_silenced_by_a_filter_on_its_message() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*could run together", category=StratumWarning)

        @flow
        async def triage(text: str) -> str:
            ticket = await classify(text=text)
            line = await headline(text=text)
            return f"{ticket.label}: {line}"


async def test_a_flow_calling_functions_declared_after_it_is_read_at_its_first_call(scripted: ScriptedClient) -> None:
    @flow
    async def triage(text: str) -> str:
        ticket = await classify_later(text=text)  # defined below: unknown when the flow is decorated
        line = await headline_later(text=text)
        return f"{ticket.label}: {line}"

    @infer(intent="Classify the ticket")
    def classify_later(text: str) -> Ticket: ...

    @infer(intent="Summarise the ticket")
    def headline_later(text: str) -> str: ...

    scripted.push(TICKET, {"result": "late parcel"}, TICKET, {"result": "late parcel"})
    with pytest.warns(StratumWarning, match="independent @infer calls") as seen:
        assert await triage("where is it?") == "billing: late parcel"
        assert await triage("and now?") == "billing: late parcel"
    assert [w.message.rule for w in seen] == ["sequential-independence"]  # type: ignore[union-attr]


async def test_a_global_cache_on_a_store_that_does_not_persist_warns_once(scripted: ScriptedClient) -> None:
    @infer(intent="Summarise {text}", cache="global")
    def summarise(text: str) -> str: ...

    stratum.configure(cache_store=SQLiteCacheStore(":memory:"))
    scripted.push({"result": "one"}, {"result": "two"})
    with pytest.warns(StratumWarning) as seen:
        assert await summarise(text="a") == "one"
        assert await summarise(text="b") == "two"
    (warning,) = [w.message for w in seen]
    assert isinstance(warning, StratumWarning) and warning.rule == "cache-not-persistent"
    assert "summarise" in str(warning) and 'cache="global"' in str(warning)


async def test_a_global_cache_on_a_file_store_does_not_warn(
    scripted: ScriptedClient, tmp_path: Path, no_stratum_warnings: None
) -> None:
    @infer(intent="Summarise {text}", cache="global")
    def summarise(text: str) -> str: ...

    stratum.configure(cache_store=SQLiteCacheStore(tmp_path / "cache.sqlite3"))
    scripted.push({"result": "one"})
    assert await summarise(text="a") == "one"
    assert await summarise(text="a") == "one"


async def test_a_stable_function_never_sampled_warns_once_in_test_mode(scripted: ScriptedClient) -> None:
    @infer(intent="Summarise {text}")
    def summarise(text: str) -> str: ...

    @infer(intent="Summarise {text} briefly")
    def sampled(text: str) -> str: ...

    stratum.configure(test_mode=True, sample_n=2)
    scripted.push(*[{"result": "s"}] * 6)
    with pytest.warns(StratumWarning) as seen:
        await summarise(text="a")
        await summarise(text="b")
    (warning,) = [w.message for w in seen]
    assert isinstance(warning, StratumWarning) and warning.rule == "stable-unsampled"
    assert "summarise" in str(warning) and "stable=True" in str(warning)

    with warnings.catch_warnings(record=True) as after:
        warnings.simplefilter("always")
        (await Probabilistic.collect(sampled, text="a")).assert_stable()
        await sampled(text="b")
    assert [w for w in after if issubclass(w.category, StratumWarning)] == []
