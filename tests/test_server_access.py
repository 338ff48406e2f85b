"""Who may use the local server (issue 14, part 5): only its owner's programs, on this machine.

A foreign ``Host`` (DNS rebinding) and a web page's request are refused in the provider's shape;
``/_course/*`` needs the state token; the state folder and its files are private; the engine's port
refuses requests without its key; LM Studio's port is used only when the server there proves to be ours.
Every server here runs on loopback in a state folder of its own and is stopped at the end.
"""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import helpers
from helpers import course
from helpers.server import lifecycle
from helpers.server.lifecycle import course_headers

ROOT = Path(__file__).resolve().parents[1]
HI = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recorded(base_url: str) -> list[dict]:
    return httpx.get(f"{base_url}/_course/requests", params={"n": 50}, headers=course_headers(), timeout=10).json()


def clear(base_url: str) -> None:
    assert httpx.delete(f"{base_url}/_course/requests", headers=course_headers(), timeout=10).status_code == 200


# ---------------------------------------------------------------------- Host: DNS rebinding


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}",
                                  "127.0.0.1", "localhost"])
def test_loopback_hosts_are_served(local_server, host):
    r = httpx.get(f"{local_server['url']}/v1/models", headers={"host": host.format(port=local_server["port"])})
    assert r.status_code == 200


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1.nip.io:{port}",
                                  "localhost.evil.example:{port}", "127.0.0.1:1", "localhost:{port}@evil.example",
                                  "0.0.0.0:{port}", "[::1]x"])
def test_a_foreign_host_is_refused_in_the_providers_shape(local_server, host):
    base, port = local_server["url"], local_server["port"]
    header = {"host": host.format(port=port)}
    clear(base)
    r = httpx.post(f"{base}/v1/chat/completions", headers=header, json=HI)
    assert r.status_code == 403 and set(r.json()["error"]) >= {"message", "type", "code"}
    assert "evil" not in r.text, "the refusal does not echo what was sent"
    r = httpx.post(f"{base}/v1beta/models/gemini-3-flash:generateContent", headers={**header, "x-goog-api-key": "k"},
                   json={"contents": "hi"})
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    r = httpx.post(f"{base}/hf/router/v1/chat/completions", headers=header, json=HI)
    assert r.status_code == 403 and isinstance(r.json()["error"], str)
    r = httpx.get(f"{base}/_course/health", headers={**header, **course_headers()})
    assert r.status_code == 403 and "token" not in r.json() and "pid" not in r.json()
    assert recorded(base) == [], "a refused request is never run, nor recorded"


def test_the_lmstudio_port_accepts_its_own_host(local_server):
    port = local_server["lmstudio_port"]
    assert httpx.get(f"http://localhost:{port}/v1/models").status_code == 200
    r = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"host": f"evil.example:{port}"})
    assert r.status_code == 403


# ---------------------------------------------------------------------- web pages


@pytest.mark.parametrize("headers", [{"origin": "http://evil.example"}, {"origin": "null"},
                                     {"origin": "http://localhost:8888"},  # a page of JupyterLab itself
                                     {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"},
                                     {"sec-fetch-site": "same-site"}])
def test_a_web_pages_request_cannot_run_the_model(base_url, headers):
    clear(base_url)
    r = httpx.post(f"{base_url}/v1/chat/completions", headers=headers, json=HI)
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    r = httpx.request("OPTIONS", f"{base_url}/v1/chat/completions",
                      headers={**headers, "access-control-request-method": "POST"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = httpx.get(f"{base_url}/_course/requests", headers={**headers, **course_headers()})
    assert r.status_code == 403
    assert recorded(base_url) == []


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x"])
def test_a_body_a_page_may_send_without_asking_is_refused(base_url, ctype):
    clear(base_url)
    r = httpx.post(f"{base_url}/v1/chat/completions", content=json.dumps(HI), headers={"content-type": ctype})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_content_type"
    assert recorded(base_url) == [], "the model never ran"


def test_the_sdks_own_requests_pass(base_url):
    from openai import OpenAI

    own_origin = {"origin": base_url}  # the server's own address is not a page's
    r = httpx.post(f"{base_url}/v1/chat/completions", json=HI, headers={**own_origin, "sec-fetch-site": "none"})
    assert r.status_code == 200
    client = OpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)  # pragma: allowlist secret
    assert client.chat.completions.create(**HI).choices[0].message.role == "assistant"


# ---------------------------------------------------------------------- the course's own routes


@pytest.mark.parametrize("method,path", [("GET", "/_course/health"), ("GET", "/_course/requests"),
                                         ("DELETE", "/_course/requests"), ("GET", "/_course/anything")])
def test_course_routes_need_the_token(base_url, method, path):
    token = course_headers()["x-course-token"]
    for headers in ({}, {"x-course-token": "wrong"}, {"authorization": "Bearer wrong"},
                    {"x-course-token": token[:-1]}, {"authorization": token}):
        r = httpx.request(method, base_url + path, headers=headers)
        assert r.status_code == 401, headers
        assert token not in r.text and "pid" not in r.json()
        assert r.headers["x-course-service"] == "genai-api-course-local-server"
    if path != "/_course/anything":
        assert httpx.request(method, base_url + path, headers={"x-course-token": token}).status_code == 200
        assert httpx.request(method, base_url + path, headers={"authorization": f"Bearer {token}"}).status_code == 200


def test_the_inspector_cannot_be_cleared_or_read_without_the_token(base_url):
    clear(base_url)
    httpx.post(f"{base_url}/v1/chat/completions", json=HI)
    assert httpx.delete(f"{base_url}/_course/requests").status_code == 401
    assert len(recorded(base_url)) == 1
    assert len(helpers.server.last_requests(5)) == 1  # the helpers send the token
    helpers.server.clear_requests()
    assert helpers.server.last_requests(5) == []


@pytest.mark.parametrize("n,status", [("abc", 400), ("-1", 400), ("1.5", 400), ("", 400), ("1e3", 400),
                                      ("99999999", 400), ("0", 200), ("3", 200), ("999999", 200)])
def test_requests_n_is_checked(base_url, n, status):
    r = httpx.get(f"{base_url}/_course/requests", params={"n": n}, headers=course_headers())
    assert r.status_code == status
    if status == 400:
        assert "n must be a whole number" in r.json()["error"]["message"]
    elif n == "0":
        assert r.json() == []


# ---------------------------------------------------------------------- private files



def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file modes")
def test_the_state_folder_is_0700_and_its_files_0600(private_state):
    # An older version left them readable by everyone: start() tightens them.
    private_state.mkdir(mode=0o755)
    os.chmod(private_state, 0o755)
    for name in ("requests.jsonl", "server.log", "engine.log"):
        (private_state / name).write_text("")
        os.chmod(private_state / name, 0o644)
    old = os.umask(0o022)
    try:
        st = lifecycle.start()
    finally:
        os.umask(old)
    httpx.post(f"{st['url']}/v1/chat/completions", json=HI, timeout=60)
    assert mode(private_state) == 0o700
    files = {p.name: mode(p) for p in private_state.iterdir()}
    for name in ("server.json", "server.lock", "server.log", "engine.log", "requests.jsonl"):
        assert files.get(name) == 0o600, files


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file modes")
def test_rotated_logs_stay_private(tmp_path):
    from helpers.server import main as server_main

    old = os.umask(0o022)
    try:
        for rotate in (server_main.rotate, lifecycle._rotate):
            log = tmp_path / f"{rotate.__module__}.log"
            log.write_text("x" * 100)
            os.chmod(log, 0o600)
            rotate(log, 10)
            assert mode(log.with_name(log.name + ".1")) == 0o600
    finally:
        os.umask(old)


# ---------------------------------------------------------------------- the engine's own port


def _engine(base_url: str) -> dict:
    return httpx.get(f"{base_url}/_course/health", headers=course_headers()).json()["engine"]


def test_the_engine_port_refuses_requests_without_its_key(local_server):
    eng = _engine(local_server["url"])
    if eng["kind"] != "llama.cpp":
        pytest.skip("the fallback responder has no engine port")
    port = eng["port"]
    for method, path, body in [("POST", "/v1/chat/completions", HI), ("POST", "/completion", {"prompt": "hi"}),
                               ("POST", "/tokenize", {"content": "hi"}), ("GET", "/slots", None),
                               ("GET", "/props", None), ("GET", "/v1/models", None)]:
        r = httpx.request(method, f"http://127.0.0.1:{port}{path}", json=body, timeout=30)
        assert r.status_code == 401, (path, r.status_code)
    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=HI, timeout=30,
                   headers={"authorization": "Bearer local"})
    assert r.status_code == 401
    # The gateway has it: the model answers, and the supervisor's probes (which need it for /slots) say "ok".
    assert httpx.post(f"{local_server['url']}/v1/chat/completions", json=HI, timeout=60).status_code == 200
    time.sleep(5)
    eng = _engine(local_server["url"])
    assert eng["health"] == "ok" and eng["alive"] and eng["last_answer_s_ago"] < 5


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_the_engine_key_is_on_no_command_line(local_server):
    eng = _engine(local_server["url"])
    if eng["kind"] != "llama.cpp":
        pytest.skip("the fallback responder has no engine port")
    environ = Path(f"/proc/{eng['pid']}/environ").read_bytes().split(b"\0")  # readable by its owner only
    key = next(v.split(b"=", 1)[1] for v in environ if v.startswith(b"COURSE_ENGINE_KEY="))
    assert len(key) >= 32
    for pid in (local_server["pid"], eng["pid"]):
        assert key not in Path(f"/proc/{pid}/cmdline").read_bytes()
    r = httpx.post(f"http://127.0.0.1:{eng['port']}/tokenize", json={"content": "hi"},
                   headers={"authorization": f"Bearer {key.decode()}"})
    assert r.status_code == 200, "with the key the engine answers: the key is what keeps others out"


# ---------------------------------------------------------------------- LM Studio's port


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=180)


@pytest.fixture
def restore_course(monkeypatch):
    monkeypatch.setattr(course, "_last", course._last)
    yield
    course.undo_setup()
    if "helpers.hf_local" in sys.modules:
        sys.modules["helpers.hf_local"].disable()


def test_another_course_server_on_the_lmstudio_port_is_not_trusted(tmp_path, monkeypatch, restore_course, capsys):
    port = free_port()
    theirs = {"COURSE_STATE_DIR": str(tmp_path / "someone-else"), "COURSE_LMSTUDIO_PORT": str(port),
              "COURSE_SERVER_PORT": "0"}
    assert _cli(theirs, "server", "start").returncode == 0
    try:
        other = json.loads((tmp_path / "someone-else" / "server.json").read_text())
        assert other["lmstudio_port"] == port
        monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path / "mine"))
        monkeypatch.setenv("COURSE_LMSTUDIO_PORT", str(port))
        monkeypatch.setenv("COURSE_SERVER_PORT", "0")
        try:
            status = course.setup("local")
            mine = lifecycle.status()
            assert mine["running"] and mine["lmstudio_port"] is None, "the port is taken by the other server"
            assert course._who_is_on(port) == "course" and not lifecycle.lmstudio_port_is_ours(port)
            assert status.route("lmstudio") == "local"
            assert any("not yours" in n for p in status.providers for n in p.notes)
            url = helpers.lmstudio_url()
            assert url == f"{mine['url']}/v1", "never the other user's server"

            from openai import OpenAI

            helpers.server.clear_requests()
            OpenAI(base_url=url, api_key="lm-studio", max_retries=0).chat.completions.create(**HI)  # pragma: allowlist secret
            assert len(helpers.server.last_requests(5)) == 1, "the call lands in my own inspector"
            theirs_seen = httpx.get(f"http://127.0.0.1:{other['port']}/_course/requests",
                                    headers=course_headers(other["token"])).json()
            assert theirs_seen == [], "and never in the other server's"
        finally:
            lifecycle.stop()
    finally:
        _cli(theirs, "server", "stop")


class _FakeLMStudio(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"lmstudio": True, "data": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_lmstudio_itself_on_the_port_is_used(private_state, monkeypatch, restore_course):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeLMStudio)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("COURSE_LMSTUDIO_PORT", str(port))
        status = course.setup("local")
        assert course._who_is_on(port) == "other"
        assert status.route("lmstudio") == "live"
        assert helpers.lmstudio_url() == f"http://localhost:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_lmstudio_port_setting_is_honoured_when_nothing_answers(private_state, monkeypatch, restore_course):
    port = free_port()
    monkeypatch.setenv("COURSE_LMSTUDIO_PORT", str(port))
    course.setup("local")
    st = lifecycle.status()
    assert st["lmstudio_port"] == port  # the server took it
    assert helpers.lmstudio_url() == f"http://localhost:{port}/v1"
    assert course._who_is_on(port) == "ours"
    with contextlib.suppress(Exception):
        lifecycle.stop()
