"""A workshop's shared course server (issue 12): one server for a room, each learner seeing only their own calls.

A real server process started with ``--shared`` on loopback; learners are simulated in this process the way
a hub sets them up (``COURSE_SERVER_URL`` and ``COURSE_LEARNER_TOKEN``), calling through the real SDKs.
"""
from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import redirect_stdout
from pathlib import Path

import openai
import pytest

from helpers.server import learners, lifecycle

ROOT = Path(__file__).resolve().parents[1]
HI = [{"role": "user", "content": "Say hi."}]
COURSE_VARS = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "GROQ_API_KEY", "GROQ_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY",
               "GOOGLE_GEMINI_BASE_URL", "HF_TOKEN", "COURSE_MODE", "HF_HUB_OFFLINE", "GOOGLE_GENAI_USE_VERTEXAI",
               "COURSE_SERVER_URL", "COURSE_LEARNER_TOKEN"]


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A shared course server on a free loopback port: ``{"url", "secret", "token"}``."""
    state = tmp_path_factory.mktemp("room")
    secret = secrets.token_hex(32)
    env = {**os.environ, learners.SECRET_VARIABLE: secret}
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server.main", "--shared", "--port", "0",
                             "--lmstudio-port", "0", "--state-dir", str(state)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    info = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            info = json.loads((state / lifecycle.STATE_FILE).read_text())
            if info.get("pid") == proc.pid and lifecycle.probe(info["port"], info["token"]):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    assert proc.poll() is None and info is not None, "the shared server did not start"
    try:
        yield {"url": f"http://127.0.0.1:{info['port']}", "secret": secret, "token": info["token"]}
    finally:
        proc.terminate()  # only the process this fixture started
        proc.wait(15)


@pytest.fixture
def learner(room, monkeypatch, tmp_path):
    """``as_learner(name)``: set this process up as the hub sets a learner's notebook server, then ``setup()``."""
    import helpers
    from helpers import course, shared_room

    for v in COURSE_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()

    def as_learner(name: str):
        monkeypatch.setenv("COURSE_SERVER_URL", room["url"])
        monkeypatch.setenv("COURSE_LEARNER_TOKEN", learners.credential_for(room["secret"], name))
        with redirect_stdout(io.StringIO()):
            return helpers.setup("local")

    yield as_learner
    course.undo_setup()
    if "helpers.hf_local" in sys.modules:
        sys.modules["helpers.hf_local"].disable()  # and helpers.offline, which wraps what shared_room patched
    shared_room.disable()


def _admin_requests(room) -> list[dict]:
    req = urllib.request.Request(f"{room['url']}/_course/requests?n=1000", headers=lifecycle.course_headers(room["token"]))
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_each_learner_sees_only_their_own_requests(room, learner):
    import helpers

    status = learner("ada")
    assert status.server["shared"] and status.server["learner"] == "ada"
    assert status.server["url"] == room["url"]  # the address a cell may print holds no credential
    assert "ada" in str(status) and "shared course server" in str(status)
    openai.OpenAI().chat.completions.create(model="gpt-6-luna", messages=HI, max_completion_tokens=5,
                                            reasoning_effort="none")
    ada_sees = helpers.server.last_requests(50)
    assert ada_sees and {item["learner"] for item in ada_sees} == {"ada"}

    learner("bob")
    openai.OpenAI().chat.completions.create(model="gpt-6-luna", messages=HI, max_completion_tokens=5,
                                            reasoning_effort="none")
    bob_sees = helpers.server.last_requests(50)
    assert bob_sees and {item["learner"] for item in bob_sees} == {"bob"}
    helpers.server.clear_requests()  # forgets bob's only
    assert helpers.server.last_requests(50) == []
    assert {"ada"} <= {item.get("learner") for item in _admin_requests(room)}  # the room's owner sees everyone
    assert helpers.lmstudio_url() == room["url"] + "/v1"  # never someone's port 1234
    assert not helpers.server.stop()  # a learner never stops the room's server


def test_every_sdk_reaches_the_room_with_the_learners_credential(room, learner):
    import helpers
    from google import genai
    from groq import Groq
    from huggingface_hub import InferenceClient

    learner("cleo")
    helpers.server.clear_requests()
    Groq().chat.completions.create(model="openai/gpt-oss-20b", messages=HI, max_completion_tokens=40,
                                   reasoning_effort="low")
    gemini = genai.Client()  # kept in a variable: a client nobody holds is closed at once (lesson 05)
    gemini.models.generate_content(model="gemini-3.5-flash-lite", contents="Say hi.",
                                           config={"max_output_tokens": 5, "thinking_config": {"thinking_level": "minimal"}})
    InferenceClient().chat_completion(HI, model="meta-llama/Llama-3.1-8B-Instruct", max_tokens=5)
    # a client built by hand with another key, pointed at the room (as lesson 09's error demos do)
    openai.OpenAI(base_url=room["url"] + "/v1", api_key="local", max_retries=0).chat.completions.create(
        model="gpt-6-luna", messages=HI, max_completion_tokens=5, reasoning_effort="none")
    seen = helpers.server.last_requests(20)
    assert {item["provider"] for item in seen} >= {"groq", "gemini", "huggingface", "openai"}
    assert {item["learner"] for item in seen} == {"cleo"}
    assert all(learners.HEADER not in item["headers"] or item["headers"][learners.HEADER] != os.environ[
        "COURSE_LEARNER_TOKEN"] for item in seen)  # the credential is masked in the inspector


def test_calls_without_a_valid_credential_are_refused(room):
    for credential, code in ((None, "learner_credential_required"),
                             (learners.credential_for("another-room-secret-0123456789", "ada"), "invalid_learner_credential"),
                             ("cl.YWRh.0123456789abcdef0123456789abcdef", "invalid_learner_credential")):
        headers = {learners.HEADER: credential} if credential else {}
        client = openai.OpenAI(base_url=room["url"] + "/v1", api_key="local", max_retries=0, default_headers=headers)
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="gpt-6-luna", messages=HI, max_completion_tokens=5)
        assert caught.value.code == code
    # the inspector is not open to a learner without a credential, nor is the token given to one
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{room['url']}/_course/requests", timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    ada = {learners.HEADER: learners.credential_for(room["secret"], "ada")}
    with urllib.request.urlopen(urllib.request.Request(f"{room['url']}/_course/health", headers=ada), timeout=5) as r:
        health = json.loads(r.read())
    assert health["learner"] == "ada" and "token" not in health and "pid" not in health


def test_one_learner_cannot_fill_the_queue(room):
    """A learner's third simultaneous request gets a 429 with retry-after; another learner is still served."""
    def client(name: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=room["url"] + "/v1", api_key="local", max_retries=0, timeout=120,
                             default_headers={learners.HEADER: learners.credential_for(room["secret"], name)})

    results: dict[str, list] = {"dan": [], "eve": []}

    def ask(name: str, tokens: int) -> None:
        try:
            client(name).chat.completions.create(model="gpt-6-luna", messages=[{"role": "user", "content": "Tell a story."}],
                                                 max_completion_tokens=tokens, reasoning_effort="none")
            results[name].append(200)
        except openai.RateLimitError as e:
            results[name].append((429, e.response.headers.get("retry-after")))

    threads = [threading.Thread(target=ask, args=("dan", 120)) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    eve = threading.Thread(target=ask, args=("eve", 5))
    eve.start()
    for t in threads + [eve]:
        t.join(180)
    refused = [r for r in results["dan"] if r != 200]
    assert results["dan"].count(200) == learners.LEARNER_LIMIT and len(refused) == 1, results
    assert refused[0][1] is not None and int(refused[0][1]) >= 1
    assert results["eve"] == [200]


def test_the_hub_mints_credentials_and_the_server_needs_a_secret(tmp_path):
    env = {**os.environ, learners.SECRET_VARIABLE: "s" * 32}
    out = subprocess.run([sys.executable, "-m", "helpers", "learner-token", "ada"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == learners.credential_for("s" * 32, "ada")
    assert learners.learner_of("s" * 32, out.stdout.strip()) == "ada"
    env.pop(learners.SECRET_VARIABLE)
    started = subprocess.run([sys.executable, "-m", "helpers.server.main", "--shared", "--port", "0", "--lmstudio-port",
                              "0", "--state-dir", str(tmp_path / "s")], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert started.returncode == 2 and learners.SECRET_VARIABLE in started.stdout


def test_a_learner_is_told_when_the_room_server_is_down(learner, monkeypatch):
    import helpers

    monkeypatch.setenv("COURSE_SERVER_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("COURSE_LEARNER_TOKEN", "cl.YWRh.0123456789abcdef0123456789abcdef")
    with redirect_stdout(io.StringIO()):
        status = helpers.setup("local")
    assert status.server is None
    assert any("does not answer: tell the instructor" in n for n in status.notes)
    assert status.route("openai") == "unavailable"
