"""The instructor pre-flight, exercised against the local server (no internet, no real keys).

The "live" checks run here with the SDKs pointed at the local server by their own environment
variables, which is exactly how they would run against the real providers.
"""
from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stdout

import pytest

from helpers import course, models, preflight

KEY_VARS = ["OPENAI_API_KEY", "GROQ_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "HF_TOKEN", "OPENAI_BASE_URL",
            "GROQ_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "COURSE_MODE"]


@pytest.fixture
def no_keys(monkeypatch, tmp_path, local_server):
    for v in KEY_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    yield
    course.undo_setup()
    if "helpers.hf_local" in sys.modules:
        sys.modules["helpers.hf_local"].disable()


def fake(prefix: str, chunk: str, n: int) -> str:
    return prefix + chunk * n


@pytest.fixture
def keys_pointing_at_local_server(no_keys, monkeypatch, local_server):
    url = local_server["url"]
    monkeypatch.setenv("OPENAI_API_KEY", fake("sk-proj-", "Ab3dE5", 8))
    monkeypatch.setenv("GROQ_API_KEY", fake("gsk_", "Xy7Q", 13))
    monkeypatch.setenv("OPENAI_BASE_URL", f"{url}/v1")
    monkeypatch.setenv("GROQ_BASE_URL", url)
    yield


def test_without_keys_local_mode_is_verified_end_to_end(no_keys):
    checks = preflight.run()
    local = [c for c in checks if c.provider == "local"]
    assert any("openai SDK" in c.what for c in local)
    assert all(c.result != preflight.FAIL for c in local), [str(c) for c in local]
    assert {c.provider for c in checks if c.what == "key"} == {"openai", "gemini", "groq", "huggingface"}
    out = io.StringIO()
    with redirect_stdout(out):
        code = preflight.main([])
    assert code == 0 and "[OK]" in out.getvalue()


def test_live_checks_pass_for_a_healthy_provider(keys_pointing_at_local_server):
    checks = preflight.run(local=False)
    openai_checks = [c for c in checks if c.provider == "openai"]
    assert openai_checks and all(c.result == preflight.OK for c in openai_checks), [str(c) for c in openai_checks]
    assert any("remaining-requests" in c.detail for c in checks if c.provider == "groq")


def test_a_retired_default_model_fails_the_preflight(keys_pointing_at_local_server, monkeypatch):
    monkeypatch.setenv("COURSE_MODEL_OPENAI_CHAT", "gpt-3.5-turbo-0301")
    out = io.StringIO()
    with redirect_stdout(out):
        code = preflight.main(["--no-local"])
    text = out.getvalue()
    assert code == 1
    assert "[FAIL]" in text and "gpt-3.5-turbo-0301" in text and models.replacement_for("gpt-3.5-turbo-0301") in text


def test_a_rejected_key_fails_with_what_to_do(keys_pointing_at_local_server, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", fake("gsk_", "invalid", 6))
    checks = [c for c in preflight.run(local=False) if c.provider == "groq"]
    assert any(c.result == preflight.FAIL and "rejected" in c.detail for c in checks)


def test_no_key_is_printed(keys_pointing_at_local_server):
    out = io.StringIO()
    with redirect_stdout(out):
        preflight.main(["--no-local"])
    for var in ("OPENAI_API_KEY", "GROQ_API_KEY"):
        assert os.environ[var] not in out.getvalue()
