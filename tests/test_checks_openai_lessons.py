"""The checks of lessons 01, 03 and 04, and the tool round trip that 04 shares with 06, against today's models.

Right answers pass; an answer that only works because the local model thinks less than a live one, or a request
the model refuses (reasoning_effort with tools, "none" on Groq), fails with a hint that names the fix.
"""
from __future__ import annotations

import json

import pytest

from helpers import models
from helpers.checks import lesson01, lesson03, lesson04, tool_round_trip
from helpers.checks.base import CheckFailed


def _completion(content: str, completion_tokens: int, reasoning_tokens: int | None):
    from openai.types.chat import ChatCompletion

    usage = {"prompt_tokens": 12, "completion_tokens": completion_tokens, "total_tokens": 12 + completion_tokens}
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return ChatCompletion.model_validate({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop" if content else "length",
                     "message": {"role": "assistant", "content": content}}],
        "usage": usage})


# --------------------------------------------------------------------------- lesson 01, exercise 1

def test_lesson01_first_call_passes_with_reasoning_off():
    assert lesson01.exercise_1(_completion("A token is a piece of text.", 9, 0)).ok


def test_lesson01_first_call_passes_for_a_model_that_reports_no_reasoning():
    assert lesson01.exercise_1(_completion("A token is a piece of text.", 9, None)).ok


@pytest.mark.parametrize("content", ["", "A short answer."])
def test_lesson01_first_call_that_thought_is_told_to_switch_reasoning_off(content):
    # empty (as live) or not (the local model thinks less): either way the fix is reasoning_effort="none"
    with pytest.raises(CheckFailed, match='reasoning_effort="none"'):
        lesson01.exercise_1(_completion(content, 40, 36))


def test_lesson01_first_call_longer_than_the_limit_names_max_completion_tokens():
    with pytest.raises(CheckFailed, match="max_completion_tokens=40"):
        lesson01.exercise_1(_completion("A long answer.", 60, 0))


# --------------------------------------------------------------------------- lesson 03, exercise 2

def test_lesson03_read_fields_of_an_empty_answer_cut_by_thinking():
    def read_fields(response):
        choice = response.choices[0]
        return {"text": choice.message.content, "role": choice.message.role,
                "finish_reason": choice.finish_reason, "total_tokens": response.usage.total_tokens}

    assert lesson03.exercise_2(read_fields, _completion("", 8, 8)).ok


# --------------------------------------------------------------------------- lesson 04 helpers

def test_lesson04_switches_reasoning_off_only_where_the_model_can():
    assert lesson04._answer_now(models.chat("openai")) == {"reasoning_effort": "none"}
    plain = next((mid for (p, mid), m in models.entries().items()
                  if p == "openai" and m.reasoning == "none" and m.status_on() != "shut_down" and m.token_limit), None)
    if plain:
        assert lesson04._answer_now(plain) == {}
    assert lesson04._answer_now("a-model-the-catalogue-does-not-know") == {}


# --------------------------------------------------------------------------- against the local server

def _round_trip(effort: str | None):
    """A learner's ask_with_tools that sends ``reasoning_effort=effort`` (nothing when None)."""
    extra = {"reasoning_effort": effort} if effort else {}

    def ask_with_tools(client, model, question, tools, functions):
        messages = [{"role": "user", "content": question}]
        response = client.chat.completions.create(model=model, messages=messages, tools=tools,
                                                  max_completion_tokens=120, **extra)
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content, messages
        messages.append(message.model_dump(include={"role", "content", "tool_calls"}, exclude_none=True))
        for call in message.tool_calls:
            result = functions[call.function.name](**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        final = client.chat.completions.create(model=model, messages=messages, tools=tools,
                                               max_completion_tokens=120, **extra)
        return final.choices[0].message.content, messages

    return ask_with_tools


@pytest.fixture
def openai_client(base_url):
    from openai import OpenAI

    return OpenAI(base_url=base_url + "/v1", api_key="local", max_retries=0)  # pragma: allowlist secret


@pytest.fixture
def groq_client(base_url):
    from groq import Groq

    return Groq(base_url=base_url, api_key="local", max_retries=0)  # pragma: allowlist secret


def test_tool_round_trip_openai_passes_with_reasoning_off(openai_client):
    verdict = tool_round_trip.check("test", "openai", _round_trip("none"), openai_client, models.get("openai", "tools"))
    assert verdict.ok


def test_tool_round_trip_openai_with_reasoning_on_is_told_the_fix(openai_client):
    with pytest.raises(CheckFailed) as failed:
        tool_round_trip.check("test", "openai", _round_trip(None), openai_client, models.get("openai", "tools"))
    assert "BadRequestError" in str(failed.value) and 'reasoning_effort="none"' in str(failed.value)


def test_tool_round_trip_groq_passes_at_the_lowest_effort(groq_client):
    verdict = tool_round_trip.check("test", "groq", _round_trip("low"), groq_client, models.get("groq", "tools"))
    assert verdict.ok


def test_tool_round_trip_groq_with_effort_none_is_told_the_levels(groq_client):
    with pytest.raises(CheckFailed) as failed:
        tool_round_trip.check("test", "groq", _round_trip("none"), groq_client, models.get("groq", "tools"))
    assert "low, medium or high" in str(failed.value)


def test_lesson04_stream_and_error_checks_pass_with_the_solutions(openai_client):
    import openai

    def assemble(chunks):
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    def classify_error(call):
        try:
            call()
        except openai.AuthenticationError:
            return "auth"
        except openai.NotFoundError:
            return "not_found"
        except openai.RateLimitError as e:
            return "quota" if e.code == "insufficient_quota" else "rate_limit"
        except openai.APITimeoutError:
            return "timeout"
        return "ok"

    assert lesson04.exercise_1(assemble, openai_client, models.chat("openai")).ok
    assert lesson04.exercise_4(classify_error).ok
