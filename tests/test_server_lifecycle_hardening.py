"""The local server's lifecycle under concurrency and faults (issue 14, parts 7 and 9).

Concurrent starters share one server; an unwritable state folder, a corrupt state file and a bad
setting each give one sentence; stop leaves no state file; orphans are found and stopped only when
provably ours; a hung or repeatedly crashing engine is restarted; slow clients are cut off; logs rotate.
Every server here lives in its own tmp_path state folder and is stopped at the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from helpers.server import lifecycle
from helpers.server.engine import LlamaEngine
from helpers.server.inspector import Inspector

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def one_sentence(text: str) -> bool:
    return "Traceback" not in text and len(text.strip().splitlines()) == 1


# ---------------------------------------------------------------------- concurrent starters


def test_two_processes_starting_at_once_share_one_server(private_state):
    code = ("import json, time; from helpers.server import lifecycle; t = time.monotonic(); "
            "st = lifecycle.start(); print(json.dumps({'pid': st['pid'], 'port': st['port'], "
            "'s': time.monotonic() - t}))")
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=150)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["pid"] == results[1]["pid"] and results[0]["port"] == results[1]["port"]
    assert time.monotonic() - t0 < 90, "the second starter waits for the first, not for a timeout"
    assert lifecycle._server_pids(private_state) == [results[0]["pid"]], "exactly one server process"
    assert lifecycle.status()["pid"] == results[0]["pid"]


# ---------------------------------------------------------------------- unwritable state folder


def test_unwritable_state_folder_falls_back_to_a_private_temporary_one(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    configured = blocker / "state"  # can never be created
    monkeypatch.setenv("COURSE_STATE_DIR", str(configured))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    monkeypatch.setattr(lifecycle, "_fallbacks", {})
    monkeypatch.setattr(lifecycle, "_noted", set())
    try:
        st = lifecycle.start(port=0, lmstudio_port=0)
        folder = Path(st["state_dir"])
        assert st["running"] and folder.parent == tmp_path / "tmp"
        assert (folder.stat().st_mode & 0o777) == 0o700
        err = capsys.readouterr().err
        assert "Note: the local server keeps its state in" in err and "a file is in the way" in err
        # Another process finds the same server through the same fallback folder.
        out = run_cli("server", "status", env={"TMPDIR": str(tmp_path / "tmp")})
        assert f"running at {st['url']}" in out.stdout, out.stdout + out.stderr
    finally:
        lifecycle.stop()


def test_no_usable_folder_at_all_is_one_sentence(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("COURSE_STATE_DIR", str(blocker / "state"))
    monkeypatch.setattr(lifecycle, "_fallbacks", {})
    monkeypatch.setattr(lifecycle, "_fallback_path", lambda configured: blocker / "tmp-state")
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(lifecycle.ServerError) as info:
        lifecycle.start(port=0, lmstudio_port=0)
    message = str(info.value)
    assert "COURSE_STATE_DIR" in message and "python -m helpers server restart" in message
    assert "\n" not in message
    # The command line says the same in one line; helpers.setup() turns it into a note, routes "unavailable".
    from helpers import __main__ as cli
    from helpers import course

    capsys.readouterr()
    assert cli.main(["server", "start"]) == 1
    err = capsys.readouterr().err
    assert one_sentence(err) and "COURSE_STATE_DIR" in err, err

    try:
        status = course.setup("local")
    finally:
        course.undo_setup()
        if "helpers.hf_local" in sys.modules:
            sys.modules["helpers.hf_local"].disable()
    assert any("could not start" in n and "COURSE_STATE_DIR" in n for n in status.notes)
    assert status.route("openai") == "unavailable"


# ---------------------------------------------------------------------- stop and the state file


def test_stop_and_sigterm_remove_the_state_file(private_state):
    lifecycle.start()
    assert (private_state / "server.json").exists()
    assert lifecycle.stop() is True
    assert not (private_state / "server.json").exists()

    st = lifecycle.start()
    os.kill(st["pid"], signal.SIGTERM)  # the way an OS shutdown or a process manager stops it
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (private_state / "server.json").exists():
        time.sleep(0.1)
    assert not (private_state / "server.json").exists(), "the server removes its own state file on SIGTERM"
    assert lifecycle.status() == {"running": False, "reason": "not started", "state_dir": str(private_state)}


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", b"[]", b'{"pid": "12", "port": 1, "token": "t"}',
                                     b'{"pid": 1, "port": 99999, "token": "t"}', b'{"pid": 1}', b""],
                         ids=["binary", "list", "pid-string", "bad-port", "no-token", "empty"])
def test_a_corrupt_state_file_is_one_sentence_and_replaced(private_state, content):
    private_state.mkdir(parents=True, exist_ok=True)
    (private_state / "server.json").write_bytes(content)
    st = lifecycle.status()
    assert st["running"] is False and st.get("corrupt") and "corrupt" in st["reason"]
    out = run_cli("server", "status")
    assert out.returncode == 0 and "Traceback" not in out.stdout + out.stderr
    assert "corrupt" in out.stdout and "python -m helpers server restart" in out.stdout
    assert lifecycle.stop() is False  # nothing signalled; the garbage is gone
    assert not (private_state / "server.json").exists()


def test_a_corrupt_state_file_is_replaced_by_start(private_state):
    private_state.mkdir(parents=True, exist_ok=True)
    (private_state / "server.json").write_text("{not json")
    assert lifecycle.start()["running"]


def test_bad_port_settings_are_one_sentence(private_state, monkeypatch):
    monkeypatch.setenv("COURSE_LMSTUDIO_PORT", "lm-studio")
    with pytest.raises(lifecycle.ServerError, match="COURSE_LMSTUDIO_PORT='lm-studio' is not a port number"):
        lifecycle.start()
    out = run_cli("server", "start", env={"COURSE_SERVER_PORT": "99999"})
    assert out.returncode == 1 and one_sentence(out.stderr) and "COURSE_SERVER_PORT" in out.stderr


def test_course_lmstudio_port_is_honoured(private_state, monkeypatch):
    wanted = free_port()
    monkeypatch.setenv("COURSE_LMSTUDIO_PORT", str(wanted))
    st = lifecycle.start()
    assert st["lmstudio_port"] == wanted and st["lmstudio_port_wanted"] == wanted
    r = httpx.get(f"http://127.0.0.1:{wanted}/v1/models", timeout=10)
    assert r.status_code == 200


# ---------------------------------------------------------------------- orphans


def test_an_untracked_server_of_this_folder_is_found_and_stopped(private_state):
    first = lifecycle.start()
    # The state file is lost or overwritten (an old race, a user's cleanup): the server runs on, untracked.
    (private_state / "server.json").write_text(json.dumps({"pid": first["pid"], "port": first["port"],
                                                           "token": "not-the-token"}))
    assert lifecycle.status()["running"] is False
    assert lifecycle.untracked_servers() == [first["pid"]]
    out = run_cli("server", "status")
    assert f"pid {first['pid']}" in out.stdout and "server restart" in out.stdout
    second = lifecycle.start()
    assert second["pid"] != first["pid"]
    assert not lifecycle._pid_alive(first["pid"]), "the orphan was stopped"
    assert lifecycle.untracked_servers() == []


def test_a_process_that_is_not_provably_ours_is_never_signalled(private_state, tmp_path):
    # Looks like a course server, but of another state folder: never ours to stop.
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "helpers.server.main",
                              "--state-dir", str(tmp_path / "someone-else")])
    try:
        (private_state).mkdir(parents=True, exist_ok=True)
        (private_state / "server.json").write_text(json.dumps({"pid": decoy.pid, "port": free_port(), "token": "t"}))
        assert lifecycle.untracked_servers() == []
        assert lifecycle.stop() is False
        assert decoy.poll() is None, "the decoy must still run"
    finally:
        decoy.kill()
        decoy.wait(5)


# ---------------------------------------------------------------------- engine health and restarts


def test_a_frozen_engine_is_noticed_and_replaced(private_state, monkeypatch):
    monkeypatch.setenv("COURSE_ENGINE_HUNG_AFTER_S", "3")
    st = lifecycle.start()
    frozen = st["engine"]["pid"]
    os.kill(frozen, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 60
        eng = {}
        while time.monotonic() < deadline:
            eng = lifecycle.status()["engine"]
            if eng["pid"] not in (frozen, None) and eng["alive"] and eng["health"] == "ok":
                break
            time.sleep(0.5)
        assert eng["pid"] != frozen and eng["restarts"] == 1 and eng["kind"] == "llama.cpp", eng
        r = httpx.post(f"{st['url']}/v1/chat/completions", timeout=60,
                       json={"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3})
        assert r.status_code == 200
        assert "hung" in (private_state / "server.log").read_text()
    finally:
        with contextlib.suppress(OSError):
            os.kill(frozen, signal.SIGCONT)
            os.kill(frozen, signal.SIGKILL)


def test_repeated_engine_crashes_keep_being_restarted(private_state):
    st = lifecycle.start()
    for n in (1, 2, 3):  # the old server switched to the fallback for good at the second crash
        pid = lifecycle.status()["engine"]["pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            eng = lifecycle.status()["engine"]
            if eng["alive"] and eng["pid"] not in (pid, None):
                break
            time.sleep(0.3)
        assert eng["kind"] == "llama.cpp" and eng["restarts"] == n, eng
    r = httpx.post(f"{st['url']}/v1/chat/completions", timeout=60,
                   json={"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3})
    assert r.status_code == 200


class FlakyEngine(LlamaEngine):
    """An engine whose process is dead and whose restarts fail ``failures`` times, then succeed."""

    def __init__(self, log_dir: Path, failures: int):
        super().__init__(log_dir)
        self.to_fail, self.started = failures, 0

    async def check_health(self, timeout: float = 5.0) -> str:
        self.health = "ok" if self.started else "dead"
        return self.health

    def start(self, timeout: float = 60.0) -> None:
        if self.to_fail:
            self.to_fail -= 1
            raise RuntimeError("the engine did not become ready")
        self.started += 1

    def running(self) -> bool:
        return bool(self.started)


def test_restart_backoff_grows_and_never_gives_up(tmp_path):
    from helpers.server.main import ServerBackend

    backend = ServerBackend(tmp_path, engine_mode="fallback")
    backend.BACKOFF = (0.0, 0.01, 0.02)
    backend.engine = FlakyEngine(tmp_path, failures=7)
    delays = []

    async def scenario():
        real_sleep = asyncio.sleep

        async def record(delay):
            delays.append(delay)
            await real_sleep(0)

        asyncio.sleep = record  # type: ignore[assignment]
        try:
            for _ in range(7):
                await backend.check_engine()
                assert "python -m helpers server restart" in backend.engine_error
                assert backend.engine.kind == "llama.cpp", "never the fallback"
            await backend.check_engine()
        finally:
            asyncio.sleep = real_sleep  # type: ignore[assignment]

    asyncio.run(scenario())
    assert delays == [0.0, 0.01, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02]
    assert backend.engine.restarts == 1 and backend.engine_error is None
    assert backend.status()["kind"] == "llama.cpp"


# ---------------------------------------------------------------------- slow and idle connections


@pytest.fixture
def guarded_server():
    """A tiny app behind the server's connection guards, with short timeouts, in a thread."""
    import uvicorn

    from helpers.server.main import GuardedH11Protocol, SlowClientGuard

    class Quick(GuardedH11Protocol):
        header_timeout = 0.5

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] == "/wait":  # a long answer: waiting for a disconnect must not time out
            await asyncio.sleep(1.5)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(SlowClientGuard(app, chunk_timeout=0.5, total_timeout=1.0), http=Quick, lifespan="off",
                            log_level="warning", timeout_keep_alive=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def closed_within(conn: socket.socket, seconds: float) -> tuple[bool, bytes]:
    conn.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return True, data
            data += chunk
    except (TimeoutError, socket.timeout):
        return False, data
    except ConnectionResetError:
        return True, data


def test_idle_and_slow_connections_are_closed(guarded_server):
    port = guarded_server
    silent = socket.create_connection(("127.0.0.1", port))
    partial_head = socket.create_connection(("127.0.0.1", port))
    partial_head.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
    partial_body = socket.create_connection(("127.0.0.1", port))
    partial_body.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"a\":")
    for conn in (silent, partial_head):
        closed, _ = closed_within(conn, 3)
        assert closed
    closed, data = closed_within(partial_body, 3)
    assert closed and data.startswith(b"HTTP/1.1 408") and b"request_timeout" in data
    for conn in (silent, partial_head, partial_body):
        conn.close()


def test_normal_clients_are_unaffected(guarded_server):
    with httpx.Client(base_url=f"http://127.0.0.1:{guarded_server}", timeout=10) as client:
        assert client.post("/echo", content=b"hello").content == b"hello"
        time.sleep(0.7)  # longer than the head timeout, shorter than keep-alive: the connection is reused
        assert client.post("/echo", content=b"again").content == b"again"
        assert client.post("/wait", content=b"slow answer").content == b"slow answer"


# ---------------------------------------------------------------------- logs and the workspace


def test_request_log_rotates_at_a_bounded_size(tmp_path):
    log = tmp_path / "requests.jsonl"
    inspector = Inspector(log, max_log_bytes=4000)
    for i in range(60):
        item = inspector.begin(provider="openai", method="POST", path="/v1/chat/completions", query="", port=1,
                               headers={}, body=json.dumps({"n": i, "pad": "x" * 200}).encode())
        inspector.finish(item, status=200, response_body=b"{}", duration_ms=1.0, streamed=False)
    rotated = tmp_path / "requests.jsonl.1"
    assert rotated.exists()
    assert log.stat().st_size <= 4000 + 1000 and rotated.stat().st_size <= 4000 + 1000
    last = (log.read_text() or rotated.read_text()).splitlines()[-1]
    assert json.loads(last)["body"]["n"] == 59


def test_server_and_engine_logs_rotate_while_being_written(tmp_path):
    from helpers.server.main import rotate

    path = tmp_path / "server.log"
    with open(path, "ab", buffering=0) as writer:  # how the server's stdout and the engine's are opened
        writer.write(b"x" * 5000)
        assert rotate(path, 4000) is True
        writer.write(b"after\n")
    assert path.read_bytes() == b"after\n"
    assert (tmp_path / "server.log.1").stat().st_size == 5000
    assert rotate(path, 4000) is False


def test_workspace_dest_that_is_a_file_is_one_sentence(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    for dest in (target, target / "deeper"):
        out = run_cli("workspace", "--dest", str(dest))
        assert out.returncode == 1 and one_sentence(out.stdout + out.stderr), out.stdout + out.stderr
        assert "--dest" in out.stdout
    assert target.read_text() == "mine"


def test_a_full_disk_is_named_not_an_empty_log(tmp_path, monkeypatch):
    import errno
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(lifecycle.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 4096, 4096))
    message = lifecycle._why_failed(tmp_path)
    assert "is full (4 KB free)" in message and "COURSE_STATE_DIR" in message
    assert "is full" in lifecycle._os_reason(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    assert "read-only" in lifecycle._os_reason(OSError(errno.EROFS, "Read-only file system"), tmp_path)
