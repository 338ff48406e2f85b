"""The local server with the real ``huggingface_hub.InferenceClient`` (and ``requests``) over real HTTP.

Lesson code stays unchanged: ``helpers.hf_local.enable(base_url)`` sends ``*.huggingface.co`` to the
local server, so the clients below are built exactly as against the real service.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets

import httpx
import numpy as np
import pytest
import requests
from huggingface_hub import AsyncInferenceClient, HfApi, InferenceClient
from huggingface_hub.errors import BadRequestError, HfHubHTTPError

from helpers import hf_local
from helpers import models as catalogue
from helpers.server.lifecycle import course_headers  # the state token the /_course/* routes need

TOKEN = "hf_" + secrets.token_hex(16)  # a fake token made at run time: the auto-router wants the hf_ prefix
CHAT = catalogue.chat("huggingface")
ROUTER_CHAT = "https://router.huggingface.co/v1/chat/completions"


def hf_model(purpose: str) -> str:
    return catalogue.get("huggingface", purpose)


@pytest.fixture
def hf(base_url):
    """Hugging Face calls go to the local server for the test, and back to normal after it."""
    hf_local.enable(base_url)
    try:
        yield InferenceClient(token=TOKEN)
    finally:
        hf_local.disable()


def requests_seen(base_url: str, n: int = 20) -> list[dict]:
    return httpx.get(f"{base_url}/_course/requests", params={"n": n}, headers=course_headers()).json()


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------- the client hook

def test_local_url_rewrites_each_host():
    base = "http://127.0.0.1:9"
    assert hf_local.local_url("https://router.huggingface.co/v1/chat/completions", base) == \
        f"{base}/hf/router/v1/chat/completions"
    assert hf_local.local_url("https://huggingface.co/api/models/a/b?expand=x", base) == f"{base}/hf/hub/api/models/a/b?expand=x"
    assert hf_local.local_url("https://api-inference.huggingface.co/models/gpt2", base) == \
        f"{base}/hf/api-inference/models/gpt2"
    assert hf_local.local_url("https://api.together.xyz/v1/chat/completions", base) is None
    assert hf_local.local_url("https://evilhuggingface.co/x", base) is None


def test_enable_unsets_offline_and_disable_restores_everything(base_url, monkeypatch):
    from huggingface_hub.utils import get_session

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    init_before = requests.Session.__init__
    plain_adapter = type(requests.Session().get_adapter("https://router.huggingface.co/"))
    hf_local.enable(base_url)
    hf_local.enable(base_url)  # idempotent
    try:
        assert "HF_HUB_OFFLINE" not in os.environ
        assert hf_local.is_enabled()
        assert requests.Session.__init__ is not init_before
        adapter = requests.Session().get_adapter("https://router.huggingface.co/v1/chat/completions")
        assert type(adapter) is not plain_adapter
        assert "Redirect" in type(get_session()._transport).__name__
    finally:
        hf_local.disable()
    hf_local.disable()  # safe twice
    assert not hf_local.is_enabled()
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert requests.Session.__init__ is init_before
    assert type(requests.Session().get_adapter("https://router.huggingface.co/")) is plain_adapter
    assert "Redirect" not in type(get_session()._transport).__name__


# ---------------------------------------------------------------- chat through the router

def test_chat_with_a_model_id_goes_to_the_auto_router(hf, base_url):
    r = hf.chat_completion(user("Name three colours."), model=CHAT, max_tokens=30)
    assert r.choices[0].message.content.strip()
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    seen = requests_seen(base_url, 3)[-1]
    assert (seen["method"], seen["path"], seen["provider"]) == ("POST", "/hf/router/v1/chat/completions", "huggingface")
    assert seen["body"]["model"] == CHAT
    assert seen["headers"]["authorization"].endswith(TOKEN[-4:]) and TOKEN not in json.dumps(seen)


def test_openai_style_call_and_provider_suffix(hf, base_url):
    r = hf.chat.completions.create(model=f"{CHAT}:fastest", messages=user("Say hello."), max_tokens=10)
    assert r.choices[0].message.content.strip()
    assert requests_seen(base_url, 1)[-1]["body"]["model"] == f"{CHAT}:fastest"


def test_named_provider_reads_the_hub_mapping_then_calls_its_route(base_url, hf):
    client = InferenceClient(provider="together", token=TOKEN)
    r = client.chat_completion(user("Say hello."), model=CHAT, max_tokens=10)
    assert r.choices[0].message.content.strip()
    paths = [(s["method"], s["path"], s["query"]) for s in requests_seen(base_url, 4)]
    assert ("POST", "/hf/router/together/v1/chat/completions", "") in paths
    info = HfApi(token=TOKEN).model_info(CHAT, expand=["inferenceProviderMapping"])
    providers = {m.provider: m for m in info.inference_provider_mapping}
    assert providers["together"].task == "conversational" and providers["together"].status == "live"


def test_hf_inference_provider_chat_with_json_schema(hf, base_url):
    client = InferenceClient(provider="hf-inference", token=TOKEN)
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"]}
    r = client.chat_completion(user("Name a city and its country."), model=CHAT, max_tokens=60,
                               response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}})
    data = json.loads(r.choices[0].message.content)
    assert set(data) >= {"city", "country"} and all(isinstance(v, str) for v in data.values())
    seen = requests_seen(base_url, 1)[-1]
    assert seen["path"] == f"/hf/router/hf-inference/models/{CHAT}/v1/chat/completions"
    assert seen["body"]["response_format"]["type"] == "json_object"  # the client's TGI spelling, understood


def test_streaming_gives_several_chunks(hf):
    chunks = list(hf.chat_completion(user("Count from one to ten in words."), model=CHAT, max_tokens=40, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3
    assert "".join(pieces).strip()


def test_async_client_uses_the_hook_too(hf):
    async def ask():
        client = AsyncInferenceClient(token=TOKEN)
        return await client.chat_completion(user("Say hi."), model=CHAT, max_tokens=8)

    assert asyncio.run(ask()).choices[0].message.content.strip()


def test_tool_call_round_trip(hf):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages = user("What is the weather in Paris?")
    r = hf.chat_completion(messages, model=hf_model("tools"), tools=tools, tool_choice="auto", max_tokens=80)
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    args = call.function.arguments if isinstance(call.function.arguments, dict) else json.loads(call.function.arguments)
    assert isinstance(args["city"], str) and args["city"]
    messages += [{"role": "assistant", "content": None, "tool_calls": [
                     {"id": call.id, "type": "function",
                      "function": {"name": "get_weather", "arguments": json.dumps(args)}}]},
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 18, "sky": "cloudy"})}]
    final = hf.chat_completion(messages, model=hf_model("tools"), tools=tools, max_tokens=60)
    assert final.choices[0].message.content.strip()
    assert not final.choices[0].message.tool_calls


def test_json_response_format(hf):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    r = hf.chat_completion(user("Invent a person with a name and an age."), model=CHAT, max_tokens=60,
                           response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    data = json.loads(r.choices[0].message.content)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_two_prompts_give_two_answers(hf):
    a = hf.chat_completion(user("Write one sentence about cats."), model=CHAT, max_tokens=30, temperature=0)
    b = hf.chat_completion(user("Write one sentence about volcanoes."), model=CHAT, max_tokens=30, temperature=0)
    assert a.choices[0].message.content != b.choices[0].message.content


# ---------------------------------------------------------------- task helpers

def test_text_classification_is_nested_and_gets_clear_cases_right(hf, base_url):
    pos = hf.text_classification("I love this phone, the camera is fantastic!", model=hf_model("sentiment"))
    seen = requests_seen(base_url, 1)[-1]
    assert seen["path"] == f"/hf/router/hf-inference/models/{hf_model('sentiment')}"
    assert isinstance(seen["response"], list) and isinstance(seen["response"][0], list)  # [[{label, score}, ...]]
    neg = hf.text_classification("This was a horrible waste of time and money.", model=hf_model("sentiment"))
    for result in (pos, neg):
        assert {e.label for e in result} == {"POSITIVE", "NEGATIVE"}
        assert all(0.0 <= e.score <= 1.0 for e in result)
        assert abs(sum(e.score for e in result) - 1.0) < 1e-6
        assert result[0].score >= result[1].score
    assert pos[0].label == "POSITIVE"
    assert neg[0].label == "NEGATIVE"
    assert len(hf.text_classification("Nice!", model=hf_model("sentiment"), top_k=1)) == 1


def test_task_without_a_model_uses_the_recommended_one(hf, base_url):
    result = hf.text_classification("What a wonderful surprise, thank you!")
    assert result[0].label in ("POSITIVE", "NEGATIVE")
    paths = [s["path"] for s in requests_seen(base_url, 6)]
    assert "/hf/hub/api/tasks" in paths
    assert f"/hf/router/hf-inference/models/{hf_model('sentiment')}" in paths


def test_token_classification_finds_names_with_true_offsets(hf):
    text = "Ada Lovelace worked with Charles Babbage in London."
    entities = hf.token_classification(text, model=hf_model("ner"))
    found = {e.word: e for e in entities}
    assert {"Ada Lovelace", "Charles Babbage", "London"} <= set(found)
    for e in entities:
        assert text[e.start:e.end] == e.word
        assert e.entity_group in ("PER", "ORG", "LOC", "MISC")
        assert 0.0 < e.score <= 1.0
    assert found["Ada Lovelace"].entity_group == "PER"
    assert found["London"].entity_group == "LOC"


TEXT = ("Scientists have discovered a new species of frog in the rainforests of Ecuador. The tiny amphibian, "
        "which is smaller than a fingernail, has bright orange skin and a call that sounds like a cricket. "
        "Researchers say its habitat is threatened by logging and mining, and they want the area protected.")


def test_summarization(hf):
    out = hf.summarization(TEXT, model=hf_model("summarization"))
    assert out.summary_text.strip()
    assert len(out.summary_text) < len(TEXT)
    assert "frog" in out.summary_text.lower()
    short = hf.summarization(TEXT, model=hf_model("summarization"), generate_parameters={"max_length": 12})
    assert 0 < len(short.summary_text.split()) <= 14


def test_a_summary_is_one_of_the_texts_own_sentences_every_time(hf):
    """Issue 13: written freely, the tiny model's summary could reverse the article. It picks a sentence instead
    (the model chooses, held to the text's sentences), whatever the text; the inspector says so."""
    import helpers

    news = ["The city council approved a new bike lane on Main Street on Tuesday. Construction starts in March and "
            "will take six weeks. Shop owners worry about losing parking spaces.",
            "A heavy storm hit the north coast of Spain on Sunday night. Winds reached 140 kilometres an hour and "
            "thousands of homes lost power. Schools will stay closed on Monday.", TEXT]
    for text in news:
        summary = hf.summarization(text, model=hf_model("summarization")).summary_text
        sentences = [s.strip() for s in text.replace(". ", ".\n").splitlines()]
        assert summary in sentences, summary
        assert "picked one of the text's own sentences" in helpers.server.last_requests(1)[0]["emulation"][0]


def test_translation_target_from_model_id_or_parameters(hf, base_url):
    text = "Good morning, how are you?"
    out = hf.translation(text, model=hf_model("translation"))  # Helsinki-NLP/opus-mt-en-fr: into French
    assert out.translation_text.strip() and out.translation_text != text
    out = hf.translation(text, model="some-lab/any-translator", src_lang="en", tgt_lang="de")
    assert out.translation_text.strip()
    seen = requests_seen(base_url, 1)[-1]
    assert seen["body"]["parameters"] == {"src_lang": "en", "tgt_lang": "de"}
    assert any("translation" in n and "German" in n for n in seen.get("emulation") or []), seen.get("emulation")
    with pytest.raises(BadRequestError) as err:
        hf.translation(text, model="some-lab/any-translator")
    assert "tgt_lang" in err.value.server_message


def test_feature_extraction_shapes_and_meaning(hf):
    model = hf_model("embeddings")
    one = hf.feature_extraction("A cat sits on the mat.", model=model)
    assert isinstance(one, np.ndarray) and one.shape == (384,)
    many = hf.feature_extraction(["A cat sits on the mat.", "A kitten is resting on a rug.",
                                  "Interest rates rose by half a percent."], model=model)
    assert many.shape == (3, 384)
    assert cosine(many[0], many[1]) > cosine(many[0], many[2])
    assert cosine(one, many[0]) > 0.99
    scores = hf.sentence_similarity("I like cats", ["I love cats", "The stock market fell"], model=model)
    assert scores[0] > scores[1]


def test_text_generation_plain_details_full_text_and_stream(hf, base_url):
    model = hf_model("text_generation")
    prompt = "Once upon a time, in a small village,"
    text = hf.text_generation(prompt, model=model, max_new_tokens=20)
    assert isinstance(text, str) and text.strip() and not text.startswith(prompt)
    seen = requests_seen(base_url, 1)[-1]
    assert seen["path"] == f"/hf/router/hf-inference/models/{model}"
    assert seen["body"] == {"inputs": prompt, "parameters": {"max_new_tokens": 20}}
    full = hf.text_generation(prompt, model=model, max_new_tokens=8, return_full_text=True)
    assert full.startswith(prompt) and len(full) > len(prompt)
    detailed = hf.text_generation(prompt, model=model, max_new_tokens=5, details=True)
    assert detailed.details.finish_reason in ("length", "eos_token", "stop_sequence")
    assert detailed.details.generated_tokens <= 5 and detailed.details.tokens
    pieces = list(hf.text_generation(prompt, model=model, max_new_tokens=8, stream=True))
    assert len(pieces) >= 3 and "".join(pieces).strip()
    other = hf.text_generation("The three primary colours are", model="some-lab/unknown-base-model", max_new_tokens=12)
    assert other.strip() and other != text


# ---------------------------------------------------------------- plain requests (the JSON lesson)

def test_requests_post_to_router_chat_and_task_url(hf):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post(ROUTER_CHAT, headers=headers, timeout=120,
                      json={"model": CHAT, "messages": user("Say hello."), "max_tokens": 10})
    assert r.status_code == 200 and "x-course-local" in r.headers
    assert r.json()["choices"][0]["message"]["content"].strip()
    url = f"https://router.huggingface.co/hf-inference/models/{hf_model('sentiment')}"
    r = requests.post(url, headers=headers, json={"inputs": "I really like this!"}, timeout=120)
    assert r.status_code == 200
    data = r.json()
    assert isinstance(data, list) and isinstance(data[0], list) and {"label", "score"} <= set(data[0][0])


def test_requests_without_token_and_retired_url(hf):
    r = requests.post(ROUTER_CHAT, json={"model": CHAT, "messages": user("hi")}, timeout=60)
    assert r.status_code == 401 and "token" in r.json()["error"]
    r = requests.post("https://api-inference.huggingface.co/models/gpt2", json={"inputs": "hi"},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert r.status_code == 410 and "router.huggingface.co" in r.json()["error"]


def test_other_router_and_hub_endpoints(hf, base_url):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post("https://router.huggingface.co/together/v1/completions", headers=headers, timeout=120,
                      json={"model": CHAT, "prompt": "The sky is", "max_tokens": 6})
    assert r.status_code == 200 and r.json()["object"] == "text_completion" and r.json()["choices"][0]["text"]
    r = requests.post("https://router.huggingface.co/together/v1/embeddings", headers=headers, timeout=60,
                      json={"model": hf_model("embeddings"), "input": ["a cat", "a dog"]})
    assert r.status_code == 200 and len(r.json()["data"]) == 2 and len(r.json()["data"][0]["embedding"]) == 384
    listed = requests.get("https://router.huggingface.co/v1/models", headers=headers, timeout=30).json()
    assert CHAT in {m["id"] for m in listed["data"]}
    assert HfApi(token=TOKEN).whoami()["name"]
    r = requests.get("https://huggingface.co/some-org/some-model/resolve/main/config.json", timeout=30)
    assert r.status_code == 404 and "live mode" in r.json()["error"]


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("directive, status", [("simulate-401", 401), ("simulate-quota", 402), ("simulate-403", 403),
                                               ("simulate-429", 429), ("simulate-503", 503)])
def test_teaching_errors_raise_hf_errors(hf, directive, status):
    with pytest.raises(HfHubHTTPError) as err:
        hf.chat_completion(user("hi"), model=f"{CHAT}-{directive}", max_tokens=5)
    assert err.value.response.status_code == status
    assert err.value.server_message


def test_task_errors_and_bad_key(hf, base_url):
    with pytest.raises(HfHubHTTPError) as err:
        hf.text_classification("fine", model="my-org/sentiment-simulate-quota")
    assert err.value.response.status_code == 402 and "credits" in err.value.server_message
    with pytest.raises(HfHubHTTPError) as err:
        InferenceClient(token="hf_invalid_course_key").chat_completion(user("hi"), model=CHAT, max_tokens=5)
    assert err.value.response.status_code == 401


def test_404_names_a_current_model(hf):
    with pytest.raises(HfHubHTTPError) as err:
        hf.chat_completion(user("hi"), model="some-org/old-model-simulate-404", max_tokens=5)
    assert err.value.response.status_code == 404 and CHAT in err.value.server_message
    with pytest.raises(HfHubHTTPError) as err:  # gpt2 is retired: the message names its replacement
        hf.text_generation("Hello", model="gpt2")
    assert err.value.response.status_code == 404 and catalogue.replacement_for("gpt2") in err.value.server_message


def test_malformed_json_is_a_400_and_the_server_keeps_serving(base_url):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    r = httpx.post(f"{base_url}/hf/router/v1/chat/completions", content=b'{"model": "x", "messages": [', headers=headers)
    assert r.status_code == 400 and isinstance(r.json()["error"], str) and "JSON" in r.json()["error"]
    r = httpx.post(f"{base_url}/hf/router/v1/chat/completions", json={"model": CHAT}, headers=headers)
    assert r.status_code == 400 and "messages" in r.json()["error"]
    r = httpx.post(f"{base_url}/hf/router/hf-inference/models/{hf_model('sentiment')}", json={"parameters": {}},
                   headers=headers)
    assert r.status_code == 400 and "inputs" in r.json()["error"]
    r = httpx.post(f"{base_url}/hf/router/nowhere/at/all", json={}, headers=headers)
    assert r.status_code == 404 and isinstance(r.json()["error"], str)
    r = httpx.post(f"{base_url}/hf/router/v1/chat/completions", headers=headers, timeout=120,
                   json={"model": CHAT, "messages": user("Say hi."), "max_tokens": 5})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"].strip()


def test_client_raises_bad_request_for_a_400(hf):
    with pytest.raises(BadRequestError):
        hf.chat_completion([{"content": "no role here"}], model=CHAT, max_tokens=5)
