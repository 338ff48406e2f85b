"""The workshop's hub on one machine: JupyterHub, one course server for the room, material by nbgitpuller.

Run with ``make hub`` (or ``.course/hub-venv/bin/jupyterhub -f hub/jupyterhub_config.py``). Everything is read
from the environment, so this file holds no password or secret:

    HUB_PORT               the hub's address for browsers, http://127.0.0.1:HUB_PORT (8000)
    HUB_API_PORT           the hub's own API, for the proxy and the services (8081)
    HUB_PROXY_API_PORT     configurable-http-proxy's API (8001)
    HUB_COURSE_PORT        the room's course server (8330, not a laptop's 8321); it must be free: learners are
                           told this address
    HUB_STATE_DIR          the hub's database, cookie secret, password hashes, course server state
                           (.course/hub-state)
    HUB_HOMES              the learners' home folders, one each (HUB_STATE_DIR/home)
    HUB_LEARNERS           the room's list of names, separated by commas or spaces (unset: any name may join)
    HUB_ADMIN              the instructor's user name (instructor): log in with it first, before the room does
    HUB_COURSE_REPO        the course material's git repository (this checkout: file://<repository>)
    HUB_COURSE_BRANCH      its branch (this checkout's current branch)
    HUB_IDLE_TIMEOUT       seconds of inactivity before a learner's server is stopped (3600)
    HUB_COURSE_MODE        the learners' COURSE_MODE (local; set it to auto when the instructor has set keys)
    HUB_SPAWNER            simple (tests and a laptop: no system users) or system (a real server: one system
                           user per learner, created beforehand with useradd)
    COURSE_SHARED_SECRET   the room's secret (helpers/server/learners.py); unset: made once and kept in
                           HUB_STATE_DIR/course-shared-secret (readable by the hub's user only)

Binding: the hub, the proxy and its API, and the course server listen on 127.0.0.1 only. To open the hub to a
room, put a TLS-terminating reverse proxy (nginx, Caddy) in front of HUB_PORT; do not change the binding here.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from helpers.server import learners  # noqa: E402 - the course's own credential scheme

BIN = Path(sys.executable).parent  # the hub's virtual environment (.course/hub-venv), which has the course too
LOOPBACK = "127.0.0.1"


def _setting(name: str, default: str) -> str:
    return (os.environ.get(name) or "").strip() or default


def _port(name: str, default: int) -> int:
    value = _setting(name, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"{name}={value!r} is not a port number: set it to a number between 1 and 65535.")
    return int(value)


STATE = Path(_setting("HUB_STATE_DIR", str(REPO / ".course" / "hub-state"))).resolve()
HOMES = Path(_setting("HUB_HOMES", str(STATE / "home"))).resolve()
STATE.mkdir(parents=True, exist_ok=True, mode=0o700)
HOMES.mkdir(parents=True, exist_ok=True, mode=0o755)
HUB_PORT = _port("HUB_PORT", 8000)
COURSE_PORT = _port("HUB_COURSE_PORT", 8330)
COURSE_URL = f"http://{LOOPBACK}:{COURSE_PORT}"


def _check_free(port: int, name: str) -> None:
    """Stop with a clear message when ``port`` is taken: the course server would move to another port, and the
    learners, told this one, would not find it."""
    with socket.socket() as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            raise SystemExit(f"{name}={port}: that port on {LOOPBACK} is in use (a course server of your own? "
                             f"`python -m helpers server stop`). Stop it or set {name} to a free port.") from None


_check_free(COURSE_PORT, "HUB_COURSE_PORT")


def _room_secret() -> str:
    """The room's secret: COURSE_SHARED_SECRET, or one made once and kept in the state folder (mode 600)."""
    secret = os.environ.get(learners.SECRET_VARIABLE)
    if not secret:
        kept = STATE / "course-shared-secret"
        if not kept.exists():
            fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        secret = kept.read_text().strip()
    return learners.check_secret(secret)


SECRET = _room_secret()

# A hub started in the background by a shell ignores SIGINT, and so would the services it starts; it stops a
# service with SIGINT first and waits 10 s before SIGTERM. With the default back, they stop at once.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# ---------------------------------------------------------------- the hub and its proxy: loopback only
c.JupyterHub.bind_url = f"http://{LOOPBACK}:{HUB_PORT}"
c.JupyterHub.hub_bind_url = f"http://{LOOPBACK}:{_port('HUB_API_PORT', 8081)}"
c.ConfigurableHTTPProxy.api_url = f"http://{LOOPBACK}:{_port('HUB_PROXY_API_PORT', 8001)}"
# configurable-http-proxy from npm, installed by `make hub-setup` into .course/hub-node (never globally)
c.ConfigurableHTTPProxy.command = [str(REPO / ".course" / "hub-node" / "node_modules" / ".bin" /
                                       "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every learner's server (and the services)

# ---------------------------------------------------------------- who may log in
# First-use passwords, not the built-in SharedPasswordAuthenticator (jupyterhub.authenticators.shared, 5.3+):
# with one shared password, anyone who knows it can log in under any other learner's name and read their
# notebooks, their .env (lesson 02 puts the learner's own keys there) and, through their credential, their
# calls in the request inspector. With first-use passwords, a learner's first login sets the password of
# that name, and from then on only they get in. HUB_LEARNERS (the room's list) keeps strangers from making
# names; a learner who forgets the password is reset by the instructor (the guide says how).
c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
c.FirstUseAuthenticator.dbm_path = str(STATE / "passwords.dbm")
c.FirstUseAuthenticator.create_users = True
c.FirstUseAuthenticator.min_password_length = 8
ADMIN = _setting("HUB_ADMIN", "instructor")
c.Authenticator.admin_users = {ADMIN}
ROSTER = {name for name in re.split(r"[\s,]+", os.environ.get("HUB_LEARNERS", "")) if name}
if ROSTER:
    c.Authenticator.allowed_users = ROSTER
else:
    c.Authenticator.allow_all = True  # any name may join: fine on loopback; on a server, set HUB_LEARNERS

# ---------------------------------------------------------------- one home per learner
if _setting("HUB_SPAWNER", "simple") == "system":
    # A real server: each learner is a system user (useradd) with their own home, so learners cannot read
    # each other's files nor the hub's secret. SystemdSpawner (jupyterhub-systemdspawner) adds CPU and memory
    # limits per learner; The Littlest JupyterHub sets this up for you.
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
else:
    # Tests and one laptop: no system users; every learner still gets their own home folder under HUB_HOMES,
    # but all run as the hub's user (JupyterHub's own words: no isolation between users).
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        c.Spawner.args = ["--ServerApp.allow_root=True"]  # containers and CI run as root; Jupyter refuses otherwise
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.ip = LOOPBACK
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
c.Spawner.env_keep.extend(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"])  # this machine's numpy settings, if set


def _learner_credential(spawner) -> str:
    """This learner's credential for the room's course server (never another learner's)."""
    return learners.credential_for(SECRET, spawner.user.name)


c.Spawner.environment = {
    "COURSE_SERVER_URL": COURSE_URL,
    "COURSE_LEARNER_TOKEN": _learner_credential,
    "COURSE_MODE": _setting("HUB_COURSE_MODE", "local"),
}

# ---------------------------------------------------------------- the course material, by nbgitpuller


def _current_branch() -> str:
    try:
        branch = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        return branch if branch and branch != "HEAD" else "main"  # HEAD: a detached checkout
    except (OSError, subprocess.SubprocessError):
        return "main"


COURSE_REPO = _setting("HUB_COURSE_REPO", REPO.as_uri())
COURSE_BRANCH = _setting("HUB_COURSE_BRANCH", _current_branch())
PULL = {"repo": COURSE_REPO, "branch": COURSE_BRANCH, "targetpath": "course"}
# Opening their server pulls the course into ~/course (the first time a clone; later a merge that keeps the
# learner's edits), then opens the first notebook. The same link is the one to share for an update.
c.Spawner.default_url = "/git-pull?" + urlencode({**PULL, "urlpath": "lab/tree/course/notebooks/00_start_here.ipynb"})

# ---------------------------------------------------------------- services: the room's course server, the culler
IDLE_TIMEOUT = _setting("HUB_IDLE_TIMEOUT", "3600")
if not IDLE_TIMEOUT.isdigit() or int(IDLE_TIMEOUT) < 60:
    raise SystemExit(f"HUB_IDLE_TIMEOUT={IDLE_TIMEOUT!r}: give the seconds of inactivity as a number, 60 or more.")
IDLE_TIMEOUT = int(IDLE_TIMEOUT)
_blas = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
c.JupyterHub.services = [
    {
        # One engine for the whole room (helpers/server, --shared): every learner's setup() finds it through
        # COURSE_SERVER_URL and names itself with COURSE_LEARNER_TOKEN; nobody binds LM Studio's port 1234.
        "name": "course-server",
        "command": [str(BIN / "python"), "-m", "helpers.server.main", "--shared", "--port", str(COURSE_PORT),
                    "--lmstudio-port", "0", "--state-dir", str(STATE / "course-server")],
        "environment": {learners.SECRET_VARIABLE: SECRET, **_blas},
        "cwd": str(REPO),
    },
    {
        # Stops a learner's server after HUB_IDLE_TIMEOUT seconds without activity (their files stay).
        "name": "idle-culler",
        "command": [str(BIN / "python"), "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_TIMEOUT}",
                    f"--cull-every={max(60, IDLE_TIMEOUT // 6)}"],
    },
]
# JupyterHub's RBAC: exactly the scopes jupyterhub-idle-culler's documentation lists for culling servers
# (not users).
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
