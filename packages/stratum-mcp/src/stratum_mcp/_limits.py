"""Every bound the server enforces, in one frozen value.

Specs, expressions and tool arguments come from a model and are treated as
hostile, so each buffer, collection and loop has a ceiling. The defaults are
generous for real flows and small enough that the worst input fails in
milliseconds. Tests pass tighter limits where that makes a case cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True)
class Limits:
    """Ceilings for input sizes, expression evaluation and stored history.

    Example::

        tight = Limits(eval_steps=1_000)
    """

    # --- spec documents
    spec_bytes: int = 256 * 1024
    yaml_depth: int = 48
    yaml_aliases: int = 64
    #: Nodes after expanding every alias: what a "billion laughs" document inflates.
    yaml_nodes: int = 20_000
    steps_per_flow: int = 100
    max_retries: int = 10

    # --- flow control (version 0.2)
    #: Revise loops and backward ``on_fail`` jumps a flow may take, when it does not say (``max_rounds``).
    default_rounds: int = 3
    max_rounds: int = 20
    max_iterations: int = 100
    #: Tasks one parallel step may fan out to, and how many may run at once.
    parallel_tasks: int = 100
    max_concurrent: int = 16
    default_concurrent: int = 4
    #: Git worktrees one run may hold at a time (``isolation: worktree``).
    worktrees_per_run: int = 16
    checkpoints_per_run: int = 20
    #: Sub-flows nested inside each other.
    subflow_depth: int = 8
    #: A gate's ``timeout``, in seconds (30 days).
    gate_timeout_seconds: int = 30 * 24 * 3600
    #: Rationales, reasons and checkpoint labels an agent or a person sends.
    note_chars: int = 4_000
    #: A rendered ``intent_template``.
    template_chars: int = 4_000

    # --- ensure expressions, at compile time
    expression_chars: int = 1_000
    expression_nodes: int = 300
    expressions_per_function: int = 20
    comprehension_depth: int = 2

    # --- ensure expressions, at run time
    eval_steps: int = 50_000
    #: CPU time of the evaluating thread, by default (see :func:`stratum_mcp.expressions.evaluate`).
    eval_seconds: float = 0.1
    int_bits: int = 1_024
    str_chars: int = 100_000
    collection_items: int = 10_000
    #: Values one built value may hold, nested ones included, and values one operation (a comparison, a sort,
    #: ``in``) may visit: what keeps every single operation to a few milliseconds.
    value_items: int = 100_000
    #: Containers nested inside one value: comparing or hashing one recurses in C once per level, and how deep
    #: C may go differs between Python versions, so the bound is ours, the same on every version.
    value_depth: int = 100
    file_read_bytes: int = 4 * 1024 * 1024

    # --- tool arguments and stored history
    argument_bytes: int = 1024 * 1024
    #: A run's whole stored state (inputs and outputs of every step) is rewritten on each report.
    run_state_bytes: int = 8 * 1024 * 1024
    finished_runs_kept: int = 10_000
    spec_cache_entries: int = 64


DEFAULT_LIMITS = Limits()
