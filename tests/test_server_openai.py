"""The local server with the real ``openai`` and ``groq`` SDKs over real HTTP (OpenAI, Groq, LM Studio)."""
from __future__ import annotations

import base64
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from pydantic import BaseModel

import openai
from openai import OpenAI

from helpers.server.lifecycle import course_headers  # the state token the /_course/* routes need

LOCAL_KEY = "local-test-key"  # pragma: allowlist secret  (a placeholder the local server accepts)
BAD_GROQ_KEY = "gsk_invalid"  # pragma: allowlist secret  (contains "invalid": the server answers 401)


@pytest.fixture
def client(base_url) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=LOCAL_KEY)


def requests_seen(base_url: str, n: int = 20) -> list[dict]:
    return httpx.get(f"{base_url}/_course/requests", params={"n": n}, headers=course_headers()).json()


def ask(client: OpenAI, text: str, **kw):
    return client.chat.completions.create(model="smollm2-135m-instruct", messages=[{"role": "user", "content": text}], **kw)


# ---------------------------------------------------------------- chat completions

def test_plain_chat_has_real_shape_and_usage(client):
    r = ask(client, "Name three colours.")
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert "local" in r.model
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_two_prompts_give_two_answers(client):
    a = ask(client, "Write one sentence about cats.", temperature=0).choices[0].message.content
    b = ask(client, "Write one sentence about volcanoes.", temperature=0).choices[0].message.content
    assert a != b


def test_longer_prompt_counts_more_tokens(client):
    short = ask(client, "Hi", max_tokens=1).usage.prompt_tokens
    long = ask(client, "Hi " * 40, max_tokens=1).usage.prompt_tokens
    assert long > short + 30


def test_max_tokens_cuts_the_answer(client):
    r = ask(client, "Tell me a long story about a dragon.", max_tokens=5)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5


def test_system_message_and_multi_turn(client, base_url):
    messages = [{"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": "What is 2 + 2?"},
                {"role": "assistant", "content": "4."},
                {"role": "user", "content": "And 3 + 3?"}]
    r = client.chat.completions.create(model="smollm2-135m-instruct", messages=messages, max_tokens=20)
    assert r.choices[0].message.content
    sent = requests_seen(base_url, 1)[-1]["body"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]


def test_logprobs_are_real_probabilities(client):
    r = ask(client, "The capital of France is", max_tokens=1, logprobs=True, top_logprobs=5)
    top = r.choices[0].logprobs.content[0].top_logprobs
    assert len(top) == 5
    probs = [np.exp(t.logprob) for t in top]
    assert all(0 < p <= 1 for p in probs) and sum(probs) <= 1.0001
    assert probs == sorted(probs, reverse=True)


def test_streaming_assembles_the_answer_and_reports_usage(client):
    stream = ask(client, "Count from one to five.", stream=True, stream_options={"include_usage": True}, temperature=0)
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            pieces.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert len([p for p in pieces if p]) > 2
    assert "".join(pieces).strip()
    assert finish in ("stop", "length")
    assert usage.completion_tokens > 0


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"]}}}]


def test_tool_call_round_trip(client):
    messages = [{"role": "user", "content": "What's the weather in Madrid, in celsius?"}]
    r = client.chat.completions.create(model="smollm2-135m-instruct", messages=messages, tools=TOOLS)
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args["city"], str) and args["unit"] in ("celsius", "fahrenheit")
    messages.append(r.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21, "sky": "sunny"})})
    final = client.chat.completions.create(model="smollm2-135m-instruct", messages=messages, tools=TOOLS)
    assert final.choices[0].finish_reason in ("stop", "length")
    assert final.choices[0].message.content.strip()


def test_tool_choice_none_and_named(client):
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Weather in Rome?"}],
                                       tools=TOOLS, tool_choice="none", max_tokens=10)
    assert r.choices[0].message.tool_calls is None
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hello"}], tools=TOOLS,
                                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_streamed_tool_call_reassembles(client):
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Weather in Oslo?"}],
                                            tools=TOOLS, stream=True)
    name, args, finish = "", "", None
    for chunk in stream:
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                name += tc.function.name or ""
                args += tc.function.arguments or ""
            finish = c.finish_reason or finish
    assert name == "get_weather" and finish == "tool_calls"
    assert "city" in json.loads(args)


class City(BaseModel):
    name: str
    country: str
    population: int


def test_structured_output_with_parse(client):
    r = client.chat.completions.parse(model="smollm2-135m-instruct", response_format=City,
                                      messages=[{"role": "user", "content": "Describe Paris."}])
    city = r.choices[0].message.parsed
    assert isinstance(city, City)


def test_json_object_mode(client):
    r = ask(client, "Give me a JSON object describing a cat.", response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)


# ---------------------------------------------------------------- Responses API

def test_responses_plain_and_output_text(client):
    r = client.responses.create(model="smollm2-135m-instruct", input="Write one sentence about the sea.",
                                instructions="Be brief.")
    assert r.id.startswith("resp_") and r.status in ("completed", "incomplete")
    assert r.output_text.strip()
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


def test_responses_stream_events(client):
    events = list(client.responses.create(model="smollm2-135m-instruct", input="Say hello.", stream=True))
    kinds = [e.type for e in events]
    # the last event says how it ended: completed, or incomplete when the token limit cut the answer
    ending = "response.incomplete" if events[-1].response.status == "incomplete" else "response.completed"
    assert kinds[0] == "response.created" and kinds[-1] == ending
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and text == events[-1].response.output_text


def test_responses_previous_response_id_resends_history(client):
    first = client.responses.create(model="smollm2-135m-instruct", input="My name is Ada.", max_output_tokens=16)
    second = client.responses.create(model="smollm2-135m-instruct", input="What is my name?",
                                     previous_response_id=first.id, max_output_tokens=16)
    assert second.usage.input_tokens > first.usage.input_tokens


def test_responses_function_call_round_trip(client):
    tools = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
              "parameters": TOOLS[0]["function"]["parameters"]}]
    r = client.responses.create(model="smollm2-135m-instruct", input="Weather in Lima, in celsius?", tools=tools)
    call = next(o for o in r.output if o.type == "function_call")
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    r2 = client.responses.create(model="smollm2-135m-instruct", previous_response_id=r.id, tools=tools,
                                 input=[{"type": "function_call_output", "call_id": call.call_id,
                                         "output": json.dumps({"temp_c": 18})}])
    assert r2.output_text.strip()


def test_responses_structured_parse(client):
    r = client.responses.parse(model="smollm2-135m-instruct", input="Describe Rome.", text_format=City)
    assert isinstance(r.output_parsed, City)


# ---------------------------------------------------------------- models and embeddings

def test_models_list_and_retrieve(client):
    from helpers import models

    ids = [m.id for m in client.models.list()]
    assert models.chat("openai") in ids
    assert client.models.retrieve(models.chat("openai")).id == models.chat("openai")


def cosine(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_embeddings_similarity_base64_default(client):
    texts = ["Keep your API key in a .env file.", "Store secret keys in environment variables.",
             "Bananas are a good source of potassium."]
    r = client.embeddings.create(model="text-embedding-3-small", input=texts)  # the SDK asks for base64
    v = [d.embedding for d in r.data]
    assert len(v) == 3 and len(v[0]) == 384
    assert cosine(v[0], v[1]) > cosine(v[0], v[2])
    assert r.usage.prompt_tokens > 0


def test_embeddings_float_and_dimensions(base_url):
    r = httpx.post(f"{base_url}/v1/embeddings", json={"model": "x", "input": "hello", "encoding_format": "float",
                                                       "dimensions": 64}, headers={"authorization": "Bearer k"})
    vec = r.json()["data"][0]["embedding"]
    assert len(vec) == 64 and abs(np.linalg.norm(vec) - 1) < 1e-3
    r = httpx.post(f"{base_url}/v1/embeddings", json={"model": "x", "input": ["a"], "encoding_format": "base64"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    assert len(np.frombuffer(raw, dtype="<f4")) == 384


# ---------------------------------------------------------------- teaching errors

@pytest.mark.parametrize("directive,exc", [
    ("simulate-403", openai.PermissionDeniedError), ("simulate-404", openai.NotFoundError),
    ("simulate-500", openai.InternalServerError), ("simulate-503", openai.InternalServerError)])
def test_injected_errors_raise_the_sdk_classes(base_url, directive, exc):
    c = OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0)
    with pytest.raises(exc):
        c.chat.completions.create(model=f"smollm2-135m-instruct-{directive}", messages=[{"role": "user", "content": "hi"}])


def test_bad_key_is_401(base_url):
    c = OpenAI(base_url=f"{base_url}/v1", api_key="sk-this-key-is-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        ask(c, "hi")
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"


def test_retired_model_404_names_the_replacement(base_url):
    from helpers import models

    c = OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="gpt-3.5-turbo-0301", messages=[{"role": "user", "content": "hi"}])
    assert models.replacement_for("gpt-3.5-turbo-0301") in str(e.value)


def test_rate_limit_is_retried_twice_by_default(base_url):
    httpx.delete(f"{base_url}/_course/requests", headers=course_headers())
    c = OpenAI(base_url=f"{base_url}/v1", api_key="k")  # default max_retries=2
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="smollm2-135m-instruct-simulate-429", messages=[{"role": "user", "content": "hi"}])
    seen = [r for r in requests_seen(base_url) if r["path"] == "/v1/chat/completions"]
    assert len(seen) == 3 and all(r["status"] == 429 for r in seen)


def test_quota_is_a_429_with_its_own_code(base_url):
    c = OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="smollm2-135m-instruct-simulate-quota", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "insufficient_quota"


def test_header_directive(base_url):
    c = OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0,
               default_headers={"x-course-simulate": "simulate-403"})
    with pytest.raises(openai.PermissionDeniedError):
        ask(c, "hi")


def test_slow_response_times_out(base_url):
    c = OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0, timeout=1.0)
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="smollm2-135m-instruct-simulate-slow-3", messages=[{"role": "user", "content": "hi"}])


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        ask(c, "hi")


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs,status", [
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
    ({"content": b"model=x", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 400),
    ({"json": {"model": "x"}}, 400),
    ({"json": {"model": "x", "messages": []}}, 400),
    ({"json": {"model": "x", "messages": [{"role": "wizard", "content": "hi"}]}}, 400),
    ({"content": b"{" + b" " * (9 * 1024 * 1024) + b"}", "headers": {"content-type": "application/json"}}, 413),
])
def test_bad_input_gets_openai_shaped_4xx(base_url, kwargs, status):
    r = httpx.post(f"{base_url}/v1/chat/completions", timeout=30, **kwargs)
    assert r.status_code == status
    assert set(r.json()["error"]) >= {"message", "type", "code"}
    assert httpx.get(f"{base_url}/_course/health", headers=course_headers()).status_code == 200


def test_unknown_path_is_404_and_server_keeps_serving(base_url, client):
    r = httpx.post(f"{base_url}/v1/no/such/thing", json={})
    assert r.status_code == 404 and "error" in r.json()
    assert ask(client, "Still there?", max_tokens=5).choices[0].message.content


# ---------------------------------------------------------------- Groq and LM Studio

def test_groq_sdk_plain_stream_json_tools_models(base_url):
    import groq

    g = groq.Groq(base_url=base_url, api_key=LOCAL_KEY)
    r = g.chat.completions.create(model="openai/gpt-oss-120b", messages=[{"role": "user", "content": "Hi!"}])
    assert r.choices[0].message.content and r.usage.total_tokens > 0
    pieces = [c.choices[0].delta.content or "" for c in g.chat.completions.create(
        model="openai/gpt-oss-120b", messages=[{"role": "user", "content": "Count to three."}], stream=True)
        if c.choices]
    assert "".join(pieces).strip()
    j = g.chat.completions.create(model="openai/gpt-oss-120b", response_format={"type": "json_object"},
                                  messages=[{"role": "user", "content": "A JSON object about a dog."}])
    assert isinstance(json.loads(j.choices[0].message.content), dict)
    t = g.chat.completions.create(model="openai/gpt-oss-20b", tools=TOOLS,
                                  messages=[{"role": "user", "content": "Weather in Paris?"}])
    assert t.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert "openai/gpt-oss-120b" in [m.id for m in g.models.list().data]


def test_groq_rate_limit_headers_and_errors(base_url):
    import groq

    g = groq.Groq(base_url=base_url, api_key=LOCAL_KEY)
    raw = g.chat.completions.with_raw_response.create(model="openai/gpt-oss-20b",
                                                      messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    assert int(raw.headers["x-ratelimit-remaining-requests"]) >= 0
    assert raw.parse().choices[0].message.content is not None
    httpx.delete(f"{base_url}/_course/requests", headers=course_headers())
    with pytest.raises(groq.RateLimitError):
        g.chat.completions.create(model="openai/gpt-oss-20b-simulate-429", messages=[{"role": "user", "content": "x"}])
    seen = [r for r in requests_seen(base_url) if r["path"] == "/openai/v1/chat/completions"]
    assert len(seen) == 3
    with pytest.raises(groq.AuthenticationError):
        groq.Groq(base_url=base_url, api_key=BAD_GROQ_KEY, max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}])


def test_lmstudio_port_speaks_openai(local_server):
    port = local_server["lmstudio_port"]
    assert port
    c = OpenAI(base_url=f"http://localhost:{port}/v1", api_key="lm-studio")
    assert [m.id for m in c.models.list()]
    r = c.chat.completions.create(model="any-model-name-you-like", messages=[{"role": "user", "content": "Hello"}],
                                  max_tokens=8)
    assert r.choices[0].message.content
    assert requests_seen(local_server["url"], 1)[-1]["provider"] == "lmstudio"


# ---------------------------------------------------------------- inspector, concurrency, loopback

def test_inspector_masks_the_key(base_url):
    fake_key = "sk-proj-" + "Zq8" * 12  # built at run time; not a real key
    OpenAI(base_url=f"{base_url}/v1", api_key=fake_key).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    item = requests_seen(base_url, 1)[-1]
    dumped = json.dumps(item)
    assert fake_key not in dumped and fake_key[-4:] in item["headers"]["authorization"]
    assert item["body"]["messages"][0]["content"] == "hi"


def test_eight_concurrent_clients_get_their_own_answers(client):
    topics = ["cats", "the moon", "bread", "rivers", "chess", "volcanoes", "music", "trains"]

    def one(topic):
        r = client.chat.completions.create(model="m", temperature=0, max_tokens=24,
                                           messages=[{"role": "user", "content": f"Write one sentence about {topic}."}])
        return r.choices[0].message.content, r.usage.prompt_tokens

    sequential = [one(t) for t in topics]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(one, topics))
    assert parallel == sequential  # greedy decoding: each client gets exactly its own answer
    assert len({a for a, _ in parallel}) == 8


def test_server_listens_on_loopback_only(local_server):
    psutil = pytest.importorskip("psutil")
    proc = psutil.Process(local_server["pid"])
    pids = [proc.pid] + [c.pid for c in proc.children(recursive=True)]
    listening = [c for c in psutil.net_connections(kind="inet")
                 if c.pid in pids and c.status == psutil.CONN_LISTEN]
    assert listening, "the server should be listening"
    assert all(c.laddr.ip == "127.0.0.1" for c in listening), listening
