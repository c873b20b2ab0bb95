"""Loading a spec: the three passes in order, every issue they find, and the digest runs keep."""

from __future__ import annotations

import hashlib
from types import MappingProxyType

from stratum_mcp._limits import DEFAULT_LIMITS, Limits
from stratum_mcp._problems import SpecIssue
from stratum_mcp.errors import SpecInvalid
from stratum_mcp.spec._build import build_contracts, build_functions
from stratum_mcp.spec._flows import build_flows
from stratum_mcp.spec._model import Spec
from stratum_mcp.spec._schema import structural_issues
from stratum_mcp.spec._yaml import load_document

__all__ = ["load_spec", "spec_digest", "validate_spec"]


def spec_digest(text: str) -> str:
    """The SHA-256 of spec text: runs store it to find their spec again."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def load_spec(text: str, *, limits: Limits = DEFAULT_LIMITS) -> Spec:
    """Load and fully check ``text``; raise :class:`SpecInvalid` with every issue found.

    Example::

        spec = load_spec(Path("review.stratum.yaml").read_text())
        flow = spec.flows["review"]
    """
    document = load_document(text, limits)
    issues = structural_issues(document)
    contracts = build_contracts(document, issues)
    functions = build_functions(document, contracts, issues, limits)
    flows, inline = build_flows(document, contracts, functions, issues, limits)
    if issues:
        raise SpecInvalid(_bounded(_unique(issues)))
    return Spec(
        version=str(document["version"]),
        digest=spec_digest(text),
        contracts=MappingProxyType(contracts),
        functions=MappingProxyType({**functions, **inline}),
        flows=MappingProxyType(flows),
    )


def validate_spec(text: str, *, limits: Limits = DEFAULT_LIMITS) -> list[SpecIssue]:
    """Every issue in ``text``; an empty list means the spec is valid."""
    try:
        load_spec(text, limits=limits)
    except SpecInvalid as exc:
        return list(exc.issues)
    return []


_MAX_ISSUES = 200


def _bounded(issues: list[SpecIssue]) -> list[SpecIssue]:
    """All issues, up to a bound that keeps a pathological spec's answer small."""
    if len(issues) <= _MAX_ISSUES:
        return issues
    hidden = len(issues) - _MAX_ISSUES
    return [*issues[:_MAX_ISSUES], SpecIssue("(document)", "too_many_errors", f"{hidden} more errors not shown",
                                             "fix the errors above and validate again")]


def _unique(issues: list[SpecIssue]) -> list[SpecIssue]:
    seen, out = set(), []
    for issue in issues:
        if issue not in seen:
            seen.add(issue)
            out.append(issue)
    return out
