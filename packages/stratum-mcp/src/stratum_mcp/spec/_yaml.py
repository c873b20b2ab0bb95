"""Load spec text as plain JSON-like data, safely and within limits.

YAML is parsed with PyYAML's *safe* loader (no Python tags), extended with
bounds PyYAML does not have: document size, nesting depth, the number of
aliases, and the number of nodes once every alias is expanded. The last one
is what stops a "billion laughs" document: its few hundred bytes compose to a
small graph of shared nodes, and the expansion is counted on that graph with
memoisation (so the count itself is cheap) before anything is constructed.
Duplicate mapping keys, which PyYAML silently overwrites, are errors here.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
import yaml.reader
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stratum_mcp._limits import Limits
from stratum_mcp._messages import render_path
from stratum_mcp._problems import SpecIssue
from stratum_mcp.errors import SpecInvalid

__all__ = ["load_document"]


class _Rejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that counts depth and aliases while composing."""

    def __init__(self, stream: str, limits: Limits) -> None:
        super().__init__(stream)
        self._limits = limits
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self._limits.yaml_aliases:
                raise _Rejected("too_many_aliases", f"more than {self._limits.yaml_aliases} aliases")
        self._depth += 1
        if self._depth > self._limits.yaml_depth:
            raise _Rejected("too_deep", f"nested more than {self._limits.yaml_depth} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise _Rejected("duplicate_key", f"duplicate key {key!r} (line {line})")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Node, limit: int) -> int:
    """Count nodes as if every alias were copied out; stop as soon as ``limit`` is passed."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise _Rejected("recursive_alias", "an alias refers to a node that contains it")
        in_progress.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                raise _Rejected("expansion_too_large", f"expands to more than {limit} nodes (alias bomb?)")
        in_progress.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _check_json(value: Any, path: list[str | int], issues: list[SpecIssue]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                issues.append(SpecIssue(render_path(path), "non_string_key", f"key {key!r} must be a string"))
                continue
            _check_json(item, [*path, key], issues)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, [*path, index], issues)
    elif isinstance(value, float) and not math.isfinite(value):
        issues.append(SpecIssue(render_path(path), "non_json_value", "numbers must be finite"))
    elif value is not None and not isinstance(value, str | int | float | bool):
        issues.append(
            SpecIssue(render_path(path), "non_json_value", f"{type(value).__name__} values are not allowed",
                      "quote the value to make it a string")
        )


def _reader_issue(text: str, error: yaml.reader.ReaderError) -> SpecIssue:
    """A character YAML does not allow, with its line and column (the reader only knows its offset)."""
    position = min(max(error.position, 0), len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = error.character if isinstance(error.character, int) else 0
    return SpecIssue("(document)", "yaml_syntax",
                     f"character U+{character:04X} is not allowed in YAML (line {line}, column {column})",
                     "remove the control character, or write it as an escape inside a double-quoted string")


def load_document(text: str, limits: Limits) -> dict[str, Any]:
    """Parse spec text into a dict of plain JSON values; raise :class:`SpecInvalid` if it cannot be."""
    if not isinstance(text, str):
        raise SpecInvalid([SpecIssue("(document)", "not_text", "the spec must be YAML or JSON text")])
    # Characters never outnumber bytes, so a huge text is refused before it is encoded.
    size = len(text) if len(text) > limits.spec_bytes else len(text.encode("utf-8", errors="replace"))
    if size > limits.spec_bytes:
        message = f"spec is {size} bytes; the limit is {limits.spec_bytes}"
        raise SpecInvalid([SpecIssue("(document)", "too_large", message)])
    try:
        # The reader refuses control characters (NUL and others YAML does not allow) as it is built.
        loader = _BoundedLoader(text, limits)
    except yaml.reader.ReaderError as exc:
        raise SpecInvalid([_reader_issue(text, exc)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise _Rejected("empty", "the spec is empty")
        _expanded_size(node, limits.yaml_nodes)
        data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        raise SpecInvalid([_reader_issue(text, exc)]) from None
    except _Rejected as exc:
        raise SpecInvalid([SpecIssue("(document)", exc.code, str(exc))]) from None
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})" if exc.problem_mark else ""
        raise SpecInvalid([SpecIssue("(document)", "yaml_syntax", f"{exc.problem or exc}{where}")]) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise SpecInvalid([SpecIssue("(document)", "yaml_syntax", f"cannot parse the spec: {exc}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecInvalid([SpecIssue("(document)", "not_a_mapping", "the spec must be a mapping with `version`, "
                                     "`contracts`, `functions` and `flows`")])
    issues: list[SpecIssue] = []
    _check_json(data, [], issues)
    if issues:
        raise SpecInvalid(issues)
    return data
