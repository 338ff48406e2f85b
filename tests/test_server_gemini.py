"""The local server with the real ``google-genai`` SDK over real HTTP (Gemini's wire protocol)."""
from __future__ import annotations

import base64
import uuid
from typing import Literal

import httpx
import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from google import genai
from google.genai import errors, types

from helpers import models as catalogue
from helpers.server.lifecycle import course_headers  # the state token the /_course/* routes need

# A 1x1 PNG, for the image-part test.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
# The protocol tests use a model that honours temperature and candidate_count (gemini-2.5-flash-lite);
# tests/test_model_rules.py covers what the course's default Gemini 3 model accepts and ignores.
CHAT = "gemini-2.5-flash-lite"
EMBED = catalogue.get("gemini", "embeddings")
KEY_HEADER = {"x-goog-api-key": "local-test-key"}
HTTP_TIMEOUT = 120  # seconds: generous, a busy CI machine runs the model slowly


def make_client(base_url: str, api_key: str = "local-test-key", **http: object) -> genai.Client:
    return genai.Client(api_key=api_key, http_options=types.HttpOptions(base_url=base_url, **http))


@pytest.fixture
def client(base_url) -> genai.Client:
    return make_client(base_url)


def requests_seen(base_url: str, n: int = 20) -> list[dict]:
    return httpx.get(f"{base_url}/_course/requests", params={"n": n}, headers=course_headers(),
                     timeout=HTTP_TIMEOUT).json()


def last_body(base_url: str, action: str = ":generateContent") -> dict:
    """The body of the most recent request whose path ends with ``action``."""
    return [r for r in requests_seen(base_url) if r["path"].endswith(action)][-1]["body"]


def cosine(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------- generateContent

def test_plain_generate_content(client, base_url):
    r = client.models.generate_content(model=CHAT, contents="Name three colours.",
                                       config=types.GenerateContentConfig(max_output_tokens=40))
    assert r.text.strip()
    u = r.usage_metadata
    assert u.prompt_token_count > 0 and u.candidates_token_count > 0
    assert u.total_token_count == u.prompt_token_count + u.candidates_token_count
    assert "local" in r.model_version
    assert r.response_id
    assert r.candidates[0].content.role == "model"
    assert r.candidates[0].finish_reason in (types.FinishReason.STOP, types.FinishReason.MAX_TOKENS)
    seen = [x for x in requests_seen(base_url, 5) if x["path"].endswith(f"/models/{CHAT}:generateContent")][-1]
    assert seen["status"] == 200
    assert seen["body"]["contents"] == [{"role": "user", "parts": [{"text": "Name three colours."}]}]


def test_v1beta_client(base_url):
    client = make_client(base_url, api_version="v1beta")
    r = client.models.generate_content(model=CHAT, contents="Say hello.", config={"max_output_tokens": 20})
    assert r.text.strip()
    assert requests_seen(base_url, 1)[-1]["path"] == f"/v1beta/models/{CHAT}:generateContent"


def test_two_prompts_give_two_answers(client):
    cfg = types.GenerateContentConfig(temperature=0, max_output_tokens=30)
    a = client.models.generate_content(model=CHAT, contents="Write one sentence about cats.", config=cfg).text
    b = client.models.generate_content(model=CHAT, contents="Write one sentence about volcanoes.", config=cfg).text
    assert a and b and a != b


def test_system_instruction_and_max_output_tokens(client, base_url):
    cfg = types.GenerateContentConfig(system_instruction="You are a pirate.", max_output_tokens=5,
                                      temperature=0.5, top_p=0.9, seed=7, stop_sequences=["###"])
    r = client.models.generate_content(model=CHAT, contents="Tell me a long story about a dragon.", config=cfg)
    assert r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert r.usage_metadata.candidates_token_count == 5
    body = last_body(base_url)
    assert body["systemInstruction"]["parts"][0]["text"] == "You are a pirate."
    assert body["generationConfig"]["maxOutputTokens"] == 5


def test_seed_and_zero_temperature_repeat_the_answer(client):
    cfg = types.GenerateContentConfig(temperature=0, seed=1, max_output_tokens=20)
    a = client.models.generate_content(model=CHAT, contents="Describe the sea.", config=cfg).text
    b = client.models.generate_content(model=CHAT, contents="Describe the sea.", config=cfg).text
    assert a == b


def test_multi_turn_contents(client, base_url):
    contents = [types.Content(role="user", parts=[types.Part(text="What is 2 + 2?")]),
                types.Content(role="model", parts=[types.Part(text="4.")]),
                types.Content(role="user", parts=[types.Part(text="And 3 + 3?")])]
    r = client.models.generate_content(model=CHAT, contents=contents,
                                       config=types.GenerateContentConfig(max_output_tokens=20))
    assert r.text
    assert [c["role"] for c in last_body(base_url)["contents"]] == ["user", "model", "user"]


def test_chat_session_resends_the_history(client, base_url):
    chat = client.chats.create(model=CHAT, config=types.GenerateContentConfig(max_output_tokens=30))
    first = chat.send_message("My name is Ada.")
    assert first.text
    second = chat.send_message("What is my name?")
    assert second.text
    contents = last_body(base_url)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"][0]["text"] == "My name is Ada."
    assert contents[1]["parts"][0]["text"] == first.text
    assert contents[2]["parts"][0]["text"] == "What is my name?"
    assert len(chat.get_history()) == 4


def test_image_part_is_described_not_seen(client, base_url):
    r = client.models.generate_content(
        model=CHAT, contents=[types.Part.from_bytes(data=PNG, mime_type="image/png"), "What is in this picture?"],
        config=types.GenerateContentConfig(max_output_tokens=30))
    assert r.text
    assert "inlineData" in last_body(base_url)["contents"][0]["parts"][0]
    # the note replaces the image in the prompt: it is counted as text tokens
    count = client.models.count_tokens(
        model=CHAT, contents=[types.Part.from_bytes(data=PNG, mime_type="image/png")]).total_tokens
    assert count > 10


def test_rest_style_bare_string_contents(base_url):
    r = httpx.post(f"{base_url}/v1beta/models/{CHAT}:generateContent", headers=KEY_HEADER,
                   timeout=HTTP_TIMEOUT, json={"contents": "Say hi.",
                                               "system_instruction": {"parts": [{"text": "Be brief."}]},
                                               "generation_config": {"max_output_tokens": 3}})
    assert r.status_code == 200
    data = r.json()
    assert data["candidates"][0]["content"]["parts"][0]["text"]
    assert data["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert data["usageMetadata"]["candidatesTokenCount"] == 3


def test_candidate_count(client):
    cfg = types.GenerateContentConfig(candidate_count=2, max_output_tokens=5, temperature=1.0)
    r = client.models.generate_content(model=CHAT, contents="Name an animal.", config=cfg)
    assert [c.index for c in r.candidates] == [0, 1]
    assert all(c.content.parts[0].text for c in r.candidates)
    assert 2 <= r.usage_metadata.candidates_token_count <= 10  # both candidates counted, 5 tokens at most each
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model=CHAT, contents="hi", config={"candidate_count": 99})
    assert e.value.code == 400 and "candidateCount" in e.value.message


# ---------------------------------------------------------------- streaming

def test_streaming_gives_several_chunks_and_usage_at_the_end(client, base_url):
    chunks = list(client.models.generate_content_stream(
        model=CHAT, contents="Tell me a short story about a fox.",
        config=types.GenerateContentConfig(max_output_tokens=40)))
    assert len(chunks) > 1
    text = "".join(c.text or "" for c in chunks)
    assert text.strip()
    last = chunks[-1]
    assert last.candidates[0].finish_reason in (types.FinishReason.STOP, types.FinishReason.MAX_TOKENS)
    assert last.usage_metadata.candidates_token_count > 0
    assert last.usage_metadata.total_token_count == (last.usage_metadata.prompt_token_count
                                                      + last.usage_metadata.candidates_token_count)
    seen = [x for x in requests_seen(base_url, 5) if x["path"].endswith(":streamGenerateContent")][-1]
    assert seen["query"] == "alt=sse" and seen["streamed"]
    events = [ln for ln in seen["response"].splitlines() if ln]
    assert all(ln.startswith("data: {") for ln in events)
    assert not any("[DONE]" in ln for ln in events)


# ---------------------------------------------------------------- structured output

class City(BaseModel):
    name: str
    country: str


def test_structured_output_with_a_pydantic_model(client, base_url):
    cfg = types.GenerateContentConfig(response_mime_type="application/json", response_schema=City)
    r = client.models.generate_content(model=CHAT, contents="Give me one city in Japan.", config=cfg)
    assert isinstance(r.parsed, City)
    assert last_body(base_url)["generationConfig"]["responseSchema"]["type"] == "OBJECT"


def test_structured_output_with_a_list_of_models(client):
    cfg = types.GenerateContentConfig(response_mime_type="application/json", response_schema=list[City])
    r = client.models.generate_content(model=CHAT, contents="Give me two cities in Japan.", config=cfg)
    assert isinstance(r.parsed, list)
    assert all(isinstance(c, City) for c in r.parsed)


def test_structured_output_with_a_dict_json_schema(client, base_url):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}, "unit": {"type": "string"}},
              "required": ["answer", "unit"]}
    cfg = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema)
    r = client.models.generate_content(model=CHAT, contents="How many legs has a spider?", config=cfg)
    assert isinstance(r.parsed, dict)
    assert isinstance(r.parsed["answer"], int) and isinstance(r.parsed["unit"], str)
    assert "responseJsonSchema" in last_body(base_url)["generationConfig"]


def test_enum_output(client):
    import enum

    class Mood(enum.Enum):
        HAPPY = "happy"
        SAD = "sad"

    cfg = types.GenerateContentConfig(response_mime_type="text/x.enum", response_schema=Mood)
    r = client.models.generate_content(model=CHAT, contents="I won the lottery! How do I feel?", config=cfg)
    assert r.text in ("happy", "sad")
    assert isinstance(r.parsed, Mood)
    streamed = "".join(c.text or "" for c in client.models.generate_content_stream(
        model=CHAT, contents="I lost my keys. How do I feel?", config=cfg))
    assert streamed in ("happy", "sad")


# ---------------------------------------------------------------- function calling

WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Get the current weather in a city.",
    parameters=types.Schema(type="OBJECT", properties={
        "city": types.Schema(type="STRING", description="The city name"),
        "unit": types.Schema(type="STRING", enum=["celsius", "fahrenheit"])}, required=["city", "unit"]))
TIME = types.FunctionDeclaration(
    name="get_time", description="Get the local time in a city.",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]))


class WeatherArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str
    unit: Literal["celsius", "fahrenheit"]


def test_function_call_then_round_trip(client, base_url):
    cfg = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    question = types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")])
    r = client.models.generate_content(model=CHAT, contents=[question], config=cfg)
    call = r.function_calls[0]
    assert call.name == "get_weather"
    WeatherArgs.model_validate(call.args)
    decl = last_body(base_url)["tools"][0]["functionDeclarations"][0]
    assert decl["parameters"]["type"] == "OBJECT"

    result = types.Part.from_function_response(name="get_weather", response={"temperature": 21, "sky": "sunny"})
    contents = [question, r.candidates[0].content, types.Content(role="user", parts=[result])]
    final = client.models.generate_content(model=CHAT, contents=contents, config=cfg)
    assert not final.function_calls
    assert final.text.strip()
    assert [c["role"] for c in last_body(base_url)["contents"]] == ["user", "model", "user"]


def test_function_calling_modes(client):
    tools = [types.Tool(function_declarations=[WEATHER, TIME])]
    forced = types.GenerateContentConfig(tools=tools, tool_config=types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode="ANY", allowed_function_names=["get_time"])))
    r = client.models.generate_content(model=CHAT, contents="What is the weather in Rome?", config=forced)
    assert r.function_calls[0].name == "get_time"
    assert isinstance(r.function_calls[0].args["city"], str)
    off = types.GenerateContentConfig(tools=tools, max_output_tokens=20, tool_config=types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode="NONE")))
    r = client.models.generate_content(model=CHAT, contents="What is the weather in Rome?", config=off)
    assert not r.function_calls and r.text


def test_automatic_function_calling_with_a_python_function(client, base_url):
    calls: list[str] = []

    def get_temperature(city: str) -> dict:
        """Get the current temperature in a city, in degrees Celsius."""
        calls.append(city)
        return {"city": city, "celsius": 21}

    get_temperature.__annotations__ = {"city": str, "return": dict}  # types, not strings, for google-genai 2.x

    chat = client.chats.create(model=CHAT, config=types.GenerateContentConfig(tools=[get_temperature],
                                                                             max_output_tokens=40))
    r = chat.send_message("What is the temperature in Oslo?")
    assert calls and isinstance(calls[0], str)
    assert r.text.strip()
    bodies = [x["body"] for x in requests_seen(base_url, 5) if x["path"].endswith(":generateContent")][-2:]
    decl = bodies[0]["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_temperature"
    assert "parameters_json_schema" in decl or "parametersJsonSchema" in decl  # what google-genai sends
    assert any("functionResponse" in p for p in bodies[1]["contents"][-1]["parts"])


def test_streamed_function_call(client):
    cfg = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    chunks = list(client.models.generate_content_stream(model=CHAT, contents="Weather in Lima?", config=cfg))
    calls = [fc for c in chunks for fc in (c.function_calls or [])]
    assert calls[0].name == "get_weather"
    WeatherArgs.model_validate(calls[0].args)


# ---------------------------------------------------------------- tokens and embeddings

def test_count_tokens(client):
    short = client.models.count_tokens(model=CHAT, contents="Hello there.").total_tokens
    long = client.models.count_tokens(model=CHAT, contents="Hello there. " * 20).total_tokens
    assert short > 0
    assert long > short * 10


def test_embed_one_text(client):
    r = client.models.embed_content(model=EMBED, contents="The cat sat on the mat.")
    assert len(r.embeddings) == 1
    v = np.asarray(r.embeddings[0].values)
    assert v.shape == (384,)
    assert abs(np.linalg.norm(v) - 1) < 1e-3


def test_embed_several_texts_similarity_and_dimensions(client, base_url):
    texts = ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "Interest rates rose by half a point."]
    r = client.models.embed_content(model=EMBED, contents=texts,
                                    config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT"))
    a, b, c = (e.values for e in r.embeddings)
    assert cosine(a, b) > cosine(a, c)
    assert cosine(a, b) > cosine(b, c)
    small = client.models.embed_content(model=EMBED, contents=texts,
                                        config=types.EmbedContentConfig(output_dimensionality=128))
    assert [len(e.values) for e in small.embeddings] == [128, 128, 128]
    assert abs(np.linalg.norm(small.embeddings[0].values) - 1) < 1e-3
    assert last_body(base_url, ":batchEmbedContents")["requests"][0]["outputDimensionality"] == 128


def test_embed_content_rest_endpoint(base_url):
    r = httpx.post(f"{base_url}/v1beta/models/{EMBED}:embedContent", headers=KEY_HEADER,
                   timeout=HTTP_TIMEOUT, json={"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 128})
    assert r.status_code == 200
    assert len(r.json()["embedding"]["values"]) == 128


# ---------------------------------------------------------------- models

def test_models_list_and_get(client):
    names = [m.name for m in client.models.list()]
    assert f"models/{CHAT}" in names and f"models/{EMBED}" in names
    for mid in catalogue.catalogue()["gemini"]["fallbacks"]:
        assert f"models/{mid}" in names
    m = client.models.get(model=CHAT)
    assert m.name == f"models/{CHAT}"
    assert "generateContent" in m.supported_actions
    assert m.input_token_limit > 0 and m.output_token_limit > 0
    assert "local" in m.description


def test_models_list_pages(client):
    pager = client.models.list(config={"page_size": 1})
    assert len(pager.page) == 1
    assert len(list(pager)) == len({m.name for m in client.models.list()})


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("directive, exc, code, status", [
    ("simulate-429", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ("simulate-quota", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ("simulate-403", errors.ClientError, 403, "PERMISSION_DENIED"),
    ("simulate-404", errors.ClientError, 404, "NOT_FOUND"),
    ("simulate-500", errors.ServerError, 500, "INTERNAL"),
    ("simulate-503", errors.ServerError, 503, "UNAVAILABLE"),
    ("simulate-region", errors.ClientError, 400, "FAILED_PRECONDITION"),
])
def test_injected_errors(client, directive, exc, code, status):
    with pytest.raises(exc) as e:
        client.models.generate_content(model=f"{CHAT}-{directive}", contents="hi")
    assert e.value.code == code and e.value.status == status
    if directive == "simulate-quota":
        assert "quota" in e.value.message
    if directive == "simulate-404":
        assert CHAT in e.value.message
    if directive == "simulate-region":
        assert "User location is not supported" in e.value.message


def test_bad_key_is_400_api_key_not_valid(base_url):
    client = make_client(base_url, api_key="my-invalid-key")
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model=CHAT, contents="hi")
    assert e.value.code == 400 and "API key not valid" in e.value.message


def test_retired_model_is_404_naming_the_replacement(client):
    retired = catalogue.retired()
    old = "gemini-1.5-flash"
    assert old in retired
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model=old, contents="hi")
    assert e.value.code == 404 and retired[old] in e.value.message
    with pytest.raises(errors.ClientError) as e:
        client.models.get(model=old)
    assert e.value.code == 404


def test_slow_model_times_out(base_url):
    client = make_client(base_url, timeout=1000)  # milliseconds
    with pytest.raises(Exception) as e:
        client.models.generate_content(model=f"{CHAT}-simulate-slow-3", contents="hi")
    assert "Timeout" in type(e.value).__name__


def test_retry_options_retry_a_503(base_url):
    model = f"{CHAT}-simulate-503-{uuid.uuid4().hex[:8]}"  # a unique path to count in the inspector
    client = make_client(base_url, retry_options=types.HttpRetryOptions(attempts=3, initial_delay=0.1, max_delay=0.2))
    with pytest.raises(errors.ServerError):
        client.models.generate_content(model=model, contents="hi")
    seen = [r for r in requests_seen(base_url, 10) if r["path"].endswith(f"/models/{model}:generateContent")]
    assert len(seen) == 3 and all(r["status"] == 503 for r in seen)


def test_malformed_json_is_a_gemini_400_and_the_server_keeps_serving(base_url, client):
    headers = {**KEY_HEADER, "content-type": "application/json"}
    r = httpx.post(f"{base_url}/v1beta/models/x:generateContent", content=b'{"contents": [', headers=headers,
                   timeout=HTTP_TIMEOUT)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT" and err["message"]
    r = httpx.post(f"{base_url}/v1beta/models/x:generateContent", json={"generationConfig": {}}, headers=headers,
                   timeout=HTTP_TIMEOUT)
    assert r.status_code == 400 and "contents" in r.json()["error"]["message"]
    assert client.models.generate_content(model=CHAT, contents="Still there?", config={"max_output_tokens": 10}).text


def test_unknown_method_is_a_gemini_404(base_url):
    r = httpx.post(f"{base_url}/v1beta/models/{CHAT}:fooBar", json={}, headers=KEY_HEADER,
                   timeout=HTTP_TIMEOUT)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"
