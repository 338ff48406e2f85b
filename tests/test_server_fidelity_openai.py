"""Fidelity of the local server's OpenAI and Groq side (issue 15), with the real SDKs over real HTTP.

What the maintainers' own examples rely on: pydantic tool schemas with ``$defs``, structured outputs with
nested models and enums, parallel tool calls (OpenAI, Groq, Gemini), a streamed structured output longer
than the default limit, ``response.incomplete``, stored and background responses, counting input tokens,
the legacy completions endpoint and the ``x-request-id`` header.
"""
from __future__ import annotations

import enum
import json
import time

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

from helpers.server.engine import DEFAULT_MAX_TOKENS

LOCAL_KEY = "local-test-key"  # pragma: allowlist secret  (a placeholder the local server accepts)
MODEL = "gpt-4o-mini"  # a chat model that takes temperature and the legacy max_tokens (see helpers/models.toml)
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
WEATHER_RESPONSES = [{"type": "function", "name": "get_weather", "description": "The current weather in a city",
                      "parameters": WEATHER[0]["function"]["parameters"]}]
TWO_CITIES = "Is it sunny in Madrid and in Paris?"
ONE_CITY = "What's the weather in Madrid?"


@pytest.fixture
def client(base_url) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=LOCAL_KEY)


def ask(client: OpenAI, text: str, **kw):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], **kw)


def cities(calls) -> list[str]:
    return [json.loads(c.function.arguments)["city"] for c in calls]


# ---------------------------------------------------------------- schemas with $defs

class Unit(str, enum.Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Place(BaseModel):
    city: str
    country: str


class GetWeather(BaseModel):
    """The current weather at a place."""
    place: Place
    unit: Unit


def test_pydantic_function_tool_with_defs_gives_a_valid_call(client):
    tool = openai.pydantic_function_tool(GetWeather)
    assert "$defs" in tool["function"]["parameters"]  # what made the server answer 400 before
    r = ask(client, "What's the weather in Oslo, Norway, in celsius?", tools=[tool])
    call = r.choices[0].message.tool_calls[0]
    args = GetWeather.model_validate_json(call.function.arguments)  # nested model and enum resolved
    assert call.function.name == "GetWeather" and args.place.city == "Oslo" and args.unit is Unit.celsius


def test_two_tools_whose_defs_share_names_are_kept_apart(client):
    first = openai.pydantic_function_tool(GetWeather)
    # another tool with a definition named "Unit" too, and another meaning
    second = {"type": "function", "function": {"name": "pick_size", "description": "Pick a size", "parameters": {
        "type": "object", "properties": {"size": {"$ref": "#/$defs/Unit"}}, "required": ["size"],
        "$defs": {"Unit": {"type": "string", "enum": ["small", "large"]}}}}}
    r = ask(client, "Pick the large size.", tools=[first, second], tool_choice={"type": "function",
                                                                              "function": {"name": "pick_size"}})
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "pick_size"
    assert json.loads(call.function.arguments)["size"] in ("small", "large")  # pick_size's Unit, not GetWeather's


def test_responses_function_tool_with_defs(client):
    params = GetWeather.model_json_schema()
    r = client.responses.create(model=MODEL, input="Weather in Lima, Peru, in fahrenheit?",
                                tools=[{"type": "function", "name": "get_weather", "parameters": params}])
    call = next(o for o in r.output if o.type == "function_call")
    assert GetWeather.model_validate_json(call.arguments).place.city == "Lima"


class Step(BaseModel):
    explanation: str
    output: str


class Difficulty(str, enum.Enum):
    easy = "easy"
    hard = "hard"


class MathAnswer(BaseModel):
    steps: list[Step]
    final_answer: str
    difficulty: Difficulty


def test_structured_outputs_with_nested_models_and_enums(client):
    chat = client.chat.completions.parse(model=MODEL, response_format=MathAnswer, messages=[
        {"role": "system", "content": "You are a helpful math tutor."},
        {"role": "user", "content": "Solve 8x + 31 = 2."}])
    parsed = chat.choices[0].message.parsed
    assert isinstance(parsed, MathAnswer) and isinstance(parsed.difficulty, Difficulty)
    resp = client.responses.parse(model=MODEL, input="Solve 2x = 4.", text_format=MathAnswer)
    assert isinstance(resp.output_parsed, MathAnswer)


# ---------------------------------------------------------------- parallel tool calls

def test_two_cities_give_two_calls_one_city_one(client):
    both = ask(client, TWO_CITIES, tools=WEATHER).choices[0]
    assert both.finish_reason == "tool_calls"
    assert sorted(cities(both.message.tool_calls)) == ["Madrid", "Paris"]
    assert len({c.id for c in both.message.tool_calls}) == 2
    one = ask(client, ONE_CITY, tools=WEATHER).choices[0].message.tool_calls
    assert cities(one) == ["Madrid"]


def test_parallel_tool_calls_false_gives_exactly_one(client):
    calls = ask(client, TWO_CITIES, tools=WEATHER, parallel_tool_calls=False).choices[0].message.tool_calls
    assert len(calls) == 1 and cities(calls)[0] in ("Madrid", "Paris")


def test_streamed_parallel_calls_carry_their_index(client):
    found: dict[int, dict] = {}
    for chunk in ask(client, TWO_CITIES, tools=WEATHER, stream=True):
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            slot = found.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            slot["id"] = delta.id or slot["id"]
            slot["name"] += (delta.function.name or "") if delta.function else ""
            slot["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert sorted(found) == [0, 1]
    assert sorted(json.loads(s["arguments"])["city"] for s in found.values()) == ["Madrid", "Paris"]
    assert all(s["id"] and s["name"] == "get_weather" for s in found.values())


def test_stream_manager_assembles_parallel_calls(client):
    with client.chat.completions.stream(model=MODEL, messages=[{"role": "user", "content": TWO_CITIES}],
                                        tools=WEATHER) as stream:
        final = stream.get_final_completion()
    assert sorted(cities(final.choices[0].message.tool_calls)) == ["Madrid", "Paris"]


def test_several_tool_results_are_answered_in_words(client):
    messages = [{"role": "user", "content": TWO_CITIES}]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=WEATHER).choices[0].message
    messages.append(reply.model_dump(exclude_none=True))
    for call, weather in zip(reply.tool_calls, ["sunny, 24 C", "rainy, 12 C"]):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": weather})
    answer = client.chat.completions.create(model=MODEL, messages=messages, tools=WEATHER).choices[0]
    assert answer.message.tool_calls is None and answer.message.content.strip()


def test_responses_parallel_function_calls_and_their_outputs(client):
    first = client.responses.create(model=MODEL, input=TWO_CITIES, tools=WEATHER_RESPONSES)
    calls = [o for o in first.output if o.type == "function_call"]
    assert sorted(json.loads(c.arguments)["city"] for c in calls) == ["Madrid", "Paris"]
    assert first.parallel_tool_calls is True
    outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input=outputs,
                                     tools=WEATHER_RESPONSES)
    assert second.output_text.strip() and not [o for o in second.output if o.type == "function_call"]
    single = client.responses.create(model=MODEL, input=TWO_CITIES, tools=WEATHER_RESPONSES, parallel_tool_calls=False)
    assert len([o for o in single.output if o.type == "function_call"]) == 1 and single.parallel_tool_calls is False


def test_responses_streamed_parallel_calls(client):
    events = list(client.responses.create(model=MODEL, input=TWO_CITIES, tools=WEATHER_RESPONSES, stream=True))
    done = [e.item for e in events if e.type == "response.output_item.done" and e.item.type == "function_call"]
    assert sorted(json.loads(i.arguments)["city"] for i in done) == ["Madrid", "Paris"]
    assert events[-1].type == "response.completed"


def test_groq_gpt_oss_makes_one_call_a_turn(base_url):
    """Groq offers no parallel tool calls for gpt-oss (lesson 06): two cities take two rounds."""
    import groq

    g = groq.Groq(base_url=base_url, api_key=LOCAL_KEY)
    messages = [{"role": "user", "content": TWO_CITIES}]
    r = g.chat.completions.create(model="openai/gpt-oss-20b", tools=WEATHER, messages=messages)
    calls = r.choices[0].message.tool_calls
    assert len(calls) == 1 and cities(calls)[0] in ("Madrid", "Paris")
    raw = g.chat.completions.with_raw_response.create(model="openai/gpt-oss-20b", tools=WEATHER, messages=messages)
    assert raw.headers["x-request-id"] == raw.parse().x_groq.id  # Groq's request id, in both places


def test_gemini_parallel_calls_sign_the_first_part_only(base_url):
    from google import genai
    from google.genai import types

    gem = genai.Client(api_key=LOCAL_KEY, http_options=types.HttpOptions(base_url=base_url))
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="The current weather in a city",
        parameters_json_schema=WEATHER[0]["function"]["parameters"])])
    cfg = types.GenerateContentConfig(tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(
        disable=True))
    model = "gemini-3.5-flash-lite"  # a Gemini 3 model: its calls carry thought signatures
    first = gem.models.generate_content(model=model, contents=TWO_CITIES, config=cfg)
    parts = [p for p in first.candidates[0].content.parts if p.function_call]
    assert sorted(p.function_call.args["city"] for p in parts) == ["Madrid", "Paris"]
    assert parts[0].thought_signature and not parts[1].thought_signature  # as Google signs parallel calls
    history = [types.Content(role="user", parts=[types.Part(text=TWO_CITIES)]), first.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(
                   name="get_weather", response={"forecast": f"sunny in {p.function_call.args['city']}"})
                   for p in parts])]
    answer = gem.models.generate_content(model=model, contents=history, config=cfg)
    assert answer.text and answer.text.strip() and not answer.function_calls


# ---------------------------------------------------------------- streamed structured output

LONG_SCHEMA = {"type": "object", "properties": {"cities": {
    "type": "array", "minItems": 40, "maxItems": 40,
    "items": {"type": "object", "properties": {"name": {"type": "string", "minLength": 12}},
              "required": ["name"], "additionalProperties": False}}},
    "required": ["cities"], "additionalProperties": False}


def test_streamed_schema_answer_longer_than_the_default_limit_is_whole(client):
    stream = ask(client, "List forty cities with a short note on each.", stream=True,
                 stream_options={"include_usage": True},
                 response_format={"type": "json_schema", "json_schema": {"name": "cities", "schema": LONG_SCHEMA}})
    text, finish, used = "", None, None
    for chunk in stream:
        if chunk.usage:
            used = chunk.usage.completion_tokens
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert used > DEFAULT_MAX_TOKENS and finish == "stop"
    assert len(json.loads(text)["cities"]) == 40


def test_responses_stream_cut_short_ends_incomplete(client):
    events = list(client.responses.create(model=MODEL, input="Tell me a long story about a dragon.",
                                          max_output_tokens=16, stream=True))
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.status == "incomplete" and last.response.incomplete_details.reason == "max_output_tokens"
    assert not [e for e in events if e.type == "response.completed"]


# ---------------------------------------------------------------- routes

def test_retrieve_a_stored_response(client):
    made = client.responses.create(model=MODEL, input="Name a colour.", max_output_tokens=20)
    again = client.responses.retrieve(made.id)
    assert again.id == made.id and again.output_text == made.output_text
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.retrieve("resp_does_not_exist")
    assert "resp_does_not_exist" in e.value.message
    private = client.responses.create(model=MODEL, input="Name a colour.", max_output_tokens=16, store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(private.id)


def test_background_response_runs_and_is_retrieved_later(client):
    started = client.responses.create(model=MODEL, input="Write two sentences about the sea.", background=True)
    assert started.status in ("queued", "in_progress") and started.background and not started.output
    deadline = time.monotonic() + 120
    r = started
    while r.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.3)
        r = client.responses.retrieve(started.id)
    assert r.status in ("completed", "incomplete") and r.output_text.strip() and r.usage.output_tokens > 0


def test_background_stream_is_resumed_after_the_client_left(client):
    """What openai-python's examples/responses/background.py does: leave the stream, come back later."""
    rid = None
    with client.responses.create(model=MODEL, input="Write two sentences about the sea.", background=True,
                                 stream=True) as stream:
        for event in stream:
            rid = event.response.id if event.type == "response.created" else rid
            if event.sequence_number == 5:
                break
    with client.responses.retrieve(response_id=rid, stream=True, starting_after=5) as stream:
        rest = list(stream)
    assert rest[0].sequence_number == 6 and rest[-1].type in ("response.completed", "response.incomplete")
    with client.responses.stream(response_id=rid, starting_after=5) as stream:  # the SDK's own resume helper
        final = stream.get_final_response()
    assert final.output_text == rest[-1].response.output_text and final.output_text.strip()


def test_cancel_a_background_response(client):
    started = client.responses.create(model=MODEL, input="Write a long story about a lighthouse keeper.",
                                      max_output_tokens=1000, background=True)
    assert client.responses.cancel(started.id).status == "cancelled"
    assert client.responses.retrieve(started.id).status == "cancelled"


def test_input_tokens_count_matches_the_usage(client):
    counted = client.responses.input_tokens.count(model=MODEL, input="Name three colours.",
                                                  instructions="Answer briefly.")
    assert counted.object == "response.input_tokens"
    used = client.responses.create(model=MODEL, input="Name three colours.", instructions="Answer briefly.",
                                   max_output_tokens=16).usage.input_tokens
    assert counted.input_tokens == used
    longer = client.responses.input_tokens.count(model=MODEL, input="Name three colours. " * 10)
    assert longer.input_tokens > counted.input_tokens


def test_legacy_completions(client, base_url):
    r = client.completions.create(model="smollm2-135m-instruct", prompt="Once upon a time", max_tokens=12)
    assert r.object == "text_completion" and r.choices[0].text and r.usage.completion_tokens <= 12
    default = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="The sky is")
    assert default.usage.completion_tokens <= 16  # the legacy endpoint's default max_tokens
    pieces = [c.choices[0].text for c in client.completions.create(
        model="smollm2-135m-instruct", prompt="The sea is", max_tokens=8, stream=True) if c.choices]
    assert "".join(pieces).strip()
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="gpt-6-luna", prompt="Hello")
    assert "chat model" in e.value.message and "v1/chat/completions" in e.value.message
    assert e.value.body["param"] == "model"
    groq_path = httpx.post(f"{base_url}/openai/v1/completions", json={"model": "x", "prompt": "hi"},
                           headers={"authorization": f"Bearer {LOCAL_KEY}"})
    assert groq_path.status_code == 404  # Groq has no legacy endpoint


def test_every_openai_answer_carries_a_request_id(client, base_url):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, max_tokens=4,
                                                           messages=[{"role": "user", "content": "Hi"}])
    rid = raw.headers["x-request-id"]
    assert rid.startswith("req_") and raw.parse()._request_id == rid
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "Hi", temperature=5)
    assert e.value.request_id and e.value.request_id.startswith("req_")
    with client.chat.completions.with_streaming_response.create(
            model=MODEL, max_tokens=4, stream=True, messages=[{"role": "user", "content": "Hi"}]) as s:
        assert s.headers["x-request-id"].startswith("req_")
    ids = {client.responses.with_raw_response.create(model=MODEL, input="Hi", max_output_tokens=16)
           .headers["x-request-id"] for _ in range(2)}
    assert len(ids) == 2  # one per request
    groq = httpx.post(f"{base_url}/openai/v1/chat/completions", headers={"authorization": f"Bearer {LOCAL_KEY}"},
                      json={"model": "openai/gpt-oss-20b", "max_tokens": 4,
                            "messages": [{"role": "user", "content": "Hi"}]}, timeout=120)
    assert groq.headers["x-request-id"] == groq.json()["x_groq"]["id"]


# ---------------------------------------------------------------- the pieces, without the server

def test_call_schema_hoists_each_tools_defs_under_its_own_names():
    from helpers.server.toolcall import call_schema

    unit = {"type": "object", "properties": {"u": {"$ref": "#/$defs/Unit"}}, "$defs": {"Unit": {"enum": ["a"]}}}
    size = {"type": "object", "properties": {"s": {"$ref": "#/$defs/Unit"}}, "$defs": {"Unit": {"enum": ["b"]}}}
    schema = call_schema([{"name": "one", "parameters": unit}, {"name": "two", "parameters": size}])
    refs = [o["properties"]["arguments"]["properties"] for o in schema["anyOf"]]
    first, second = refs[0]["u"]["$ref"], refs[1]["s"]["$ref"]
    assert first != second
    assert schema["$defs"][first.split("/")[-1]] == {"enum": ["a"]}
    assert schema["$defs"][second.split("/")[-1]] == {"enum": ["b"]}
    assert "$defs" not in schema["anyOf"][0]["properties"]["arguments"]


@pytest.mark.parametrize("text, parts", [
    (TWO_CITIES, ["Is it sunny in Madrid", "in Paris?"]),
    (ONE_CITY, [ONE_CITY]),
    ("Is it sunny and warm in Rome?", ["Is it sunny and warm in Rome?"]),  # no second value: one part
    ("Is it raining in Buenos Aires, Lima and Bogota?", ["Is it raining in Buenos Aires", "Lima", "Bogota?"]),
    ("Set timers for 5 and 10 minutes.", ["Set timers for 5", "10 minutes."]),
    ("What's the weather like in Madrid right now, in celsius?", ["What's the weather like in Madrid right now, "
                                                                  "in celsius?"]),
])
def test_request_parts(text, parts):
    from helpers.server.toolcall import request_parts

    assert request_parts([{"role": "user", "content": text}]) == parts
