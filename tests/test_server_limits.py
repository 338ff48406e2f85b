"""Sizes capped as the real APIs cap them, refused before megabytes are tokenized (issue 14, part 4).

* OpenAI embeddings: 8,192 tokens per input, 2,048 inputs, 300,000 tokens per request.
* Gemini embeddings: 100 requests per batch; an input longer than 2,048 tokens is cut (as Google does).
* Hugging Face feature extraction: an input is cut to the model's 512 tokens.
* A prompt that cannot fit the local model's context gets the provider's context-length 400 at once, streaming or
  not, and the engine never sees it (its memory does not grow).
* A token limit above the model's largest output gets the provider's 400.
"""
from __future__ import annotations

import time

import httpx
import psutil
import pytest

from helpers import models as catalogue

GOOGLE = {"x-goog-api-key": "local-test-key"}
HF = {"authorization": "Bearer hf_" + "limits" * 6}
TEN_K_TOKENS = "word and more text, " * 2000  # about 10,000 tokens, 40,000 characters
FIVE_MIB = "lorem ipsum dolor sit amet " * (5 * 2**20 // 27)


def engine_rss(local_server) -> float | None:
    for child in psutil.Process(local_server["pid"]).children(recursive=True):
        if "engine_child" in " ".join(child.cmdline()):
            return child.memory_info().rss / 2**20
    return None


def timed_post(url: str, **kw) -> tuple[httpx.Response, float]:
    t = time.perf_counter()
    r = httpx.post(url, timeout=60, **kw)
    return r, time.perf_counter() - t


# ---------------------------------------------------------------------- embeddings

def test_openai_embedding_input_over_8192_tokens(base_url):
    r, secs = timed_post(f"{base_url}/v1/embeddings", json={"model": "text-embedding-3-small",
                                                           "input": ["short", TEN_K_TOKENS]})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "input" and "8192 tokens" in err["message"] and "input[1]" in err["message"]
    assert secs < 5


def test_openai_embedding_far_too_long_is_refused_unread(base_url):
    r, secs = timed_post(f"{base_url}/v1/embeddings", json={"model": "text-embedding-3-small",
                                                           "input": "x" * (2 * 2**20)})
    assert r.status_code == 400 and "8192 tokens" in r.json()["error"]["message"]
    assert secs < 1.5


def test_openai_embedding_array_and_total_limits(base_url):
    r = httpx.post(f"{base_url}/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a"] * 2049},
                   timeout=60)
    assert r.status_code == 400 and r.json()["error"]["code"] == "array_above_max_length"
    seven_k = "word and more text, " * 1500  # about 7,500 tokens each: 41 of them are over 300,000
    r, secs = timed_post(f"{base_url}/v1/embeddings", json={"model": "text-embedding-3-small",
                                                           "input": [seven_k] * 41})
    assert r.status_code == 400 and "300000" in r.json()["error"]["message"]
    assert secs < 15


def test_openai_sdk_sees_a_bad_request(base_url):
    import openai

    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="local-test-key", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="text-embedding-3-small", input=TEN_K_TOKENS)
    assert e.value.body["param"] == "input"


def test_gemini_batch_limit_and_long_input_cut(base_url):
    model = catalogue.get("gemini", "embeddings")
    one = {"model": f"models/{model}", "content": {"parts": [{"text": "hello"}]}}
    r = httpx.post(f"{base_url}/v1beta/models/{model}:batchEmbedContents", headers=GOOGLE,
                   json={"requests": [one] * 101}, timeout=60)
    assert r.status_code == 400 and "at most 100 requests" in r.json()["error"]["message"]
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r, secs = timed_post(f"{base_url}/v1beta/models/{model}:embedContent", headers=GOOGLE,
                         json={"content": {"parts": [{"text": TEN_K_TOKENS}]}, "outputDimensionality": 128})
    assert r.status_code == 200, r.text  # cut to 2,048 tokens, not refused
    assert len(r.json()["embedding"]["values"]) == 128
    assert secs < 30


def test_gemini_sdk_batch_of_101_is_refused(base_url):
    from google import genai
    from google.genai import errors, types

    client = genai.Client(api_key="local-test-key", http_options=types.HttpOptions(base_url=base_url))
    with pytest.raises(errors.ClientError) as e:
        client.models.embed_content(model=catalogue.get("gemini", "embeddings"), contents=["a"] * 101)
    assert e.value.code == 400


def test_hf_feature_extraction_cuts_long_inputs(base_url):
    model = catalogue.get("huggingface", "embeddings")
    r, secs = timed_post(f"{base_url}/hf/router/hf-inference/models/{model}/pipeline/feature-extraction",
                         headers=HF, json={"inputs": FIVE_MIB[:200_000]})
    assert r.status_code == 200 and len(r.json()) == 384
    assert secs < 30


# ---------------------------------------------------------------------- prompts over the context

@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_5_mib_prompt_is_refused_before_the_engine(base_url, local_server, stream):
    rss = engine_rss(local_server)
    r, secs = timed_post(f"{base_url}/v1/chat/completions", json={
        "model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": FIVE_MIB}], "stream": stream})
    assert r.status_code == 400, r.text[:300]
    err = r.json()["error"]
    assert err["code"] == "context_length_exceeded" and "too long" in err["message"]
    assert secs < 2.0  # was 2-5 s of tokenizing in the engine
    if rss is not None:
        assert engine_rss(local_server) - rss < 20  # was +17 to +80 MB per prompt


def test_a_5_mib_prompt_in_each_protocol(base_url):
    r = httpx.post(f"{base_url}/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse", headers=GOOGLE,
                   json={"contents": [{"role": "user", "parts": [{"text": FIVE_MIB}]}]}, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = httpx.post(f"{base_url}/v1/responses", json={"model": "smollm2-135m-instruct", "input": FIVE_MIB}, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    tg = catalogue.get("huggingface", "text_generation")
    r = httpx.post(f"{base_url}/hf/router/hf-inference/models/{tg}", headers=HF, json={"inputs": FIVE_MIB},
                   timeout=60)
    assert r.status_code == 400 and "too long" in r.json()["error"]


def test_a_prompt_just_over_the_context_is_refused_by_the_engine(base_url):
    """Under the character bound, the engine's own count decides (and the answer is the same 400)."""
    r = httpx.post(f"{base_url}/v1/chat/completions", timeout=60, json={
        "model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "word " * 3000}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


def test_a_token_limit_beyond_the_model_gets_the_providers_400(base_url):
    chat = catalogue.chat("openai")
    limit = catalogue.info("openai", chat).max_output_tokens
    r = httpx.post(f"{base_url}/v1/chat/completions", timeout=60, json={
        "model": chat, "messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": limit + 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_completion_tokens"
    gemini = catalogue.chat("gemini")
    assert catalogue.info("gemini", gemini).max_output_tokens
    r = httpx.post(f"{base_url}/v1beta/models/{gemini}:generateContent", headers=GOOGLE, timeout=60,
                   json={"contents": "Hi", "generationConfig": {"maxOutputTokens": 10**6}})
    assert r.status_code == 400 and "maxOutputTokens" in r.json()["error"]["message"]
