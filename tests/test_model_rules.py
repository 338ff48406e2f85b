"""The local server behaves as the requested model does (helpers/models.toml -> helpers/server/model_rules.py).

Real SDKs over real HTTP against the local server: each rejection raises the SDK's real exception class
with the provider's own error body, each capability shows up where the real API puts it, and
``helpers.explain_error`` says in one sentence what to change.
"""
from __future__ import annotations

import httpx
import openai
import pytest
from google import genai
from google.genai import errors, types
from openai import OpenAI

import helpers
from helpers import models
from helpers.server.lifecycle import course_headers  # the state token the /_course/* routes need

LOCAL_KEY = "local-test-key"  # pragma: allowlist secret
OPENAI = models.chat("openai")            # gpt-6-luna: reasoning optional, effort medium by default
GEMINI = models.chat("gemini")            # gemini-3.5-flash-lite: always thinks, minimal by default
STRONG_GEMINI = "gemini-3.8-flash"        # thinking low/medium/high only
GROQ = models.chat("groq")                # openai/gpt-oss-120b: always reasons, reasoning in message.reasoning
HI = [{"role": "user", "content": "Say hello."}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


@pytest.fixture
def oai(base_url):
    return OpenAI(base_url=f"{base_url}/v1", api_key=LOCAL_KEY, max_retries=0)


@pytest.fixture
def groq_client(base_url):
    import groq

    return groq.Groq(base_url=base_url, api_key=LOCAL_KEY, max_retries=0)


@pytest.fixture
def gem(base_url):
    return genai.Client(api_key=LOCAL_KEY, http_options={"base_url": base_url})


def emulation(base_url) -> list[str]:
    return httpx.get(f"{base_url}/_course/requests", params={"n": 1},
                     headers=course_headers()).json()[-1].get("emulation") or []


# ---------------------------------------------------------------- OpenAI reasoning models

def test_reasoning_tokens_are_reported_and_count_against_the_limit(oai):
    r = oai.chat.completions.create(model=OPENAI, messages=HI, max_completion_tokens=200)
    reasoning = r.usage.completion_tokens_details.reasoning_tokens
    assert reasoning > 0 and r.usage.completion_tokens > reasoning and r.choices[0].message.content
    short = oai.chat.completions.create(model=OPENAI, messages=HI, max_completion_tokens=reasoning)
    assert short.choices[0].message.content == "" and short.choices[0].finish_reason == "length"
    assert short.usage.completion_tokens_details.reasoning_tokens == short.usage.completion_tokens > 0
    tiny = oai.chat.completions.create(model=OPENAI, messages=HI, max_completion_tokens=5)
    assert tiny.choices[0].message.content == "" and tiny.usage.completion_tokens <= 5  # never past the limit


def test_effort_none_turns_reasoning_off_and_allows_temperature_and_logprobs(oai):
    r = oai.chat.completions.create(model=OPENAI, messages=HI, max_completion_tokens=20, reasoning_effort="none",
                                    temperature=0.2, logprobs=True, top_logprobs=2)
    assert r.usage.completion_tokens_details.reasoning_tokens == 0
    assert r.choices[0].logprobs.content and r.choices[0].message.content


def test_higher_effort_thinks_longer(oai):
    low = oai.chat.completions.create(model=OPENAI, messages=HI, reasoning_effort="low", max_completion_tokens=300)
    high = oai.chat.completions.create(model=OPENAI, messages=HI, reasoning_effort="high", max_completion_tokens=300)
    assert 0 < low.usage.completion_tokens_details.reasoning_tokens < high.usage.completion_tokens_details.reasoning_tokens


@pytest.mark.parametrize("kwargs, param, code, advice", [
    ({"temperature": 0.2}, "temperature", "unsupported_value", 'reasoning_effort="none"'),
    ({"top_p": 0.5}, "top_p", "unsupported_value", "top_p"),
    ({"max_tokens": 20}, "max_tokens", "unsupported_parameter", "max_completion_tokens"),
    ({"logprobs": True}, "logprobs", "unsupported_parameter", "logprobs need"),
    ({"reasoning_effort": "minimal"}, "reasoning_effort", "unsupported_value", "levels the message lists"),
    ({"reasoning_effort": "max"}, "reasoning_effort", "unsupported_value", "levels the message lists"),
    ({"tools": TOOLS}, "reasoning_effort", None, "Responses API"),
    ({"n": 3}, "n", "unsupported_value", "n=1"),
])
def test_what_gpt_6_luna_rejects_in_chat_completions(oai, kwargs, param, code, advice):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model=OPENAI, messages=HI, **kwargs)
    assert e.value.param == param and e.value.code == code
    assert advice in helpers.explain_error(e.value)


def test_real_error_wording_for_the_commonest_mistakes(oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model=OPENAI, messages=HI, temperature=0.7)
    assert e.value.body["message"].startswith("Unsupported value: 'temperature' does not support 0.7 with this model. "
                                              "Only the default (1) value is supported.")
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model=OPENAI, messages=HI, tools=TOOLS, reasoning_effort="low")
    assert e.value.body["message"].startswith("Function tools with reasoning_effort are not supported for gpt-6-luna "
                                              "in /v1/chat/completions.")


def test_tools_work_with_effort_none(oai):
    r = oai.chat.completions.create(model=OPENAI, reasoning_effort="none", tools=TOOLS,
                                    messages=[{"role": "user", "content": "Weather in Oslo?"}])
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_responses_api_reasoning_item_usage_and_rules(oai):
    r = oai.responses.create(model=OPENAI, input="Say hello.", max_output_tokens=200)
    assert r.output[0].type == "reasoning" and r.usage.output_tokens_details.reasoning_tokens > 0
    assert r.output_text
    cut = oai.responses.create(model=OPENAI, input="Say hello.", max_output_tokens=16)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens" and cut.output_text == ""
    off = oai.responses.create(model=OPENAI, input="Say hello.", reasoning={"effort": "none"}, temperature=0.3,
                               max_output_tokens=30)
    assert off.usage.output_tokens_details.reasoning_tokens == 0 and off.output[0].type == "message"
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model=OPENAI, input="hi", temperature=0.3)
    assert e.value.body["message"].startswith("Unsupported parameter: 'temperature' is not supported with this model.")
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model=OPENAI, input="hi", reasoning={"effort": "minimal"})
    assert "Unsupported value: 'minimal' is not supported with the 'gpt-6-luna' model" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model=OPENAI, input="hi", max_output_tokens=8)
    assert e.value.param == "max_output_tokens"


def test_a_non_reasoning_model_rejects_reasoning_effort(oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="gpt-4o-mini", messages=HI, reasoning_effort="low", max_completion_tokens=5)
    assert e.value.param == "reasoning_effort"


@pytest.mark.parametrize("messages, needle", [
    ([{"role": "tool", "tool_call_id": "call_1", "content": "21C"}],
     "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'"),
    ([{"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
          {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "21C"},
      {"role": "user", "content": "And?"}],
     "The following tool_call_ids did not have response messages: call_2"),
])
def test_tool_messages_must_answer_tool_calls(oai, groq_client, messages, needle):
    import groq

    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model=OPENAI, reasoning_effort="none", messages=messages)
    assert needle in e.value.body["message"] and e.value.param.startswith("messages.[")
    with pytest.raises(groq.BadRequestError):
        groq_client.chat.completions.create(model=GROQ, messages=messages)
    assert "tool" in helpers.explain_error(e.value)


def test_a_model_the_catalogue_does_not_know_is_served_generically_and_the_inspector_says_so(oai, base_url):
    r = oai.chat.completions.create(model="my-org-fine-tune", messages=HI, max_tokens=5, temperature=0.3)
    assert r.choices[0].message.content is not None
    assert any("not in the course catalogue" in line for line in emulation(base_url))


def test_a_shut_down_model_is_a_404_naming_replacement_and_date(oai):
    with pytest.raises(openai.NotFoundError) as e:
        oai.chat.completions.create(model="gpt-4.1-nano", messages=HI)
    assert "2026-10-23" in e.value.message and OPENAI in e.value.message


def test_embedding_dimensions_outside_the_range_are_refused(oai):
    assert len(oai.embeddings.create(model="text-embedding-3-small", input="hi", dimensions=64).data[0].embedding) == 64
    with pytest.raises(openai.BadRequestError) as e:
        oai.embeddings.create(model="text-embedding-3-small", input="hi", dimensions=4096)
    assert e.value.param == "dimensions" and "1536" in e.value.message


# ---------------------------------------------------------------- Groq gpt-oss

def test_groq_reasoning_field_include_reasoning_and_limits(groq_client, base_url):
    import groq

    r = groq_client.chat.completions.create(model=GROQ, messages=HI, max_completion_tokens=200)
    assert r.choices[0].message.reasoning and r.choices[0].message.content
    hidden = groq_client.chat.completions.create(model=GROQ, messages=HI, include_reasoning=False,
                                                 max_completion_tokens=200)
    assert not hidden.choices[0].message.reasoning and hidden.usage.completion_tokens > 0
    cut = groq_client.chat.completions.create(model=GROQ, messages=HI, max_completion_tokens=10)
    assert cut.choices[0].message.content == "" and cut.choices[0].finish_reason == "length"
    streamed = list(groq_client.chat.completions.create(model=GROQ, messages=HI, stream=True,
                                                        max_completion_tokens=200))
    assert any(getattr(c.choices[0].delta, "reasoning", None) for c in streamed if c.choices)
    for kwargs, needle in (({"reasoning_effort": "none"}, "reasoning_effort must be one of `low`, `medium`, or `high`"),
                           ({"reasoning_format": "parsed"}, "`reasoning_format` is not supported"),
                           ({"logprobs": True}, "'logprobs' is not supported"),
                           ({"n": 2}, "'n' must be at most 1")):
        with pytest.raises(groq.BadRequestError) as e:
            groq_client.chat.completions.create(model=GROQ, messages=HI, **kwargs)
        assert needle in e.value.message, kwargs
        assert "rejected a parameter" in helpers.explain_error(e.value)


def test_groq_retired_llama_is_a_404_with_its_replacement(groq_client):
    import groq

    with pytest.raises(groq.NotFoundError) as e:
        groq_client.chat.completions.create(model="llama-3.3-70b-versatile", messages=HI)
    assert "openai/gpt-oss-120b" in e.value.message and "2026-08-16" in e.value.message


# ---------------------------------------------------------------- Gemini 3

def test_gemini_thinking_is_reported_counted_and_summarised(gem, base_url):
    low = types.GenerateContentConfig(max_output_tokens=200, thinking_config=types.ThinkingConfig(
        thinking_level="low", include_thoughts=True))
    r = gem.models.generate_content(model=GEMINI, contents="Say hello.", config=low)
    parts = r.candidates[0].content.parts
    assert parts[0].thought and not parts[-1].thought and r.text
    assert r.usage_metadata.thoughts_token_count > 0
    minimal = gem.models.generate_content(model=GEMINI, contents="Say hello.", config={"max_output_tokens": 30})
    assert not minimal.usage_metadata.thoughts_token_count and minimal.text
    cut = gem.models.generate_content(model=STRONG_GEMINI, contents="Say hello.", config={"max_output_tokens": 20})
    assert cut.text is None and cut.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert 0 < cut.usage_metadata.thoughts_token_count <= 20


def test_gemini_3_ignores_temperature_and_says_so_in_the_inspector(gem, base_url):
    gem.models.generate_content(model=GEMINI, contents="Say hello.",
                                config={"max_output_tokens": 20, "temperature": 0.0})
    assert any("ignores temperature" in line for line in emulation(base_url))


@pytest.mark.parametrize("model, thinking, needle", [
    (STRONG_GEMINI, {"thinking_level": "minimal"},
     "Thinking level MINIMAL is not supported for this model. Please retry with other thinking level."),
    (GEMINI, {"thinking_level": "low", "thinking_budget": 100},
     "You can only set only one of thinking budget and thinking level."),
    (STRONG_GEMINI, {"thinking_budget": 0}, "Budget 0 is invalid. This model only works in thinking mode."),
])
def test_gemini_thinking_settings_the_model_rejects(gem, model, thinking, needle):
    with pytest.raises(errors.ClientError) as e:
        gem.models.generate_content(model=model, contents="hi", config={"thinking_config": thinking})
    assert e.value.code == 400 and e.value.status == "INVALID_ARGUMENT" and needle in e.value.message
    assert "thinking" in helpers.explain_error(e.value)


def test_gemini_3_returns_one_candidate(gem):
    with pytest.raises(errors.ClientError):
        gem.models.generate_content(model=GEMINI, contents="hi", config={"candidate_count": 2})


def weather_call_history(signature: bool) -> list[types.Content]:
    call = types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"}),
                      thought_signature=b"sig" if signature else None)
    return [types.Content(role="user", parts=[types.Part(text="Weather in Oslo?")]),
            types.Content(role="model", parts=[call]),
            types.Content(role="user", parts=[types.Part.from_function_response(name="get_weather",
                                                                              response={"temp_c": 21})])]


def test_gemini_3_function_calls_carry_thought_signatures_that_must_come_back(gem):
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="Weather in a city",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})])
    cfg = types.GenerateContentConfig(tools=[tool], max_output_tokens=200,
                                      automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    first = gem.models.generate_content(model=GEMINI, contents="Weather in Oslo?", config=cfg)
    part = first.candidates[0].content.parts[-1]
    assert part.function_call.name == "get_weather" and part.thought_signature
    # The right way: append the model's own content, then the function response.
    history = [types.Content(role="user", parts=[types.Part(text="Weather in Oslo?")]), first.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(
                   name="get_weather", response={"temp_c": 21})])]
    assert gem.models.generate_content(model=GEMINI, contents=history, config=cfg).text
    # Rebuilding the call by hand drops the signature: the real API answers 400.
    with pytest.raises(errors.ClientError) as e:
        gem.models.generate_content(model=GEMINI, contents=weather_call_history(signature=False), config=cfg)
    assert "missing a thought_signature" in e.value.message
    assert "candidates[0].content" in helpers.explain_error(e.value)
    # Older models (2.5) have no signatures to return.
    assert gem.models.generate_content(model="gemini-2.5-flash-lite", contents=weather_call_history(False),
                                       config=cfg).text is not None


def test_gemini_parallel_function_responses_go_back_in_one_turn(gem):
    calls = types.Content(role="model", parts=[
        types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"}), thought_signature=b"s"),
        types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Lima"}))])
    ask = types.Content(role="user", parts=[types.Part(text="Weather in Oslo and Lima?")])
    answer = [types.Part.from_function_response(name="get_weather", response={"temp_c": t}) for t in (5, 19)]
    together = [ask, calls, types.Content(role="user", parts=answer)]
    assert gem.models.generate_content(model=GEMINI, contents=together, config={"max_output_tokens": 60}).text
    split = [ask, calls, types.Content(role="user", parts=answer[:1]), types.Content(role="user", parts=answer[1:])]
    with pytest.raises(errors.ClientError) as e:
        gem.models.generate_content(model=GEMINI, contents=split, config={"max_output_tokens": 60})
    assert "number of function response parts is equal to the number of function call parts" in e.value.message
    assert "together" in helpers.explain_error(e.value)


def test_gemini_embedding_dimensions_range(gem):
    ok = gem.models.embed_content(model="gemini-embedding-001", contents="hi",
                                  config={"output_dimensionality": 128})
    assert len(ok.embeddings[0].values) == 128
    with pytest.raises(errors.ClientError) as e:
        gem.models.embed_content(model="gemini-embedding-001", contents="hi", config={"output_dimensionality": 64})
    assert "128" in e.value.message and "3072" in e.value.message


def test_shutdown_dates_take_effect_on_the_day(monkeypatch, tmp_path):
    """In-process gateway (fallback engine) with a frozen date: redirect for Gemini 2.5 Flash, 404 for GPT-4o mini."""
    from starlette.testclient import TestClient

    from helpers.server.gateway import Backend, build_app

    monkeypatch.setenv("COURSE_TODAY", "2027-01-15")
    app = build_app(Backend(tmp_path, engine_mode="fallback"), token="test-token")
    with TestClient(app, base_url="http://127.0.0.1") as c:  # the server answers only requests to localhost
        r = c.post("/v1beta/models/gemini-2.5-flash:generateContent", headers={"x-goog-api-key": LOCAL_KEY},
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        assert r.status_code == 200
        notes = c.get("/_course/requests", params={"n": 1},
                      headers=course_headers("test-token")).json()[-1]["emulation"]
        assert any(f"now answers with {GEMINI}" in line for line in notes)
        assert any(line.startswith(f"{GEMINI}: thinking") for line in notes)  # and behaves as it does
        r = c.post("/v1beta/models/gemini-2.5-flash:generateContent", headers={"x-goog-api-key": LOCAL_KEY},
                   json={"contents": "hi", "generationConfig": {"thinkingConfig": {"thinkingBudget": 0,
                                                                                  "thinkingLevel": "LOW"}}})
        assert r.status_code == 400
        r = c.post("/v1/chat/completions", headers={"authorization": f"Bearer {LOCAL_KEY}"},
                   json={"model": "gpt-4o-mini", "messages": HI})
        assert r.status_code == 404 and "2027-01-14" in r.json()["error"]["message"]
    monkeypatch.setenv("COURSE_TODAY", "2026-11-30")
    with TestClient(build_app(Backend(tmp_path, engine_mode="fallback")), base_url="http://127.0.0.1") as c:
        r = c.post("/v1/chat/completions", headers={"authorization": f"Bearer {LOCAL_KEY}"},
                   json={"model": "gpt-4o-mini", "messages": HI, "max_completion_tokens": 5})
        assert r.status_code == 200
