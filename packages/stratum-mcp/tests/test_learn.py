"""`stratum-mcp learn`: recurring failures from the store and from transcripts become MEMORY.md lessons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from stratum_mcp import FlowService
from stratum_mcp.cli import main
from stratum_mcp.errors import MarkersBroken, StratumMcpError
from stratum_mcp.learn import LearnSources, TranscriptLimits, learn, project_slug
from stratum_mcp.persistence import MemoryStore, SqliteStore
from stratum_mcp.tools import error_payload, outcome_payload

pytestmark = pytest.mark.usefixtures("home")

REVIEW = (Path(__file__).parent / "specs" / "review.stratum.yaml").read_text()
#: When the seeded runs happened (2023-11-14): the clock stands still, so every date in MEMORY.md is this one.
SEEDED_AT = 1_700_000_000.0
TEXT = {"text": "I love it. Great support."}
LOW = {"label": "positive", "confidence": 0.4}
GOOD = {"label": "positive", "confidence": 0.9}
QUOTES = {"quotes": ["I love it."]}
NO_COUNT = {"text": "Happy.", "label": "positive"}
SUMMARY = {"text": "Happy.", "label": "positive", "quote_count": 1}
MADE_UP = {"quotes": ["Best ever!"]}

Script = Sequence[tuple[str, dict[str, Any]]]
#: A run that is rejected once on `classify` (ensure) and once on `summarize` (schema), then completes.
BUMPY: Script = [("classify", LOW), ("classify", GOOD), ("extract", QUOTES), ("summarize", NO_COUNT),
                 ("summarize", SUMMARY)]
#: A run whose `extract` step invents quotes until its retries run out.
DOOMED: Script = [("classify", GOOD), *[("extract", MADE_UP)] * 4]


def play(service: FlowService, script: Script) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Run a flow; return each tool call as (tool, arguments, answer), as a client would have seen it."""
    first = service.plan(REVIEW, "review", TEXT)
    calls = [("stratum_plan", {"spec": REVIEW, "flow": "review", "inputs": TEXT}, outcome_payload(first))]
    for step_id, result in script:
        arguments = {"flow_id": first.flow_id, "step_id": step_id, "result": result}
        try:
            answer = outcome_payload(service.step_done(first.flow_id, step_id, result))
        except StratumMcpError as exc:
            answer = error_payload(exc)
        calls.append(("stratum_step_done", arguments, answer))
    return calls


def seed(db: Path, root: Path, *scripts: Script) -> None:
    with FlowService(SqliteStore(db), project_root=root, clock=lambda: SEEDED_AT) as service:
        for script in scripts:
            play(service, script)


def section(memory: Path) -> str:
    text = memory.read_text()
    return text[text.index("<!-- stratum:learned:begin"):text.index("<!-- stratum:learned:end -->")]


def test_learn_turns_recurring_failures_in_the_store_into_lessons(
    project: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = home / "flows.db"
    seed(db, project, BUMPY, BUMPY, BUMPY, DOOMED, DOOMED)
    assert main(["--db", str(db), "learn", "--no-transcripts"]) == 0
    assert "Read 5 run(s) with 14 rejected attempt(s)" in capsys.readouterr().out
    lessons = [line for line in section(project / "MEMORY.md").splitlines() if line.startswith("- ")]
    assert lessons == [
        "- `all(q in inputs.text for q in result.quotes)` in `extract` was false 8 times in 2 runs "
        '(seen: `result.quotes = ["Best ever!"]`). Check it yourself before reporting the step.',
        "- `quote_count` of `summarize` results was rejected 3 times in 3 runs: required field is missing. "
        "Build the result from the step's output_schema.",
        "- `result.confidence > 0.7` in `classify` was false 3 times in 3 runs (seen: `result.confidence = 0.4`). "
        "Check it yourself before reporting the step.",
        "- Flow `review` failed at step `extract` in 2 of 5 runs: retries ran out.",
    ]
    assert "_From 5 runs (2023-11-14 to 2023-11-14)." in section(project / "MEMORY.md")


def test_learn_keeps_hand_written_lines_and_a_rerun_changes_nothing(
    project: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = home / "flows.db"
    seed(db, project, BUMPY, BUMPY)
    memory = project / "MEMORY.md"
    mine = "# Team memory\n\n- Specs for `ingest` need a `budget.ms` of at least 60000.\n"
    memory.write_text(mine)
    assert main(["--db", str(db), "learn", "--no-transcripts"]) == 0
    first = memory.read_text()
    assert first.startswith(mine + "\n<!-- stratum:learned:begin")
    with memory.open("a") as handle:
        handle.write("\n- Written after the section, by hand.\n")
    after_edit = memory.read_text()
    capsys.readouterr()
    assert main(["--db", str(db), "learn", "--no-transcripts"]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert memory.read_text() == after_edit
    assert after_edit.count("stratum:learned:begin") == 1


def test_new_evidence_rewrites_the_section_without_duplicating_lessons(project: Path, home: Path) -> None:
    db = home / "flows.db"
    seed(db, project, BUMPY, BUMPY)
    assert main(["--db", str(db), "learn", "--no-transcripts"]) == 0
    seed(db, project, BUMPY)
    assert main(["--db", str(db), "learn", "--no-transcripts"]) == 0
    text = section(project / "MEMORY.md")
    assert text.count("`result.confidence > 0.7` in `classify`") == 1
    assert "was false 3 times in 3 runs" in text


def test_a_lesson_already_written_by_hand_is_not_repeated(project: Path, home: Path) -> None:
    db = home / "flows.db"
    seed(db, project, BUMPY, BUMPY)
    (project / "MEMORY.md").write_text("- `result.confidence > 0.7` in `classify`: the model is shy; ask twice.\n")
    assert main(["--db", str(db), "learn", "--no-transcripts"]) == 0
    assert "result.confidence" not in section(project / "MEMORY.md")
    assert "`quote_count` of `summarize` results" in section(project / "MEMORY.md")


def test_other_projects_runs_and_one_off_failures_are_not_lessons(
    project: Path, home: Path, tmp_path: Path
) -> None:
    db = home / "flows.db"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    seed(db, elsewhere, BUMPY, BUMPY, BUMPY)
    seed(db, project, BUMPY)
    assert main(["--db", str(db), "learn", "--no-transcripts"]) == 0
    text = section(project / "MEMORY.md")
    assert "_From 1 run (" in text
    assert "- No failure recurred often enough to be a pattern yet." in text


def test_learn_reads_the_default_store_and_creates_none_when_it_is_missing(project: Path, home: Path) -> None:
    assert main(["learn"]) == 0
    assert not (home / ".stratum").exists()
    assert "_From 0 runs." in section(project / "MEMORY.md")
    seed(home / ".stratum" / "flows.db", project, BUMPY, BUMPY)
    assert main(["learn"]) == 0
    assert "`quote_count` of `summarize` results" in section(project / "MEMORY.md")


def test_broken_markers_in_memory_md_are_refused_and_the_file_kept(
    project: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = "# Memory\n<!-- stratum:learned:begin (x) -->\n- half a section\n"
    (project / "MEMORY.md").write_text(broken)
    assert main(["--db", str(home / "flows.db"), "learn"]) == 1
    assert "stratum:learned" in capsys.readouterr().err
    assert (project / "MEMORY.md").read_text() == broken
    with pytest.raises(MarkersBroken):
        learn(LearnSources(root=project, db=None))


def test_dry_run_and_json_write_nothing(project: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = home / "flows.db"
    seed(db, project, BUMPY, BUMPY)
    assert main(["--db", str(db), "learn", "--dry-run", "--json", "--no-transcripts"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs"], report["rejections"], report["changed"], report["would_change"]) == (2, 4, False, True)
    assert {lesson["subject"] for lesson in report["lessons"]} == {
        "`result.confidence > 0.7` in `classify`", "`quote_count` of `summarize` results"}
    assert main(["--db", str(db), "learn", "--dry-run", "--no-transcripts"]) == 0
    out = capsys.readouterr().out
    assert "MEMORY.md would be updated (dry run)" in out
    assert "## Learned from Stratum runs" in out and "- `quote_count` of `summarize` results" in out
    assert not (project / "MEMORY.md").exists()


# --- Claude Code transcripts


def transcript(calls: list[tuple[str, dict[str, Any], dict[str, Any]]], cwd: str) -> list[dict[str, Any]]:
    """The JSONL lines Claude Code writes for these tool calls: a tool_use, then its tool_result."""
    ids = count()
    lines: list[dict[str, Any]] = [{"type": "user", "cwd": cwd, "message": {"role": "user", "content": "review it"}}]
    for tool, arguments, answer in calls:
        call_id = f"toolu_{next(ids)}"
        lines.append({"type": "assistant", "cwd": cwd, "sessionId": "s", "message": {"role": "assistant", "content": [
            {"type": "text", "text": "Checking the tone first."},
            {"type": "tool_use", "id": call_id, "name": f"mcp__stratum__{tool}", "input": arguments}]}})
        lines.append({"type": "user", "cwd": cwd, "sessionId": "s", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_id,
             "content": [{"type": "text", "text": json.dumps(answer)}]}]}})
    return lines


def write_session(directory: Path, name: str, lines: list[Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_the_project_slug_is_claude_codes_directory_name() -> None:
    assert project_slug(Path("/home/me/my_app.v2")) == "-home-me-my-app-v2"


def test_learn_reads_the_projects_claude_code_transcripts(project: Path, home: Path) -> None:
    sessions = home / ".claude" / "projects"
    elsewhere = MemoryStore()  # these runs happened against a store learn cannot see
    calls = [play(FlowService(elsewhere), BUMPY), play(FlowService(elsewhere), BUMPY),
             play(FlowService(elsewhere), DOOMED)]
    noise = ["not json at all", json.dumps({"type": "summary", "summary": "stratum_plan mentioned in passing"})]
    write_session(sessions / project_slug(project), "one", [*noise, *transcript(calls[0], str(project))])
    # A session started in a subdirectory lives in its own directory and still belongs to the project.
    sub = project / "src"
    write_session(sessions / project_slug(sub), "two", transcript(calls[1], str(sub)))
    # A sibling whose slug shares the prefix (`/x/project-old`) is another project: its lines say so.
    sibling = project.parent / "project-old"
    write_session(sessions / (project_slug(project) + "-old"), "three", transcript(calls[2], str(sibling)))

    result = learn(LearnSources(root=project, db=None, claude_projects=sessions))
    assert result.evidence.sessions == 3
    assert [r.status for r in result.evidence.runs] == ["complete", "complete"]
    assert {c.subject for c in result.conclusions} == {
        "`result.confidence > 0.7` in `classify`", "`quote_count` of `summarize` results"}
    assert "and 3 session transcripts" in result.change.after  # type: ignore[operator]


def test_a_run_both_stored_and_in_a_transcript_counts_once(project: Path, home: Path) -> None:
    db = home / "flows.db"
    with FlowService(SqliteStore(db), project_root=project) as service:
        calls = [play(service, BUMPY), play(service, BUMPY)]
    sessions = home / ".claude" / "projects"
    write_session(sessions / project_slug(project), "s", [*transcript(calls[0], str(project)),
                                                           *transcript(calls[1], str(project))])
    result = learn(LearnSources(root=project, db=db, claude_projects=sessions))
    assert len(result.evidence.runs) == 2 and len(result.evidence.rejections) == 4


def test_a_transcript_found_flow_id_pulls_its_untagged_run_from_the_store(project: Path, home: Path) -> None:
    db = home / "flows.db"
    with FlowService(SqliteStore(db)) as untagged:  # a server started without a project root
        calls = [play(untagged, BUMPY), play(untagged, BUMPY)]
    sessions = home / ".claude" / "projects"
    write_session(sessions / project_slug(project), "s", [line for c in calls for line in transcript(c, str(project))])
    result = learn(LearnSources(root=project, db=db, claude_projects=sessions))
    assert {r.created_ms is not None for r in result.evidence.runs} == {True}  # the stored records won
    assert len(result.evidence.runs) == 2


def test_transcript_reading_is_bounded(project: Path, home: Path) -> None:
    sessions = home / ".claude" / "projects" / project_slug(project)
    calls = play(FlowService(MemoryStore()), BUMPY)
    huge = json.dumps({"type": "user", "cwd": str(project), "pad": "stratum_" + "x" * 5000})
    write_session(sessions, "big", [huge, *transcript(calls, str(project))])
    limits = TranscriptLimits(line_bytes=4096)
    result = learn(LearnSources(root=project, db=None, claude_projects=home / ".claude" / "projects",
                                transcripts=limits))
    assert result.evidence.skipped_lines >= 1
    assert len(result.evidence.runs) == 1  # the lines after the overlong one were still read

    for index in range(3):
        write_session(sessions, f"extra{index}", transcript(play(FlowService(MemoryStore()), BUMPY),
                                                             str(project)))
    capped = learn(LearnSources(root=project, db=None, claude_projects=home / ".claude" / "projects",
                                transcripts=TranscriptLimits(files=2)))
    assert capped.evidence.sessions == 2

    cut = learn(LearnSources(root=project, db=None, claude_projects=home / ".claude" / "projects",
                             transcripts=TranscriptLimits(file_bytes=1000)))
    assert cut.evidence.runs == ()


def test_runs_that_failed_in_transcripts_become_a_failure_lesson(project: Path, home: Path) -> None:
    service = FlowService(MemoryStore())
    lines = [line for _ in range(2) for line in transcript(play(service, DOOMED), str(project))]
    write_session(home / ".claude" / "projects" / project_slug(project), "s", lines)
    result = learn(LearnSources(root=project, db=None, claude_projects=home / ".claude" / "projects"))
    assert [r.status for r in result.evidence.runs] == ["failed", "failed"]
    texts = [c.text for c in result.conclusions]
    assert "Flow `review` failed at step `extract` in 2 of 2 runs: retries ran out." in texts
    assert any(t.startswith("`all(q in inputs.text for q in result.quotes)` in `extract` was false 8 times")
               for t in texts)
