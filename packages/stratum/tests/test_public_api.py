"""The public face is deliberate, and importing it stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import stratum

EXPECTED = {
    "Budget",
    "BudgetExceeded",
    "ConsensusFailure",
    "ContractFailure",
    "ConvergenceFailure",
    "Failure",
    "HITLDeliveryError",
    "HITLTimeoutError",
    "HumanDecision",
    "HumanReviewContext",
    "InvalidDecision",
    "ParallelFailure",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "Probabilistic",
    "ReviewNotPending",
    "StabilityAssertionError",
    "StratumCompileError",
    "StratumConfigError",
    "StratumError",
    "StratumRuntimeError",
    "StratumUsageError",
    "StratumWarning",
    "Success",
    "TraceRecord",
    "await_human",
    "compute",
    "configure",
    "contract",
    "debate",
    "exporters",
    "flow",
    "infer",
    "opaque",
    "parallel",
    "race",
    "refine",
    "reset_defaults",
    "run",
    "shutdown",
    "trace",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(stratum.__all__) == EXPECTED
    assert sorted(stratum.__all__) == stratum.__all__
    for name in stratum.__all__:
        assert hasattr(stratum, name), name


def test_error_tree_separates_usage_errors_from_runtime_failures() -> None:
    assert issubclass(stratum.StratumCompileError, stratum.StratumUsageError)
    assert issubclass(stratum.StratumConfigError, stratum.StratumUsageError)
    assert issubclass(stratum.InvalidDecision, stratum.StratumUsageError)
    assert issubclass(stratum.InvalidDecision, TypeError)
    assert issubclass(stratum.ReviewNotPending, stratum.StratumUsageError)
    assert issubclass(stratum.ReviewNotPending, LookupError)
    for name in (
        "PreconditionFailed", "PostconditionFailed", "ParseFailure", "BudgetExceeded", "ConvergenceFailure",
        "ConsensusFailure", "ParallelValidationFailed", "HITLTimeoutError", "HITLDeliveryError",
        "StabilityAssertionError",
    ):  # fmt: skip
        cls = getattr(stratum, name)
        assert issubclass(cls, stratum.StratumRuntimeError) and not issubclass(cls, stratum.StratumUsageError)
    assert issubclass(stratum.StratumWarning, UserWarning)


def test_import_stratum_does_not_import_litellm() -> None:
    code = "import sys, stratum, stratum.clients, stratum.testing; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_import_stratum_does_not_import_httpx() -> None:
    code = "import sys, stratum, stratum.hitl; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_import_stratum_loads_only_the_core() -> None:
    code = "import json, sys, stratum; print(json.dumps([m for m in sys.modules if m.startswith('stratum.')]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(out.stdout))
    for optional in ("stratum.concurrency", "stratum.hitl", "stratum.exporters", "stratum.cache",
                     "stratum.clients.litellm_client", "stratum.refinement", "stratum.probabilistic"):
        assert optional not in loaded, optional


def test_lazily_loaded_names_are_the_real_objects() -> None:
    from stratum.concurrency import parallel
    from stratum.decorators import refine
    from stratum.hitl import await_human
    from stratum.refinement import refine as refine_impl

    assert stratum.parallel is parallel and stratum.await_human is await_human
    assert stratum.refine is refine is refine_impl
    assert callable(stratum.shutdown) and stratum.exporters.__name__ == "stratum.exporters"
