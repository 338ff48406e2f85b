"""Shared fixtures: one local server for the whole test session, in a private state folder."""
from __future__ import annotations

import io
import os
import socket
import sys
from contextlib import redirect_stdout

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def local_server(tmp_path_factory):
    """Start the course's local server (real model) once; yields its status dict with "url"."""
    from helpers.server import lifecycle

    state = tmp_path_factory.mktemp("server-state")
    old = os.environ.get("COURSE_STATE_DIR")
    os.environ["COURSE_STATE_DIR"] = str(state)
    st = lifecycle.start(port=0, lmstudio_port=_free_port())
    try:
        yield st
    finally:
        lifecycle.stop()
        if old is None:
            os.environ.pop("COURSE_STATE_DIR", None)
        else:
            os.environ["COURSE_STATE_DIR"] = old


@pytest.fixture
def private_state(tmp_path, monkeypatch):
    """A server state folder of its own (any free ports); every course server of that folder is stopped after."""
    from helpers.server import lifecycle

    folder = tmp_path / "state"
    monkeypatch.setenv("COURSE_STATE_DIR", str(folder))
    monkeypatch.setenv("COURSE_LMSTUDIO_PORT", "0")
    monkeypatch.setenv("COURSE_SERVER_PORT", "0")
    yield folder
    lifecycle.stop()
    for pid in lifecycle._server_pids(lifecycle.state_dir()):
        lifecycle._terminate(pid, 10)


@pytest.fixture
def base_url(local_server) -> str:
    """``http://127.0.0.1:PORT`` of the session's local server."""
    return local_server["url"]


# The variables a learner's environment may hold that would take a test out of plain local mode.
COURSE_VARS = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "GROQ_API_KEY", "GROQ_BASE_URL", "GEMINI_API_KEY",
               "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "HF_TOKEN", "COURSE_MODE", "HF_HUB_OFFLINE",
               "GOOGLE_GENAI_USE_VERTEXAI"]


@pytest.fixture
def local_mode(monkeypatch, tmp_path, local_server):
    """Every SDK pointed at the session's local server, as ``helpers.setup("local")`` does in a notebook,
    from an empty folder (no .env, no keys)."""
    import helpers
    from helpers import course

    for v in COURSE_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()  # the search for .env stops here
    with redirect_stdout(io.StringIO()):
        helpers.setup("local")
    yield
    course.undo_setup()
    if "helpers.hf_local" in sys.modules:
        sys.modules["helpers.hf_local"].disable()
