"""Local mode keeps everything on this machine (``helpers.offline``), checked at the socket.

Each test runs under ``no_network``: a connection to any address outside loopback fails the test. The SDKs are
built exactly as the providers' docs and hf.co's generated snippets build them (explicit real base URLs, a
third-party provider's own key), and must still be answered by the local server.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.request

import httpx
import pytest
import requests

from helpers import hf_local, offline
from helpers import models as catalogue

HF_TOKEN = "hf_local_test_token_0123456789"  # pragma: allowlist secret
CHAT = catalogue.chat("huggingface")


def _outside(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths stay on this machine
        return False
    host = str(address[0]).strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name reaching connect() unresolved: not provably local


@pytest.fixture(autouse=True)
def nothing_enabled_before():
    """Each test starts with the guard off, whatever an earlier test of the session left behind
    (``helpers.setup()`` in local mode turns it on for the rest of a process)."""
    from helpers import course, shared_room

    course.undo_setup()
    hf_local.disable()
    offline.disable()
    shared_room.disable()
    yield
    hf_local.disable()
    offline.disable()


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any connection to an address outside loopback (sync sockets and asyncio alike)."""
    attempts: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_create = socket.create_connection

    def connect(self, address):
        if _outside(address):
            attempts.append(address)
            raise AssertionError(f"a connection left this machine: {address}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if _outside(address):
            attempts.append(address)
            raise AssertionError(f"a connection left this machine: {address}")
        return real_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):
        if _outside(address):
            attempts.append(address)
            raise AssertionError(f"a connection left this machine: {address}")
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield attempts
    assert not attempts, f"connections left this machine: {attempts}"


@pytest.fixture
def guarded(base_url, no_network):
    """Local mode's guard on (as ``helpers.setup('local')`` turns it on), off again after the test."""
    offline.enable(base_url)
    try:
        yield base_url
    finally:
        offline.disable()


def _chat_body() -> dict:
    return {"model": CHAT, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}


def test_the_guard_catches_a_real_escape(no_network):
    """The socket guard itself works: without local mode, a plain request to a public address is caught."""
    with pytest.raises(Exception):
        socket.create_connection(("93.184.215.14", 443), timeout=0.5)
    assert no_network == [("93.184.215.14", 443)]
    no_network.clear()


# ---------------------------------------------------------------- where requests go

def test_local_target_maps_each_known_host():
    base = "http://127.0.0.1:9"
    hosts = offline.provider_hosts()
    assert hosts["api.together.xyz"] == "/together"
    assert "api.openai.com" not in hosts and "router.huggingface.co" not in hosts
    t = lambda url: offline.local_target(url, base, hosts)  # noqa: E731
    assert t("https://router.huggingface.co/v1/chat/completions") == f"{base}/hf/router/v1/chat/completions"
    assert t("https://huggingface.co/api/models/a/b") == f"{base}/hf/hub/api/models/a/b"
    assert t("https://api.openai.com/v1/responses") == f"{base}/v1/responses"
    assert t("https://api.groq.com/openai/v1/chat/completions") == f"{base}/openai/v1/chat/completions"
    assert t("https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?alt=sse") == \
        f"{base}/v1beta/models/x:generateContent?alt=sse"
    assert t("https://api.together.xyz/v1/chat/completions") == f"{base}/hf/router/together/v1/chat/completions"
    assert t("http://localhost:1234/v1/models") == "http://localhost:1234/v1/models"
    assert t("http://[::1]:5/x") == "http://[::1]:5/x"
    for outside in ("https://example.com/", "https://evilhuggingface.co/x", "https://api.openai.com.evil.net/v1",
                    "http://10.0.0.1/", "http://192.168.1.2:1234/v1"):
        assert t(outside) is None, outside


def test_enable_refuses_a_server_outside_this_machine():
    with pytest.raises(ValueError, match="local server on this machine"):
        offline.enable("https://router.huggingface.co")
    assert not offline.is_enabled()


def test_disable_puts_every_library_back(base_url):
    import httpx2
    import urllib3
    from requests.adapters import HTTPAdapter

    before = [httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request,
              httpx2.HTTPTransport.handle_request, HTTPAdapter.send, urllib3.PoolManager.urlopen,
              urllib.request.OpenerDirector.open]
    offline.enable(base_url)
    offline.enable(base_url)  # twice: still one layer of patches
    assert offline.is_enabled() and HTTPAdapter.send is not before[3]
    offline.disable()
    offline.disable()
    after = [httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request,
             httpx2.HTTPTransport.handle_request, HTTPAdapter.send, urllib3.PoolManager.urlopen,
             urllib.request.OpenerDirector.open]
    assert after == before and not offline.is_enabled()
    assert offline.route("https://example.com/", RuntimeError) == "https://example.com/"  # off: untouched


# ---------------------------------------------------------------- other hosts fail at once, clearly

@pytest.mark.parametrize("call", ["requests", "httpx", "httpx2", "urllib", "urllib3"])
def test_any_other_host_fails_at_once_with_advice(guarded, call):
    import httpx2
    import urllib3

    calls = {"requests": lambda: requests.get("https://example.com/data.json", timeout=30),
             "httpx": lambda: httpx.get("https://example.com/data.json"),
             "httpx2": lambda: httpx2.get("https://example.com/data.json"),
             "urllib": lambda: urllib.request.urlopen("https://example.com/data.json"),
             "urllib3": lambda: urllib3.request("GET", "https://example.com/data.json")}
    start = time.monotonic()
    with pytest.raises(offline.LocalModeBlocked) as info:
        calls[call]()
    assert time.monotonic() - start < 1.0
    text = str(info.value)
    assert "Local mode keeps everything on this machine" in text and "example.com" in text
    assert "helpers.setup('live')" in text
    # the library's own error kind as well, so existing handlers still catch it
    kinds = {"requests": requests.RequestException, "httpx": httpx.HTTPError, "httpx2": httpx2.HTTPError,
             "urllib": urllib.error.URLError, "urllib3": urllib3.exceptions.HTTPError}
    assert isinstance(info.value, kinds[call])


def test_loopback_stays_reachable(guarded):
    r = requests.get(f"{guarded}/_course/health", timeout=30)
    assert r.status_code in (200, 401, 403)  # answered by the local server (the token guard may refuse)


# ---------------------------------------------------------------- the SDKs' own examples, unchanged

def test_openai_sdk_pointed_at_the_hf_router(guarded):
    """hf.co's openai snippet: ``OpenAI(base_url="https://router.huggingface.co/v1", api_key=HF_TOKEN)``."""
    from openai import OpenAI

    client = OpenAI(base_url="https://router.huggingface.co/v1", api_key=HF_TOKEN)
    raw = client.chat.completions.with_raw_response.create(**_chat_body())
    assert raw.headers.get("x-course-local")
    completion = raw.parse()
    assert completion.choices[0].message.content.strip()
    stream = client.chat.completions.create(**_chat_body(), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).strip()


def test_openai_groq_and_gemini_with_their_real_base_urls(guarded):
    from google import genai
    from google.genai import types
    from groq import Groq
    from openai import OpenAI

    oa = OpenAI(base_url="https://api.openai.com/v1", api_key="sk-not-a-real-key", max_retries=0)  # pragma: allowlist secret
    r = oa.chat.completions.with_raw_response.create(model=catalogue.chat("openai"), max_completion_tokens=16,
                                                     messages=[{"role": "user", "content": "Hi"}])
    assert r.headers.get("x-course-local")
    gq = Groq(base_url="https://api.groq.com", api_key="gsk_not_a_real_key", max_retries=0)  # pragma: allowlist secret
    r = gq.chat.completions.with_raw_response.create(model=catalogue.chat("groq"),
                                                     messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
    assert r.headers.get("x-course-local")
    fake_key = "not-a-real-key"  # pragma: allowlist secret
    gm = genai.Client(api_key=fake_key, http_options=types.HttpOptions(
        base_url="https://generativelanguage.googleapis.com"))
    out = gm.models.generate_content(model=catalogue.chat("gemini"), contents="Hi",
                                     config=types.GenerateContentConfig(max_output_tokens=3))
    assert out.candidates and out.candidates[0].content is not None


def test_responses_websocket_with_the_real_base_url_stays_here(guarded):
    """``client.responses.connect()`` opens its own socket (the ``websockets`` library): it is routed too."""
    import asyncio

    from openai import AsyncOpenAI, OpenAI

    real = "https://api.openai.com/v1"
    key = "sk-not-a-real-key"  # pragma: allowlist secret
    model = catalogue.chat("openai")
    with OpenAI(base_url=real, api_key=key).responses.connect() as connection:
        connection.response.create(model=model, input="Hi", max_output_tokens=16, reasoning={"effort": "none"})
        for event in connection:
            if event.type in ("response.completed", "response.incomplete", "error"):
                break
        assert event.type in ("response.completed", "response.incomplete"), event

    async def with_async() -> str:
        async with AsyncOpenAI(base_url=real, api_key=key).responses.connect() as connection:
            await connection.response.create(model=model, input="Hi", max_output_tokens=16,
                                             reasoning={"effort": "none"})
            async for event in connection:
                if event.type in ("response.completed", "response.incomplete", "error"):
                    return event.type
        return "no end"

    assert asyncio.run(with_async()) in ("response.completed", "response.incomplete")
    with pytest.raises(offline.LocalModeBlocked, match="Local mode keeps everything on this machine"):
        OpenAI(base_url="https://example.com/v1", api_key=key).responses.connect().enter()


@pytest.mark.parametrize("library", ["requests", "httpx", "httpx2", "urllib"])
def test_raw_http_to_the_router(guarded, library):
    """The docs' raw-HTTP examples: POST https://router.huggingface.co/v1/chat/completions with a bearer token."""
    import httpx2

    url = "https://router.huggingface.co/v1/chat/completions"
    headers = {"Authorization": f"Bearer {HF_TOKEN}"}
    if library == "requests":
        r = requests.post(url, headers=headers, json=_chat_body(), timeout=120)
        status, data, local = r.status_code, r.json(), r.headers.get("x-course-local")
    elif library in ("httpx", "httpx2"):
        module = httpx if library == "httpx" else httpx2
        r = module.post(url, headers=headers, json=_chat_body(), timeout=120)
        status, data, local = r.status_code, r.json(), r.headers.get("x-course-local")
    else:
        req = urllib.request.Request(url, data=json.dumps(_chat_body()).encode(),
                                     headers={**headers, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            status, data, local = resp.status, json.loads(resp.read()), resp.headers.get("x-course-local")
    assert status == 200 and local
    assert data["choices"][0]["message"]["content"].strip()


def test_inference_client_with_a_third_party_providers_own_key(guarded):
    """``InferenceClient(provider="together", api_key=<Together's key>)`` calls api.together.xyz directly."""
    from huggingface_hub import InferenceClient

    assert not hf_local.is_enabled()  # the guard alone keeps it here
    client = InferenceClient(provider="together", api_key="tgp_v1_not_a_real_key")  # pragma: allowlist secret
    out = client.chat_completion(messages=[{"role": "user", "content": "Say hi."}], model=CHAT, max_tokens=4)
    assert out.choices[0].message.content.strip()


def test_async_httpx_clients_are_kept_local_too(guarded):
    import asyncio

    async def go():
        async with httpx.AsyncClient() as c:
            r = await c.post("https://router.huggingface.co/v1/chat/completions", json=_chat_body(),
                             headers={"Authorization": f"Bearer {HF_TOKEN}"}, timeout=120)
            assert r.status_code == 200 and r.headers.get("x-course-local")
            with pytest.raises(offline.LocalModeBlocked):
                await c.get("https://example.com/")

    asyncio.run(go())


def test_setup_local_keeps_requests_here_when_hooked(local_mode, no_network, request):
    """After ``helpers.setup("local")``: when course.setup() calls offline.enable(), other hosts fail at once."""
    request.addfinalizer(offline.disable)
    if not offline.is_enabled():
        pytest.skip("helpers.course.setup() does not call helpers.offline.enable() yet")
    with pytest.raises(offline.LocalModeBlocked):
        requests.get("https://example.com/", timeout=30)


# ---------------------------------------------------------------- Hugging Face local, other providers live (auto mode)

def test_hf_local_alone_keeps_only_hugging_faces_hosts_here(base_url, no_network):
    """``hf_local.enable`` (Hugging Face local, the others perhaps live) reroutes Hugging Face's hosts and the
    inference providers' hosts for every client, and leaves every other host alone."""
    from openai import OpenAI

    hf_local.enable(base_url)
    try:
        assert offline.scope() == "huggingface" and not offline.is_enabled()
        assert offline.route("https://api.openai.com/v1/chat/completions", RuntimeError) == \
            "https://api.openai.com/v1/chat/completions"  # OpenAI may be live: untouched
        assert offline.route("https://example.com/", RuntimeError) == "https://example.com/"
        assert offline.route("https://api.together.xyz/v1/chat/completions", RuntimeError).startswith(base_url)
        client = OpenAI(base_url="https://router.huggingface.co/v1", api_key=HF_TOKEN)  # lesson 07, unchanged
        raw = client.chat.completions.with_raw_response.create(**_chat_body())
        assert raw.headers.get("x-course-local")
        offline.enable(base_url)  # setup("local") widens it ...
        hf_local.enable(base_url)  # ... and hf_local never narrows it again
        assert offline.is_enabled()
    finally:
        hf_local.disable()
    assert offline.scope() is None  # disable() lifts the guard as well
