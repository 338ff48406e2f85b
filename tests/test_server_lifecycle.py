"""Starting, reusing, recognising and stopping the local server; engine crashes; the labelled fallback."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from openai import OpenAI
from pydantic import BaseModel

from helpers.server import lifecycle


@pytest.fixture
def private_state(tmp_path, monkeypatch):
    """A state folder of its own, so these servers never touch the session's or a learner's."""
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path))
    yield tmp_path
    lifecycle.stop()


def test_start_reuses_a_running_server_and_stop_stops_it(private_state):
    first = lifecycle.start(port=0, lmstudio_port=0)
    again = lifecycle.start(port=0, lmstudio_port=0)
    assert again["pid"] == first["pid"] and again["current"]
    assert lifecycle.stop() is True
    assert lifecycle.status()["running"] is False
    assert lifecycle.stop() is False  # nothing left to stop


def test_a_stale_state_file_is_not_trusted(private_state):
    # A state file naming a process that is not our server (this test's own pid) must be ignored.
    (private_state / "server.json").write_text(json.dumps({"pid": os.getpid(), "port": 9, "token": "x"}))
    assert lifecycle.status()["running"] is False
    assert lifecycle.stop() is False  # and it must never be signalled
    st = lifecycle.start(port=0, lmstudio_port=0)
    assert st["running"] and st["pid"] != os.getpid()


def test_an_out_of_date_server_is_replaced(private_state, monkeypatch):
    old = lifecycle.start(port=0, lmstudio_port=0)
    monkeypatch.setattr(lifecycle, "code_version", lambda: "another-version")
    new = lifecycle.start(port=0, lmstudio_port=0)
    assert new["pid"] != old["pid"]


def test_command_line_status(private_state):
    lifecycle.start(port=0, lmstudio_port=0)
    out = subprocess.run([sys.executable, "-m", "helpers", "server", "status"], capture_output=True, text=True,
                         env={**os.environ}, timeout=60)
    assert out.returncode == 0 and "Local server running at http://127.0.0.1:" in out.stdout
    assert "llama.cpp" in out.stdout


def test_engine_crash_is_restarted(private_state):
    st = lifecycle.start(port=0, lmstudio_port=0)
    engine_pid = st["engine"]["pid"]
    os.kill(engine_pid, signal.SIGKILL)  # the engine is a child of the server we started
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        eng = lifecycle.status()["engine"]
        if eng["alive"] and eng["pid"] != engine_pid:
            break
        time.sleep(0.5)
    assert eng["restarts"] == 1 and eng["kind"] == "llama.cpp"
    client = OpenAI(base_url=f"{st['url']}/v1", api_key="k")  # pragma: allowlist secret
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}],
                                          max_tokens=3).choices[0].message.content is not None


class Pet(BaseModel):
    name: str
    age: int


def test_fallback_responder_is_labelled_and_serves_every_protocol(private_state, monkeypatch):
    monkeypatch.setenv("COURSE_ENGINE", "fallback")
    st = lifecycle.start(port=0, lmstudio_port=0)
    assert st["engine"]["kind"] == "fallback" and "COURSE_ENGINE" in st["engine"]["error"]
    client = OpenAI(base_url=f"{st['url']}/v1", api_key="k")  # pragma: allowlist secret
    a = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Tell me about owls"}])
    b = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Explain tides"}])
    assert a.choices[0].message.content.startswith("[fallback responder")
    assert a.choices[0].message.content != b.choices[0].message.content
    parsed = client.chat.completions.parse(model="m", messages=[{"role": "user", "content": "A pet"}],
                                           response_format=Pet).choices[0].message.parsed
    assert isinstance(parsed, Pet)
    from google import genai

    gclient = genai.Client(api_key="k", http_options={"base_url": st["url"]})  # pragma: allowlist secret
    assert gclient.models.generate_content(model="gemini-2.5-flash-lite", contents="Hi").text.startswith("[fallback")
    r = httpx.post(f"{st['url']}/hf/router/v1/chat/completions", headers={"authorization": "Bearer hf_x"},
                   json={"model": "x", "messages": [{"role": "user", "content": "Hi"}]}, timeout=60)
    assert r.status_code == 200 and "fallback" in r.json()["choices"][0]["message"]["content"]


def test_setup_says_fallback_loudly(private_state, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_ENGINE", "fallback")
    monkeypatch.chdir(tmp_path)
    import helpers
    from helpers import course

    try:
        status = helpers.setup("local")
    finally:
        course.undo_setup()
        if "helpers.hf_local" in sys.modules:
            sys.modules["helpers.hf_local"].disable()
    assert any("FALLBACK" in n for n in status.notes)
    assert "FALLBACK" in capsys.readouterr().out
