"""The shape of the package: its modules import each other without cycles, and each face is exactly its __all__.

The import graph is read from the source with ``ast``: every import counts,
also those only for type checkers and those inside functions, because each
is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import stratum_mcp

ROOT = Path(stratum_mcp.__file__).parent
FACES = ["stratum_mcp", *(f"stratum_mcp.{name}" for name in (
    "cli", "engine", "expressions", "learn", "persistence", "setup", "spec", "tools"))]


def module_names() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's own modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {target for target in found if target in known and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        trail.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*trail[trail.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        trail.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_module_graph_has_no_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the walk saw the whole package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_a_private_module_is_imported_only_from_inside_its_own_package() -> None:
    strays = []
    for importer, targets in import_graph().items():
        for target in targets:
            parts = target.split(".")
            for index, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:index])
                    if importer != owner and not importer.startswith(owner + "."):
                        strays.append(f"{importer} -> {target}")
                    break
    assert strays == []


#: The layers of docs/architecture.md, bottom first: a module imports only from layers below its own.
LAYERS: list[set[str]] = [
    {"_problems", "_limits", "_messages", "_version"},
    {"errors", "_config"},
    {"expressions", "_fs", "_pricing", "_worktrees"},
    {"spec"},
    {"engine"},
    {"persistence"},
    {"_service"},
    {"tools", "learn", "setup"},
    {"cli"},
    {"", "__main__"},  # the package face, and `python -m stratum_mcp`
]


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    found = [i for i, layer in enumerate(LAYERS) if top in layer]
    assert len(found) == 1, f"{module} belongs to no layer: add it to LAYERS and to docs/architecture.md"
    return found[0]


def test_every_import_between_layers_goes_down() -> None:
    upwards = [f"{importer} -> {target}" for importer, targets in import_graph().items() for target in targets
               if importer.split(".")[:2] != target.split(".")[:2] and layer_of(target) >= layer_of(importer)]
    assert upwards == []


def test_nothing_imports_the_package_face() -> None:
    importers = [name for name, targets in import_graph().items() if "stratum_mcp" in targets]
    assert importers == []  # the face imports everything; an import back would be a cycle waiting to happen


def every_module() -> list[ModuleType]:
    names = [info.name for info in pkgutil.walk_packages(stratum_mcp.__path__, "stratum_mcp.")]
    return [importlib.import_module(name) for name in names if not name.endswith(".__main__")]


def isort_order(name: str) -> tuple[int, str]:
    """How ruff sorts ``__all__`` (RUF022): CONSTANTS, then Classes, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("face", FACES)
def test_the_public_names_of_each_face_are_exactly_its_all(face: str) -> None:
    every_module()  # importing a module makes it an attribute of its package: none may add a public name
    module = importlib.import_module(face)
    assert module.__all__ == sorted(module.__all__, key=isort_order)
    for name in module.__all__:
        getattr(module, name)  # lazy names resolve
    exported = {name for name in module.__all__ if not name.startswith("_")}  # __version__ is exported too
    assert {name for name in vars(module) if not name.startswith("_")} == exported
    assert {name for name in dir(module) if not name.startswith("_")} == exported


def test_the_tests_use_public_seams_and_share_helpers_as_fixtures() -> None:
    """No test imports a private module, conftest or another test module: shared helpers are fixtures."""
    strays = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]  # `from x import _y` counts too
            else:
                continue
            for name in names:
                parts = name.split(".")
                private = parts[0] == "stratum_mcp" and any(p.startswith("_") for p in parts[1:])
                if private or parts[0] == "conftest" or parts[0].startswith("test_"):
                    strays.append(f"{path.name}: {name}")
    assert strays == []
