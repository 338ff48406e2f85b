"""The checks of lessons 06 (Groq), 07 (Hugging Face) and 08 (LM Studio) judge structure, against the local server.

Each check must pass the solution and refuse the mistakes it is written to catch: above all, on Groq's
reasoning models, requests that leave no room for the reasoning (they pass locally by luck and come back
empty live), and the Hugging Face router's policy suffix.
"""
from __future__ import annotations

import io
import json
import re
import time
from contextlib import redirect_stdout

import pytest

import helpers
from helpers.checks import lesson06, lesson07, lesson08
from helpers.checks.base import CheckFailed



def quietly(check, *args):
    """Run a check without its printed verdict; return the Verdict or raise CheckFailed."""
    with redirect_stdout(io.StringIO()):
        return check(*args)


# --------------------------------------------------------------------------- lesson 06: room for reasoning

@pytest.mark.parametrize("body, ok", [
    ({"reasoning_effort": "low", "max_completion_tokens": 300}, True),
    ({"reasoning_effort": "low", "max_completion_tokens": 60}, False),
    ({"max_completion_tokens": 200}, False),                  # default effort is medium: 200 is too little
    ({"max_completion_tokens": 1000}, True),
    ({"reasoning_effort": "high", "max_completion_tokens": 1000}, False),
    ({"reasoning_effort": "low", "max_tokens": 50}, False),   # the old name counts the same way
    ({}, True),                                               # no limit: nothing is cut
])
def test_room_problem_asks_more_room_for_more_effort(body, ok):
    assert (lesson06.room_problem(body) is None) is ok


def _groq():
    from groq import Groq

    return Groq(), helpers.models.get("groq", "fast")


def answer_with_room(client, model, question, limit=8):
    for attempt in range(4):
        response = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                                  reasoning_effort="low", max_completion_tokens=limit)
        choice = response.choices[0]
        if choice.message.content or choice.finish_reason != "length" or attempt == 3:
            break
        limit *= 4
    return {"answer": choice.message.content or "", "reasoning": choice.message.reasoning or "", "limit": limit}


def test_exercise_3_passes_the_solution(local_mode):
    client, model = _groq()
    assert quietly(lesson06.exercise_3, answer_with_room, client, model).ok


def no_retry(client, model, question, limit=8):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                       reasoning_effort="low", max_completion_tokens=limit)
    m = r.choices[0].message
    return {"answer": m.content or "", "reasoning": m.reasoning or "", "limit": limit}


def retries_forever(client, model, question, limit=8):
    while True:
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                           reasoning_effort="low", max_completion_tokens=limit)
        m = r.choices[0].message
        if m.content:
            return {"answer": m.content, "reasoning": m.reasoning or "", "limit": limit}
        limit *= 4


def retries_on_any_empty_answer(client, model, question, limit=8):
    for _ in range(4):
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                           reasoning_effort="low", max_completion_tokens=limit)
        m = r.choices[0].message
        if m.content:
            break
        limit *= 4
    return {"answer": m.content or "", "reasoning": m.reasoning or "", "limit": limit}


def default_effort(client, model, question, limit=8):
    for _ in range(4):
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                           max_completion_tokens=limit)
        c = r.choices[0]
        if c.message.content or c.finish_reason != "length":
            break
        limit *= 4
    return {"answer": c.message.content or "", "reasoning": c.message.reasoning or "", "limit": limit}


@pytest.mark.parametrize("wrong, says", [
    (no_retry, "limits [8]"),
    (retries_forever, "more than 10 requests"),
    (retries_on_any_empty_answer, "an empty answer that was not cut"),
    (default_effort, "reasoning_effort"),
])
def test_exercise_3_refuses_the_usual_mistakes(local_mode, wrong, says):
    client, model = _groq()
    with pytest.raises(CheckFailed, match=re.escape(says)):
        quietly(lesson06.exercise_3, wrong, client, model)


def speed(start, first_token, end, tokens):
    generating = end - first_token
    return {"ttft": first_token - start, "tokens_per_second": tokens / generating if generating > 0 else None}


def stream_with(**settings):
    def timed_stream(client, model, messages):
        start, first, pieces, tokens = time.perf_counter(), None, [], 0
        for chunk in client.chat.completions.create(model=model, messages=messages, stream=True, **settings):
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None and (delta.reasoning or delta.content) and first is None:
                first = time.perf_counter()
            if delta is not None and delta.content:
                pieces.append(delta.content)
            if chunk.x_groq and chunk.x_groq.usage:
                tokens = chunk.x_groq.usage.completion_tokens
        end = time.perf_counter()
        return {"text": "".join(pieces), "tokens": tokens, **speed(start, first or end, end, tokens)}
    return timed_stream


def test_exercise_4_wants_room_for_the_reasoning(local_mode):
    client, model = _groq()
    assert quietly(lesson06.exercise_4, stream_with(reasoning_effort="low", max_completion_tokens=300), client, model).ok
    with pytest.raises(CheckFailed, match="too little room"):   # the old exercise: 60 tokens, default effort
        quietly(lesson06.exercise_4, stream_with(max_completion_tokens=60), client, model)


def ask_with(**settings):
    def ask_with_tools(client, model, question, tools, functions):
        messages = [{"role": "user", "content": question}]
        message = client.chat.completions.create(model=model, messages=messages, tools=tools, **settings).choices[0].message
        if not message.tool_calls:
            return message.content, messages
        messages.append(message.model_dump(include={"role", "content", "tool_calls"}, exclude_none=True))
        for call in message.tool_calls:
            result = functions[call.function.name](**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        final = client.chat.completions.create(model=model, messages=messages, tools=tools, **settings)
        return final.choices[0].message.content, messages
    return ask_with_tools


def test_exercise_6_round_trip_must_leave_room(local_mode):
    from groq import Groq

    client, model = Groq(), helpers.models.get("groq", "tools")
    assert quietly(lesson06.exercise_6, ask_with(reasoning_effort="low", max_completion_tokens=1000), client, model).ok
    with pytest.raises(CheckFailed, match="NoRoomForReasoning"):   # the old exercise: 200 tokens, default effort
        quietly(lesson06.exercise_6, ask_with(max_completion_tokens=200), client, model)


# --------------------------------------------------------------------------- lesson 07: the router's policy

def task_request(model_id, text):
    return f"https://router.huggingface.co/hf-inference/models/{model_id}", {"inputs": text}


def chat_request(model, question, max_tokens, policy=None):
    return ("https://router.huggingface.co/v1/chat/completions",
            {"model": f"{model}:{policy}" if policy else model,
             "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens})


def chat_request_without_policy(model, question, max_tokens, policy=None):
    return chat_request(model, question, max_tokens)


def chat_request_old_signature(model, question, max_tokens):
    return chat_request(model, question, max_tokens)


def chat_request_policy_in_the_body(model, question, max_tokens, policy=None):
    url, body = chat_request(model, question, max_tokens)
    return url, {**body, "policy": policy} if policy else body


@pytest.mark.parametrize("fn, ok", [(chat_request, True), (chat_request_without_policy, False),
                                    (chat_request_old_signature, False), (chat_request_policy_in_the_body, False)])
def test_lesson07_exercise_3_wants_the_policy_in_the_model_id(local_mode, fn, ok):
    args = (fn, task_request, helpers.models.chat("huggingface"), helpers.models.get("huggingface", "sentiment"))
    if ok:
        assert quietly(lesson07.exercise_3, *args).ok
    else:
        with pytest.raises(CheckFailed):
            quietly(lesson07.exercise_3, *args)


# --------------------------------------------------------------------------- lesson 08: an optional token

def make_client(host="localhost", port=1234, token=None):
    from openai import OpenAI

    return OpenAI(base_url=f"http://{host}:{port}/v1", api_key=token or "lm-studio")


def make_client_ignoring_the_token(host="localhost", port=1234, token=None):
    return make_client(host, port)


def make_client_old_signature(host="localhost", port=1234):
    return make_client(host, port)


@pytest.mark.parametrize("fn, ok", [(make_client, True), (make_client_ignoring_the_token, False),
                                    (make_client_old_signature, False)])
def test_lesson08_exercise_1_sends_a_token_when_given(local_mode, fn, ok):
    if ok:
        assert quietly(lesson08.exercise_1, fn).ok
    else:
        with pytest.raises(CheckFailed):
            quietly(lesson08.exercise_1, fn)
