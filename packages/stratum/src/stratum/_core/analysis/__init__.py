"""The checks a declaration runs where it is decorated (docs/checks.md has the user's view).

Loaded by the first decoration, not by ``import stratum``. Nothing here runs
user code: predicates, flows and refine callables are read from their
source (``stratum._core.source``) or bytecode, and names are resolved by
reading globals and closures. Errors are ``StratumCompileError``s naming the
function, the offending source text and what is wrong; warnings are
``StratumWarning``s shown once (``findings``)::

    rule                     checked by                                  when
    return-type              decorators + declarations.return_error      @infer
    unresolved-annotation    declarations.unresolved_error               @infer, or its first call
    infer-body               declarations.body_error                     @infer
    given-parameter          predicates.check_given                      @infer
    ensure-field             predicates.check_ensure                     @infer
    ensure-value             predicates.check_ensure                     @infer
    quorum                   declarations.check_quorum                   @infer
    opaque-interpolation     declarations.check_opaque_interpolation     @infer (and the compiler, per call)
    contract-empty, contract-cycle                                       @contract (stratum._core.contracts)
    flow-async               declarations.not_async_error                @flow
    refine-calls-infer       references.check_refine                     @refine, or its first call
    budget-sufficiency       flows.check_flow            (warning)       @flow, or its first call
    sequential-independence  flows.check_flow            (warning)       @flow, or its first call
    cache-not-persistent     stratum._core.caching       (warning)       first cache="global" call
    stable-unsampled         stratum._core.calls         (warning)       first call in test mode
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..spec import InferSpec
from . import declarations, findings, flows, predicates

__all__ = ["check_infer", "declarations", "findings", "flows", "predicates"]


def check_infer(fn: Callable[..., Any], spec: InferSpec) -> None:
    """Every check of an @infer declaration that needs its resolved annotations; raises the first failure."""
    owner = spec.qualname
    predicates.check_given(owner, spec.given, list(spec.signature.parameters))
    declarations.check_quorum(
        fn,
        owner,
        spec.output.model if not spec.output.wrapped else None,
        quorum=spec.quorum,
        agree_on=spec.agree_on,
        threshold=spec.threshold,
    )
    predicates.check_ensure(owner, spec.ensure, spec.output)
    declarations.check_opaque_interpolation(fn, owner, spec.params)
