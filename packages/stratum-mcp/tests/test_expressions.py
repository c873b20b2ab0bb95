"""Ensure expressions: what is allowed, and hostile input failing fast without eval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stratum_mcp import Limits
from stratum_mcp.errors import EvaluationError, ExpressionRejected, LimitExceeded
from stratum_mcp.expressions import ProjectFiles, compile_expression, evaluate

ROOTS: dict[str, frozenset[str] | None] = {
    "result": frozenset({"confidence", "items", "status", "scores", "n", "s", "nested", "path", "text", "row", "rows",
                         "a", "b"}),
    "inputs": None,
}
DATA = {
    "confidence": 0.9,
    "items": [1, 2, 3],
    "status": "ok",
    "scores": [0.5, 2.0],
    "n": 10,
    "s": "ab",
    "nested": {"inner": {"value": 5}, "tags": ["x", "y"]},
    "path": "notes.txt",
    "text": "Hello World",
}


def run(source: str, result: Any = None, inputs: Any = None, **kwargs: Any) -> Any:
    limits = kwargs.pop("limits", Limits())
    kwargs.setdefault("clock", stopped_clock)  # only the time-limit test lets time pass
    expr = compile_expression(source, ROOTS, limits=limits)
    variables = {"result": DATA if result is None else result, "inputs": inputs or {"text": "Hello"}}
    return evaluate(expr, variables, limits=limits, **kwargs)


def stopped_clock() -> float:
    """A clock that never moves: no evaluation here runs out of time, however busy the machine is."""
    return 0.0


class TickingClock:
    """A clock that moves ``tick`` seconds each time it is read."""

    def __init__(self, tick: float) -> None:
        self.tick, self.now, self.reads = tick, 0.0, 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += self.tick
        return self.now


def rejected(source: str) -> ExpressionRejected:
    with pytest.raises(ExpressionRejected) as caught:
        compile_expression(source, ROOTS)
    return caught.value


#: Hostile input must be refused within this much work: "fast", counted in steps rather than seconds.
FAST = Limits(eval_steps=1_000)


def stopped(source: str, limits: Limits = FAST) -> LimitExceeded:
    """The bound that stops ``source`` within ``limits`` (by default, within 1,000 steps of work: fast)."""
    with pytest.raises(LimitExceeded) as caught:
        run(source, limits=limits, clock=stopped_clock)
    return caught.value


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("result.confidence > 0.7", True),
        ("len(result.items) > 0", True),
        ("result.status in ('ok', 'partial')", True),
        ("all(x > 0 for x in result.scores)", True),
        ("any(x > 1 for x in result.scores)", True),
        ("result.nested.inner.value == 5", True),
        ("result['nested']['tags'][-1] == 'y'", True),
        ("result.items[1:] == [2, 3]", True),
        ("0 < result.confidence <= 1", True),
        ("sum(result.items) == 6 and max(result.items) == 3 and min(1, 2) == 1", True),
        ("sorted([3, 1, 2]) == [1, 2, 3]", True),
        ("lower(result.text) == 'hello world' and startswith(result.text, 'Hell')", True),
        ("not result.status == 'failed'", True),
        ("result.n // 3 == 3 and result.n % 3 == 1 and result.n / 4 == 2.5 and 2 ** 10 == 1024", True),
        ("len([x for x in result.items if x > 1]) == 2", True),
        ("{x for x in result.items} == {1, 2, 3}", True),
        ("'yes' if result.n > 5 else 'no'", "yes"),
        ("result.nested.missing is None if 'missing' in result.nested else True", True),
        ("inputs.text == 'Hello'", True),
        ("len(result.s * 3) == 6", True),
        ("int('42') + float('0.5') == 42.5 and str(3) == '3' and bool(1)", True),
        ("abs(-2) == 2 and round(2.567, 2) == 2.57", True),
        ("[k for k, v in [['a', 1], ['b', 2]] if v > 1] == ['b']", True),
    ],
)
def test_allowed_expressions_evaluate_like_python(source: str, expected: Any) -> None:
    assert run(source).value == expected


def test_a_false_expression_reports_the_values_it_looked_at() -> None:
    evaluation = run("result.confidence > 0.95")
    assert not evaluation.passed
    assert evaluation.observed == {"result.confidence": 0.9}


def test_a_missing_field_is_an_error_not_false() -> None:
    with pytest.raises(EvaluationError, match="has no field `inner`"):
        run("result.nested.inner.value > 1", result={"nested": {}})


def test_a_type_error_is_an_error_not_false() -> None:
    with pytest.raises(EvaluationError):
        run("result.items < 'a'")


def test_division_by_zero_in_data_is_an_error_not_false() -> None:
    with pytest.raises(EvaluationError):
        run("result.n / (result.n - 10) > 1")


def test_file_helpers_read_only_under_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("release notes")
    files = ProjectFiles(tmp_path)
    assert run("file_exists(result.path) and file_contains(result.path, 'notes')", files=files).passed
    with pytest.raises(EvaluationError, match="outside the project root"):
        run("file_exists('../../etc/passwd')", files=files)


def test_file_helpers_without_a_project_are_an_error() -> None:
    with pytest.raises(EvaluationError, match="not available"):
        run("file_exists('x')")


# --- hostile expressions: each fails fast, with a clear reason, and leaves the evaluator healthy


def test_dunder_attribute_access_is_rejected() -> None:
    assert "not a data field" in str(rejected("result.__class__"))


def test_a_dunder_spelt_with_mathematical_unicode_look_alikes_is_rejected() -> None:
    # The parser folds these letters to ASCII (NFKC), so this reads as result.__class__.
    assert "not a data field" in str(rejected("result.__\U0001d41c\U0001d425\U0001d41a\U0001d42c\U0001d42c__"))


def test_a_dunder_spelt_with_fullwidth_letters_is_rejected() -> None:
    assert "not a data field" in str(rejected("result.__ｃｌａｓｓ__.__ｂａｓｅｓ__"))


def test_look_alike_letters_that_do_not_fold_to_ascii_are_rejected() -> None:
    # Cyrillic a (U+0430) stays non-ASCII after normalisation.
    assert "not a data field" in str(rejected("result.st\u0430tus == 'ok'"))


def test_a_generator_frame_escape_is_rejected() -> None:
    error = rejected("(x for x in result.items).gi_frame.f_back.f_globals")
    assert "can only be read from data" in str(error)


def test_a_generator_frame_escape_through_a_subscript_is_rejected() -> None:
    rejected("[x for x in result.items].gi_frame")
    rejected("(x for x in result.items)['gi_frame']")


def test_calling_builtins_that_are_not_on_the_list_is_rejected() -> None:
    for source in ("__import__('os')", "getattr(result, 'x')", "eval('1')", "type(result)", "open('x')"):
        rejected(source)


def test_method_calls_are_rejected() -> None:
    assert "not a function you can call" in str(rejected("result.status.upper() == 'OK'"))


def test_a_huge_power_of_constants_is_rejected_at_validate_time() -> None:
    assert "integer bits" in str(rejected("10**10**10 > 1"))


def test_a_huge_string_repeat_of_constants_is_rejected_at_validate_time() -> None:
    assert "string length" in str(rejected("len('a'*10**10) > 0"))


def test_a_huge_power_from_data_fails_fast_at_run_time() -> None:
    assert stopped("result.n ** result.n ** result.n > 0").limit == "integer bits"


def test_a_huge_string_repeat_from_data_fails_fast_at_run_time() -> None:
    assert stopped("len(result.s * 10**10) > 0").limit == "string length"


def test_a_huge_list_repeat_fails_fast() -> None:
    error = stopped("len(result.items * 10**9) > 0")
    assert (error.limit, error.value) == ("collection items", 3 * 10**9)  # refused before it was built


def test_repeated_squaring_hits_the_integer_bound() -> None:
    assert stopped("((result.n ** 100) ** 100) > 0").limit == "integer bits"


def test_a_comparison_of_huge_nested_constants_is_rejected_at_validate_time() -> None:
    # 10^12 values to compare, in C, holding the interpreter lock: about half an hour if it were built.
    error = rejected("[[[0]*10000]*10000]*10000 == [[[0]*10000]*10000]*10000")
    assert "nested items" in str(error)


ROWS = [[0] * 100 for _ in range(2_000)]  # 202,001 values: over the default 100,000 one operation may visit
# Two equal strings of 100,000 four-byte characters that are not the same object (so no identity shortcut).
LONG, LONG_TOO = "\U0001f600" * 100_000, "".join(["\U0001f600"] * 100_000)


def nested_lists(depth: int) -> list[Any]:
    """``[[[...[]...]]]``, ``depth`` lists deep."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


DEEP, DEEP_TOO = nested_lists(5_000), nested_lists(5_000)  # deeper than the recursion limit

#: Exhaustion cases, each driven by data so that validation cannot catch it: (expression, result, the bound).
#: The clock is stopped, so only a bound checked *before* the expensive operation can end these; one checked
#: after it would leave the test hanging until pytest's timeout.
EXHAUSTION = [
    ("[[0]*result.n]*result.n == [[0]*result.n]*result.n", {"n": 10_000}, "nested items"),
    ("[[0]*result.n]*11 == []", {"n": 10_000}, "nested items"),
    ("len([result.row for x in range(5000)]) > 0", {"row": [0] * 100}, "nested items"),
    ("len([result.row] * 2000) > 0", {"row": [0] * 100}, "nested items"),
    ("len(result.rows[:1000] + result.rows[:1000]) > 0", {"rows": ROWS}, "nested items"),
    ("{'a': [result.row] * 1000, 'b': [result.row] * 1000} != {}", {"row": [0] * 100}, "nested items"),
    ("[result.rows] == [result.rows]", {"rows": ROWS}, "nested items"),
    ("result.a == result.b", {"a": ROWS, "b": [list(r) for r in ROWS]}, "values visited by one operation"),
    ("result.a < result.b", {"a": ROWS, "b": [list(r) for r in ROWS]}, "values visited by one operation"),
    ("result.a == result.b", {"a": {"x": ROWS}, "b": {"x": ROWS[:]}}, "values visited by one operation"),
    ("[0] * 100 in result.rows", {"rows": ROWS}, "values visited by one operation"),
    ("len(sorted(result.rows)) > 0", {"rows": ROWS[:1500]}, "values visited by one operation"),
    ("max(result.rows) != []", {"rows": ROWS}, "values visited by one operation"),
    ("min(result.a, result.b) != []", {"a": ROWS[:1000], "b": ROWS[:1000]}, "values visited by one operation"),
    ("len(upper(result.s)) > 0", {"s": "a" * 200_000}, "string length"),
    ("len(lower(result.s * 60000)) > 0", {"s": "ab"}, "string length"),
    ("len(result.s + result.s) > 0", {"s": "a" * 60_000}, "string length"),
    ("result.n * result.n > 0", {"n": 10**1000}, "integer bits"),
    ("result.n ** 2 > 0", {"n": 10**1000}, "integer bits"),
    # What a careful attacker tries next. Huge integers, by every route that makes or keeps one:
    ("result.n ** result.a > 0", {"n": 3, "a": 1024}, "integer bits"),  # 1,624 bits: more than the cheap estimate
    ("sum([x ** 100 for x in range(result.n)]) > 0", {"n": 10_000}, "integer bits"),
    ("int(result.s * 400) > 0", {"s": "9"}, "integer bits"),
    ("int(result.confidence) * 1024 > 0", {"confidence": 1e308}, "integer bits"),
    ("round(result.n) > 0", {"n": 10**1000}, "integer bits"),
    ("sum([result.n, result.n]) > 0", {"n": 10**1000}, "integer bits"),
    # Repetition and concatenation chains, of strings, lists and tuples, in either order:
    ("len(result.n * result.s) > 0", {"n": 10**10, "s": "ab"}, "string length"),
    ("len(result.s + result.s + result.s) > 0", {"s": "a" * 40_000}, "string length"),
    ("len(lower(result.s) + upper(result.s)) > 0", {"s": "a" * 60_000}, "string length"),
    ("len(str(result.n) * 1000) > 0", {"n": 10**4000}, "string length"),
    ("len([0] * result.n * result.n) > 0", {"n": 101}, "collection items"),
    ("len(result.row * 50 + result.row * 50 + result.row) > 0", {"row": [0] * 100}, "collection items"),
    ("len((result.row,) * 2000) > 0", {"row": [0] * 100}, "nested items"),
    ("[result.row] * 99 in [[result.row] * 99] * 11", {"row": [0] * 100}, "nested items"),
    # Comprehensions, nested and over ranges, and what consumes them:
    ("len(range(result.n)) > 0", {"n": 10**6}, "collection items"),
    ("len({x for x in range(result.n) for y in range(result.n)}) > 0", {"n": 10_000}, "collection items"),
    ("max(x for x in range(result.n) for y in range(result.n)) > 0", {"n": 10_000}, "collection items"),
    ("sum(x for x in range(result.n) for y in range(result.n) if y < 0) > 0", {"n": 10_000}, "evaluation steps"),
    ("len(sorted(range(result.n))) > 0", {"n": 10_000}, "evaluation steps"),
    ("len([result.s * 50000 for x in range(100)]) > 0", {"s": "ab"}, "evaluation steps"),
    # Operations each within the bounds, repeated until the steps run out:
    ("all(result.a == result.b for x in range(100))", {"a": ROWS[:900], "b": ROWS[:900]}, "evaluation steps"),
    (" == ".join(["result.a", "result.b"] * 5), {"a": ROWS[:900], "b": [list(r) for r in ROWS[:900]]},
     "evaluation steps"),
    # Slicing makes new lists, which are weighed like any other:
    ("result.rows[::-1] == result.rows[::1]", {"rows": ROWS}, "values visited by one operation"),
    # Deep structures: the comparison recurses in C, and stops at the nesting bound instead of crashing.
    ("result.a == result.b", {"a": DEEP, "b": DEEP_TOO}, "nesting depth"),
    # Long strings: comparing two equal ones compares every character, so each weighs by its length.
    ("[result.a] * 10000 == [result.b] * 10000", {"a": LONG, "b": LONG_TOO}, "nested items"),
    ("[[result.s * 100000] * 9] * 9999 == [[result.s * 100000] * 9] * 9999", {"s": "\U0001f600"}, "nested items"),
    ("result.s in result.b", {"s": LONG, "b": [LONG_TOO] * 10_000}, "values visited by one operation"),
    ("max(result.b) != ''", {"b": [LONG, LONG_TOO] * 5000}, "values visited by one operation"),
    ("len(sorted(result.b)) > 0", {"b": [LONG, LONG_TOO] * 1000}, "values visited by one operation"),
    ("result.a == result.b", {"a": [{LONG: 1}] * 10_000, "b": [{LONG_TOO: 1}] * 10_000},
     "values visited by one operation"),
]


@pytest.mark.parametrize(("source", "result", "bound"), EXHAUSTION)
def test_data_that_would_make_one_operation_huge_is_refused_before_it_runs(
    source: str, result: dict[str, Any], bound: str
) -> None:
    with pytest.raises(LimitExceeded) as caught:
        run(source, result=result)
    assert caught.value.limit == bound


def test_the_nesting_bound_is_the_same_on_every_python_version() -> None:
    limit = Limits().value_depth
    at_limit = limit - 1  # nested_lists(n) is n + 1 lists, one inside the other
    assert run("result.a == result.b", result={"a": nested_lists(at_limit), "b": nested_lists(at_limit)}).passed
    with pytest.raises(LimitExceeded) as deep:
        run("result.a == result.b", result={"a": nested_lists(limit), "b": nested_lists(limit)})
    assert (deep.value.limit, deep.value.maximum) == ("nesting depth", limit)
    with pytest.raises(LimitExceeded) as built:  # one level more, built by the expression itself
        run("[result.a] != []", result={"a": nested_lists(at_limit)})
    assert (built.value.limit, built.value.maximum) == ("nesting depth", limit)
    assert run("[result.a] != []", result={"a": nested_lists(at_limit - 1)}).passed


def test_the_exhaustion_cases_are_distinct_and_at_least_29() -> None:
    assert len({source for source, _, _ in EXHAUSTION}) >= 29
    assert {bound for _, _, bound in EXHAUSTION} == {
        "integer bits", "string length", "collection items", "nested items", "values visited by one operation",
        "evaluation steps", "nesting depth"}


@pytest.mark.parametrize(
    "source",
    [
        "1 << result.n > 0",  # shifts: the other way to a huge integer
        "result.n >> 1 == 0",
        "~result.n > 0",
        "result.n | result.n > 0",
        "pow(2, result.n) > 0",
        "'-'.join(result.items) == ''",  # string methods that grow text
        "result.s.replace('a', 'aa') == ''",
        "result.s.center(10**9) == ''",
        "result.s.ljust(10**9) == ''",
        "'{:>999999999}'.format(1) == ''",
        "format(1, '>999999999') == ''",
        "{x: x for x in range(10000)} != {}",  # dict comprehensions
        "[*range(10**9)] == []",
        "bytes(10**9) == b''",
        "sum(result.items, start=0) > 0",
        " or ".join(["result.n"] * 120),  # long chains of `and`/`or`: by length, then by node count
        "0<1 and " * 115 + "1",
        "len([0] * 10**9) > 0",  # constant parts are computed at validate time, within the same bounds
    ],
)
def test_what_the_grammar_does_not_allow_is_refused_at_validate_time(source: str) -> None:
    rejected(source)


def test_reading_a_large_file_over_and_over_runs_out_of_steps(tmp_path: Path) -> None:
    # Each call searches 4 MiB for a handful of interpreter steps; charged a step per KiB read, a dozen calls
    # spend the 50,000 steps (uncharged, a hundred calls took 400 steps, and ten thousand, 40 GB of reading).
    (tmp_path / "big.txt").write_bytes(b"a" * (4 * 1024 * 1024))
    (tmp_path / "small.txt").write_text("def main(): ...")
    files = ProjectFiles(tmp_path)
    with pytest.raises(LimitExceeded) as caught:
        run("not any(file_contains('big.txt', 'zz') for x in range(100))", files=files)
    assert caught.value.limit == "evaluation steps"
    # A small file costs a few steps a call: fifty calls fit in a thousand steps.
    assert run("all(file_contains('small.txt', 'def main') for x in range(50))", files=files, limits=FAST).passed


def test_values_within_the_bounds_still_compare_sort_and_repeat() -> None:
    rows = ROWS[:900]  # 90,901 values
    assert run("result.a == result.b", result={"a": rows, "b": [list(r) for r in rows]}).passed
    assert run("len(sorted(result.a)) == 90", result={"a": rows[:90]}).passed  # 9,091 values, 7 rounds
    assert run("len([[0] * result.n] * 9) == 9", result={"n": 10_000}).passed
    # Strings weigh a value more per 64 characters: a thousand ordinary ones still compare and sort.
    words = [f"word number {i} of a longer list of words that a result may well hold" for i in range(1000)]
    assert run("result.a == result.b and sorted(result.a) == sorted(result.b)",
               result={"a": words, "b": list(words)}).passed


def test_nested_comprehensions_beyond_two_loops_are_rejected() -> None:
    assert "nest 3 loops" in str(rejected("[[[0 for a in range(9)] for b in range(9)] for c in range(9)]"))


def test_two_loops_over_large_ranges_stop_at_the_step_limit() -> None:
    error = stopped("len([[x for x in range(10000)] for y in range(10000)]) > 0", Limits())
    assert (error.limit, error.maximum) == ("evaluation steps", Limits().eval_steps)


def test_a_slow_expression_stops_at_the_time_limit() -> None:
    # 1/1024 s passes between two readings, however fast the machine is (powers of two keep the sums exact).
    clock = TickingClock(tick=1 / 1024)
    limits = Limits(eval_seconds=20 / 1024, eval_steps=10**9, collection_items=10**9)
    with pytest.raises(LimitExceeded) as caught:
        run("sum([x * y for x in range(100000) for y in range(1000)]) > 0", limits=limits, clock=clock)
    assert caught.value.limit == "evaluation seconds"
    assert clock.reads == 22  # the start, then a reading every 64 steps until more than 20 ticks have passed


def test_printf_formatting_is_refused() -> None:
    assert "formatting" in str(rejected("'%999999999d' % 1 == ''"))
    with pytest.raises(EvaluationError, match="formatting"):
        run("result.s % 1 == ''", result={**DATA, "s": "%999999999d"})


def test_lambdas_walrus_fstrings_and_star_args_are_rejected() -> None:
    for source in ("(lambda: 1)()", "(x := 1)", "f'{result}' == ''", "len(*result.items)", "{**result}"):
        rejected(source)


def test_overlong_and_deeply_nested_expressions_are_rejected() -> None:
    rejected("1 + " * 400 + "1")
    rejected("-" * 200 + "1")
    assert "levels deep" in str(rejected("[" * 100 + "1" + "]" * 100))
    assert "parenthes" in str(rejected("(" * 300 + "1" + ")" * 300))


def test_is_compares_only_with_singletons() -> None:
    assert "`is` compares only" in str(rejected("result.items is result.items"))


def test_loop_variables_cannot_shadow_result_or_functions() -> None:
    rejected("all(result for result in [1])")
    rejected("all(len for len in [1])")


def test_unknown_names_are_rejected_with_a_suggestion() -> None:
    error = rejected("reslt.confidence > 0")
    assert error.suggestion == "did you mean `result`?"


def test_the_evaluator_is_healthy_after_hostile_input() -> None:
    for source in ("result.n ** result.n ** result.n > 0", "len(result.s * 10**10) > 0"):
        with pytest.raises(LimitExceeded):
            run(source)
    assert run("result.confidence > 0.7").passed


def test_no_string_reaches_eval_or_exec_and_compile_only_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    import ast
    import builtins

    calls: list[str] = []
    real_compile = builtins.compile

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        calls.append("eval/exec")
        raise AssertionError("eval/exec called")

    def parse_only(source: Any, filename: Any, mode: str, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        if not flags & ast.PyCF_ONLY_AST:
            calls.append("compile to code")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", parse_only)
    passed = run("all(x > 0 for x in result.items) and result.status == 'ok'").passed
    monkeypatch.undo()
    assert passed
    assert calls == []
