"""helpers.unreachable: servers that drop, ignore or refuse connections, and SDK clients pointed at them."""
from __future__ import annotations

import os
import socket
import time

import httpx
import httpx2
import pytest

from helpers import unreachable


def test_drop_closes_each_connection_at_once():
    with unreachable.server("drop") as url:
        with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
            httpx2.get(url, timeout=5)


def test_silent_never_answers_so_a_client_times_out():
    with unreachable.server("silent") as url:
        start = time.monotonic()
        with pytest.raises(httpx2.ReadTimeout):
            httpx2.get(url, timeout=0.5)
        assert time.monotonic() - start < 3


def test_closed_refuses_connections():
    with unreachable.server("closed") as url:
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(url, timeout=2)


def test_the_port_is_released_after_the_block():
    with unreachable.server("drop") as url:
        port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_unknown_mode_and_provider_are_refused():
    with pytest.raises(ValueError, match="mode"):
        with unreachable.server("sometimes"):
            pass
    with pytest.raises(ValueError, match="provider"):
        with unreachable.provider("anthropic"):
            pass


def test_provider_points_the_sdk_variable_and_puts_it_back(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://example.invalid/v1")
    monkeypatch.delenv("GROQ_BASE_URL", raising=False)
    with unreachable.provider("openai") as url, unreachable.provider("groq") as groq_url:
        assert os.environ["OPENAI_BASE_URL"] == url + "/v1" and os.environ["GROQ_BASE_URL"] == groq_url
    assert os.environ["OPENAI_BASE_URL"] == "http://example.invalid/v1" and "GROQ_BASE_URL" not in os.environ


def test_each_sdk_raises_its_connection_error():
    """What lesson 11 teaches: OpenAI wraps the failure in APIConnectionError; google-genai and huggingface_hub
    let httpx2's TransportError through."""
    import openai
    from google import genai
    from huggingface_hub import InferenceClient

    from helpers import hf_local

    with unreachable.provider("openai", "drop"):
        with pytest.raises(openai.APIConnectionError):
            openai.OpenAI(api_key="sk-test", max_retries=0).models.list()  # pragma: allowlist secret
    with unreachable.provider("gemini", "drop"):
        client = genai.Client(api_key="test")
        with pytest.raises((httpx2.TransportError, httpx.TransportError)):
            client.models.generate_content(model="m", contents="hi")
    was = hf_local._state.get("base_url")
    with unreachable.provider("huggingface", "closed"):
        with pytest.raises((httpx2.TransportError, httpx.TransportError)):
            InferenceClient(token="hf_test").chat_completion([{"role": "user", "content": "hi"}], model="m")
    assert hf_local._state.get("base_url") == was
