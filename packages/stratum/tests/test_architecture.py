"""The layers of ``stratum`` (docs/architecture.md), checked on the source.

Every import written in ``src/stratum`` is read with ``ast``: at module level,
inside functions (deferred imports are dependencies too: they decide what a
module needs, only later), and the names in a face's ``_LAZY`` table. Imports
under ``if TYPE_CHECKING:`` are left out: they never run, and they are how a
lower layer names a type defined above it (``Config.review_sink`` is a
``stratum.hitl.ReviewSink``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import stratum

SRC = Path(stratum.__file__).resolve().parent

#: The public faces: they may import anything, and no other module imports them.
FACES = {
    "stratum", "stratum.cache", "stratum.checks", "stratum.clients", "stratum.durable", "stratum.exporters",
    "stratum.hitl", "stratum.inbox", "stratum.reviews", "stratum.testing", "stratum.testing.openai_server",
    "stratum.testing.otlp_receiver", "stratum.trace", "stratum.types",
}  # fmt: skip

#: Module prefix -> (layer, rank). A module imports modules of its own layer or
#: of a lower rank; layers of equal rank never import each other.
LAYERS = [
    ("stratum.exceptions", "leaves", 0),
    ("stratum._version", "leaves", 0),
    ("stratum._json", "leaves", 0),
    ("stratum._retry", "leaves", 0),
    ("stratum._once", "leaves", 0),
    ("stratum._faces", "leaves", 0),
    ("stratum.clients", "clients", 1),
    ("stratum.cache", "cache", 1),
    ("stratum._observability", "observability", 1),
    ("stratum._core", "core", 2),
    ("stratum._composition", "composition", 3),
    ("stratum.hitl", "hitl", 3),
    ("stratum.durable", "durable", 4),
    ("stratum.testing", "testing", 4),
    ("stratum.checks", "checks", 4),
    ("stratum.inbox", "inbox", 5),
    ("stratum._cli", "cli", 6),
    ("stratum.__main__", "cli", 6),
]


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    kind: str  # "eager" (module level), "deferred" (inside a function) or "lazy" (a face's _LAZY table)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in SRC.rglob("*.py")}


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve(source: str, level: int, name: str | None) -> str:
    base = _package_of(source) if level else ""
    for _ in range(max(level - 1, 0)):
        base = base.rpartition(".")[0]
    return ".".join(part for part in (base, name) if part)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))

    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from (i for stmt in child.orelse for i in visit(stmt, in_function))
                continue
            kind = "deferred" if in_function else "eager"
            if isinstance(child, ast.ImportFrom):
                target = _resolve(module, child.level, child.module)
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    yield Import(module, sub if sub in MODULES else target, kind, child.lineno)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, kind, child.lineno)
            elif (
                isinstance(child, ast.Assign)
                and not in_function
                and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in child.targets)
            ):
                table = ast.literal_eval(child.value)
                for path in set(table.values()):
                    yield Import(module, _resolve(module, len(path) - len(path.lstrip(".")), path.lstrip(".")),
                                 "lazy", child.lineno)  # fmt: skip
            yield from visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    yield from visit(tree, False)


IMPORTS = [i for module in MODULES for i in _imports(module)]
INTERNAL = [i for i in IMPORTS if i.target in MODULES]


def _layer(module: str) -> tuple[str, int]:
    for prefix, layer, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer, rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS (and docs/architecture.md)")


def _cycle(edges: list[tuple[str, str]]) -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt)
            if found:
                return found
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start)
        if found:
            return found
    return None


def test_every_module_is_a_face_or_belongs_to_a_layer() -> None:
    for module in MODULES:
        if module not in FACES:
            _layer(module)


def test_the_module_graph_has_no_cycle_counting_deferred_and_lazy_imports() -> None:
    edges = [(i.source, i.target) for i in INTERNAL if i.source != i.target]
    assert _cycle(edges) is None


def test_importing_any_module_never_meets_a_half_initialised_one() -> None:
    # At import time a module needs what it imports at module level, and the
    # packages above those modules: importing stratum.cache._stores from
    # outside the package runs stratum/cache/__init__.py first.
    edges: list[tuple[str, str]] = []
    for i in INTERNAL:
        if i.kind != "eager":
            continue
        edges.append((i.source, i.target))
        package = i.target.rpartition(".")[0]
        while package not in ("", "stratum"):
            if not (i.source == package or i.source.startswith(package + ".")):
                edges.append((i.source, package))
            package = package.rpartition(".")[0]
    assert _cycle(edges) is None


def test_each_layer_imports_only_itself_and_the_layers_below() -> None:
    wrong = []
    for i in INTERNAL:
        if i.source in FACES:
            continue  # a face may re-export from anywhere
        if i.target in FACES:
            wrong.append(f"{i.source}:{i.line} imports the public face {i.target}; import the private module")
            continue
        (source_layer, source_rank), (target_layer, target_rank) = _layer(i.source), _layer(i.target)
        if target_layer != source_layer and target_rank >= source_rank:
            wrong.append(f"{i.source}:{i.line} ({source_layer}) imports {i.target} ({target_layer})")
    assert wrong == []


def test_only_the_litellm_client_imports_litellm() -> None:
    importers = {i.source for i in IMPORTS if i.target.split(".")[0] == "litellm"}
    assert importers == {"stratum.clients._litellm"}


def test_only_the_durable_layer_imports_dbos() -> None:
    importers = {i.source for i in IMPORTS if i.target.split(".")[0] == "dbos"}
    assert importers and all(source.startswith("stratum.durable.") for source in importers)


def test_only_the_inbox_imports_the_web_stack() -> None:
    importers = {i.source for i in IMPORTS if i.target.split(".")[0] in ("starlette", "uvicorn", "jinja2")}
    assert importers and all(source.startswith("stratum.inbox.") for source in importers)


def test_the_job_modules_form_a_dag() -> None:
    # Bulk jobs (docs/bulk.md): the job tables at the bottom, map on top; queues, liveness and the worker
    # loop know nothing of jobs, so a worker is only DBOS plus the one item workflow.
    below = {
        "stratum.durable._job_store": set(),
        "stratum.durable._job_writer": {"stratum.durable._job_store"},
        "stratum.durable._job_handles": {"stratum.durable._job_store"},
        "stratum.durable._job_items": {"stratum.durable._job_store", "stratum.durable._job_writer"},
        "stratum.durable._queues": set(),
        "stratum.durable._liveness": set(),
        "stratum.durable._worker": {"stratum.durable._queues"},
    }
    jobs = {module for module in below} | {"stratum.durable._jobs", "stratum.durable._progress"}
    for source, allowed in below.items():
        reached = {i.target for i in IMPORTS if i.source == source and i.target in jobs}
        assert reached <= allowed, (source, reached - allowed)
