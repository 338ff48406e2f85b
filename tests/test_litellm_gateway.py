"""LiteLLM's proxy in front of a room's keys (hub/litellm/), tested offline with the course's local server upstream.

The proxy runs from its own virtual environment (``LITELLM_VENV``, default ``.course/litellm-venv``, made with
``pip install 'litellm[proxy]==1.108.7'``): the test is skipped, with the reason, when it is not there. The settings are
those of ``hub/litellm/config.yaml`` (its general, litellm and router settings, and ``learner_auth.py``); only
the model list is replaced by models served by the local server on 127.0.0.1, priced so that a budget runs out
after one call. Each learner's key is their course credential for the room's secret. Nothing leaves loopback.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import openai
import pytest
import yaml

from helpers.server import learners

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = ROOT / "hub" / "litellm"
VENV = Path(os.environ.get("LITELLM_VENV") or ROOT / ".course" / "litellm-venv")
SECRET = "test-room-secret-0123456789abcdef"  # pragma: allowlist secret
MASTER = "sk-test-instructor-not-a-real-key"  # pragma: allowlist secret
LEARNER_RPM = 3
LEARNER_PARALLEL = 2
LEARNER_BUDGET = 0.001  # US dollars: less than one call of the priced model below costs
PRICED = {"input_cost_per_token": 0.0001, "output_cost_per_token": 0.0005}  # about $0.004 a call of ~40 tokens
ROOM_RPM = 2  # the room-wide model's limit (the rpm a provider's free plan gives an organisation)
HI = [{"role": "user", "content": "Say hi."}]


def _litellm_missing() -> str | None:
    binary = VENV / "bin" / "litellm"
    if not binary.exists():
        return (f"LiteLLM's proxy is not installed in {VENV}: run `make test-litellm` (it makes that venv with "
                f"'litellm[proxy]==1.108.7'), or set LITELLM_VENV to a virtual environment that has it")
    probe = subprocess.run([str(VENV / "bin" / "python"), "-c", "import litellm.proxy.proxy_server"],
                           capture_output=True, text=True, timeout=120, cwd="/")
    if probe.returncode != 0:
        return f"litellm.proxy does not import in {VENV}: {probe.stderr.strip().splitlines()[-1:]}"
    return None


_MISSING = _litellm_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_config(upstream: str) -> dict:
    """hub/litellm/config.yaml with its model list replaced by the local server's models."""
    config = yaml.safe_load((GATEWAY / "config.yaml").read_text())
    local = {"model": "openai/gpt-6-luna", "api_base": upstream + "/v1", "api_key": "local"}  # pragma: allowlist secret
    config["model_list"] = [
        {"model_name": "course-free", "litellm_params": dict(local)},  # no price: only the rate limits apply
        {"model_name": "course-priced", "litellm_params": dict(local), "model_info": dict(PRICED)},
        {"model_name": "course-room", "litellm_params": {**local, "rpm": ROOM_RPM}},
    ]
    return config


@pytest.fixture(scope="module")
def gateway(local_server, tmp_path_factory):
    """The proxy on a free loopback port in front of the session's local server: its base URL."""
    folder = tmp_path_factory.mktemp("litellm")
    (folder / "config.yaml").write_text(yaml.safe_dump(_test_config(local_server["url"])))
    shutil.copy(GATEWAY / "learner_auth.py", folder / "learner_auth.py")  # custom_auth is found beside the config
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), learners.SECRET_VARIABLE: SECRET, "LITELLM_MASTER_KEY": MASTER,
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LEARNER_RPM": str(LEARNER_RPM),
           "LITELLM_LEARNER_BUDGET": str(LEARNER_BUDGET),
           "LITELLM_LEARNER_PARALLEL": str(LEARNER_PARALLEL), "NO_PROXY": "127.0.0.1,localhost"}
    for name in ("OPENAI_API_KEY", "GROQ_API_KEY", "GEMINI_API_KEY", "DATABASE_URL"):
        env.pop(name, None)
    log = open(folder / "proxy.log", "wb")
    proc = subprocess.Popen([str(VENV / "bin" / "litellm"), "--config", str(folder / "config.yaml"), "--host",
                             "127.0.0.1", "--port", str(port)], cwd=folder, env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            assert proc.poll() is None, f"the proxy stopped: {(folder / 'proxy.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"the proxy did not start: {(folder / 'proxy.log').read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(url + "/health/liveliness", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()  # only the process this fixture started
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120)


def _ask(url: str, key: str, model: str) -> str:
    r = _client(url, key).chat.completions.create(model=model, messages=HI, max_completion_tokens=8,
                                                  reasoning_effort="none")
    return r.choices[0].message.content or ""


def test_a_learner_key_reaches_the_upstream(gateway):
    answer = _ask(gateway, learners.credential_for(SECRET, "ada"), "course-free")
    assert answer.strip(), "the local model's answer came back empty through the proxy"


def test_a_wrong_key_is_refused_with_401(gateway):
    with pytest.raises(openai.AuthenticationError) as e:
        _ask(gateway, "sk-not-a-learner-key", "course-free")  # pragma: allowlist secret
    assert e.value.status_code == 401
    assert "not a learner key of this workshop" in str(e.value)


def test_a_key_made_with_another_secret_is_refused(gateway):
    forged = learners.credential_for("another-room-secret-0123456789", "ada")  # pragma: allowlist secret
    with pytest.raises(openai.AuthenticationError):
        _ask(gateway, forged, "course-free")


def test_a_learner_over_their_rate_gets_429_and_others_do_not(gateway):
    key = learners.credential_for(SECRET, "bob")
    for _ in range(LEARNER_RPM):
        _ask(gateway, key, "course-free")
    with pytest.raises(openai.RateLimitError) as e:
        _ask(gateway, key, "course-free")
    assert e.value.status_code == 429
    assert "Rate limit exceeded" in str(e.value) and "requests" in str(e.value), str(e.value)
    assert e.value.response.headers.get("retry-after"), "a 429 must say when to retry"
    assert _ask(gateway, learners.credential_for(SECRET, "cleo"), "course-free").strip()  # cleo is unaffected


def test_a_learner_over_their_budget_gets_429_and_others_do_not(gateway):
    key = learners.credential_for(SECRET, "dan")
    _ask(gateway, key, "course-priced")  # one call costs more than the whole budget
    with pytest.raises(openai.RateLimitError) as e:
        _ask(gateway, key, "course-priced")
    assert e.value.status_code == 429
    assert "exceeded budget" in str(e.value), str(e.value)
    assert _ask(gateway, key, "course-free").strip()  # a free model is still open to dan
    assert _ask(gateway, learners.credential_for(SECRET, "eve"), "course-priced").strip()  # eve has her own budget


def test_a_learners_requests_at_once_are_limited(gateway):
    client = _client(gateway, learners.credential_for(SECRET, "ivy"))
    streams = []
    try:
        for _ in range(LEARNER_PARALLEL):  # long answers, held open after their first piece
            stream = client.chat.completions.create(model="course-free", stream=True, reasoning_effort="none",
                                                    max_completion_tokens=400,
                                                    messages=[{"role": "user", "content": "Write a long story."}])
            next(iter(stream))
            streams.append(stream)
        with pytest.raises(openai.RateLimitError) as e:
            _ask(gateway, learners.credential_for(SECRET, "ivy"), "course-free")
        assert "max_parallel_requests" in str(e.value), str(e.value)
        assert e.value.response.headers.get("retry-after")
    finally:
        for stream in streams:
            stream.close()


def _start_of_a_minute() -> None:
    """LiteLLM counts a model's requests per clock minute (UTC): start a short burst early in one."""
    second = time.time() % 60
    if second > 40:
        time.sleep(61 - second)


def test_a_model_over_the_rooms_limit_gets_429(gateway):
    _start_of_a_minute()
    for name in ("fay", "gus")[:ROOM_RPM]:
        _ask(gateway, learners.credential_for(SECRET, name), "course-room")
    with pytest.raises(openai.RateLimitError) as e:
        _ask(gateway, learners.credential_for(SECRET, "hal"), "course-room")  # hal has made no call yet
    assert e.value.status_code == 429
    assert "No deployments available" in str(e.value), str(e.value)


def test_the_instructors_master_key_is_not_rate_limited_as_a_learner(gateway):
    for _ in range(LEARNER_RPM + 1):
        assert _ask(gateway, MASTER, "course-free").strip()
