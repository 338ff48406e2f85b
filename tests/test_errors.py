"""helpers.explain_error on the real exceptions of each SDK, raised by the local server."""
from __future__ import annotations

import pytest

import helpers
from helpers import models


def _raise(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.value


def test_openai_retired_model_names_the_current_one(base_url):
    from openai import OpenAI

    c = OpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)  # pragma: allowlist secret
    e = _raise(lambda: c.chat.completions.create(model="gpt-3.5-turbo-0301", messages=[{"role": "user", "content": "x"}]))
    text = helpers.explain_error(e)
    assert "404" in text and models.replacement_for("gpt-3.5-turbo-0301") in text


def test_gemini_unknown_model_names_the_catalogue_model(base_url):
    from google import genai

    c = genai.Client(api_key="local", http_options={"base_url": base_url})  # pragma: allowlist secret
    e = _raise(lambda: c.models.generate_content(model="gemini-old-simulate-404", contents="x"))
    assert models.chat("gemini") in helpers.explain_error(e)


@pytest.mark.parametrize("directive,words", [("simulate-quota", "no credit"), ("simulate-429", "rate limit"),
                                             ("simulate-503", "server problem"), ("simulate-403", "permission")])
def test_groq_errors_in_plain_words(base_url, directive, words):
    import groq

    c = groq.Groq(base_url=base_url, api_key="local", max_retries=0)  # pragma: allowlist secret
    e = _raise(lambda: c.chat.completions.create(model=f"llama-{directive}", messages=[{"role": "user", "content": "x"}]))
    assert words in helpers.explain_error(e)


def test_huggingface_quota_and_bad_key(base_url):
    from huggingface_hub import InferenceClient

    c = InferenceClient(base_url=f"{base_url}/hf/router/v1", token="hf_" + "invalid" * 5)
    e = _raise(lambda: c.chat_completion([{"role": "user", "content": "x"}], model="m"))
    assert "rejected the key" in helpers.explain_error(e)
    c = InferenceClient(base_url=f"{base_url}/hf/router/v1", token="hf_" + "Ab12" * 8)
    e = _raise(lambda: c.chat_completion([{"role": "user", "content": "x"}], model="m-simulate-quota"))
    assert "no credit" in helpers.explain_error(e)
