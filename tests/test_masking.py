"""Secrets never shown (issue 14, part 6): one masking function for the inspector, logs, errors and explain_error.

Fake keys are built at run time from repeated chunks, never written as realistic literals.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import httpx2
import pytest

import helpers
from helpers import masking
from helpers.masking import mask_key, redact
from helpers.server.lifecycle import course_headers

# One fake of every provider's shape, and one secret with no recognisable shape at all.
FAKES = {
    "openai-project": "sk-" + "proj-" + "Qx7vLp2K" * 6,
    "openai": "sk-" + "Mn4bVc8Z" * 5,
    "groq": "gsk_" + "Rt5yHu6J" * 6,
    "gemini": "AQ." + "Ab" + "Wq3eRf9T" * 5,
    "gemini-old": "AIza" + "Sy" + "Pl0kMj7N" * 4 + "Q",
    "huggingface": "hf_" + "Gz2xCv5B" * 5,
}
PLAIN = "Plain" + "Se7cR3t" * 5  # a secret of no provider's shape: only its name tells
ALL = {**FAKES, "plain": PLAIN}


def assert_no_secret(text: str, secrets: dict[str, str] = ALL) -> None:
    """No secret, nor any piece of 8 characters of one (beyond its prefix), survives in ``text``."""
    for name, value in secrets.items():
        assert value not in text, f"the {name} secret appears in full"
        body = value[4:]
        pieces = {body[i:i + 8] for i in range(len(body) - 7)}
        leaked = sorted(p for p in pieces if p in text)
        assert not leaked, f"a long piece of the {name} secret appears: {leaked[:3]}"


# ---------------------------------------------------------------------- the function itself


@pytest.mark.parametrize("name", ["authorization", "Authorization", "x-goog-api-key", "api-key", "x-api-key",
                                  "x-groq-api-key", "openai-api-key", "x-hf-token", "cookie", "proxy-authorization",
                                  "x-course-token", "X-Goog-Api-Key"])
@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_key_bearing_header_is_masked(name, kind):
    value = ("Bearer " if "authorization" in name.lower() else "") + ALL[kind]
    out = redact({name: value, "user-agent": "OpenAI/Python"})
    assert_no_secret(json.dumps(out))
    assert out["user-agent"] == "OpenAI/Python"
    if name.lower() != "cookie":
        assert ALL[kind][-4:] in out[name], "the last four characters stay, to tell keys apart"


@pytest.mark.parametrize("query_name", ["key", "KEY", "api-key", "api_key", "apikey", "access_token", "token",
                                        "auth_token", "hf_token", "x-goog-api-key"])
def test_every_key_bearing_query_name_is_masked(query_name):
    for value in ALL.values():
        query = f"alt=sse&{query_name}={value}&n=2"
        out = redact(query)
        assert_no_secret(out)
        assert out.startswith("alt=sse&") and out.endswith("&n=2")
        url = f"https://generativelanguage.googleapis.com/v1beta/models/m:generateContent?{query}"
        assert_no_secret(redact(url))


def test_keys_in_paths_model_names_body_fields_and_free_text():
    for value in FAKES.values():
        assert_no_secret(redact(f"/v1beta/models/{value}:generateContent"))
        assert_no_secret(redact(f"The model `{value}-simulate-404` does not exist"))
        assert_no_secret(redact(f"key%3D{value}"))  # URL-encoded inside another URL
    body = {"model": FAKES["groq"], "api_key": PLAIN, "apiKey": PLAIN, "access_token": PLAIN,
            "config": {"client_secret": PLAIN, "headers": {"x-goog-api-key": PLAIN}, "password": [PLAIN]},
            "messages": [{"role": "user", "content": f"my key is {FAKES['openai-project']}, use it"}]}
    out = redact(body)
    assert_no_secret(json.dumps(out))
    assert out["messages"][0]["content"].startswith("my key is sk-...") and out["messages"][0]["role"] == "user"
    text = (f"x-goog-api-key: {PLAIN}\n{{'authorization': 'Bearer {PLAIN}'}} "
            f'{{"api_key": "{PLAIN}", "hf_token": "{PLAIN}"}} Authorization: Bearer {PLAIN} Cookie: s={PLAIN}; b=1')
    assert_no_secret(redact(text))


def test_ordinary_text_and_fields_are_left_alone():
    text = ("risk-assessment, a task-manager and the FAQ.section; max_tokens=5, tokens=3; Bearer authentication; "
            "the logprobs list holds a token per step")
    assert redact(text) == text
    body = {"max_tokens": 5, "logprobs": [{"token": " Hello", "logprob": -0.1}], "thoughtSignature": "c2lnbmF0dXJl",
            "prompt_cache_key": "lesson-4", "model": "gpt-4.1-mini"}
    assert redact(body) == body


def test_redact_twice_is_the_same_and_deep_nesting_is_safe():
    text = f"?key={PLAIN} Authorization: Bearer {FAKES['openai']} {FAKES['gemini']}"
    once = redact(text)
    assert redact(once) == once and PLAIN[-4:] in once
    deep: dict | list = [PLAIN]
    for _ in range(500):
        deep = {"a": deep}
    assert_no_secret(json.dumps(redact(deep)))


def test_redact_stays_fast_on_hostile_text():
    import time

    hostile = ["api_key" * 3000, "x-api-key" * 3000, "Bearer " * 3000, "key=" * 5000, "sk-" * 7000, "'" * 20000,
               "token " * 4000, "a-" * 10000 + "secret", "key " + "Q" * 20000]
    t0 = time.perf_counter()
    for text in hostile:
        redact(text)
    assert time.perf_counter() - t0 < 1.0, "every request passes through redact: it must stay linear"


def test_mask_key_is_the_course_mask():
    assert helpers.mask is not None and helpers.keys.mask is mask_key
    assert helpers.keys._scrub(FAKES["groq"]) == mask_key(FAKES["groq"]) == "gsk_..." + FAKES["groq"][-4:]
    assert helpers.keys._KEYLIKE is masking.KEYLIKE


# ---------------------------------------------------------------------- explain_error never prints a key


def _openai_error(cls, status, url, message, body):
    import openai

    response = httpx2.Response(status, request=httpx2.Request("POST", url), json=body)
    return getattr(openai, cls)(message, response=response, body=body)


def _groq_error(cls, status, url, message, body):
    import groq

    response = httpx.Response(status, request=httpx.Request("POST", url), json=body)
    return getattr(groq, cls)(message, response=response, body=body)


def _gemini_error(status, message, url):
    from google.genai import errors

    body = {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT",
                      "details": [{"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": url}]}]}}
    return (errors.ClientError if status < 500 else errors.ServerError)(status, body)


def _hf_error(status, url, message, server_message=None):
    from huggingface_hub.errors import HfHubHTTPError

    response = httpx2.Response(status, request=httpx2.Request("POST", url), json={"error": server_message or message})
    return HfHubHTTPError(message, response=response, server_message=server_message)


def error_table(key: str) -> list[tuple[str, BaseException]]:
    """Exceptions of the four SDKs (and a few others) carrying ``key`` in URLs, messages and bodies."""
    import openai
    import requests

    gem = f"https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash:generateContent?key={key}"
    return [
        ("openai 401 message", _openai_error("AuthenticationError", 401, "https://api.openai.com/v1/chat/completions",
                                             f"Error code: 401 - Incorrect API key provided: {key}.",
                                             {"error": {"message": f"Incorrect API key provided: {key}."}})),
        ("openai 400 ?api-key=", _openai_error("BadRequestError", 400,
                                               f"https://example.invalid/v1/chat/completions?api-key={key}",
                                               f"Error code: 400 - bad request for url ...?api-key={key}",
                                               {"error": {"message": "bad", "param": key}})),
        ("openai 404 model", _openai_error("NotFoundError", 404, "https://api.openai.com/v1/chat/completions",
                                           f"Error code: 404 - The model `{key}` does not exist",
                                           {"error": {"message": f"The model `{key}` does not exist"}})),
        ("openai 429 header echo", _openai_error("RateLimitError", 429, "https://api.openai.com/v1/responses",
                                                 f"Rate limit; request had {{'authorization': 'Bearer {key}'}}",
                                                 {"error": {"message": "rate limit"}})),
        ("openai 418 unknown", _openai_error("APIStatusError", 418, "https://api.openai.com/v1/x",
                                             f"Error code: 418 - token={key}", {"token": key})),
        ("openai connection", openai.APIConnectionError(message=f"Connection error: {gem}",
                                                        request=httpx2.Request("POST", gem))),
        ("groq 401 body", _groq_error("AuthenticationError", 401, "https://api.groq.com/openai/v1/chat/completions",
                                      f"Error code: 401 - {{'error': {{'message': 'Invalid API Key {key}'}}}}",
                                      {"error": {"message": f"Invalid API Key {key}"}})),
        ("groq 404 model", _groq_error("NotFoundError", 404, "https://api.groq.com/openai/v1/chat/completions",
                                       f"The model `{key}` does not exist or you do not have access to it.",
                                       {"error": {"message": f"The model `{key}` does not exist"}})),
        ("groq 400 x-groq-api-key", _groq_error("BadRequestError", 400, "https://api.groq.com/openai/v1/x",
                                                f"header x-groq-api-key: {key} is not allowed", {})),
        ("gemini 400 key not valid", _gemini_error(400, f"API key not valid: {key}", gem)),
        ("gemini 404 model", _gemini_error(404, f"models/{key} is not found for API version v1beta", gem)),
        ("gemini 429", _gemini_error(429, f"Quota exceeded for {gem}; retry in 20s", gem)),
        ("gemini 500", _gemini_error(500, f"Internal error at {gem}", gem)),
        ("gemini 403 x-goog-api-key", _gemini_error(403, f"x-goog-api-key: {key} lacks permission", gem)),
        ("hf 401 access_token", _hf_error(401, f"https://router.huggingface.co/v1/chat/completions?access_token={key}",
                                          f"401 Client Error: Unauthorized for url: "
                                          f"https://router.huggingface.co/v1/chat/completions?access_token={key}")),
        ("hf 400 x-hf-token", _hf_error(400, "https://router.huggingface.co/v1/chat/completions",
                                        f"400 Bad Request: x-hf-token: {key}", server_message=f"bad token {key}")),
        ("hf 402 KEY=", _hf_error(402, f"https://router.huggingface.co/v1/x?KEY={key}", f"402 for url ?KEY={key}")),
        ("requests HTTPError", requests.exceptions.HTTPError(f"400 Client Error: Bad Request for url: {gem}")),
        ("httpx HTTPStatusError", httpx.HTTPStatusError(f"Client error '400' for url '{gem}'",
                                                        request=httpx.Request("GET", gem),
                                                        response=httpx.Response(400))),
        ("ValueError", ValueError(f"could not use the key {key} (api_key={key})")),
        ("RuntimeError openai-api-key", RuntimeError(f"openai-api-key={key}; Authorization: Bearer {key}")),
    ]


@pytest.mark.parametrize("kind", sorted(ALL))
def test_explain_error_never_prints_a_key(kind):
    key = ALL[kind]
    for case, error in error_table(key):
        if kind == "plain" and "model" in case:
            continue  # a model name of no key's shape is shown as a model name: only its place could tell
        shown = helpers.explain_error(error)
        assert shown.strip(), case
        try:
            assert_no_secret(shown, {kind: key})
        except AssertionError as e:
            raise AssertionError(f"{case}: {e}\n{shown}") from None


def test_explain_error_tells_a_per_minute_limit_from_a_used_up_quota():
    from google.genai import errors

    def gemini_429(message: str, quota_id: str, delay: str | None = "23s") -> BaseException:
        details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": quota_id, "quotaMetric":
                                    "generativelanguage.googleapis.com/generate_content_free_tier_requests"}]}]
        if delay:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
        return errors.ClientError(429, {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED",
                                                  "details": details}})

    quota_words = "You exceeded your current quota, please check your plan and billing details."
    per_minute = helpers.explain_error(gemini_429(quota_words + " Please retry in 23.4s.",
                                                  "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"))
    assert "rate limit" in per_minute and "23 s" in per_minute and "will not help" not in per_minute
    daily = helpers.explain_error(gemini_429(quota_words, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", None))
    assert "daily" in daily and "will not help" in daily
    none_at_all = helpers.explain_error(gemini_429(quota_words + " limit: 0, model: gemini-3-pro",
                                                   "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", None))
    assert "no credit or quota" in none_at_all and "will not help" in none_at_all
    old_style = helpers.explain_error(errors.ClientError(429, {"error": {
        "code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}))
    assert "rate limit" in old_style and "will not help" not in old_style


def test_explain_error_on_the_local_servers_gemini_429s(base_url):
    from google import genai

    client = genai.Client(api_key="local", http_options={"base_url": base_url,  # pragma: allowlist secret
                                                         "retry_options": {"attempts": 1}})
    with pytest.raises(Exception) as rate:
        client.models.generate_content(model="gemini-3-flash-simulate-429", contents="x")
    text = helpers.explain_error(rate.value)
    assert "rate limit" in text and "will not help" not in text and "1 s" in text
    with pytest.raises(Exception) as quota:
        client.models.generate_content(model="gemini-3-flash-simulate-quota", contents="x")
    assert "will not help" in helpers.explain_error(quota.value)


# ---------------------------------------------------------------------- check_keys and unrelated .env lines


def test_check_keys_never_prints_an_unrelated_bare_secret(tmp_path, monkeypatch, capsys):
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    aws_like = "AKIA" + "QZ7X" * 4  # an unrelated cloud key, alone on a line
    slack_like = "xoxb-" + "1234-" + "Kq8Lw2Zr" * 3
    upper_mixed = "ZX9" * 5 + "_" + "Q7W" * 5
    lines = [f"GROQ_API_KEY={FAKES['groq']}", aws_like, slack_like, upper_mixed, f"{aws_like} trailing words",
             f"DB_PASSWORD {PLAIN}", "MY_SETTING", f"export {PLAIN}"]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    helpers.check_keys(tmp_path)
    out = capsys.readouterr().out
    assert_no_secret(out, {"aws": aws_like, "slack": slack_like, "upper": upper_mixed, "plain": PLAIN,
                           "groq": FAKES["groq"]})
    assert "Line 2 of .env" in out and "MY_SETTING" in out  # still explained; a plain name is still named


# ---------------------------------------------------------------------- the server: inspector and error answers


def test_the_inspector_masks_keys_under_every_name_place_and_shape(base_url):
    headers = {"authorization": f"Bearer {FAKES['openai']}", "x-groq-api-key": FAKES["groq"],
               "openai-api-key": FAKES["openai-project"], "x-hf-token": FAKES["huggingface"], "api-key": PLAIN,
               "x-api-key": PLAIN, "cookie": f"session={PLAIN}", "x-course-token": PLAIN}
    params = {"KEY": PLAIN, "api-key": PLAIN, "access_token": PLAIN, "token": PLAIN, "key": FAKES["gemini"]}
    body = {"model": FAKES["gemini-old"], "api_key": PLAIN,
            "messages": [{"role": "user", "content": f"Here is my key: {FAKES['groq']}"}], "max_tokens": 2}
    httpx.delete(f"{base_url}/_course/requests", headers=course_headers())
    r = httpx.post(f"{base_url}/v1/chat/completions", params=params, headers=headers, json=body, timeout=60)
    assert r.status_code < 500
    httpx.post(f"{base_url}/v1beta/models/{FAKES['gemini']}:generateContent", params={"KEY": PLAIN},
               headers={"x-goog-api-key": FAKES["gemini"]}, json={"contents": "hi"}, timeout=60)
    seen = httpx.get(f"{base_url}/_course/requests", params={"n": 2}, headers=course_headers()).json()
    assert len(seen) == 2
    dumped = json.dumps(seen)
    assert_no_secret(dumped)
    assert seen[0]["body"]["messages"][0]["content"].startswith("Here is my key: gsk_...")
    assert seen[0]["headers"]["authorization"] == "Bearer sk-..." + FAKES["openai"][-4:]
    state = Path(helpers.server.state_dir())
    assert_no_secret((state / "requests.jsonl").read_text())


def test_error_answers_never_echo_a_key(base_url):
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)  # pragma: allowlist secret
    for value in FAKES.values():
        with pytest.raises(Exception) as info:
            client.chat.completions.create(model=f"{value}-simulate-404", messages=[{"role": "user", "content": "x"}])
        assert_no_secret(info.value.response.text + str(info.value) + helpers.explain_error(info.value),
                         {"k": value})
        r = httpx.post(f"{base_url}/v1beta/models/{value}-simulate-404:generateContent",
                       headers={"x-goog-api-key": "local"}, json={"contents": "x"})
        assert r.status_code == 404 and int(r.headers["content-length"]) == len(r.content)
        assert_no_secret(r.text, {"k": value})
        r = httpx.post(f"{base_url}/v1/chat/completions", content=b'{"model": "' + value.encode() + b'", "messages": ',
                       headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500
        assert_no_secret(r.text, {"k": value})


def test_the_server_log_masks_keys(base_url):
    import io

    from helpers.server.main import RedactingStream

    stream = RedactingStream(io.StringIO())
    print(f"supervisor: KeyError({FAKES['openai-project']!r}) for ?key={PLAIN}", file=stream)
    assert_no_secret(stream.getvalue())
    log = Path(helpers.server.state_dir()) / "server.log"
    assert_no_secret(log.read_text(errors="replace") if log.exists() else "")


def test_explain_error_names_geminis_region_refusal(base_url):
    from google import genai

    client = genai.Client(api_key="local", http_options={"base_url": base_url,  # pragma: allowlist secret
                                                         "retry_options": {"attempts": 1}})
    with pytest.raises(Exception) as info:
        client.models.generate_content(model="gemini-3-flash-simulate-region", contents="x")
    assert "not available in your region" in helpers.explain_error(info.value)
