"""``stratum-mcp learn``: turn recurring failures into project-specific lessons in ``MEMORY.md``.

::

    result = learn(LearnSources(root=Path.cwd(), db=Path.home() / ".stratum" / "flows.db"))
    print(result.section)

Evidence comes from the flow store (the runs tagged with this project, plus
any run the project's session transcripts mention) and from Claude Code's
session transcripts for the project (``_transcripts``; they live under
``~/.claude/projects/<project_slug(root)>``). The lessons (``_conclusions``)
are written into a marked section of ``MEMORY.md`` (``_memory``); the rest of
the file is left as it is.
"""

from stratum_mcp.learn._conclusions import Conclusion
from stratum_mcp.learn._evidence import Evidence
from stratum_mcp.learn._learn import LearnResult, LearnSources, learn
from stratum_mcp.learn._transcripts import TranscriptLimits, project_slug

__all__ = ["Conclusion", "Evidence", "LearnResult", "LearnSources", "TranscriptLimits", "learn", "project_slug"]
