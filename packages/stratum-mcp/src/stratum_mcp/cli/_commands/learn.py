"""``stratum-mcp learn``: write recurring failures of this project's runs into ``MEMORY.md``."""

from __future__ import annotations

import argparse

from stratum_mcp.cli._commands._plans import add_project_argument

NAME = "learn"
HELP = "turn this project's recurring failures (store and Claude Code transcripts) into MEMORY.md lessons"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_argument(parser)
    parser.add_argument("--no-transcripts", action="store_true", help="read only the flow store")
    parser.add_argument("--runs", type=int, default=500, metavar="N", help="read at most N runs (default 500)")
    parser.add_argument("--sessions", type=int, default=50, metavar="N",
                        help="read at most the N newest session transcripts (default 50)")
    parser.add_argument("--min-count", type=int, default=2, metavar="N",
                        help="how often a failure must recur to become a lesson (default 2)")
    parser.add_argument("--dry-run", action="store_true", help="print the new section; do not write MEMORY.md")
    parser.add_argument("--json", action="store_true", help="print the evidence counts and lessons as JSON")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stratum_mcp._config import resolve_config
    from stratum_mcp._fs import apply_changes
    from stratum_mcp.cli._commands._output import fail, print_json
    from stratum_mcp.errors import StratumMcpError
    from stratum_mcp.learn import LearnSources, TranscriptLimits, learn
    from stratum_mcp.setup import claude_home, find_project_root

    try:
        root = find_project_root(override=args.project)
        sources = LearnSources(
            root=root,
            db=resolve_config(args.db).db_path,
            claude_projects=None if args.no_transcripts else claude_home() / "projects",
            runs=max(0, args.runs),
            min_count=max(1, args.min_count),
            transcripts=TranscriptLimits(files=max(0, args.sessions)),
        )
        result = learn(sources)
        changed = bool(apply_changes([result.change])) if not args.dry_run else False
    except StratumMcpError as exc:  # a refused MEMORY.md, or a store that cannot be opened
        return fail(str(exc))
    evidence = result.evidence
    if args.json:
        print_json({
            "memory": str(result.change.path),
            "changed": changed,
            "would_change": result.change.action != "unchanged",
            "runs": len(evidence.runs),
            "rejections": len(evidence.rejections),
            "sessions": evidence.sessions,
            "lessons": [{"subject": c.subject, "text": c.text, "weight": c.weight} for c in result.conclusions],
        })
        return 0
    print(f"Read {len(evidence.runs)} run(s) with {len(evidence.rejections)} rejected attempt(s) and "
          f"{evidence.sessions} session transcript(s) for {root}.")
    if not args.dry_run:  # a dry run prints the whole section instead
        for conclusion in result.conclusions:
            print(f"  - {conclusion.text}")
    name = Path(result.change.path).name
    if args.dry_run:
        verdict = "would stay as it is" if result.change.action == "unchanged" else "would be updated"
        print(f"{name} {verdict} (dry run); its learned section would read:\n")
        print(result.section.rstrip())
    else:
        print(f"{name} updated." if changed else f"{name} is already up to date.")
    return 0
