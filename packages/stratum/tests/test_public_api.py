"""The public face is deliberate, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import stratum

EXPECTED = {
    "Budget",
    "BudgetExceeded",
    "ConsensusFailure",
    "ContractFailure",
    "ConvergenceFailure",
    "HITLTimeoutError",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "StabilityAssertionError",
    "StratumCompileError",
    "StratumConfigError",
    "StratumError",
    "StratumRuntimeError",
    "StratumUsageError",
    "StratumWarning",
    "TraceRecord",
    "compute",
    "configure",
    "contract",
    "exporters",
    "flow",
    "infer",
    "opaque",
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
    for name in (
        "PreconditionFailed", "PostconditionFailed", "ParseFailure", "BudgetExceeded", "ConvergenceFailure",
        "ConsensusFailure", "ParallelValidationFailed", "HITLTimeoutError", "StabilityAssertionError",
    ):  # fmt: skip
        cls = getattr(stratum, name)
        assert issubclass(cls, stratum.StratumRuntimeError) and not issubclass(cls, stratum.StratumUsageError)
    assert issubclass(stratum.StratumWarning, UserWarning)


def test_import_stratum_does_not_import_litellm() -> None:
    code = "import sys, stratum, stratum.clients, stratum.testing; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
