"""Import a user's modules with the declaration checks collecting, and gather what they found.

Importing is what runs the checks: every ``@contract``, ``@infer``,
``@flow`` and ``@refine`` checks itself where it is decorated. Inside
``findings.collect()`` a failing declaration is recorded and replaced by a
stand-in instead of stopping the import, so every mistake in a module is
found. After a module is imported, the checks that were waiting for a first
call (an annotation or a callee defined later in the module) are run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .._core.analysis import findings
from .._core.analysis.findings import Finding
from .._core.calls import InferFunction
from ..exceptions import StratumCompileError, StratumWarning

__all__ = ["Report", "TargetNotFound", "check"]

_SKIPPED_DIRS = {"__pycache__", "node_modules", "site-packages"}


class TargetNotFound(LookupError):
    """A target is neither a Python file, a directory, nor an importable module."""


@dataclass(frozen=True, slots=True)
class Report:
    """What ``check`` found: ``findings`` sorted by file and line, and the ``files`` it imported."""

    findings: tuple[Finding, ...]
    files: tuple[str, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")


def check(*targets: str | os.PathLike[str]) -> Report:
    """Import every module named by ``targets`` and report the mistakes in their declarations.

    A target is a ``.py`` file, a directory (every ``.py`` file under it,
    hidden directories skipped) or a dotted module name (a package: every
    module in it). Only mistakes in those files are reported. Importing runs
    each module's top-level code, as ``pytest`` collecting it would: keep a
    script's work under ``if __name__ == "__main__":``. A module this process
    imported already is run again in a fresh module object (the process
    keeps its own, but what the module registers, a durable flow say, is
    registered again: prefer ``stratum check`` in a process of its own for
    a program that is running); the modules of the checked directories that the check
    imported are forgotten afterwards (a declaration that failed there was
    replaced by a stand-in). A target that does not exist raises
    ``LookupError``.

    >>> # report = stratum.checks.check("src/myapp")
    >>> # for finding in report.findings: print(finding)
    """
    files = [path for target in targets for path in _files(target)]
    wanted = {str(path) for path in files}
    before = set(sys.modules)
    found: list[Finding] = []
    try:
        for path in dict.fromkeys(files):
            found.extend(f for f in _check_file(path, before) if f.filename in wanted)
    finally:
        _forget({_top(path) for path in files}, before)
    unique = list(dict.fromkeys(found))
    unique.sort(key=lambda f: (f.filename or "", f.lineno or 0, f.severity))
    return Report(findings=tuple(unique), files=tuple(str(p) for p in dict.fromkeys(files)))


# -- targets ------------------------------------------------------------------------------------
def _files(target: str | os.PathLike[str]) -> list[Path]:
    path = Path(target)
    if path.is_file():
        return [path.resolve()]
    if path.is_dir():
        return sorted(
            p.resolve()
            for p in path.rglob("*.py")
            if not any(part.startswith(".") or part in _SKIPPED_DIRS for part in p.relative_to(path).parts[:-1])
        )
    name = str(target)
    try:
        spec = importlib.util.find_spec(name) if name.isidentifier() or "." in name else None
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise TargetNotFound(f"no such file, directory or module: {name}")
    origin = Path(spec.origin).resolve()
    return _files(origin.parent) if origin.name == "__init__.py" else [origin]


def _module_name(path: Path) -> tuple[Path, str]:
    """The directory to import from and the dotted name, following ``__init__.py`` upwards."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    parent = path.parent
    while (parent / "__init__.py").is_file():
        parts.insert(0, parent.name)
        parent = parent.parent
    return parent, ".".join(parts) or path.parent.name


@contextlib.contextmanager
def _importable_from(root: Path) -> Iterator[None]:
    entry = str(root)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _top(path: Path) -> Path:
    """The checked file itself, or the top package directory it belongs to."""
    root, name = _module_name(path)
    return root / name.split(".")[0] if (path.parent / "__init__.py").is_file() else path


def _forget(tops: set[Path], before: set[str]) -> None:
    """Drop the modules of the checked files and packages that the check imported (never the process's own)."""
    files = {os.path.normcase(str(top)) for top in tops}
    folders = tuple(name + os.sep for name in files)  # a package's modules lie under its directory
    for name in [n for n in sys.modules if n not in before]:
        filename = getattr(sys.modules[name], "__file__", None)
        if isinstance(filename, str):
            filename = os.path.normcase(filename)
            if filename in files or filename.startswith(folders):
                del sys.modules[name]


# -- one file ------------------------------------------------------------------------------------
def _check_file(path: Path, before: set[str]) -> list[Finding]:
    root, name = _module_name(path)
    with findings.collect() as found, _importable_from(root), warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        module = sys.modules.get(name)
        if module is None or name in before or getattr(module, "__file__", None) != str(path):
            # Not imported yet by this check: run it (again, if the process had it already).
            module = _execute(path, name, found)
        if module is not None:
            _run_deferred(module, found)
    for record in shown:
        if isinstance(record.message, StratumWarning):
            found.append(Finding.of(record.message, severity="warning"))
            if found[-1].filename is None:
                found[-1] = _at(found[-1], record.filename, record.lineno)
    return found


def _execute(path: Path, name: str, found: list[Finding]) -> ModuleType | None:
    is_package = path.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)] if is_package else None
    )
    if spec is None or spec.loader is None:
        found.append(_import_error(path, name, ImportError(f"cannot load {path}"), None))
        return None
    module = importlib.util.module_from_spec(spec)
    parent = name.rpartition(".")[0]
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        if parent:
            importlib.import_module(parent)
        spec.loader.exec_module(module)
    except StratumCompileError as exc:  # raised where no decorator could stand in (e.g. @flow(budget=5))
        if exc.filename is None:
            exc.filename, exc.lineno = str(path), _line_in(exc, path)
        found.append(Finding.of(exc, severity="error"))
    except (Exception, SystemExit) as exc:
        found.append(_import_error(path, name, exc, exc.__traceback__))
    finally:
        if previous is not None:
            sys.modules[name] = previous  # the process keeps the module it had
    return module


def _run_deferred(module: ModuleType, found: list[Finding]) -> None:
    """Run the checks that wait for a first call: nothing else would run them before one."""
    for obj in _declarations(module):
        try:
            if isinstance(obj, InferFunction) and "_build" in vars(obj):
                obj.spec  # noqa: B018  (building the spec is the check)
            pending = vars(obj).get("__stratum_pending__") if hasattr(obj, "__dict__") else None
            if pending is not None and pending.due:
                pending.run()
        except StratumCompileError as exc:
            findings.record_error(exc, findings.location(getattr(obj, "__wrapped__", obj)))


def _declarations(module: ModuleType) -> Iterator[Any]:
    """Stratum's declarations defined in ``module``: module attributes and class attributes."""
    seen: set[int] = set()
    todo = list(vars(module).values())
    while todo:
        obj = todo.pop()
        if id(obj) in seen or getattr(obj, "__module__", None) != module.__name__:
            continue
        seen.add(id(obj))
        if isinstance(obj, type):
            todo.extend(vars(obj).values())
        elif type(obj).__module__.startswith("stratum.") or (callable(obj) and hasattr(obj, "__stratum_flow__")):
            yield obj


def _line_in(exc: BaseException, path: Path) -> int | None:
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == str(path)]
    return lines[-1] if lines else None


def _import_error(path: Path, name: str, exc: BaseException, tb: Any) -> Finding:
    line = _line_in(exc, path) if tb is not None else None
    if line is None and isinstance(exc, SyntaxError) and exc.filename == str(path):
        line = exc.lineno
    return Finding(
        rule="import",
        severity="error",
        function=None,
        message=f"importing {name} failed: {type(exc).__name__}: {exc}",
        filename=str(path),
        lineno=line,
    )


def _at(finding: Finding, filename: str, lineno: int) -> Finding:
    return Finding(
        rule=finding.rule,
        severity=finding.severity,
        function=finding.function,
        message=finding.message,
        source=finding.source,
        filename=filename,
        lineno=lineno,
    )
