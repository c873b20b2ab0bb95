"""Loading spec text: safe YAML with bounds on size, depth, aliases and expansion.

Every case here is refused by the first pass, before the spec's structure is looked at.
"""

from __future__ import annotations

import pytest

from stratum_mcp import DEFAULT_LIMITS, Limits
from stratum_mcp.errors import SpecInvalid
from stratum_mcp.spec import load_spec

ALIASED = """\
version: "0.1"
contracts:
  Out: {a: &text {type: string}, b: *text}
functions:
  f: {mode: compute, intent: Echo., output: Out}
flows:
  main: {output: Out, steps: [{id: only, function: f}]}
"""


def code_of(text: str, limits: Limits = DEFAULT_LIMITS) -> str:
    with pytest.raises(SpecInvalid) as caught:
        load_spec(text, limits=limits)
    return caught.value.issues[0].code


def test_a_billion_laughs_document_is_rejected_by_the_size_it_would_expand_to(billion_laughs: str) -> None:
    # Counted on the composed graph, where each alias is one shared node: nothing is expanded to count it.
    assert code_of(billion_laughs, Limits(yaml_aliases=1000)) == "expansion_too_large"


def test_a_billion_laughs_document_is_also_stopped_by_the_alias_count(billion_laughs: str) -> None:
    assert code_of(billion_laughs) == "too_many_aliases"


def test_a_recursive_alias_is_rejected() -> None:
    assert code_of("a: &x [1, *x]") == "recursive_alias"


def test_deep_nesting_is_rejected_before_python_recursion_runs_out() -> None:
    assert code_of("a: " + "[" * 5000 + "]" * 5000) == "too_deep"


def test_a_document_over_the_size_limit_is_rejected_before_parsing() -> None:
    assert code_of("a: " + "x" * 300_000) == "too_large"


def test_duplicate_keys_are_an_error_not_a_silent_overwrite() -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec("flows: 1\nflows: 2\n")
    assert caught.value.issues[0].code == "duplicate_key"
    assert "line 2" in caught.value.issues[0].message


def test_yaml_syntax_errors_carry_the_line() -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec("a: [1, 2\nb: 3\n")
    issue = caught.value.issues[0]
    assert issue.code == "yaml_syntax"
    assert "line" in issue.message


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\ufffe"])
def test_control_characters_are_a_yaml_syntax_error_with_line_and_column(character: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec(ALIASED.replace("Echo.", f"Ec{character}ho."))
    issue = caught.value.issues[0]
    assert issue.code == "yaml_syntax"
    assert f"U+{ord(character):04X} is not allowed in YAML (line 5, column 32)" in issue.message


def test_python_tags_are_refused_by_the_safe_loader() -> None:
    assert code_of("a: !!python/object/apply:os.system ['true']") == "yaml_syntax"


def test_dates_and_other_non_json_values_are_rejected_with_a_hint() -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec("a: {when: 2024-01-01}")
    issue = caught.value.issues[0]
    assert (issue.code, issue.path) == ("non_json_value", "a.when")
    assert issue.suggestion == "quote the value to make it a string"


def test_infinite_numbers_are_rejected() -> None:
    assert code_of("a: .inf") == "non_json_value"


@pytest.mark.parametrize("text", ["", "# only a comment", "- a list", "just text"])
def test_a_spec_must_be_a_mapping(text: str) -> None:
    assert code_of(text) in ("empty", "not_a_mapping")


def test_a_modest_number_of_aliases_is_fine() -> None:
    spec = load_spec(ALIASED)
    assert spec.contracts["Out"].field("b") == spec.contracts["Out"].field("a")


def test_keys_that_are_not_strings_are_rejected() -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec("a: {1: x}")
    assert (caught.value.issues[0].code, caught.value.issues[0].path) == ("non_string_key", "a")
