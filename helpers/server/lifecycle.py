"""Start, find, check and stop the local server from Python or the command line.

``start()`` reuses a running server when its state file and its answer agree (same pid and token),
otherwise it starts a new one and waits until it is ready. ``stop()`` stops only that server, by pid.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STATE_FILE = "server.json"
SERVICE = "genai-api-course-local-server"


def code_version() -> str:
    """A fingerprint of the server's source files: a running server with another one is out of date."""
    import hashlib

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")) + [here.parent / "models.toml"]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


class ServerError(RuntimeError):
    """The local server could not be started or reached; the message says what to do."""


def state_dir() -> Path:
    """Where the server keeps its state file and logs (``COURSE_STATE_DIR`` overrides)."""
    env = os.environ.get("COURSE_STATE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None)
    return Path(base or Path.home() / ".cache") / "genai-api-course"


def _read_state() -> dict | None:
    try:
        return json.loads((state_dir() / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _get(url: str, timeout: float = 2.0) -> dict | list | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _health(state: dict) -> dict | None:
    h = _get(f"http://127.0.0.1:{state['port']}/_course/health")
    if isinstance(h, dict) and h.get("service") == SERVICE and h.get("pid") == state.get("pid") \
            and h.get("token") == state.get("token"):
        return h
    return None


def status() -> dict:
    """The server's status: ``{"running": bool, "port", "pid", "url", "lmstudio_port", "engine": {...}}``."""
    state = _read_state()
    if not state:
        return {"running": False, "reason": "not started"}
    h = _health(state)
    if h is None:
        return {"running": False, "reason": "a state file exists but no course server answers on its port (stale)"}
    return {"running": True, "pid": h["pid"], "port": h["port"], "url": f"http://127.0.0.1:{h['port']}",
            "current": h.get("version") == code_version(),
            "lmstudio_port": h.get("lmstudio_port"), "lmstudio_port_wanted": state.get("lmstudio_port_wanted"),
            "engine": h["engine"], "uptime_s": h.get("uptime_s")}


def start(port: int | None = None, lmstudio_port: int | None = None, timeout: float = 90.0) -> dict:
    """Start the local server (or reuse the one already running) and return its status."""
    st = status()
    if st["running"] and st["current"]:
        return st
    if st["running"]:  # started by an older version of the course: replace it
        stop()
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("COURSE_SERVER_PORT", 8321)) if port is None else port
    lmstudio_port = int(os.environ.get("COURSE_LMSTUDIO_PORT", 1234)) if lmstudio_port is None else lmstudio_port
    try:
        (d / STATE_FILE).unlink()
    except OSError:
        pass
    log = open(d / "server.log", "ab")
    kwargs: dict = {"stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
    else:
        kwargs["start_new_session"] = True
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server.main", "--port", str(port),
                             "--lmstudio-port", str(lmstudio_port), "--state-dir", str(d)], env=env, **kwargs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"The local server stopped while starting (exit code {proc.returncode}). "
                              f"Its log is {d / 'server.log'}: {_tail(d / 'server.log')}")
        state = _read_state()
        if state and state.get("pid") == proc.pid and _health(state):
            return status()
        time.sleep(0.1)
    proc.terminate()
    raise ServerError(f"The local server did not become ready within {timeout:.0f} s. "
                      f"Its log is {d / 'server.log'}: {_tail(d / 'server.log')}")


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:])[-500:] or "(empty)"
    except OSError:
        return "(no log)"


def stop(timeout: float = 10.0) -> bool:
    """Stop the course's local server (only ours, by its pid). Returns True if one was stopped."""
    state = _read_state()
    if not state or _health(state) is None:
        return False
    pid = state["pid"]
    try:
        os.kill(pid, signal.SIGTERM if sys.platform != "win32" else signal.CTRL_BREAK_EVENT)
    except OSError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _health(state) is None and not _pid_alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
    except OSError:
        pass
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of this process counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except (ChildProcessError, OSError, AttributeError):
        return True


def base_url() -> str:
    """The server's address, e.g. ``http://127.0.0.1:8321`` (starts it if needed)."""
    return start()["url"]


def last_requests(n: int = 5) -> list[dict]:
    """The last ``n`` requests the local server received, as the SDKs sent them (keys masked)."""
    st = status()
    if not st["running"]:
        return []
    return _get(f"{st['url']}/_course/requests?n={n}") or []


def clear_requests() -> None:
    """Forget the recorded requests (so the next ``last_requests()`` shows only new ones)."""
    st = status()
    if st["running"]:
        req = urllib.request.Request(f"{st['url']}/_course/requests", method="DELETE")
        urllib.request.urlopen(req, timeout=2).close()
