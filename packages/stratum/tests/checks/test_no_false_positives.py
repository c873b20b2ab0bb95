"""The checks never reject what this repository itself writes: its examples, its docs' snippets, its tests.

- **Examples**: ``stratum check examples`` (the command, as a user runs it)
  reports nothing.
- **Doc snippets**: every fenced ```python block of ``docs/*.md`` and
  ``README.md``. Snippets build on what the reader has seen (the guide's
  ``compile_prompt(classify, ...)`` uses the ``classify`` declared above it;
  composition.md's calls return the guide's ``Sentiment``), so each page
  becomes one module, read in order (README, the guide, then the other
  pages): the imports pages leave implicit (stratum's public names,
  ``Literal``, ``BaseModel``...), everything the pages before it declared,
  then its snippets in order, keeping their declarations (imports, classes, functions,
  assignments of plain data) and leaving out statements that do work
  (calls, awaits, loops), which would call a model or start a server. A
  snippet that is a fragment and cannot run alone (a signature listing, a
  name no snippet of the page defines, a third-party package this repository
  does not install) is left out of its page's module, and listed; everything
  else must check clean.
- **Tests**: the suite's own declarations run their decoration-time checks
  as the suite imports and runs them, under a filter that turns any
  ``StratumWarning`` into a failure; ``stratum check`` over every test module
  also runs the checks that wait for a first call. It runs in a process of
  its own: importing a module again re-runs its declarations, and a durable
  flow declared again replaces the one the suite's durable tests use.
  ``tests/checks`` is left out: its mistakes are deliberate.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stratum.checks import check

ROOT = Path(__file__).resolve().parents[4]
TESTS = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: what makes a snippet a fragment when importing its page fails on one of its lines
FRAGMENT = re.compile(r"failed: (NameError|ModuleNotFoundError|ImportError):")


def stratum_check(*targets: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, "-m", "stratum", "check", *map(str, targets)],
        env=env, capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip


def test_stratum_check_reports_nothing_on_the_examples() -> None:
    result = stratum_check(ROOT / "examples")
    examples = sorted((ROOT / "examples").glob("*.py"))
    assert (result.returncode, result.stdout) == (0, f"No mistakes found in {len(examples)} files.\n"), result.stderr
    assert len(examples) >= 8


@dataclass
class Snippet:
    page: str
    line: int  # where the fence opens in the page
    code: str
    kept: list[ast.stmt] = field(default_factory=list)
    left_out: str | None = None  # why it is a fragment

    @property
    def declares(self) -> bool:
        return any(isinstance(s, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) for s in self.kept)


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        snippet = Snippet(page.name, text[: match.start()].count("\n") + 1, match.group(1))
        try:
            tree = ast.parse(snippet.code)
        except SyntaxError as exc:
            snippet.left_out = f"not Python on its own ({exc.msg})"
        else:
            snippet.kept = [s for s in tree.body if _declaration(s)]
        found.append(snippet)
    return found


def _declaration(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        return not any(isinstance(n, (ast.Call, ast.Await)) for n in ast.walk(stmt.value))
    return False


#: what the pages take for granted
IMPLICIT = [
    "from collections.abc import Sequence",
    "from typing import Annotated, Any, Literal",
    "from pydantic import BaseModel, Field",
    "import stratum",
    "from stratum import *",
    "from stratum.hitl import *",
    "",
]


def page_module(page: list[Snippet], before: str | None) -> tuple[str, dict[int, Snippet]]:
    """The page's kept statements as one module's text, and which snippet each line came from."""
    lines: list[str] = [*IMPLICIT, f"from {before} import *" if before else "", ""]
    origin: dict[int, Snippet] = {}
    for snippet in page:
        if snippet.left_out is not None:
            continue
        source = snippet.code.splitlines()
        for stmt in snippet.kept:
            first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            for text in source[first - 1 : stmt.end_lineno]:
                lines.append(text)
                origin[len(lines)] = snippet
            lines.append("")
    return "\n".join(lines) + "\n", origin


def test_stratum_check_reports_nothing_on_the_docs_snippets(tmp_path: Path) -> None:
    guide = ROOT / "docs" / "guide.md"
    pages = [ROOT / "README.md", guide, *sorted(p for p in (ROOT / "docs").glob("*.md") if p != guide)]
    unexpected = []
    every: list[Snippet] = []
    before = None
    for number, page in enumerate(pages):
        found = snippets(page)
        every += found
        name = f"doc_{number}_{page.stem.lower()}"
        path = tmp_path / f"{name}.py"
        for _attempt in range(len(found) + 1):
            text, origin = page_module(found, before)
            path.write_text(text)
            report = check(path)
            fragment = next((f for f in report.errors if f.rule == "import" and FRAGMENT.search(f.message)), None)
            if fragment is None:
                unexpected += [f"{page.name}:{origin[f.lineno or 0].line}: {f}" for f in report.findings]
                break
            culprit = origin[fragment.lineno or 0]
            culprit.left_out = fragment.message.split("failed: ", 1)[1]
        before = name
    assert unexpected == []
    declaring = [s for s in every if s.left_out is None and s.declares]
    left_out = [f"{s.page}:{s.line}: {s.left_out}" for s in every if s.left_out is not None]
    print(f"\n{len(every)} snippets in {len(pages)} pages: {len(declaring)} declare and were checked, "
          f"{len(every) - len(declaring) - len(left_out)} only use what others declare, "
          f"{len(left_out)} fragments left out:")  # fmt: skip
    print("\n".join(f"  {line}" for line in left_out))
    # A fragment is the exception: most snippets that declare something run.
    assert len(declaring) >= 10 and len(left_out) < len(declaring)


def test_stratum_check_reports_nothing_on_the_test_modules() -> None:
    modules = sorted(p for p in TESTS.rglob("*.py") if "checks" not in p.relative_to(TESTS).parts)
    result = stratum_check(*modules)
    assert (result.returncode, result.stdout) == (0, f"No mistakes found in {len(modules)} files.\n"), result.stderr
    declared = sum(
        ast.unparse(d).split("(")[0] in ("infer", "flow", "stratum.infer", "stratum.flow")
        for path in modules
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for d in node.decorator_list
    )
    print(f"\n{len(modules)} test modules checked; they declare {declared} @infer/@flow functions")
    assert len(modules) >= 25 and declared >= 100
