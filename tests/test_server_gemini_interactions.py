"""The python-genai README's Interactions examples against the local server, with the real SDK over real HTTP:
create, a stateful second turn (previous_interaction_id), get by id, function calling with a function_result, the
built-in tools' honest answers, streaming, and errors in the Interactions API's shape."""
from __future__ import annotations

import httpx
import pytest

from google import genai
from google.genai import types

from helpers import models as catalogue
from helpers.server import gemini_api

MODEL = catalogue.chat("gemini")  # a Gemini 3 model with thinking levels (minimal ... high)
SHORT = {"max_output_tokens": 32}
WEATHER = {"type": "function", "name": "get_weather", "description": "Gets the weather for a given location.",
           "parameters": {"type": "object", "required": ["location"],
                          "properties": {"location": {"type": "string",
                                                      "description": "The city and state, e.g. San Francisco, CA"}}}}


@pytest.fixture
def client(base_url) -> genai.Client:
    return genai.Client(api_key="local-test-key", http_options=types.HttpOptions(base_url=base_url))


def texts(step) -> str:
    return "".join(c.text for c in step.content or [] if c.type == "text")


def status_and_body(exc: BaseException) -> tuple[int, dict]:
    """The HTTP status and JSON body of the SDK's error (google-genai's Interactions client raises its own
    APIStatusError family, not ``errors.APIError``)."""
    return exc.status_code, exc.response.json()


# ---------------------------------------------------------------- README: Basic Interaction, Stateful Conversation

def test_create_answers_with_a_model_output_step(client):
    interaction = client.interactions.create(model=MODEL, input="Tell me a short joke about programming.",
                                             generation_config=SHORT)
    assert interaction.status in ("completed", "incomplete") and interaction.id
    assert interaction.object == "interaction" and interaction.model == MODEL
    assert interaction.created and interaction.created.endswith("Z")
    last = interaction.steps[-1]
    assert last.type == "model_output" and texts(last).strip()
    assert [s.type for s in interaction.steps] == ["model_output"]  # POST answers with the output steps only
    assert interaction.output_text == texts(last)  # the SDK's output_text, from the steps
    u = interaction.usage
    assert 0 < u.total_output_tokens <= SHORT["max_output_tokens"]
    assert u.total_tokens == u.total_input_tokens + u.total_output_tokens


def test_second_turn_continues_the_first_and_get_returns_the_whole_turn(client):
    first = client.interactions.create(model=MODEL, input="Hi, my name is Amir.", generation_config=SHORT)
    second = client.interactions.create(model=MODEL, input="What is my name?", previous_interaction_id=first.id,
                                        generation_config=SHORT)
    alone = client.interactions.create(model=MODEL, input="What is my name?", generation_config=SHORT)
    assert second.status in ("completed", "incomplete") and second.output_text
    assert second.previous_interaction_id == first.id
    # the second turn's prompt holds the first turn (its question and its answer); the same question alone does not
    grown = second.usage.total_input_tokens - alone.usage.total_input_tokens
    assert grown >= first.usage.total_output_tokens + 3  # at least the first answer and the first question's words
    fetched = client.interactions.get(id=second.id)
    assert [s.type for s in fetched.steps] == ["user_input", "model_output"]  # GET: the whole turn
    assert texts(fetched.steps[0]) == "What is my name?"
    assert fetched.output_text == second.output_text and fetched.status == second.status
    assert client.interactions.get(id=second.id, include_input=True).input == "What is my name?"


def test_unknown_interaction_is_a_404_in_the_interactions_shape(client, base_url):
    with pytest.raises(Exception) as e:
        client.interactions.get(id="no-such-interaction")
    status, body = status_and_body(e.value)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert "no-such-interaction" in body["error"]["message"] and "local server" in body["error"]["message"]
    with pytest.raises(Exception) as e:
        client.interactions.create(model=MODEL, input="hi", previous_interaction_id="no-such-interaction")
    assert status_and_body(e.value)[0] == 404
    r = httpx.get(f"{base_url}/v1beta/interactions/nope", headers={"x-goog-api-key": "k"}, timeout=30)
    assert r.status_code == 404 and set(r.json()["error"]) == {"code", "message"}


def test_store_false_keeps_nothing_and_delete_forgets(client):
    kept = client.interactions.create(model=MODEL, input="Say hi.", generation_config={"max_output_tokens": 8})
    unkept = client.interactions.create(model=MODEL, input="Say hi.", store=False,
                                        generation_config={"max_output_tokens": 8})
    assert unkept.output_text
    with pytest.raises(Exception) as e:
        client.interactions.get(id=unkept.id)
    assert status_and_body(e.value)[0] == 404
    with pytest.raises(Exception) as e:  # nothing to cancel: every local interaction is finished when create returns
        client.interactions.cancel(id=kept.id)
    status, body = status_and_body(e.value)
    assert status == 400 and "already finished" in body["error"]["message"]
    client.interactions.delete(id=kept.id)
    with pytest.raises(Exception) as e:
        client.interactions.get(id=kept.id)
    assert status_and_body(e.value)[0] == 404


def test_unknown_model_and_agents_are_refused_plainly(client):
    with pytest.raises(Exception) as e:
        client.interactions.create(model="invalid-model-name", input="hi")
    status, body = status_and_body(e.value)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert "models/invalid-model-name is not found" in body["error"]["message"] and MODEL in body["error"]["message"]
    with pytest.raises(Exception) as e:  # README: Agents (Deep Research)
        client.interactions.create(agent="deep-research-preview-04-2026", input="Research TPUs.", background=True)
    status, body = status_and_body(e.value)
    assert status == 400 and "runs models, not agents" in body["error"]["message"]
    with pytest.raises(Exception) as e:
        client.interactions.create(model=MODEL, input="hi", tools=[{"type": "url_context"}])
    status, body = status_and_body(e.value)
    assert status == 400 and body["error"]["code"] == "invalid_argument" and "tools[0].type" in body["error"]["message"]


# ---------------------------------------------------------------- README: Function Calling

def test_function_call_then_function_result(client):
    interaction = client.interactions.create(model=MODEL, input="What is the weather in Mountain View, CA?",
                                             tools=[WEATHER])
    assert interaction.status == "requires_action"
    calls = [s for s in interaction.steps if s.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and calls[0].id
    assert "Mountain View" in calls[0].arguments["location"]  # the model's argument, from the user's words
    result = f"The weather in {calls[0].arguments['location']} is sunny."
    answer = client.interactions.create(model=MODEL, previous_interaction_id=interaction.id, generation_config=SHORT,
                                        input=[{"type": "function_result", "name": calls[0].name,
                                                "call_id": calls[0].id, "result": result}])
    assert answer.status in ("completed", "incomplete") and answer.output_text
    # the result reached the model: its prompt holds the question, the call and the result (the question alone is
    # far shorter)
    alone = client.interactions.create(model=MODEL, input="What is the weather in Mountain View, CA?",
                                       generation_config={"max_output_tokens": 4})
    assert answer.usage.total_input_tokens > alone.usage.total_input_tokens + 20
    fetched = client.interactions.get(id=answer.id)
    assert [s.type for s in fetched.steps] == ["function_result", "model_output"]
    assert fetched.steps[0].call_id == calls[0].id and fetched.steps[0].result == result


def test_function_result_for_an_unknown_call_is_refused(client):
    with pytest.raises(Exception) as e:
        client.interactions.create(model=MODEL, input=[{"type": "function_result", "call_id": "call_x", "result": "1"}])
    status, body = status_and_body(e.value)
    assert status == 400 and "no function_call with id 'call_x'" in body["error"]["message"]


# ---------------------------------------------------------------- README: Built-in Tools

def test_google_search_says_no_search_was_made(client):
    interaction = client.interactions.create(model=MODEL, input="Who won the last Super Bowl?",
                                             tools=[{"type": "google_search"}], generation_config=SHORT)
    assert [s.type for s in interaction.steps] == ["model_output"]  # no google_search_call: none was made
    assert interaction.output_text.startswith(gemini_api.NO_SEARCH_NOTE)
    assert interaction.output_text[len(gemini_api.NO_SEARCH_NOTE):].strip()  # then the local model's own answer


def test_code_execution_shows_the_code_and_says_it_was_not_run(client):
    interaction = client.interactions.create(model=MODEL, input="Calculate the 50th Fibonacci number.",
                                             tools=[{"type": "code_execution"}], generation_config=SHORT)
    call, result, output = interaction.steps
    assert call.type == "code_execution_call" and call.arguments.language == "python"
    assert call.arguments.code.startswith(("print(", "# (the local model wrote no code)"))
    assert result.type == "code_execution_result" and result.call_id == call.id and result.is_error is True
    assert result.result == gemini_api.NOT_RUN_OUTPUT
    assert output.type == "model_output" and interaction.output_text.startswith(gemini_api.NOT_RUN_NOTE)


# ---------------------------------------------------------------- thinking and streaming

def test_thinking_summaries_give_a_thought_step(client):
    interaction = client.interactions.create(model=MODEL, input="Say hello.", generation_config={
        "thinking_level": "low", "thinking_summaries": "auto", "max_output_tokens": 48})
    thought = interaction.steps[0]
    assert thought.type == "thought" and thought.signature and thought.summary[0].text.strip()
    assert interaction.usage.total_thought_tokens > 0
    plain = client.interactions.create(model=MODEL, input="Say hello.", generation_config={
        "thinking_level": "low", "max_output_tokens": 48})
    assert plain.steps[0].type == "thought" and not plain.steps[0].summary  # thought, without its summary


def test_stream_sends_the_steps_as_events(client):
    events = list(client.interactions.create(model=MODEL, input="Tell me a short joke.", stream=True,
                                             generation_config=SHORT))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    assert kinds[1] == "step.start" and events[1].step.type == "model_output" and kinds[-2] == "step.stop"
    deltas = [e.delta.text for e in events if e.event_type == "step.delta"]
    assert len(deltas) > 1  # piece by piece
    done = events[-1].interaction
    assert done.status in ("completed", "incomplete") and done.usage.total_output_tokens > 0
    fetched = client.interactions.get(id=done.id)  # the streamed interaction is stored whole
    assert fetched.output_text == "".join(deltas)
    again = list(client.interactions.get(id=done.id, stream=True))  # GET with stream=true sends it again as events
    assert [e.event_type for e in again] == ["interaction.created", "step.start", "step.stop", "interaction.completed"]
    assert texts(again[1].step) == "".join(deltas)


def test_stream_with_a_function_call(client):
    events = list(client.interactions.create(model=MODEL, input="What is the weather in Paris?", tools=[WEATHER],
                                             stream=True))
    starts = [e.step for e in events if e.event_type == "step.start"]
    assert [s.type for s in starts] == ["function_call"] and starts[0].name == "get_weather"
    assert events[-1].interaction.status == "requires_action"


def test_v1beta_is_served_too(base_url):
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))
    interaction = client.interactions.create(model=MODEL, input="Say hi.", generation_config={"max_output_tokens": 8})
    assert interaction.output_text and client.interactions.get(id=interaction.id).id == interaction.id
