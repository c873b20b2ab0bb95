"""The execution-model block setup writes into ``CLAUDE.md`` (Claude Code) or ``AGENTS.md`` (Codex, Cursor).

It tells the model when and how to use the stratum tools. It sits between
markers, so re-running setup updates it in place and uninstall removes
exactly it.
"""

from __future__ import annotations

from stratum_mcp._fs import Markers

__all__ = ["EXECUTION_MODEL", "execution_model"]

EXECUTION_MODEL = Markers("stratum:execution-model", "managed by stratum-mcp setup; edits inside are replaced")

_BODY = """\
## Execution model: Stratum

This project has the `stratum` MCP server. Use it for every non-trivial task: anything with more
than two steps, or with an outcome that can be checked (a review, a feature, a bug fix, a
refactor, a migration, a test suite). Answer simple questions directly.

1. **Read `MEMORY.md`** at the project root if it exists. It records what earlier runs learned
   here: postconditions that often fail, confirmed root causes, ordering constraints. Use it in
   the spec you write (tighter `ensure` expressions, an extra step, a different order).
2. **Write a `.stratum.yaml` spec internally.** Do not show it to the user unless they ask. Give
   every function a typed output contract and `ensure` postconditions that could actually fail
   (`result.failed == 0`, `file_exists(result.path)`, `len(result.findings) > 0`), never ones that
   always hold. Call `stratum_validate` when unsure and fix every error it lists.
3. **Plan.** Call `stratum_plan` with the spec, the flow name and its inputs. Keep the `flow_id`.
4. **Execute and narrate.** For each step the server hands out, tell the user in one plain
   sentence what you are about to do, do it with your own tools, then call `stratum_step_done`
   with a result that matches the step's `output_schema`. Report real results, not hopes.
5. **Fix, don't argue.** On `ensure_failed`, `schema_failed` or `budget_exceeded`, fix exactly the
   listed violations, redo the work, and report the same `step_id` again. Never tell the user a
   step succeeded before the server accepted it. If retries run out, say which step failed and why.
6. **Audit and remember.** When the flow completes, call `stratum_audit` with the `flow_id`, tell
   the user what was done and what had to be retried and why, and add each new project-specific
   lesson to `MEMORY.md` as one short line (skip what is already there).
"""

_SKILLS = """
Skills for common work: `/stratum-review`, `/stratum-feature`, `/stratum-debug`, `/stratum-refactor`,
`/stratum-migrate`, `/stratum-test`, and `/stratum-learn` to turn past runs into `MEMORY.md` lessons.
"""

_CLI = """
Run `stratum-mcp learn` now and then to turn past runs into `MEMORY.md` lessons.
"""


def execution_model(*, skills: bool) -> str:
    """The block's body: the skills line for Claude Code, a pointer to ``stratum-mcp learn`` elsewhere."""
    return _BODY + (_SKILLS if skills else _CLI)
