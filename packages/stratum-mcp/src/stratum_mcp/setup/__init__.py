"""``stratum-mcp setup``, ``uninstall`` and ``doctor``: configure a project's MCP clients in one command.

::

    plan = plan_setup(find_project_root(), ("claude",))
    if not plan.problems:
        apply_plan(plan)

Every command first plans all its file changes (:class:`~.plan.Plan`), refusing
with typed errors before anything is written, then applies them atomically.

===================  =============================================================
module               holds
===================  =============================================================
``paths``            the project root, Claude Code's and stratum's home, the server command
``files``            bounded reads, atomic writes, the change plan's unit
``blocks``           marked blocks in Markdown (CLAUDE.md, AGENTS.md, MEMORY.md)
``clients``          claude / codex / cursor: where each reads servers, and the edits
``instructions``     the execution-model block
``skills``           the shipped skills: install, upgrade, retire
``manifest``         what setup installed, for upgrades and a byte-exact uninstall
``install``          plans ``setup``
``uninstall``        plans ``uninstall``
``doctor``           checks the configuration and really starts the server
===================  =============================================================
"""

from stratum_mcp.setup.install import plan_setup
from stratum_mcp.setup.paths import find_project_root
from stratum_mcp.setup.plan import Plan, apply_plan
from stratum_mcp.setup.uninstall import plan_uninstall

__all__ = ["Plan", "apply_plan", "find_project_root", "plan_setup", "plan_uninstall"]
