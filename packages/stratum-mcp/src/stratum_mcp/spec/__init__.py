"""Spec files (``.stratum.yaml``): load, check, and build the typed form.

::

    spec = load_spec(text)            # raises SpecInvalid listing every issue
    issues = validate_spec(text)      # the same checks, as a list
    flow = spec.flows["review"]       # typed: Flow, Step, Function, Contract, FieldType

Loading runs in three passes, each reporting all it finds: bounded safe YAML
(:mod:`._yaml`), structure against the shipped JSON Schema of the spec's
version (:mod:`._schema`, also what :func:`spec_schema` returns for editors),
then meaning: names, references, types, expressions, step order and routes
(:mod:`._build`, :mod:`._flows`, :mod:`._routes`). Versions ``0.1`` and
``0.2`` are read (:data:`SPEC_VERSIONS`); 0.2 adds gates, routing, ``skip_if``,
iteration loops, sub-flows, parallel steps and inline steps.
"""

from stratum_mcp._problems import SpecIssue
from stratum_mcp.spec._flows import GATE_OUTPUT, PARALLEL_OUTPUT
from stratum_mcp.spec._load import load_spec, spec_digest, validate_spec
from stratum_mcp.spec._model import (
    ANY_OBJECT,
    FIELD_TYPES,
    SPEC_VERSION,
    Binding,
    Budget,
    Contract,
    FieldType,
    Flow,
    Function,
    Iteration,
    Literal,
    Parallel,
    Reference,
    Routes,
    Spec,
    Step,
    StepKind,
    Template,
    fields_schema,
)
from stratum_mcp.spec._references import ReferenceSyntaxError, binding_from, parse_reference, resolve_reference
from stratum_mcp.spec._schema import SPEC_VERSIONS, spec_schema
from stratum_mcp.spec._templates import TemplateSyntaxError, parse_template, render_template

__all__ = [
    "ANY_OBJECT",
    "FIELD_TYPES",
    "GATE_OUTPUT",
    "PARALLEL_OUTPUT",
    "SPEC_VERSION",
    "SPEC_VERSIONS",
    "Binding",
    "Budget",
    "Contract",
    "FieldType",
    "Flow",
    "Function",
    "Iteration",
    "Literal",
    "Parallel",
    "Reference",
    "ReferenceSyntaxError",
    "Routes",
    "Spec",
    "SpecIssue",
    "Step",
    "StepKind",
    "Template",
    "TemplateSyntaxError",
    "binding_from",
    "fields_schema",
    "load_spec",
    "parse_reference",
    "parse_template",
    "render_template",
    "resolve_reference",
    "spec_digest",
    "spec_schema",
    "validate_spec",
]
