"""What a check found, and where it goes: raised, warned once, or collected.

A check builds its error with ``compile_error`` (a ``StratumCompileError``
whose message names the declaration, the offending source text and what is
wrong, with a suggestion when a close name exists) and its warning with
``warn``. Normally errors are raised and each warning is shown once,
attributed to the line it is about. Inside ``collect()`` (what ``stratum
check`` runs a user's module under) both are recorded instead, and a
declaration that fails becomes an ``Unbuilt`` stand-in, so the import goes on
and every mistake in the module is found.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..._once import Once
from ...exceptions import StratumCompileError, StratumWarning

__all__ = ["Finding", "Unbuilt", "collect", "collecting", "compile_error", "record_error", "suggest", "warn"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One mistake in a declaration, as ``stratum check`` reports it.

    ``rule`` names the check (docs/checks.md); ``function`` the declaration;
    ``source`` the offending expression's source text, when there is one.
    """

    rule: str
    severity: Severity
    function: str | None
    message: str
    source: str | None = None
    filename: str | None = None
    lineno: int | None = None

    def __str__(self) -> str:
        where = f"{self.filename or '<unknown>'}:{self.lineno or 0}"
        return f"{where}: {self.severity}: {self.message} [{self.rule}]"

    @classmethod
    def of(cls, exc: StratumCompileError | StratumWarning, *, severity: Severity) -> Finding:
        return cls(
            rule=exc.rule or "declaration",
            severity=severity,
            function=exc.function,
            message=str(exc),
            source=exc.source,
            filename=exc.filename,
            lineno=exc.lineno,
        )


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest of ``candidates`` to a mistyped ``name``, if one is close."""
    import difflib

    pool = [c for c in candidates if c != name]
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if close:
        return close[0]
    folded = [c for c in pool if c.lower() == name.lower()]
    return folded[0] if folded else None


def compile_error(
    kind: str,
    owner: str,
    problem: str,
    *,
    rule: str,
    source: str | None = None,
    suggestion: str | None = None,
    where: tuple[str | None, int | None] = (None, None),
) -> StratumCompileError:
    """``@infer classify: <problem>; did you mean `x`?`` with its structured fields."""
    hint = f"; did you mean `{suggestion}`?" if suggestion else ""
    return StratumCompileError(
        f"{kind} {owner}: {problem}{hint}",
        rule=rule,
        function=owner,
        source=source,
        suggestion=suggestion,
        filename=where[0],
        lineno=where[1],
    )


def location(fn: Any) -> tuple[str | None, int | None]:
    """Where a function (or the function inside a wrapper) is defined, without running any of it."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return None, None
    return code.co_filename, code.co_firstlineno


# -- collecting ---------------------------------------------------------------------------
_collector: contextvars.ContextVar[list[Finding] | None] = contextvars.ContextVar("stratum_findings", default=None)


def collecting() -> bool:
    return _collector.get() is not None


@contextlib.contextmanager
def collect() -> Iterator[list[Finding]]:
    """Record errors and warnings instead of raising and showing them."""
    found: list[Finding] = []
    token = _collector.set(found)
    try:
        yield found
    finally:
        _collector.reset(token)


def record_error(exc: StratumCompileError, fallback: tuple[str | None, int | None]) -> bool:
    """Inside ``collect()``: record ``exc`` (located at ``fallback`` when it has no place) and say so."""
    found = _collector.get()
    if found is None:
        return False
    if exc.filename is None:
        exc.filename, exc.lineno = fallback
    finding = Finding.of(exc, severity="error")
    if finding not in found:  # a broken contract is met again by every @infer returning it
        found.append(finding)
    return True


class Unbuilt:
    """What a declaration that failed a check becomes inside ``collect()``: calling it raises the error."""

    def __init__(self, wrapped: Any, error: StratumCompileError) -> None:
        self.__wrapped__ = wrapped
        self.__stratum_error__ = error
        self.__name__ = getattr(wrapped, "__name__", "unbuilt")
        self.__qualname__ = getattr(wrapped, "__qualname__", self.__name__)
        self.__module__ = getattr(wrapped, "__module__", __name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.__stratum_error__

    def __repr__(self) -> str:
        return f"<unbuilt {self.__qualname__}: {self.__stratum_error__}>"


# -- warning ------------------------------------------------------------------------------
_warned = Once(limit=1 << 16)  # (rule, file, line, declaration) already shown; reset_defaults() forgets


def warn(
    kind: str,
    owner: str,
    problem: str,
    *,
    rule: str,
    source: str | None,
    where: tuple[str | None, int | None],
    module: str | None,
) -> None:
    """Show a ``StratumWarning`` once, attributed to the line it is about (or record it)."""
    filename, lineno = where
    warning = StratumWarning(
        f"{kind} {owner}: {problem}", rule=rule, function=owner, source=source, filename=filename, lineno=lineno
    )
    found = _collector.get()
    if found is not None:
        finding = Finding.of(warning, severity="warning")
        if finding not in found:
            found.append(finding)
        return
    if not _warned.first((rule, filename, lineno, owner)):
        return
    if filename is None:
        warnings.warn(warning, stacklevel=4)
        return
    # Attributed to the user's own line, so filters by module or line select it.
    globs = getattr(sys.modules.get(module or ""), "__dict__", None)
    warnings.warn_explicit(
        warning,
        StratumWarning,
        filename,
        lineno or 0,
        module=module,
        registry=None,
        module_globals=globs,
    )
