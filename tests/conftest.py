"""Shared fixtures: one local server for the whole test session, in a private state folder."""
from __future__ import annotations

import os
import socket

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
def base_url(local_server) -> str:
    """``http://127.0.0.1:PORT`` of the session's local server."""
    return local_server["url"]
