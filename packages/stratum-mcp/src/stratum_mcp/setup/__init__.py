"""``stratum-mcp setup``, ``uninstall`` and ``doctor``: configure a project's MCP clients in one command.

::

    plan = plan_setup(find_project_root(), ("claude",))
    if not plan.problems:
        apply_plan(plan)
    diagnosis = diagnose(plan.root)
    for verdict in diagnosis.verdicts:
        print(verdict.line())             # claude: needs approval (run `claude` in ... and approve ...)

Every command first plans all its file changes (:class:`Plan`), refusing
with typed errors before anything is written, then applies them atomically
(through :mod:`stratum_mcp._fs`, which ``learn`` shares).

=====================  =============================================================
module                 holds
=====================  =============================================================
``_paths``             the project root, Claude Code's and stratum's home, the server command
``_clients``           claude / codex / cursor: where each reads servers, and the edits
``_entries``           an entry as its client runs it: variables expanded, command resolved
``_activation``        whether each client will load the server: Claude approvals, Codex trust
``_git``               whether git tracks a file (as Claude Code asks it)
``_instructions``      the execution-model block
``_skills``            the shipped skills: install, upgrade, retire
``_manifest``          what setup installed, for upgrades and a byte-exact uninstall
``_plan``              the plan of file changes, and carrying it out
``_install``           plans ``setup``
``_uninstall``         plans ``uninstall``
``_probe``             starts a server as a client would and lists its tools
``_live``              ``doctor --live``: what ``claude``/``codex mcp get`` say
``_doctor``            every check, and a verdict per client
=====================  =============================================================

A new client is one more :class:`Client` in :data:`CLIENTS` (``_clients``).
"""

from stratum_mcp.setup._activation import Activation, activation
from stratum_mcp.setup._clients import CLIENTS, Client
from stratum_mcp.setup._doctor import Check, Diagnosis, Verdict, diagnose
from stratum_mcp.setup._install import plan_setup
from stratum_mcp.setup._paths import ServerLaunch, claude_home, find_project_root, server_launch
from stratum_mcp.setup._plan import Plan, apply_plan
from stratum_mcp.setup._skills import SKILL_NAMES, Skill, shipped_skills
from stratum_mcp.setup._uninstall import plan_uninstall

__all__ = [
    "CLIENTS",
    "SKILL_NAMES",
    "Activation",
    "Check",
    "Client",
    "Diagnosis",
    "Plan",
    "ServerLaunch",
    "Skill",
    "Verdict",
    "activation",
    "apply_plan",
    "claude_home",
    "diagnose",
    "find_project_root",
    "plan_setup",
    "plan_uninstall",
    "server_launch",
    "shipped_skills",
]
