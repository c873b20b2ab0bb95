"""@refine: an outer loop that feeds host-computed feedback into the next iteration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

import stratum
from stratum import Budget, BudgetExceeded, ConvergenceFailure, StratumCompileError, contract, infer, refine
from stratum.clients import ModelInfo
from stratum.testing import Reply, ScriptedClient, prompt_text


@contract
class Draft(BaseModel):
    text: str
    score: int


def draft(score: int, text: str = "draft") -> dict[str, Any]:
    return {"text": f"{text} {score}", "score": score}


def too_weak(result: Draft) -> list[str]:
    return [f"score {result.score} is below 8", "add a concrete example"]


@refine(until=lambda d: d.score >= 8, feedback=too_weak, max_iterations=3)
@infer(intent="Write a product description")
def describe(product: str) -> Draft: ...


async def test_the_loop_returns_as_soon_as_until_is_satisfied(scripted: ScriptedClient) -> None:
    scripted.push(draft(3), draft(6), draft(9))
    result = await describe(product="kettle")
    assert result.score == 9
    assert len(scripted.requests) == 3


async def test_feedback_reaches_the_next_prompt_and_only_the_latest(scripted: ScriptedClient) -> None:
    scripted.push(draft(3), draft(6), draft(9))
    await describe(product="kettle")
    first, second, third = (prompt_text(r) for r in scripted.requests)
    assert "Previous output had the following issues" not in first
    assert (
        "Previous output had the following issues:\n- score 3 is below 8\n- add a concrete example\n"
        "Fix these and regenerate."
    ) in second
    assert "- score 6 is below 8" in third and "score 3" not in third


async def test_exhaustion_raises_convergence_failure_with_every_output_and_feedback(
    scripted: ScriptedClient,
) -> None:
    scripted.push(draft(1), draft(2), draft(3))
    with pytest.raises(ConvergenceFailure) as info:
        await describe(product="kettle")
    err = info.value
    assert err.function == "describe"
    assert [d.score for d in err.iterations] == [1, 2, 3]
    assert err.feedback == tuple(too_weak(Draft(text="", score=s)) for s in (1, 2, 3))
    assert len(scripted.requests) == 3


async def test_until_and_feedback_run_here_and_are_never_sent_to_the_model(scripted: ScriptedClient) -> None:
    def judged_by_the_host(result: Draft) -> bool:
        return result.score > 100

    def host_only_feedback(result: Draft) -> str:
        return "be better"

    @refine(until=judged_by_the_host, feedback=host_only_feedback, max_iterations=2)
    @infer(intent="Write")
    def write(product: str) -> Draft: ...

    scripted.push(draft(1), draft(2))
    with pytest.raises(ConvergenceFailure):
        await write(product="kettle")
    sent = " ".join(str(r.messages) for r in scripted.requests)
    assert "judged_by_the_host" not in sent and "score > 100" not in sent
    assert "host_only_feedback" not in sent
    assert "be better" in prompt_text(scripted.requests[1])  # only the feedback's value travels


async def test_async_until_and_feedback_work(scripted: ScriptedClient) -> None:
    async def good_enough(result: Draft) -> bool:
        await asyncio.sleep(0)  # e.g. a test run awaited in the host
        return result.score >= 5

    async def notes(result: Draft) -> dict[str, Any]:
        return {"score": result.score, "missing": ["price", "size"]}

    @refine(until=good_enough, feedback=notes)
    @infer(intent="Write")
    def write(product: str) -> Draft: ...

    scripted.push(draft(1), draft(5))
    assert (await write(product="kettle")).score == 5
    assert '- score: 1\n- missing: ["price", "size"]' in prompt_text(scripted.requests[1])


@pytest.mark.parametrize(
    ("note", "rendered"),
    [
        ("  one line  ", "one line"),
        (Draft(text="t", score=2), '{"text":"t","score":2}'),
        (None, "The output did not meet the requirements (no details were given)."),
        (42, "42"),
    ],
)
async def test_feedback_of_any_shape_is_rendered_as_text(scripted: ScriptedClient, note: Any, rendered: str) -> None:
    @refine(until=lambda d: d.score > 1, feedback=lambda _d: note)
    @infer(intent="Write")
    def write(product: str) -> Draft: ...

    scripted.push(draft(1), draft(2))
    await write(product="kettle")
    assert f"Previous output had the following issues:\n{rendered}\nFix these" in prompt_text(scripted.requests[1])


async def test_very_long_feedback_is_cut_to_a_bounded_size(scripted: ScriptedClient) -> None:
    @refine(until=lambda d: d.score > 1, feedback=lambda _d: "x" * 50_000)
    @infer(intent="Write")
    def write(product: str) -> Draft: ...

    scripted.push(draft(1), draft(2))
    await write(product="kettle")
    sent = prompt_text(scripted.requests[1])
    assert len(sent) < 6000 and "46000 more characters not shown" in sent


PRICED = ModelInfo(input_usd_per_token=1e-6, output_usd_per_token=2e-6, max_output_tokens=4000)


async def test_all_iterations_draw_from_one_budget_envelope() -> None:
    # Each answer costs $0.002; the function's $0.005 is spent after three, so
    # the loop stops there instead of running all ten iterations.
    client = ScriptedClient(respond=lambda _r: Reply('{"text": "t", "score": 1}', cost_usd=0.002), model_info=PRICED)
    stratum.configure(client=client, default_model="priced", max_output_tokens=100)

    @refine(until=lambda d: False, feedback=lambda d: "again", max_iterations=10)
    @infer(intent="Write", budget=Budget(usd=0.005))
    def write(product: str) -> Draft: ...

    with pytest.raises(BudgetExceeded) as info:
        await write(product="kettle")
    assert info.value.axis == "cost" and info.value.spent == pytest.approx(0.006)
    assert len(client.requests) == 3


async def test_the_time_budget_also_covers_the_host_checks(scripted: ScriptedClient) -> None:
    never = asyncio.Event()

    async def waits_forever(result: Draft) -> bool:
        await never.wait()
        return True

    @refine(until=waits_forever, feedback=lambda d: "")
    @infer(intent="Write", budget=Budget(ms=150))
    def write(product: str) -> Draft: ...

    scripted.push(draft(1))
    with pytest.raises(BudgetExceeded) as info:
        async with asyncio.timeout(30):  # without the budget, until() would wait forever
            await write(product="kettle")
    assert (info.value.axis, info.value.limit) == ("time", 150)
    assert len(scripted.requests) == 1


async def test_each_iteration_leaves_a_trace_record_tagged_with_its_number(scripted: ScriptedClient) -> None:
    scripted.push(draft(3), draft(9))
    await describe(product="kettle")
    tags = [r.extra["refine"] for r in stratum.trace.all_records()]
    assert [t["iteration"] for t in tags] == [1, 2]
    assert len({t["id"] for t in tags}) == 1 and {t["max_iterations"] for t in tags} == {3}


async def test_each_iteration_of_a_quorum_function_runs_the_whole_quorum(scripted: ScriptedClient) -> None:
    @refine(until=lambda d: d.score >= 5, feedback=lambda d: "higher")
    @infer(intent="Write", quorum=3, agree_on="score", threshold=2)
    def voted(product: str) -> Draft: ...

    scripted.push(draft(1), draft(1), draft(2), draft(5), draft(5), draft(5))
    assert (await voted(product="kettle")).score == 5
    assert len(scripted.requests) == 6
    assert all("higher" in prompt_text(r) for r in list(scripted.requests)[3:])


def test_refine_must_sit_directly_above_infer_on_a_stable_function() -> None:
    with pytest.raises(StratumCompileError, match="stacked directly above @infer"):

        @refine(until=bool, feedback=str)
        def plain(product: str) -> Draft: ...

    with pytest.raises(StratumCompileError, match="stable=False"):

        @refine(until=bool, feedback=str)
        @infer(intent="x", stable=False)
        def unstable(product: str) -> Draft: ...

    with pytest.raises(StratumCompileError, match="stacked directly above @infer"):
        refine(until=bool, feedback=str)(describe)
    with pytest.raises(StratumCompileError, match="max_iterations"):
        refine(until=bool, feedback=str, max_iterations=0)
    with pytest.raises(StratumCompileError, match="until"):
        refine(until="score > 8", feedback=str)  # type: ignore[arg-type]


def test_a_refined_function_keeps_the_signature_and_is_exported_where_expected() -> None:
    import inspect

    assert stratum.refine is refine
    assert list(inspect.signature(describe).parameters) == ["product"]
    assert describe.__name__ == "describe" and describe.spec.name == "describe"
    assert "refine describe -> Draft (max 3)" in repr(describe)


async def test_refine_through_litellm(through_litellm: Any, warm_litellm: Any) -> None:
    def respond(body: dict[str, Any]) -> dict[str, Any]:
        return draft(9) if "score 4 is below 8" in prompt_text(body) else draft(4)

    with through_litellm(respond) as server:
        await warm_litellm()
        result = await describe(product="kettle")
        assert len(server.requests) == 3  # the warm-up and two iterations
    assert result.score == 9


async def test_a_refined_function_in_test_mode_warns_once_that_it_was_never_sampled(
    scripted: ScriptedClient,
) -> None:
    @refine(until=lambda d: True, feedback=str)
    @infer(intent="Write")
    def write(product: str) -> Draft: ...

    stratum.configure(test_mode=True)
    scripted.push(draft(1), draft(2))
    with pytest.warns(stratum.StratumWarning, match="never sampled") as seen:
        await write(product="kettle")
    assert seen[0].filename == __file__
    await write(product="kettle")  # once only: a second warning would fail this suite
