"""Start, find, check and stop the local server from Python or the command line.

``start()`` reuses a running server when its state file and its answer agree (same pid and token),
otherwise it starts a new one and waits until it is ready. ``stop()`` stops only that server, by pid.

Guarantees:

* **One server per state folder.** ``start()`` holds a lock (``server.lock``, an OS file lock that is
  released when its process dies) while it checks and starts, so two notebooks starting at once
  share one server: the second waits for the first and then reuses its server.
* **A state folder that cannot be written** (permissions, a file in the way, a full or read-only
  disk) is replaced by a private temporary folder (``<tmp>/genai-api-course-<uid>-<hash>``, mode
  0700, owned by you) and one note says so; when even that is impossible, ``ServerError`` says in one
  sentence what to do. ``status()["state_dir"]`` is the folder in use.
* **A corrupt state file** is reported in one sentence (``status()["reason"]``), never a traceback,
  and replaced by the next ``start()``.
* **No orphans.** A course server process that belongs to this state folder (proved by its command
  line, which names the folder, and its owner, which is you) but is not the one the state file names
  is stopped by ``start()`` and ``stop()`` and listed by ``untracked_servers()`` (and by
  ``python -m helpers server status``). Nothing that is not provably ours is ever signalled.
* ``stop()`` leaves no state file behind.
* **Private.** The state folder is made 0700 and its files (``server.json``, ``requests.jsonl``,
  the logs, the lock) 0600, owned by you. Every ``/_course/*`` call sends the state token
  (``x-course-token`` and ``Authorization: Bearer``); the server refuses those routes without it.
  LM Studio's port is trusted only when the server there proves to be ours (``lmstudio_port_is_ours``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

STATE_FILE = "server.json"
LOCK_FILE = "server.lock"
SERVICE = "genai-api-course-local-server"
TOKEN_HEADER = "x-course-token"  # sent with every /_course/* request (the server may require it)
SERVER_LOG_MAX = 2 * 1024 * 1024  # server.log is rotated (server.log.1) beyond this size
RESTART_ADVICE = "run `python -m helpers server restart`"
DEFAULT_PORT = 8321
DEFAULT_LMSTUDIO_PORT = 1234


def code_version() -> str:
    """A fingerprint of the server's source files: a running server with another one is out of date."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")) + [here.parent / "models.toml"]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


class ServerError(RuntimeError):
    """The local server could not be started or reached; the message says what to do."""


# ---------------------------------------------------------------------- settings


def _port_setting(name: str, default: int) -> int:
    """A port number from the environment variable ``name`` (0 is allowed: "any" or "never")."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise ServerError(f"{name}={raw!r} is not a port number (0-65535): fix or unset it, then {RESTART_ADVICE}.")
    return value


def server_port_setting() -> int:
    """The course server's preferred port: ``COURSE_SERVER_PORT`` or 8321 (0: any free port)."""
    return _port_setting("COURSE_SERVER_PORT", DEFAULT_PORT)


def lmstudio_port_setting() -> int:
    """The port where the server stands in for LM Studio: ``COURSE_LMSTUDIO_PORT`` or 1234 (0: never)."""
    return _port_setting("COURSE_LMSTUDIO_PORT", DEFAULT_LMSTUDIO_PORT)


# ---------------------------------------------------------------------- the state folder

_fallbacks: dict[str, Path] = {}  # configured folder -> the private temporary folder used instead (this process)
_noted: set[str] = set()


def configured_state_dir() -> Path:
    """The state folder asked for: ``COURSE_STATE_DIR``, else the user's cache folder."""
    env = os.environ.get("COURSE_STATE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None)
    return Path(base or Path.home() / ".cache") / "genai-api-course"


def _fallback_path(configured: Path) -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    digest = hashlib.sha256(str(configured).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"genai-api-course-{uid}-{digest}"


def _private_dir_ok(path: Path) -> bool:
    """True when ``path`` is a real folder owned by this user that nobody else can read or write."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat as stat_mod

    if not stat_mod.S_ISDIR(st.st_mode):
        return False
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o077):
        return False
    return True


def state_dir() -> Path:
    """Where the server keeps its state file and logs (``COURSE_STATE_DIR`` overrides).

    When the configured folder cannot be used and a private temporary folder stands in for it (see
    ``start()``), this is that folder, in this process and in any other that looks.
    """
    configured = configured_state_dir()
    key = str(configured)
    if key in _fallbacks:
        return _fallbacks[key]
    if _writable_dir(configured):
        return configured
    fallback = _fallback_path(configured)
    return fallback if _private_dir_ok(fallback) else configured


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _problem_with(path: Path) -> str | None:
    """Why ``path`` cannot hold the server's state (None when it can): created if missing, then written to."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = path / f".write-test-{os.getpid()}"
        try:
            with open(probe, "wb") as f:
                f.write(b"\0" * 16384)  # enough to notice a full disk
                f.flush()
                os.fsync(f.fileno())
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
    except OSError as e:
        return _os_reason(e, path)
    return None


def _os_reason(e: OSError, path: Path) -> str:
    import errno

    if e.errno == errno.ENOSPC:
        return f"the disk holding {path} is full"
    if e.errno == errno.EROFS:
        return f"{path} is on a read-only disk"
    if e.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(e, (NotADirectoryError, FileExistsError)):
        return f"{path} cannot be a folder (a file is in the way)"
    if isinstance(e, PermissionError):
        return f"you may not write to {path}"
    return f"{path} cannot be written ({e.strerror or e})"


def prepare_state_dir() -> Path:
    """The state folder, created and writable: the configured one, else a private temporary one.

    Raises ``ServerError`` (one sentence saying what to do) when neither can be used.
    """
    configured = configured_state_dir()
    key = str(configured)
    if key in _fallbacks and _problem_with(_fallbacks[key]) is None:
        return _fallbacks[key]
    problem = _problem_with(configured)
    if problem is None:
        _fallbacks.pop(key, None)
        make_private(configured)
        return configured
    fallback = _fallback_path(configured)
    try:
        fallback.mkdir(mode=0o700, exist_ok=True)
        if not _private_dir_ok(fallback):  # someone else made it, or made it readable: do not use it
            fallback = Path(tempfile.mkdtemp(prefix="genai-api-course-"))
    except OSError:
        fallback = None  # type: ignore[assignment]
    if fallback is None or _problem_with(fallback) is not None:
        raise ServerError(f"The local server cannot keep its state: {problem}, and no private temporary folder could "
                          f"be made either. Set COURSE_STATE_DIR to a folder you can write (for example "
                          f"COURSE_STATE_DIR=~/course-state), then {RESTART_ADVICE}.")
    _fallbacks[key] = fallback
    if key not in _noted:
        _noted.add(key)
        print(f"Note: the local server keeps its state in {fallback} because {problem}. Set COURSE_STATE_DIR to a "
              "folder you can write to choose another place.", file=sys.stderr)
    return fallback


@contextlib.contextmanager
def _locked(folder: Path, timeout: float):
    """Hold ``server.lock`` in ``folder`` (waiting up to ``timeout`` s for another process to release it)."""
    try:
        handle = open(_private_file(folder / LOCK_FILE), "a+b")
    except OSError as e:
        raise ServerError(f"The local server cannot lock its state folder: {_os_reason(e, folder)}. "
                          f"Set COURSE_STATE_DIR to a folder you can write, then {RESTART_ADVICE}.") from e
    deadline = time.monotonic() + timeout
    try:
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise ServerError(f"Another process has been starting or stopping the local server for over "
                                  f"{timeout:.0f} s (state folder {folder}). Wait a moment, then {RESTART_ADVICE}.")
            time.sleep(0.1)
        try:
            yield
        finally:
            _unlock(handle)
    finally:
        handle.close()


def _private_file(path: Path) -> Path:
    """``path``, created readable and writable by its owner only if it does not exist yet."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


# The files a state folder holds; each is made 0600 (an older version may have left them readable by all).
STATE_FILES = (STATE_FILE, LOCK_FILE, "requests.jsonl", "requests.jsonl.1", "server.log", "server.log.1",
               "engine.log", "engine.log.1")


def make_private(folder: Path) -> None:
    """Make ``folder`` 0700 and the server's files in it 0600, when they are this user's (never follows links)."""
    if not hasattr(os, "getuid"):
        return  # Windows: the folder is under the user's profile
    import stat as stat_mod

    uid = os.getuid()
    try:
        st = os.lstat(folder)
        if stat_mod.S_ISDIR(st.st_mode) and st.st_uid == uid and st.st_mode & 0o077:
            os.chmod(folder, 0o700)
    except OSError:
        return
    for name in STATE_FILES:
        path = folder / name
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            if stat_mod.S_ISREG(st.st_mode) and st.st_uid == uid and st.st_mode & 0o077:
                os.chmod(path, 0o600)


def _try_lock(handle) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # BlockingIOError, PermissionError: someone else holds it
        return False


def _unlock(handle) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# ---------------------------------------------------------------------- the state file and the server's answer


def _load_state() -> tuple[dict | None, str | None]:
    """``(state, None)``, or ``(None, why)``: why is "missing" or a sentence about a corrupt file."""
    path = state_dir() / STATE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as e:
        return None, f"the state file {path} cannot be read ({e.strerror or e})"
    try:
        state = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        state = None
    if not (isinstance(state, dict) and _is_int(state.get("pid")) and state["pid"] > 0
            and _is_int(state.get("port")) and 0 < state["port"] < 65536 and isinstance(state.get("token"), str)):
        return None, (f"the state file {path} is corrupt (not the pid, port and token the server writes); "
                      f"{RESTART_ADVICE} to replace it")
    return state, None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_state() -> dict | None:
    return _load_state()[0]


def course_headers(token: str | None = None) -> dict[str, str]:
    """The headers a ``/_course/*`` call needs: the state token (this state folder's server when not given)."""
    token = _token() if token is None else token
    return {TOKEN_HEADER: token, "authorization": f"Bearer {token}"} if token else {}


def _get(url: str, timeout: float = 2.0, token: str | None = None) -> dict | list | None:
    headers = course_headers(token) if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        e.close()
        return None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def probe(port: int, token: str | None, timeout: float = 2.0) -> dict | None:
    """What answers ``/_course/health`` on ``port`` with ``token``.

    A course server's health answer (a dict with "service") when the token is its own; ``{"service": SERVICE,
    "refused": True}`` when a course server is there but refuses the token (another user's, or another state
    folder's); None when no course server answers.
    """
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_course/health", headers=course_headers(token or ""))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            h = json.loads(r.read())
    except urllib.error.HTTPError as e:
        ours = e.headers.get("x-course-service") == SERVICE if e.headers is not None else False
        e.close()
        return {"service": SERVICE, "refused": True} if ours else None
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return h if isinstance(h, dict) and h.get("service") == SERVICE else None


def _answer(state: dict) -> dict | None:
    """What a course server on the state file's port says about itself (None: no course server there)."""
    return probe(state["port"], state.get("token"))


def lmstudio_port_is_ours(port: int, timeout: float = 1.0) -> bool:
    """True only when the server on ``port`` is this state folder's course server (it knows our token).

    Another user's course server, or one of another state folder, is never trusted: its inspector would
    see this notebook's LM Studio calls.
    """
    state = _read_state()
    if not state or not port:
        return False
    h = probe(port, state.get("token"), timeout)
    return h is not None and not h.get("refused") and h.get("token") == state.get("token") \
        and h.get("pid") == state.get("pid")


def _matches(h: dict | None, state: dict) -> bool:
    return h is not None and h.get("pid") == state.get("pid") and h.get("token") in (state.get("token"), None) \
        and _is_int(h.get("port"))


def _health(state: dict) -> dict | None:
    """The server's health answer when it is the server the state file names (same pid and token)."""
    h = _answer(state)
    return h if _matches(h, state) else None


def status() -> dict:
    """The server's status: ``{"running": bool, "port", "pid", "url", "lmstudio_port", "engine": {...}}``.

    When not running, ``"reason"`` says why in one sentence (``"corrupt": True`` for a corrupt state
    file). ``"state_dir"`` is the folder in use. Orphans are listed by ``untracked_servers()``. On a workshop's
    hub, the shared server's status (``"shared": True``).
    """
    room = shared_room()
    if room is not None:
        return _shared_status(*room)
    folder = state_dir()
    state, problem = _load_state()
    base = {"state_dir": str(folder)}
    if state is None:
        reason = "not started" if problem == "missing" else problem
        return {"running": False, "reason": reason, **base, **({"corrupt": True} if problem != "missing" else {})}
    h = _answer(state)
    if not _matches(h, state):
        if h is not None:
            reason = (f"a course server answers on port {state['port']}, but not the one the state file names "
                      f"(another pid or token); {RESTART_ADVICE}")
        elif _is_our_server(state["pid"], folder):
            reason = (f"the server process (pid {state['pid']}) runs but does not answer on port {state['port']}; "
                      f"{RESTART_ADVICE}")
        else:
            reason = "a state file exists but no course server answers on its port (stale)"
        return {"running": False, "reason": reason, **base}
    return {"running": True, "pid": h["pid"], "port": h["port"], "url": f"http://127.0.0.1:{h['port']}",
            "current": h.get("version") == code_version(),
            "lmstudio_port": h.get("lmstudio_port"), "lmstudio_port_wanted": state.get("lmstudio_port_wanted"),
            "engine": h.get("engine", {}), "uptime_s": h.get("uptime_s"), **base}


# ---------------------------------------------------------------------- our server processes


def _command_line(pid: int) -> list[str] | None:
    """The command line of process ``pid`` if this user owns it (None when unknown or someone else's)."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            if hasattr(os, "getuid") and proc.stat().st_uid != os.getuid():
                return None
            args = (proc / "cmdline").read_bytes().split(b"\0")
            return [a.decode(errors="replace") for a in args if a]
        except OSError:
            return None
    if sys.platform == "win32" or not shutil.which("ps"):
        return None  # cannot prove anything here: never signal
    try:
        out = subprocess.run(["ps", "-o", "uid=", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out:
        return None
    uid, _, command = out.partition(" ")
    if not uid.strip().isdigit() or int(uid) != os.getuid():
        return None
    head, sep, state_arg = command.partition(" --state-dir ")  # the last argument; it may hold spaces
    return head.split() + (["--state-dir", state_arg.strip()] if sep else [])


def _same_path(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


def _is_our_server(pid: int, folder: Path) -> bool:
    """True only when ``pid`` is, provably, a course server of ``folder`` run by this user."""
    if not _is_int(pid) or pid <= 0 or pid == os.getpid():
        return False
    args = _command_line(pid)
    if not args or "helpers.server.main" not in args or "--state-dir" not in args:
        return False
    i = args.index("--state-dir")
    return i + 1 < len(args) and _same_path(args[i + 1], folder)


def _server_pids(folder: Path, extra: tuple[int, ...] = ()) -> list[int]:
    """Pids of every course server process of ``folder`` owned by this user (found in /proc or ps)."""
    candidates: set[int] = {p for p in extra if _is_int(p)}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if entry.name.isdigit():
                try:
                    if b"helpers.server.main" in (entry / "cmdline").read_bytes():
                        candidates.add(int(entry.name))
                except OSError:
                    pass
    elif sys.platform != "win32" and shutil.which("ps"):
        try:
            out = subprocess.run(["ps", "-axo", "pid=,command="], capture_output=True, text=True, timeout=5).stdout
            candidates |= {int(line.split()[0]) for line in out.splitlines()
                           if "helpers.server.main" in line and line.split()[0].isdigit()}
        except (OSError, subprocess.SubprocessError):
            pass
    return sorted(p for p in candidates if _is_our_server(p, folder))


def untracked_servers() -> list[int]:
    """Course server processes of this state folder that the state file does not name (orphans)."""
    folder = state_dir()
    state = _read_state()
    tracked = state["pid"] if state and _health(state) else None
    extra = []  # found by their command lines (which name this folder), never by asking them: they want a token
    if state:
        extra.append(state["pid"])
    return [p for p in _server_pids(folder, tuple(extra)) if p != tracked]


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM if sys.platform != "win32" else signal.CTRL_BREAK_EVENT)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of this process counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except (ChildProcessError, OSError, AttributeError):
        pass
    try:  # a zombie that is not our child (its parent has not reaped it yet) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# ---------------------------------------------------------------------- start and stop


def shared_room() -> tuple[str, str] | None:
    """``(url, credential)`` of a workshop's shared course server, when the hub set ``COURSE_SERVER_URL`` and
    ``COURSE_LEARNER_TOKEN`` (see ``learners``); None otherwise."""
    url = (os.environ.get("COURSE_SERVER_URL") or "").strip().rstrip("/")
    credential = (os.environ.get("COURSE_LEARNER_TOKEN") or "").strip()
    if not url:
        return None
    if not credential:
        raise ServerError("COURSE_SERVER_URL is set but COURSE_LEARNER_TOKEN is not: the workshop's hub sets both; "
                          "ask the instructor, or unset COURSE_SERVER_URL to run your own local server.")
    return url, credential


def _room_headers(credential: str) -> dict[str, str]:
    from .learners import HEADER

    return {HEADER: credential}


def _shared_status(url: str, credential: str) -> dict:
    """The status of the workshop's shared server as this learner sees it (``running`` False when it does not
    answer or refuses the credential, with the reason)."""
    req = urllib.request.Request(f"{url}/_course/health", headers=_room_headers(credential))
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            h = json.loads(r.read())
    except urllib.error.HTTPError as e:
        e.close()
        why = ("it refuses your learner credential (COURSE_LEARNER_TOKEN): ask the instructor" if e.code == 401 else
               f"it answered {e.code}")
        return {"running": False, "shared": True, "reason": f"the workshop's course server {why}"}
    except (urllib.error.URLError, OSError, ValueError):
        return {"running": False, "shared": True,
                "reason": "the workshop's course server does not answer: tell the instructor (the hub keeps your "
                          "notebooks; run helpers.setup() again once it is back)"}
    if not isinstance(h, dict) or h.get("service") != SERVICE:
        return {"running": False, "shared": True, "reason": "COURSE_SERVER_URL does not point at a course server"}
    return {"running": True, "shared": True, "url": url, "learner": h.get("learner"), "current": True,
            "lmstudio_port": None, "lmstudio_port_wanted": None, "engine": h.get("engine", {}),
            "uptime_s": h.get("uptime_s")}


def start(port: int | None = None, lmstudio_port: int | None = None, timeout: float = 90.0) -> dict:
    """Start the local server (or reuse the one already running) and return its status.

    Concurrent callers with the same state folder share one server. On a workshop's hub (``COURSE_SERVER_URL``
    set) nothing is started: the room's shared server is used. Raises ``ServerError`` with one sentence saying
    what to do when the server cannot start (or the shared one does not answer).
    """
    room = shared_room()
    if room is not None:
        st = _shared_status(*room)
        if not st["running"]:
            raise ServerError(st["reason"][0].upper() + st["reason"][1:] + ".")
        return st
    st = status()
    if st["running"] and st["current"]:
        return st
    folder = prepare_state_dir()
    port = server_port_setting() if port is None else port
    lm_port = lmstudio_port_setting() if lmstudio_port is None else lmstudio_port
    with _locked(folder, timeout + 30):
        st = status()  # another process may have started it while we waited for the lock
        if st["running"] and st["current"]:
            return st
        for pid in ([st["pid"]] if st["running"] else []) + untracked_servers():  # out of date, or orphans
            _terminate(pid, 10)
        with contextlib.suppress(OSError):
            (folder / STATE_FILE).unlink()
        return _spawn(folder, port, lm_port, timeout)


def _spawn(folder: Path, port: int, lm_port: int, timeout: float) -> dict:
    log_path = folder / "server.log"
    _rotate(log_path, SERVER_LOG_MAX)
    try:
        log = open(_private_file(log_path), "ab")
    except OSError as e:
        raise ServerError(f"The local server cannot write its log: {_os_reason(e, log_path)}. Free some space or set "
                          f"COURSE_STATE_DIR to a folder you can write, then {RESTART_ADVICE}.") from e
    kwargs: dict = {"stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
    else:
        kwargs["start_new_session"] = True
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "helpers.server.main", "--port", str(port),
                                 "--lmstudio-port", str(lm_port), "--state-dir", str(folder)], env=env, **kwargs)
    except OSError as e:
        raise ServerError(f"The local server could not be launched ({e.strerror or e}); {RESTART_ADVICE}.") from e
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"The local server stopped while starting (exit code {proc.returncode}): "
                              f"{_why_failed(folder)} Then {RESTART_ADVICE}.")
        state = _read_state()
        if state and state.get("pid") == proc.pid and _health(state):
            return status()
        time.sleep(0.1)
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    raise ServerError(f"The local server did not become ready within {timeout:.0f} s: {_why_failed(folder)} "
                      f"If the computer is busy, wait a little, then {RESTART_ADVICE}.")


def _why_failed(folder: Path) -> str:
    """The likely cause of a failed start, in words: a full disk, else the end of the server's log."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < 8 * 1024 * 1024:
        return (f"the disk holding {folder} is full ({free // 1024} KB free); free some space or set "
                "COURSE_STATE_DIR to a folder on another disk.")
    return f"its log {folder / 'server.log'} ends with: {_tail(folder / 'server.log')}."


def _tail(path: Path) -> str:
    try:
        from ..masking import redact

        lines = path.read_text(errors="replace").strip().splitlines()
        return redact(" | ".join(lines[-3:]))[-500:] or "(nothing: the log is empty)"
    except OSError:
        return "(no log)"


def _rotate(path: Path, max_bytes: int) -> None:
    """Copy a log that grew beyond ``max_bytes`` to ``<name>.1`` and empty it (writers append, so this is safe)."""
    try:
        if path.stat().st_size <= max_bytes:
            return
        older = path.with_name(path.name + ".1")
        with contextlib.suppress(FileNotFoundError):
            older.unlink()
        private = os.open(older, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(path, "rb") as src, os.fdopen(private, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.truncate(path, 0)
    except OSError:
        pass


def stop(timeout: float = 10.0) -> bool:
    """Stop the course's local server (only ours, by its pid) and any untracked server of this state folder.

    Removes the state file. Returns True if a server was stopped. Never stops a workshop's shared server.
    """
    if shared_room() is not None:
        return False
    folder = state_dir()
    try:
        lock = _locked(folder, 120) if folder.is_dir() else contextlib.nullcontext()
        with lock:
            return _stop_unlocked(folder, timeout)
    except ServerError:  # the folder cannot be locked (not writable): stop without the lock
        return _stop_unlocked(folder, timeout)


def _stop_unlocked(folder: Path, timeout: float) -> bool:
    state = _read_state()
    targets = []
    if state and _health(state) is not None:
        targets.append(state["pid"])
    targets += [p for p in untracked_servers() if p not in targets]
    for pid in targets:
        _terminate(pid, timeout)
    # Every server of this folder is gone now (and no start can run while we hold the lock): a state file
    # left over (the server was killed, or the file is stale or corrupt) describes nothing.
    with contextlib.suppress(OSError):
        (folder / STATE_FILE).unlink()
    return bool(targets)


def base_url() -> str:
    """The server's address, e.g. ``http://127.0.0.1:8321`` (starts it if needed)."""
    return start()["url"]


def _token() -> str | None:
    state = _read_state()
    return state.get("token") if state else None


def last_requests(n: int = 5) -> list[dict]:
    """The last ``n`` requests the local server received, as the SDKs sent them (keys masked)."""
    st = status()
    if not st["running"]:
        return []
    url = f"{st['url']}/_course/requests?n={max(0, int(n))}"
    room = shared_room() if st.get("shared") else None
    if room is None:
        return _get(url, token=_token()) or []
    try:  # a learner of a shared server: their credential names them, and they see only their own
        with urllib.request.urlopen(urllib.request.Request(url, headers=_room_headers(room[1])), timeout=5) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return []


def clear_requests() -> None:
    """Forget the recorded requests (so the next ``last_requests()`` shows only new ones)."""
    st = status()
    if st["running"]:
        room = shared_room() if st.get("shared") else None
        headers = _room_headers(room[1]) if room else course_headers()
        req = urllib.request.Request(f"{st['url']}/_course/requests", method="DELETE", headers=headers)
        urllib.request.urlopen(req, timeout=2).close()
