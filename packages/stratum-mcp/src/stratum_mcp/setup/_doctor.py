"""``stratum-mcp doctor``: will each client really load the project's server, and does it answer?

For each configured client it reads the server entry, expands it as the client
would (:mod:`._entries`), says whether it is portable or names this machine's
paths, checks that its command resolves here and is this installation, starts
it exactly as the client would and asks for ``tools/list`` (:mod:`._probe`).
Then it reads the client's own settings to see whether the client will load
the server at all (:mod:`._activation`) and, with ``live``, asks the client's
command line too (:mod:`._live`). Each client gets a verdict; the diagnosis
fails when no client would load the server, or when something is broken.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stratum_mcp._fs import block_body, read_text, with_line_ending
from stratum_mcp.errors import SetupError
from stratum_mcp.setup._activation import Activation, activation
from stratum_mcp.setup._clients import CLIENTS, Client, ServerEntry, read_server
from stratum_mcp.setup._entries import Launch, resolve_entry
from stratum_mcp.setup._git import git_tracks
from stratum_mcp.setup._instructions import EXECUTION_MODEL, execution_model
from stratum_mcp.setup._live import LiveAnswer, ask_client
from stratum_mcp.setup._paths import claude_home, shown, stratum_command
from stratum_mcp.setup._probe import Probe, probe_server
from stratum_mcp.setup._skills import SKILL_NAMES, shipped_skills

__all__ = ["EXPECTED_TOOLS", "Check", "Diagnosis", "Verdict", "diagnose"]

EXPECTED_TOOLS = (
    "stratum_audit", "stratum_check_timeouts", "stratum_commit", "stratum_gate_resolve", "stratum_iteration_abort",
    "stratum_iteration_report", "stratum_iteration_start", "stratum_parallel_done", "stratum_plan", "stratum_resume",
    "stratum_revert", "stratum_skip_step", "stratum_step_done", "stratum_validate",
)

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it went, and what to do about it."""

    status: Status
    subject: str
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether one client will load the server: ``connected-ready``, ``needs approval``, ``project not trusted``...

    ``loads`` is ``None`` where doctor cannot know (Cursor keeps that in its own state).
    """

    client: str
    state: str
    loads: bool | None
    fix: str | None = None

    def line(self) -> str:
        return f"{self.client}: {self.state}" + (f" ({self.fix})" if self.fix else "")


@dataclass(frozen=True)
class Diagnosis:
    """Every check, and a verdict per client."""

    checks: tuple[Check, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def failed(self) -> bool:
        """Something is broken, or no client would load the server."""
        nothing_loads = not any(v.loads is not False for v in self.verdicts)
        return nothing_loads or any(c.status == "fail" for c in self.checks)


_STATES = {
    "needs_approval": "needs approval",
    "not_trusted": "project not trusted",
    "rejected": "rejected",
    "disabled": "disabled",
}


def diagnose(root: Path, clients: Sequence[str] | None = None, *, timeout: float = 20.0,
             live: bool = False) -> Diagnosis:
    """Every check for ``root``; ``clients=None`` checks each client whose config has the server."""
    checks = [Check("ok", "project", str(root))]
    if clients is None:
        clients = [name for name, client in CLIENTS.items() if _configured(root, client)]
        if not clients:
            return Diagnosis((*checks, Check("fail", "configuration", "no client config in this project has the "
                                             "stratum server", "run `stratum-mcp setup` (add --client codex or "
                                             "cursor for those)")), ())
    probes: dict[Launch, Probe] = {}
    verdicts: list[Verdict] = []
    for name in clients:
        client = CLIENTS[name]
        try:
            entry = _entry(root, client)
        except SetupError as exc:
            checks.append(Check("fail", client.config, str(exc), "fix the file, then run `stratum-mcp setup`"))
            verdicts.append(Verdict(name, "will not start", False, "its config does not parse"))
            continue
        if entry is None:
            checks.append(Check("fail", client.config, "has no `stratum` server entry",
                                f"run `stratum-mcp setup --client {name}`"))
            verdicts.append(Verdict(name, "not configured", False, f"run `stratum-mcp setup --client {name}`"))
            continue
        launch = resolve_entry(client, entry, root)
        command_checks = _command_checks(root, client, launch)
        checks.extend(command_checks)
        probe = None
        if launch.executable is not None and not launch.unset:
            if launch not in probes:
                probes[launch] = probe_server(launch, root, timeout)
            probe = probes[launch]
            checks.append(_probe_check(client, probe))
        starts = probe is not None and probe.error is None and probe.tools == EXPECTED_TOOLS
        verdict, activation_check = _verdict(root, client, entry, starts)
        if activation_check is not None:
            checks.append(activation_check)
        if live:
            verdict = _live(root, client, verdict, checks, timeout)
        verdicts.append(verdict)
        checks.append(_instructions_check(root, client))
    if any(CLIENTS[name].installs_skills for name in clients):
        checks.extend(_skill_checks())
    return Diagnosis(tuple(checks), tuple(verdicts))


def _configured(root: Path, client: Client) -> bool:
    """Whether the client's config has the server, or exists and is broken (which is worth reporting)."""
    try:
        return _entry(root, client) is not None
    except SetupError:
        return True


def _entry(root: Path, client: Client) -> ServerEntry | None:
    path = root / client.config
    return read_server(client, path, read_text(path))


def _command_checks(root: Path, client: Client, launch: Launch) -> list[Check]:
    subject = f"{client.config} command"
    line = shlex.join([launch.command, *launch.args])
    if launch.unset:
        names = ", ".join(f"${{{n}}}" for n in launch.unset)
        return [Check("fail", subject, f"{line}: {names} is not set here, so {client.title} cannot start it",
                      f"set {names} in the environment {client.title} starts from, or give it a default "
                      "(${NAME:-value})")]
    if launch.executable is None:
        if launch.form == "portable":
            return [Check("fail", subject, f"{line}: portable, but `{launch.command}` is not on PATH here, so "
                          f"{client.title} will fail to start it",
                          f"put {shown(Path(stratum_command()[0]).parent)} on PATH (or install stratum-mcp with "
                          "pipx or `uv tool`), or run `stratum-mcp setup --absolute` for this machine only")]
        return [Check("fail", subject, f"{launch.command} does not exist or is not executable (was the environment "
                      "it was installed in moved or removed?)",
                      "run `stratum-mcp setup` again from the environment that has stratum-mcp")]
    here = "this installation" if launch.this_installation else (
        f"not this installation, which is {shown(stratum_command()[0])}")
    checks: list[Check] = []
    if launch.form == "portable":
        checks.append(Check("ok", subject, f"{line}: portable (found on PATH here: {shown(launch.executable)}, "
                            f"{here})"))
    elif launch.form == "absolute":
        detail = f"{line}: absolute, so it works on this machine only ({here})"
        if git_tracks(root, client.config) == "tracked":
            checks.append(Check("warn", subject, detail + f"; git tracks {client.config}, so whoever clones the "
                                "project gets an entry that fails to connect",
                                "run `stratum-mcp setup` without --absolute for a portable entry"))
        else:
            checks.append(Check("ok", subject, detail))
    else:
        checks.append(Check("ok", subject, f"{line} (found here: {shown(launch.executable)}, {here})"))
    if not launch.this_installation and checks[-1].status == "ok":
        checks[-1] = Check("warn", subject, checks[-1].detail, "run `stratum-mcp setup` again to use this "
                           "installation, or ignore this if the other one is the one you want")
    served = launch.project_root
    if served is not None and Path(served).resolve() != root.resolve():
        checks.append(Check("warn", subject, f"serves another project root: {served} (copied from another "
                            "checkout?)", "run `stratum-mcp setup` in this project"))
    return checks


def _probe_check(client: Client, probe: Probe) -> Check:
    subject = f"{client.config} server"
    if probe.error is not None:
        return Check("fail", subject, f"did not answer tools/list: {probe.error}",
                     "run the command above by hand to see why it does not start")
    if probe.tools != EXPECTED_TOOLS:
        return Check("fail", subject, f"answered tools/list with {list(probe.tools)}, not the stratum tools",
                     "the entry starts a different server; run `stratum-mcp setup` again")
    return Check("ok", subject, f"started and listed {len(probe.tools)} tools in {probe.seconds:.1f} s")


def _verdict(root: Path, client: Client, entry: ServerEntry, starts: bool) -> tuple[Verdict, Check | None]:
    try:
        found: Activation = activation(client.name, root, entry)
    except SetupError as exc:
        return Verdict(client.name, "unknown", None, str(exc)), Check("warn", client.title, str(exc))
    if found.state == "ready":
        if not starts:
            return (Verdict(client.name, "will not start", False, "see the failures above"),
                    Check("ok", client.title, f"would load it: {found.detail}"))
        return Verdict(client.name, "connected-ready", True), Check("ok", client.title, f"loads it: {found.detail}")
    if found.state == "unknown":
        return (Verdict(client.name, "not checked", None, found.fix),
                Check("warn", client.title, found.detail, found.fix))
    state = _STATES[found.state]
    return Verdict(client.name, state, False, found.fix), Check("warn", client.title, f"{state}: {found.detail}",
                                                               found.fix)


def _live(root: Path, client: Client, verdict: Verdict, checks: list[Check], timeout: float) -> Verdict:
    """Ask the client itself; its answer wins where it differs from what doctor read in the files."""
    answer: LiveAnswer | None = ask_client(client.name, root, max(timeout, 60.0))
    if answer is None:
        if client.name in ("claude", "codex"):
            checks.append(Check("ok", f"{client.title} (live)", f"`{client.name}` is not on PATH; not asked"))
        return verdict
    expected = {"connected-ready": "ready", "needs approval": "needs_approval", "rejected": "rejected",
                "project not trusted": "not_loaded", "disabled": "disabled", "will not start": "failed"}
    agrees = expected.get(verdict.state) == answer.state
    status: Status = "ok" if agrees else "warn"
    detail = f"`{answer.command}` says: {answer.said}"
    checks.append(Check(status, f"{client.title} (live)", detail if agrees else
                        f"{detail}, while its settings files read as {verdict.state!r}",
                        None if agrees else "trust what the client says; its rules may have changed"))
    if agrees or answer.state == "unreadable":
        return verdict
    if answer.state == "ready":
        return Verdict(client.name, "connected-ready", True)
    state = {"needs_approval": "needs approval", "rejected": "rejected", "failed": "will not start",
             "not_loaded": "not loaded", "disabled": "disabled"}[answer.state]
    return Verdict(client.name, state, False, verdict.fix or f"`{answer.command}` says: {answer.said}")


def _instructions_check(root: Path, client: Client) -> Check:
    path = root / client.instructions
    subject = client.instructions
    try:
        body = block_body(read_text(path), EXECUTION_MODEL, path)
    except SetupError as exc:
        return Check("warn", subject, str(exc), "fix the markers, then run `stratum-mcp setup`")
    if body is None:
        return Check("warn", subject, "has no execution-model block", "run `stratum-mcp setup`")
    # Line endings are not content: setup keeps a CRLF file CRLF, and says "nothing to change" for it.
    if with_line_ending(body, "\n").strip() != execution_model(skills=client.installs_skills).strip():
        return Check("warn", subject, "the execution-model block is not this version's",
                     "run `stratum-mcp setup` to update it")
    return Check("ok", subject, "execution-model block is current")


def _skill_checks() -> list[Check]:
    checks = []
    for skill in shipped_skills(shlex.join(stratum_command())):
        path = claude_home() / "skills" / skill.name / "SKILL.md"
        try:
            current = read_text(path)
        except SetupError as exc:
            checks.append(Check("warn", f"skill {skill.name}", str(exc)))
            continue
        if current is None:
            checks.append(Check("warn", f"skill {skill.name}", f"{path} is missing", "run `stratum-mcp setup`"))
        elif current != skill.text:
            checks.append(Check("warn", f"skill {skill.name}", f"{path} differs from this version's",
                                "run `stratum-mcp setup` (add --force to replace hand edits)"))
    if not checks:
        checks.append(Check("ok", "skills", f"all {len(SKILL_NAMES)} installed and current"))
    return checks
