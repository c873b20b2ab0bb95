"""The source text of the code users decorate: parsed once per file, looked up by line.

Predicates show their own source to the model, and the declaration checks
(``stratum._core.analysis``) point at the expression that is wrong; both
find a function's or a lambda's AST node here. A file is read through
``linecache`` (the text Python compiled, as tracebacks show it), parsed once,
and indexed by line, so a module of many declarations costs one parse, not
one per declaration. Code without a readable source (a REPL, ``exec``, a C
function) has no node: callers skip what they cannot see.
"""

from __future__ import annotations

import ast
import linecache
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

__all__ = ["SourceFile", "find_def", "find_lambda", "source_file"]

Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass(eq=False)
class SourceFile:
    """One parsed file: its lines, its tree, and its definitions and lambdas by line."""

    filename: str
    lines: list[str]
    tree: ast.Module
    #: definitions by their first line (the first decorator's) and by their `def`/`class` line
    defs: dict[int, list[Def]] = field(default_factory=dict)
    lambdas: dict[int, list[ast.Lambda]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                for line in {first, node.lineno}:
                    self.defs.setdefault(line, []).append(node)
            elif isinstance(node, ast.Lambda):
                self.lambdas.setdefault(node.lineno, []).append(node)

    def segment(self, node: ast.AST) -> str | None:
        """The node's source text on one line (runs of whitespace folded), or None."""
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        col, end_col = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if start is None or end is None or col is None or end_col is None or end > len(self.lines):
            return None
        # Column offsets count UTF-8 bytes.
        rows = [line.encode() for line in self.lines[start - 1 : end]]
        parts = [rows[0][col:end_col]] if len(rows) == 1 else [rows[0][col:], *rows[1:-1], rows[-1][:end_col]]
        text = b"".join(parts)
        return " ".join(text.decode(errors="replace").split()) or None


#: filename -> (the linecache lines it was parsed from, the parsed file); bounded, oldest dropped
_parsed: dict[str, tuple[list[str], SourceFile | None]] = {}
_PARSED_LIMIT = 64


def source_file(filename: str) -> SourceFile | None:
    """The parsed file, or None when its source cannot be read or parsed."""
    lines = linecache.getlines(filename)
    if not lines:
        return None
    found = _parsed.get(filename)
    # linecache keeps one list per file until the file changes, so the same list means the same text;
    # holding the list keeps its identity from being reused.
    if found is not None and found[0] is lines:
        return found[1]
    try:
        parsed: SourceFile | None = SourceFile(filename, list(lines), ast.parse("".join(lines), filename))
    except (SyntaxError, ValueError):
        parsed = None
    if len(_parsed) >= _PARSED_LIMIT:
        _parsed.pop(next(iter(_parsed)))
    _parsed[filename] = (lines, parsed)
    return parsed


def _code(fn: Any) -> CodeType | None:
    code = getattr(fn, "__code__", None)
    return code if isinstance(code, CodeType) else None


def find_def(fn: Any) -> tuple[SourceFile, ast.FunctionDef | ast.AsyncFunctionDef] | None:
    """The `def` of a function (decorated or not), or None."""
    code = _code(fn)
    if code is None or code.co_name == "<lambda>":
        return None
    source = source_file(code.co_filename)
    if source is None:
        return None
    for node in source.defs.get(code.co_firstlineno, ()):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
            return source, node
    return None


def find_class(cls: type) -> tuple[SourceFile, ast.ClassDef] | None:
    """The `class` statement of a class defined in a readable file, or None (never raises)."""
    import sys

    module = sys.modules.get(getattr(cls, "__module__", ""))
    filename = getattr(module, "__file__", None)
    source = source_file(filename) if isinstance(filename, str) else None
    if source is None:
        return None
    found = [
        node
        for nodes in source.defs.values()
        for node in nodes
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__
    ]
    return (source, found[0]) if len(set(map(id, found))) == 1 else None


def find_lambda(fn: Any) -> tuple[SourceFile, ast.Lambda] | None:
    """The `lambda` expression a function was made from, or None when it cannot be told apart."""
    code = _code(fn)
    if code is None or code.co_name != "<lambda>":
        return None
    source = source_file(code.co_filename)
    if source is None:
        return None
    found = source.lambdas.get(code.co_firstlineno, [])
    if len(found) <= 1:
        return (source, found[0]) if found else None
    # Several lambdas on one line: the code's own column positions pick it.
    # (RESUME and the implicit return carry an empty 0..0 span; skip those.)
    cols = [
        p[2]
        for p in code.co_positions()
        if p[0] == code.co_firstlineno and p[2] is not None and p[3] is not None and p[3] > p[2]
    ]
    if cols:
        col = min(cols)
        inside = [n for n in found if n.body.col_offset <= col <= (n.body.end_col_offset or col)]
        if inside:
            return source, min(inside, key=lambda n: (n.end_col_offset or 0) - n.col_offset)
    return None


def walk_shallow(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` that does not enter nested functions, lambdas or classes (their bodies run elsewhere)."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        child = todo.pop()
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(child))
