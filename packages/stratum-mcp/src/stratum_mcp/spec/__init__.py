"""Spec files (``.stratum.yaml``): load, check, and build the typed form.

::

    spec = load_spec(text)            # raises SpecInvalid listing every issue
    issues = validate_spec(text)      # the same checks, as a list
    flow = spec.flows["review"]       # typed: Flow, Step, Function, Contract, FieldType

Loading runs in three passes, each reporting all it finds: bounded safe YAML
(:mod:`._yaml`), structure against the shipped JSON Schema (:mod:`._schema`,
also what :func:`spec_schema` returns for editors), then meaning: names,
references, types, expressions and step order (:mod:`._build`, :mod:`._flows`).
"""

from stratum_mcp._problems import SpecIssue
from stratum_mcp.spec._load import load_spec, spec_digest, validate_spec
from stratum_mcp.spec._model import (
    FIELD_TYPES,
    SPEC_VERSION,
    Binding,
    Budget,
    Contract,
    FieldType,
    Flow,
    Function,
    Literal,
    Reference,
    Spec,
    Step,
    fields_schema,
)
from stratum_mcp.spec._references import ReferenceSyntaxError, binding_from, parse_reference, resolve_reference
from stratum_mcp.spec._schema import spec_schema

__all__ = [
    "FIELD_TYPES",
    "SPEC_VERSION",
    "Binding",
    "Budget",
    "Contract",
    "FieldType",
    "Flow",
    "Function",
    "Literal",
    "Reference",
    "ReferenceSyntaxError",
    "Spec",
    "SpecIssue",
    "Step",
    "binding_from",
    "fields_schema",
    "load_spec",
    "parse_reference",
    "resolve_reference",
    "spec_digest",
    "spec_schema",
    "validate_spec",
]
