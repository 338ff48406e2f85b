"""The workshop's hub on one machine (issue 12): real JupyterHub, real proxy, real HTTP, all on loopback.

The hub (hub/jupyterhub_config.py) starts on free loopback ports with the room's course server as a managed
service. Two learners log in through the proxy with the login form, each gets a single-user server, nbgitpuller
pulls the course (from a git repository made from this checkout) into each home, and code runs in a kernel of
each learner's server (the kernel API, through the proxy): the real SDK call reaches the shared course server
with that learner's credential, and ``helpers.server.last_requests()`` there shows only their own calls. A second
pull after the material changed keeps a learner's edited exercise. Wrong passwords are refused. Every process
the hub started is stopped at the end (by pid). Skipped, with the reason, until ``make hub-setup`` has run.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

requests = pytest.importorskip("requests")
psutil = pytest.importorskip("psutil")
nbformat = pytest.importorskip("nbformat")
websocket = pytest.importorskip("tornado.websocket")

ROOT = Path(__file__).resolve().parents[1]
HUB_BIN = ROOT / ".course" / "hub-venv" / "bin"
PROXY = ROOT / ".course" / "hub-node" / "node_modules" / ".bin" / "configurable-http-proxy"
EXERCISE = "exercises/01_generative_ai.ipynb"
PASSWORDS = {"ada": "ada-" + secrets.token_hex(6), "bob": "bob-" + secrets.token_hex(6)}

if not (HUB_BIN / "jupyterhub").exists() or not PROXY.exists():
    pytest.skip("the workshop hub is not set up (.course/hub-venv or .course/hub-node missing): run `make hub-setup` "
                "to test it", allow_module_level=True)

# Runs in the learner's kernel, as a notebook cell would: setup(), one real SDK call, the learner's inspector.
CELL = """
import contextlib, io, json, os
import helpers, openai
with contextlib.redirect_stdout(io.StringIO()):
    status = helpers.setup()
answer = openai.OpenAI().chat.completions.create(model="gpt-6-luna", reasoning_effort="none",
    messages=[{"role": "user", "content": "Say hi to %(name)s."}], max_completion_tokens=8)
seen = helpers.server.last_requests(100)
print("RESULT " + json.dumps({"learner": status.server.get("learner"), "shared": status.server.get("shared"),
    "seen": sorted({item.get("learner") for item in seen}), "calls": len(seen),
    "prompts": [json.dumps(item.get("body"))[:2000] for item in seen],
    "answer": answer.choices[0].message.content, "home": os.environ["HOME"], "cwd": os.getcwd(),
    "lmstudio": helpers.lmstudio_url()}))
"""


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=instructor@example.invalid", "-c", "user.name=Instructor", *args],
                          cwd=cwd, check=True, capture_output=True, text=True, timeout=60).stdout


class Learner:
    """One person in a browser: a cookie jar talking to the hub through the proxy."""

    def __init__(self, base: str, name: str):
        self.base, self.name = base, name
        self.http = requests.Session()

    def login(self, password: str, name: str | None = None) -> requests.Response:
        form = self.http.get(f"{self.base}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf"[^>]*value="([^"]+)"', form.text) or re.search(
            r'value="([^"]+)"[^>]*name="_xsrf"', form.text)
        assert xsrf, "the login form has no _xsrf field"
        return self.http.post(f"{self.base}/hub/login", data={"username": name or self.name, "password": password,
                                                              "_xsrf": xsrf.group(1)}, allow_redirects=False,
                              timeout=60)

    def hub_api(self, method: str, path: str) -> requests.Response:
        xsrf = self.http.cookies.get("_xsrf", path="/hub/")
        return self.http.request(method, f"{self.base}/hub/api{path}", headers={"X-XSRFToken": xsrf or ""}, timeout=60)

    def server(self, method: str, path: str, **kwargs) -> requests.Response:
        xsrf = self.http.cookies.get("_xsrf", path=f"/user/{self.name}/")
        return self.http.request(method, f"{self.base}/user/{self.name}{path}", timeout=120,
                                 headers={"X-XSRFToken": xsrf or ""}, **kwargs)

    def pull(self, repo: str, branch: str) -> list[dict]:
        """nbgitpuller's sync API (what its git-pull page calls): the event stream until finished or error."""
        events = []
        with self.server("GET", f"/git-pull/api?repo={quote(repo, safe='')}&branch={branch}&targetpath=course",
                         stream=True) as r:
            assert r.status_code == 200, r.text[:300]
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1].get("phase") in ("finished", "error"):
                        break
        return events

    def run_cell(self, code: str) -> str:
        """Run ``code`` in a new kernel of this learner's server (cwd ~/course/notebooks); its printed output."""
        kernel = self.server("POST", "/api/kernels", json={"name": "python3", "path": "course/notebooks"})
        assert kernel.status_code == 201, kernel.text[:300]
        kernel_id = kernel.json()["id"]
        try:
            printed = asyncio.run(self._execute(kernel_id, code))
            self.memory_mb = _memory_of(self.name)  # their server and this kernel, as a notebook would have it
            return printed
        finally:
            self.server("DELETE", f"/api/kernels/{kernel_id}")

    async def _execute(self, kernel_id: str, code: str) -> str:
        from tornado.httpclient import HTTPRequest

        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        url = self.base.replace("http://", "ws://") + f"/user/{self.name}/api/kernels/{kernel_id}/channels"
        ws = await websocket.websocket_connect(HTTPRequest(url, headers={"Cookie": cookies}, connect_timeout=60))
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(ws.read_message(), timeout=deadline - time.monotonic())
            assert raw is not None, "the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
        ws.close()
        return "".join(out)


def _memory_of(user: str) -> float:
    """Resident memory (MB) of ``user``'s single-user server and its kernels."""
    total = 0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "jupyterhub-singleuser" in " ".join(proc.info["cmdline"] or []) and \
                    proc.environ().get("JUPYTERHUB_USER") == user:
                total += sum(p.memory_info().rss for p in [proc] + proc.children(recursive=True))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20


def _wait(what: str, check, timeout: float, hub: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert hub.poll() is None, f"the hub exited while waiting for {what}:\n{log.read_text()[-3000:]}"
        try:
            result = check()
            if result:
                return result
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def _stop(hub: subprocess.Popen, started: set[int]) -> list[int]:
    """Stop the hub (which stops the proxy, the services and the learners' servers), then anything of ours left."""
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait(10)
    left = []
    for pid in started - {hub.pid}:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
                proc.kill()  # only a process the hub we started had started
        except psutil.NoSuchProcess:
            pass
    return left


def test_two_learners_on_one_hub(tmp_path):
    t0 = time.monotonic()
    material = tmp_path / "material"  # the course material's repository: this checkout's committed files
    _git(ROOT, "clone", "--quiet", "--depth", "1", ROOT.as_uri(), str(material))
    branch = _git(material, "rev-parse", "--abbrev-ref", "HEAD").strip()
    repo_url = material.as_uri()
    hub_port, api_port, proxy_api_port, course_port = _free_ports(4)
    state, homes = tmp_path / "hub-state", tmp_path / "homes"
    secret = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JUPYTERHUB_", "HUB_"))}
    env.update(HUB_PORT=str(hub_port), HUB_API_PORT=str(api_port), HUB_PROXY_API_PORT=str(proxy_api_port),
               HUB_COURSE_PORT=str(course_port), HUB_STATE_DIR=str(state), HUB_HOMES=str(homes),
               HUB_LEARNERS="ada, bob", HUB_COURSE_REPO=repo_url, HUB_COURSE_BRANCH=branch, COURSE_SHARED_SECRET=secret)
    log = tmp_path / "hub.log"
    base = f"http://127.0.0.1:{hub_port}"
    with open(log, "wb") as out:
        hub = subprocess.Popen([str(HUB_BIN / "jupyterhub"), "-f", str(ROOT / "hub" / "jupyterhub_config.py")],
                               cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    started: set[int] = {hub.pid}

    def note_children():
        try:
            started.update(p.pid for p in psutil.Process(hub.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            pass

    try:
        _wait("the hub behind its proxy", lambda: requests.get(f"{base}/hub/api", timeout=5).ok, 60, hub, log)
        note_children()
        # the course server (a managed service) answers on loopback, and only with a learner's credential
        course = f"http://127.0.0.1:{course_port}"
        _wait("the course server", lambda: requests.get(f"{course}/_course/health", timeout=5).status_code == 401,
              90, hub, log)

        # a wrong password, and a name not on the room's list, are refused
        ada, bob = Learner(base, "ada"), Learner(base, "bob")
        for who, password in ((ada, PASSWORDS["ada"]), (bob, PASSWORDS["bob"])):
            r = who.login(password)  # first use: this password becomes theirs
            assert r.status_code == 302 and "jupyterhub-session-id" in who.http.cookies, r.text[:500]
        intruder = Learner(base, "ada")
        for name, password in (("ada", PASSWORDS["bob"]), ("ada", "wrong-password-123"), ("mallory", "mallory-pass-1")):
            r = intruder.login(password, name=name)
            assert r.status_code == 403 and "Invalid username or password" in r.text, (name, r.status_code)
            assert intruder.hub_api("GET", "/user").status_code in (401, 403)

        # each learner starts a server and waits until it is ready (through the proxy)
        for who in (ada, bob):
            assert who.hub_api("POST", f"/users/{who.name}/server").status_code in (201, 202)
        for who in (ada, bob):
            _wait(f"{who.name}'s server", lambda who=who: who.hub_api("GET", "/user").json()["servers"].get("", {}).get(
                "ready"), 120, hub, log)
            # opening their server: the hub's OAuth, then nbgitpuller's link (the server's default page)
            landing = who.server("GET", "/")
            assert landing.status_code == 200 and landing.url.startswith(f"{base}/user/{who.name}/git-pull?")
            assert "nbgitpuller" in landing.text.lower()
            assert who.server("GET", "/api/status").status_code == 200
        note_children()
        # Bob's browser cannot use Ada's server: the hub does not grant him access to it
        assert bob.http.get(f"{base}/user/ada/api/status", timeout=30).status_code == 403
        assert bob.http.get(f"{base}/user/ada/api/contents", timeout=30).status_code == 403

        # nbgitpuller's API (what that page runs) pulls the course into each home
        for who in (ada, bob):
            events = who.pull(repo_url, branch)
            assert events[-1]["phase"] == "finished", events[-3:]
            assert (homes / who.name / "course" / EXERCISE).is_file()

        # code in each learner's kernel reaches the room's server with their own credential
        results = {}
        for who in (ada, bob):
            printed = who.run_cell(CELL % {"name": who.name})
            line = next((x for x in printed.splitlines() if x.startswith("RESULT ")), None)
            assert line, printed[-3000:]
            results[who.name] = json.loads(line[7:])
            print(f"\n{who.name}: server + kernel {who.memory_mb:.0f} MB; answer {results[who.name]['answer']!r}")
        for name, seen in results.items():
            other = "bob" if name == "ada" else "ada"
            assert seen["shared"] and seen["learner"] == name
            assert seen["seen"] == [name] and seen["calls"] >= 1
            assert any(f"Say hi to {name}" in p for p in seen["prompts"])  # their own prompt, as sent
            assert not any(f"Say hi to {other}" in p for p in seen["prompts"])  # never the other's
            assert seen["answer"]  # the tiny model's words, whatever they are
            assert seen["home"] == str(homes / name) and seen["cwd"] == str(homes / name / "course" / "notebooks")
            assert seen["lmstudio"] == f"{course}/v1"  # LM Studio's lesson uses the room's server, not port 1234

        # both reached the one room server: its owner (the hub's side, with the server's own token) sees both
        from helpers.server import lifecycle

        owner = json.loads((state / "course-server" / lifecycle.STATE_FILE).read_text())
        everyone = requests.get(f"{course}/_course/requests?n=1000", headers=lifecycle.course_headers(owner["token"]),
                                timeout=30).json()
        assert {"ada", "bob"} <= {item.get("learner") for item in everyone}

        # Ada edits an exercise; the instructor changes the same cell and adds a file; a second pull
        path = f"course/{EXERCISE}"
        model = ada.server("GET", f"/api/contents/{path}").json()
        nb = nbformat.from_dict(model["content"])
        cell = next(c for c in nb.cells if c.cell_type == "code")
        index = nb.cells.index(cell)
        cell.source = "# Ada's answer\n" + cell.source
        assert ada.server("PUT", f"/api/contents/{path}", json={"type": "notebook", "content": nb}).status_code == 200
        upstream = nbformat.read(material / EXERCISE, as_version=4)
        upstream.cells[index].source = "# The instructor's fix\n" + upstream.cells[index].source
        nbformat.write(upstream, material / EXERCISE)
        (material / "notebooks" / "UPDATE.md").write_text("Added after the workshop started.\n")
        _git(material, "add", "-A")
        _git(material, "commit", "-q", "-m", "material update")
        for who in (ada, bob):
            events = who.pull(repo_url, branch)
            assert events[-1]["phase"] == "finished", events[-3:]
            assert (homes / who.name / "course" / "notebooks" / "UPDATE.md").is_file()
        ada_after = nbformat.read(homes / "ada" / "course" / EXERCISE, as_version=4)
        nbformat.validate(ada_after)
        assert ada_after.cells[index].source.startswith("# Ada's answer\n")  # her edit survives the update
        # nbgitpuller merges with -Xours: where both changed the same lines, the learner's lines win and the
        # instructor's change to those lines is not applied (no copy of the new version is left beside it)
        assert "# The instructor's fix" not in ada_after.cells[index].source
        bob_after = nbformat.read(homes / "bob" / "course" / EXERCISE, as_version=4)
        assert bob_after.cells[index].source.startswith("# The instructor's fix\n")  # Bob had not edited it

        # the course server dies while learners work: the hub keeps serving and starts it again
        note_children()
        first = [p for p in started if psutil.pid_exists(p) and "helpers.server.main" in " ".join(
            psutil.Process(p).cmdline())]
        assert len(first) == 1, first
        psutil.Process(first[0]).kill()  # the course server this hub started for this test
        assert requests.get(f"{base}/hub/api", timeout=10).ok
        _wait("the course server's restart", lambda: requests.get(f"{course}/_course/health", timeout=5).status_code
              == 401, 90, hub, log)
        assert "Service course-server exited" in log.read_text()

        # the culler runs as a service with its scopes (it would exit on a 403)
        note_children()
        culler = [p for p in started if p != hub.pid and psutil.pid_exists(p)
                  and "jupyterhub_idle_culler" in " ".join(psutil.Process(p).cmdline())]
        assert culler, "the idle culler is not running"
        assert "idle-culler" in log.read_text() and "403" not in "\n".join(
            x for x in log.read_text().splitlines() if "idle-culler" in x or "idle_culler" in x)
    finally:
        note_children()
        stopping = time.monotonic()
        left = _stop(hub, started)
        print(f"\nthe hub stopped everything in {time.monotonic() - stopping:.0f} s")
        shutil.rmtree(homes, ignore_errors=True)
    assert hub.returncode is not None
    assert not left, f"processes still running after the hub stopped: {left}"
    print(f"\nhub test: {time.monotonic() - t0:.0f} s")
