"""The public face is deliberate, and importing it stays cheap.

Like httpx's own check: what a module exposes (its public names, after every
lazy name has been resolved) is exactly its ``__all__``, sorted; and the
public modules themselves are exactly the ones listed here. A new public name
or module is a decision made in this file, not an accident of an import.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import stratum

EXPECTED = {
    "stratum": {
        "Budget", "BudgetExceeded", "CheckpointError", "Config", "ConsensusFailure", "ConsoleReviewSink",
        "ContextObject", "ContractFailure", "ConvergenceFailure", "Failure", "FlowCancelled", "FlowConflict",
        "FlowFailed", "FlowNotFound", "HITLDeliveryError", "HITLTimeoutError", "HumanDecision", "HumanReviewContext",
        "InvalidDecision", "InvalidItem", "JobConflict", "JobNotFound", "MalformedResponse", "ParallelFailure",
        "ParallelValidationFailed", "ParseFailure", "PendingReview", "PostconditionFailed", "PreconditionFailed",
        "Probabilistic", "ProviderError", "QueueReviewSink", "ReplayMismatch", "RetryRecord", "ReviewNotPending",
        "ReviewSink", "StabilityAssertionError",
        "StratumCompileError", "StratumConfigError", "StratumError", "StratumRuntimeError", "StratumUsageError",
        "StratumWarning", "Success", "TraceRecord", "WebhookReviewSink", "await_human", "cache", "cache_key", "checks",
        "clients", "compile_prompt", "compute", "configure", "contract", "contract_hash", "contract_schema", "debate",
        "durable", "exceptions", "exporters", "flow", "get_config", "hitl", "inbox", "infer", "opaque", "parallel",
        "race",
        "refine", "reset_defaults", "reviews", "run", "shutdown", "testing", "trace", "types", "warmup",
    },
    "stratum.cache": {"CacheStore", "RedisCacheStore", "SQLiteCacheStore", "default_store"},
    "stratum.checks": {"Finding", "Report", "check"},
    "stratum.clients": {
        "AnthropicClient", "BaseClient", "CompletionRequest", "CompletionResponse", "LLMClient", "LiteLLMClient",
        "ModelInfo", "OpenAIClient", "OpenAICompatible", "TransientError",
    },
    "stratum.durable": {
        "DBOSBackend", "FlowHandle", "FlowStatus", "FlowStep", "JobHandle", "JobProgress", "Queue", "attach", "cancel",
        "dbos", "job", "list_flows", "list_jobs", "map", "shutdown", "start", "steps", "work",
    },
    "stratum.exceptions": {
        "AttemptRecord", "BudgetExceeded", "CheckpointError", "ConsensusFailure", "ContractFailure",
        "ConvergenceFailure", "FlowCancelled", "FlowConflict", "FlowFailed", "FlowNotFound", "HITLDeliveryError",
        "HITLTimeoutError", "InvalidDecision", "InvalidItem", "JobConflict", "JobNotFound", "MalformedResponse",
        "ParallelFailure", "ParallelValidationFailed", "ParseFailure", "PostconditionFailed", "PreconditionFailed",
        "ProviderError", "ReplayMismatch", "ReviewNotPending", "StabilityAssertionError", "StratumCompileError",
        "StratumConfigError", "StratumError",
        "StratumRuntimeError", "StratumUsageError", "StratumWarning", "Violation",
    },
    "stratum.exporters": {"ExportStats", "OTLPExporter", "otel", "shutdown"},
    "stratum.inbox": {"app"},
    "stratum.reviews": {"closed", "get", "pending", "resolve"},
    "stratum.hitl": {
        "ConsoleReviewSink", "DecisionType", "HumanDecision", "HumanReviewContext", "PendingReview",
        "QueueReviewSink", "ReviewSink", "ReviewState", "WebhookReviewSink", "await_human",
    },
    "stratum.testing": {
        "AwaitableQueueSink", "LocalPostgres", "Reply", "ScriptExhausted", "ScriptedClient", "TransientError",
        "VirtualTimeLoop",
        "openai_server", "otlp_receiver", "prompt_text", "virtual_time",
    },
    "stratum.testing.openai_server": {"LocalOpenAIServer", "Served"},
    "stratum.testing.otlp_receiver": {"Answer", "LocalOTLPReceiver", "Received"},
    "stratum.types": {
        "Budget", "Failure", "HumanDecision", "HumanReviewContext", "Probabilistic", "Success", "opaque",
    },
    "stratum.trace": {
        "ErrorInfo", "KIND_CLIENT", "KIND_INTERNAL", "STATUS_ERROR", "STATUS_UNSET", "Span", "SpanData",
        "SpanEvent", "TraceRecord", "TraceStore", "Tracer", "all_records", "clear", "current_span", "records",
        "store",
    },
}  # fmt: skip


def _resolved(name: str) -> ModuleType:
    """The module with every name of its ``__all__`` looked up (so lazy ones are loaded)."""
    module = importlib.import_module(name)
    for attribute in module.__all__:
        getattr(module, attribute)
    return module


def test_the_public_modules_are_exactly_the_deliberate_ones() -> None:
    found = {"stratum"} | {
        info.name
        for info in pkgutil.walk_packages(stratum.__path__, "stratum.")
        if not any(part.startswith("_") for part in info.name.split("."))
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_all_is_sorted_and_lists_exactly_the_deliberate_names(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    assert set(module.__all__) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_names_reachable_on_a_public_module_are_exactly_its_all(name: str) -> None:
    module = _resolved(name)
    for other in EXPECTED:  # importing any public module must not leak names into another
        _resolved(other)
    public = sorted(attribute for attribute in vars(module) if not attribute.startswith("_"))
    assert public == module.__all__
    assert [attribute for attribute in dir(module) if not attribute.startswith("_")] == module.__all__


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_public_classes_and_functions_are_stratums_own(name: str) -> None:
    module = _resolved(name)
    for attribute in module.__all__:
        value = getattr(module, attribute)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.split(".")[0] == "stratum", (attribute, value.__module__)


def test_error_tree_separates_usage_errors_from_runtime_failures() -> None:
    assert issubclass(stratum.StratumCompileError, stratum.StratumUsageError)
    assert issubclass(stratum.StratumConfigError, stratum.StratumUsageError)
    assert issubclass(stratum.InvalidDecision, stratum.StratumUsageError)
    assert issubclass(stratum.InvalidDecision, TypeError)
    assert issubclass(stratum.ReviewNotPending, stratum.StratumUsageError)
    assert issubclass(stratum.ReviewNotPending, LookupError)
    for name in ("FlowNotFound", "FlowConflict", "CheckpointError", "JobNotFound", "JobConflict", "InvalidItem"):
        assert issubclass(getattr(stratum, name), stratum.StratumUsageError)
    assert issubclass(stratum.FlowNotFound, LookupError) and issubclass(stratum.CheckpointError, TypeError)
    assert issubclass(stratum.JobNotFound, LookupError) and issubclass(stratum.InvalidItem, TypeError)
    for name in (
        "PreconditionFailed", "PostconditionFailed", "ParseFailure", "BudgetExceeded", "ConvergenceFailure",
        "ConsensusFailure", "ParallelValidationFailed", "HITLTimeoutError", "HITLDeliveryError",
        "StabilityAssertionError", "MalformedResponse", "ReplayMismatch", "FlowCancelled", "FlowFailed",
        "ProviderError",
    ):  # fmt: skip
        cls = getattr(stratum, name)
        assert issubclass(cls, stratum.StratumRuntimeError) and not issubclass(cls, stratum.StratumUsageError)
    assert issubclass(stratum.StratumWarning, UserWarning)


def test_import_stratum_does_not_import_litellm() -> None:
    code = "import sys, stratum, stratum.clients, stratum.testing; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_import_stratum_does_not_import_dbos_or_sqlalchemy() -> None:
    code = (
        "import sys, stratum, stratum.durable, stratum.reviews; stratum.durable.dbos(); "
        "print([m for m in ('dbos', 'sqlalchemy', 'psycopg') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_the_inbox_does_not_import_the_web_stack() -> None:
    code = (
        "import sys, stratum, stratum.reviews, stratum.inbox; "
        "print([m for m in ('starlette', 'uvicorn', 'jinja2') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_import_stratum_does_not_import_httpx() -> None:
    code = "import sys, stratum, stratum.hitl; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_import_stratum_loads_only_the_core() -> None:
    code = (
        "import json, sys, stratum; "
        "print(json.dumps([m for m in sys.modules if m.startswith('stratum.') or m == 'asyncio']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(out.stdout))
    optional = (
        "asyncio", "stratum._cli", "stratum._composition", "stratum._core.analysis", "stratum._core.branches",
        "stratum._core.caching", "stratum._core.quorum", "stratum._observability.otlp", "stratum.cache",
        "stratum.checks", "stratum.clients._anthropic", "stratum.clients._http", "stratum.clients._litellm",
        "stratum.clients._openai", "stratum.clients._openai_compatible", "stratum.clients._prices", "stratum.durable",
        "stratum.exporters", "stratum.hitl", "stratum.reviews", "stratum.testing", "stratum.types",
    )  # fmt: skip
    for module in loaded:
        assert not module.startswith(optional), module


def test_the_declaration_checks_load_with_the_first_declaration_and_the_check_command_only_when_run() -> None:
    code = (
        "import json, sys, stratum\n"
        "before = 'stratum._core.analysis' in sys.modules\n"
        "@stratum.infer(intent='Say hello')\n"
        "def hello(name: str) -> str: ...\n"
        "print(json.dumps([before, 'stratum._core.analysis' in sys.modules, 'stratum.checks' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [False, True, False]


def test_lazily_loaded_names_are_the_real_objects() -> None:
    from stratum.hitl import await_human

    assert stratum.await_human is await_human
    for name in ("ConsoleReviewSink", "PendingReview", "QueueReviewSink", "ReviewSink", "WebhookReviewSink"):
        assert getattr(stratum, name) is getattr(stratum.hitl, name)  # the review names, at the top level too
    assert stratum.types.HumanDecision is stratum.HumanDecision and stratum.types.opaque is stratum.opaque
    assert stratum.exporters.shutdown is stratum.shutdown
    assert stratum.cache is importlib.import_module("stratum.cache")
    assert stratum.testing.openai_server is importlib.import_module("stratum.testing.openai_server")


def test_the_suite_imports_stratum_only_through_its_public_modules() -> None:
    # Tests pin behaviour, not the layout: they import what a user can import.
    # test_retry.py is the one exception, by design (see its docstring).
    here = Path(__file__).resolve().parent
    siblings = {path.stem for path in here.rglob("*.py")}
    wrong = []
    for path in sorted(here.rglob("*.py")):
        if path.name == "test_retry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if (parts[0] == "stratum" and name not in EXPECTED) or parts[0] in siblings:
                    wrong.append(f"{path.name}:{node.lineno} imports {name}")
    assert wrong == []
