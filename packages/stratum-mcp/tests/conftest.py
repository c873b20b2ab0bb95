"""Shared fixtures: spec texts, a clock, a service on a temporary store, and a real server over stdio.

Test modules ask for these by name as fixtures; none imports this module.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from stratum_mcp import DEFAULT_LIMITS, FlowService, FlowStore, Limits, SqliteStore

T = TypeVar("T")


@pytest.fixture
def specs() -> Path:
    """The directory of spec files the tests share."""
    return Path(__file__).parent / "specs"


@pytest.fixture
def review_spec(specs: Path) -> str:
    return (specs / "review.stratum.yaml").read_text()


@pytest.fixture
def billion_laughs(specs: Path) -> str:
    """A few hundred bytes of YAML whose aliases expand to a billion nodes."""
    return (specs / "billion-laughs.yaml").read_text()


class FakeClock:
    """A clock the test moves by hand, in seconds."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: int) -> None:
        self.now += ms / 1000


@pytest.fixture
def clock() -> FakeClock:
    """Wall time for durations and budgets, standing still until the test advances it."""
    return FakeClock()


@pytest.fixture
def open_service(tmp_path: Path) -> Iterator[Callable[..., FlowService]]:
    """``open_service(db, *, limits=..., store=..., **options)``: a service, closed (with its store) after the test.

    The store is SQLite at ``db`` (default ``tmp_path / "flows.db"``) unless ``store`` is given.
    """
    opened: list[FlowService] = []

    def open_(db: Path | None = None, *, limits: Limits = DEFAULT_LIMITS, store: FlowStore | None = None,
              **options: Any) -> FlowService:
        store = store if store is not None else SqliteStore(db or tmp_path / "flows.db", limits=limits)
        opened.append(FlowService(store, limits=limits, **options))
        return opened[-1]

    yield open_
    for service in opened:
        service.close()


@pytest.fixture
def service(open_service: Callable[..., FlowService], tmp_path: Path, clock: FakeClock) -> FlowService:
    return open_service(project_root=tmp_path, clock=clock)


@pytest.fixture
def run_async() -> Callable[..., Any]:
    """Runs an async test body with a bound on how long it may take: ``run_async(body, timeout=30)``."""

    def run(fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def bounded() -> T:
            with anyio.fail_after(timeout):
                return await fn()

        return anyio.run(bounded)

    return run


@pytest.fixture
def server_command() -> str:
    """The installed `stratum-mcp` console script next to this interpreter."""
    script = Path(sys.executable).parent / "stratum-mcp"
    assert script.exists(), f"stratum-mcp is not installed next to {sys.executable}"
    return str(script)


@pytest.fixture
def server_env() -> Callable[..., dict[str, str]]:
    """``server_env(db, **extra)``: a minimal environment for a server subprocess using the store ``db``."""

    def env_for(db: Path, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
        env["STRATUM_MCP_DB"] = str(db)
        env.update(extra)
        return env

    return env_for


class Client:
    """A real MCP ClientSession on a `stratum-mcp` subprocess, returning structured payloads."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.session.call_tool(tool, arguments)
        payload = result.structured_content
        assert payload is not None, result
        # The text block mirrors the structured payload for clients that read only text.
        assert json.loads(result.content[0].text) == payload
        # Error results carry a string `error` code (an audit's `error` is the failed run's record).
        assert result.is_error == isinstance(payload.get("error"), str), payload
        return dict(payload)


@pytest.fixture
def mcp_client(
    server_command: str, server_env: Callable[..., dict[str, str]]
) -> Callable[..., AbstractAsyncContextManager[Client]]:
    """``async with mcp_client(db) as client``: a server subprocess on store ``db``, over stdio.

    ``command``, ``args``, ``env``, ``cwd`` and ``errlog`` launch something else (an entry setup
    wrote, the interpreter with flags); by default the server's stderr goes to a log beside ``db``.
    """

    @asynccontextmanager
    async def connect(db: Path | None = None, *, command: str | None = None, args: list[str] | None = None,
                      env: dict[str, str] | None = None, cwd: Path | None = None,
                      errlog: Any = None) -> AsyncIterator[Client]:
        from mcp import ClientSession, StdioServerParameters, stdio_client

        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        where = cwd or (db.parent if db is not None else Path.cwd())
        params = StdioServerParameters(command=command or server_command, args=args or [],
                                       env=env or server_env(db), cwd=str(where))
        with ExitStack() as stack:
            # The server's stderr goes to a real file: pytest's captured stderr has no file descriptor.
            log = errlog or stack.enter_context(open(where / "server-stderr.log", "a"))
            async with stdio_client(params, errlog=log) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                yield Client(session)

    return connect


class RawServer:
    """A `stratum-mcp` subprocess spoken to line by line, for what an SDK client would never send."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def send(self, message: dict[str, Any] | str) -> None:
        """Write one line: a message as JSON, or raw text exactly as given."""
        assert self.process.stdin is not None
        line = message if isinstance(message, str) else json.dumps(message)
        self.process.stdin.write(line.encode("utf-8", errors="surrogatepass") + b"\n")
        self.process.stdin.flush()

    def receive(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next message the server wrote (bounded wait)."""
        return dict(json.loads(self._lines.get(timeout=timeout)))

    def request(self, request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params else {})})
        return self.receive()

    def call(self, request_id: int, tool: str, **arguments: Any) -> dict[str, Any]:
        answer = self.request(request_id, "tools/call", {"name": tool, "arguments": arguments})
        return dict(answer["result"]["structuredContent"])

    def initialize(self) -> dict[str, Any]:
        answer = self.request(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                                "clientInfo": {"name": "raw", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read().decode("utf-8", errors="replace")


@pytest.fixture
def raw_server(server_command: str, server_env: Callable[..., dict[str, str]],
               tmp_path: Path) -> Iterator[Callable[..., RawServer]]:
    """``raw_server(db)``: a `stratum-mcp` subprocess on store ``db`` with raw access to its stdin and stdout."""
    started: list[subprocess.Popen[bytes]] = []

    def start(db: Path | None = None, *args: str) -> RawServer:
        db = db or tmp_path / "flows.db"
        process = subprocess.Popen([server_command, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=server_env(db), cwd=tmp_path)
        started.append(process)
        return RawServer(process)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def cli(server_command: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(ARGS, cwd=..., home=..., env=...)``: `stratum-mcp ARGS` as a user would run it, with a temporary HOME.

    PATH is the caller's with this installation's bin directory first (where `pip install` puts
    `stratum-mcp`), the umask the usual 022, and ``env`` adds or overrides variables.
    """

    def run(args: list[str], *, cwd: Path, home: Path, env: dict[str, str] | None = None,
            path: str | None = None) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k in ("LANG", "SYSTEMROOT", "TMPDIR")}
        bin_dir = str(Path(server_command).parent)
        base["PATH"] = path if path is not None else os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
        base["HOME"] = str(home)
        return subprocess.run([server_command, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True,
                              text=True, timeout=120, check=False, umask=0o022)

    return run


@pytest.fixture
def spaces(tmp_path: Path) -> tuple[Path, Path]:
    """A temporary home and a git project (made by `git init` when git is installed, as Claude Code expects)."""
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    git = shutil.which("git")
    if git is not None:
        subprocess.run([git, "init", "-q", str(project)], check=True, timeout=60, capture_output=True)
    else:
        (project / ".git").mkdir()
    return home, project.resolve()


_FAKE_CLIENT = """\
#!{python}
# Prints what the real `{name}` printed for these arguments (recorded in tests/clients/recorded.json).
import json, sys
recordings = json.load(open({recordings!r}, encoding="utf-8"))
answer = recordings.get(" ".join(["{name}", *sys.argv[1:]]), {{}}).get({state!r})
if answer is None:
    sys.exit("fake {name}: no recording for " + " ".join(sys.argv[1:]))
sys.stdout.write(answer["stdout"])
sys.stderr.write(answer["stderr"])
sys.exit(answer["returncode"])
"""


@pytest.fixture
def fake_clients(tmp_path: Path) -> Callable[..., str]:
    """``fake_clients(claude="pending", codex="missing")``: a PATH whose `claude`/`codex` print a recorded answer.

    The recordings are real runs of `claude mcp get stratum` and `codex mcp get stratum --json`. The PATH
    returned has the fakes first, then this installation's bin directory and git's (real clients installed
    beside git are shadowed by the fakes).
    """
    recordings = Path(__file__).parent / "clients" / "recorded.json"

    def make(**states: str) -> str:
        bin_dir = tmp_path / "fake-bin"
        bin_dir.mkdir(exist_ok=True)
        for name, state in states.items():
            script = bin_dir / name
            script.write_text(_FAKE_CLIENT.format(python=sys.executable, name=name, state=state,
                                                  recordings=str(recordings)))
            script.chmod(0o755)
        git = shutil.which("git")
        return os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent),
                                *([str(Path(git).parent)] if git else [])])

    return make


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME for setup, uninstall, doctor and learn: the real ~/.claude is never touched."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("STRATUM_MCP_DB", raising=False)
    monkeypatch.delenv("STRATUM_MCP_PROJECT_ROOT", raising=False)
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary git project (just a `.git` directory), and the working directory inside it."""
    path = tmp_path / "project"
    (path / ".git").mkdir(parents=True)
    monkeypatch.chdir(path)
    return path.resolve()


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, bytes | None]]:
    """``snapshot(root)``: every file and directory under ``root``, bytes for files and None for directories."""

    def take(root: Path) -> dict[str, bytes | None]:
        return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}

    return take


_PROBE = '''\
"""Runs `stratum-mcp ARGS` in this process and reports, on stderr, how many SQLite connections it left open."""
import sqlite3
import sys

opened = []
# Audit hooks cannot be removed: this runs in a process of its own, never inside the test session.
sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "sqlite3.connect/handle" else None)

from stratum_mcp.cli import main  # noqa: E402 - the hook must see every connection


def is_open(connection):
    try:
        connection.total_changes
    except sqlite3.ProgrammingError:  # "Cannot operate on a closed database."
        return False
    return True


status = main(sys.argv[1:])
print(f"sqlite connections: {len(opened)} opened, {sum(map(is_open, opened))} left open", file=sys.stderr)
raise SystemExit(status)
'''


@pytest.fixture
def connection_probe(tmp_path: Path) -> list[str]:
    """The command line of `stratum-mcp` run so that it reports the SQLite connections it left open on stderr.

    The probe holds every connection, so one the command forgot is still open when it reports (the garbage
    collector cannot close it first), on every Python version.
    """
    script = tmp_path / "connection_probe.py"
    script.write_text(_PROBE)
    return [sys.executable, str(script)]


def _children_of_this_process() -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        pids.extend(int(p) for p in (task / "children").read_text().split())
    return pids


@pytest.fixture
def kill_server() -> Callable[[Path], None]:
    """``kill_server(db)``: SIGKILL the server subprocess serving store ``db`` (found through /proc)."""
    if not Path("/proc/self/task").exists():
        pytest.skip("finds the server process through /proc")

    def kill(db: Path) -> None:
        for pid in _children_of_this_process():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if f"STRATUM_MCP_DB={db}".encode() in environ:
                os.kill(pid, signal.SIGKILL)
                return
        raise AssertionError("server process not found")

    return kill


Half = Callable[[Client, dict[str, Any]], Awaitable[None]]


@pytest.fixture
def across_kill_9(
    mcp_client: Callable[..., AbstractAsyncContextManager[Client]], run_async: Callable[..., Any],
    kill_server: Callable[[Path], None],
) -> Callable[[Path, Half, Half], None]:
    """``across_kill_9(db, first_half, second_half)``: run the first half on a server, kill it with SIGKILL,
    and the second half on a new server on the same store. The halves share a dict for what they learn."""

    def run(db: Path, first_half: Half, second_half: Half) -> None:
        state: dict[str, Any] = {}

        async def first() -> None:
            async with mcp_client(db) as client:
                try:
                    await first_half(client, state)
                except BaseException as exc:
                    state["first_half_error"] = exc  # raised below, not lost among transport errors
                    raise
                state["first_half_done"] = True
                kill_server(db)
                # The dead server closes its stdout, so the next call fails (bounded by run_async's timeout).
                with pytest.raises(Exception):  # noqa: B017 - any transport error: the server is dead
                    await client.session.list_tools()

        try:
            run_async(first, timeout=90)
        except BaseException as exc:  # the dead server may also surface as a transport error on exit
            if isinstance(exc, AssertionError | KeyboardInterrupt):
                raise
        if "first_half_error" in state:
            raise state["first_half_error"]
        assert state.get("first_half_done"), "the first half did not finish"

        async def second() -> None:
            async with mcp_client(db) as client:
                await second_half(client, state)

        run_async(second, timeout=90)

    return run
