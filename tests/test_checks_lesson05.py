"""Lesson 05's checks against the local server: right answers pass, the usual wrong ones fail with a reason.

Exercise 5 (several function calls in one turn) is checked by sending the learner's turn to the local server,
which rejects split function responses with Gemini's own 400; these tests make sure that path works.
"""
from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
from google import genai
from google.genai import types

import helpers
from helpers.checks import lesson05
from helpers.checks.base import CheckFailed

MINIMAL = types.ThinkingConfig(thinking_level="minimal")


def verdict_of(check, *args):
    """(passed, message) of a check, without its display."""
    out = io.StringIO()
    with redirect_stdout(out):
        try:
            v = check(*args)
            return v.ok, v.message
        except CheckFailed as e:
            return False, str(e)


def all_in_one_turn(response, functions):
    parts = [types.Part.from_function_response(name=c.name, response=functions[c.name](**c.args))
             for c in response.function_calls or []]
    return types.Content(role="user", parts=parts)


def one_turn_each(response, functions):
    return [types.Content(role="user", parts=[types.Part.from_function_response(
        name=c.name, response=functions[c.name](**c.args))]) for c in response.function_calls]


def in_dictionary_order(response, functions):
    args = response.function_calls[0].args
    return types.Content(role="user", parts=[types.Part.from_function_response(name=name, response=f(**args))
                                             for name, f in functions.items()])


def first_call_only(response, functions):
    call = response.function_calls[0]
    return types.Content(role="user", parts=[
        types.Part.from_function_response(name=call.name, response=functions[call.name](**call.args))])


def test_exercise_5_accepts_all_results_in_one_turn(local_mode):
    ok, message = verdict_of(lesson05.exercise_5, all_in_one_turn)
    assert ok, message


def test_exercise_5_reports_gemini_s_400_for_one_turn_per_result(local_mode):
    ok, message = verdict_of(lesson05.exercise_5, one_turn_each)
    assert not ok
    assert "list of 2 contents" in message
    assert "number of function response parts is equal to the number of function call parts" in message


@pytest.mark.parametrize("wrong", [in_dictionary_order, first_call_only])
def test_exercise_5_refuses_wrong_turns(local_mode, wrong):
    ok, message = verdict_of(lesson05.exercise_5, wrong)
    assert not ok, message


def test_exercise_5_fixture_is_rejected_by_the_server_when_split(local_mode):
    """The check's two-call model turn, as the local server sees it: split results get the real 400."""
    response = lesson05._model_turn([("get_weather", {"city": "Lisbon"}), ("get_local_time", {"city": "Lisbon"})])
    assert [c.name for c in response.function_calls] == ["get_weather", "get_local_time"]
    assert response.candidates[0].content.parts[0].thought_signature
    question = types.Content(role="user", parts=[types.Part(text=lesson05.PARALLEL_QUESTION)])
    results = [types.Part.from_function_response(name=c.name, response={"ok": True}) for c in response.function_calls]
    split = [question, response.candidates[0].content, *[types.Content(role="user", parts=[r]) for r in results]]
    _, error = lesson05._send_locally(split)
    assert error and error.startswith("400 INVALID_ARGUMENT")
    answer, error = lesson05._send_locally([question, response.candidates[0].content,
                                            types.Content(role="user", parts=results)])
    assert error is None and answer.text


def good_config(instruction, max_tokens):
    return types.GenerateContentConfig(system_instruction=instruction, max_output_tokens=max_tokens,
                                       stop_sequences=["END"], thinking_config=MINIMAL)


def budget_config(instruction, max_tokens):
    return types.GenerateContentConfig(system_instruction=instruction, max_output_tokens=max_tokens,
                                       stop_sequences=["END"], thinking_config=types.ThinkingConfig(thinking_budget=0))


def warm_config(instruction, max_tokens):
    return types.GenerateContentConfig(system_instruction=instruction, max_output_tokens=max_tokens,
                                       stop_sequences=["END"], thinking_config=MINIMAL, temperature=0.3)


def test_exercise_1_wants_thinking_level_and_no_temperature(local_mode):
    client = genai.Client()
    model = helpers.models.chat("gemini")
    ok, message = verdict_of(lesson05.exercise_1, good_config, client, model)
    assert ok, message
    ok, message = verdict_of(lesson05.exercise_1, budget_config, client, model)
    assert not ok and "thinking_level" in message
    ok, message = verdict_of(lesson05.exercise_1, warm_config, client, model)
    assert not ok and "temperature" in message


def test_retired_model_for_exercise_4_answers_404_after_a_redirect_date(monkeypatch):
    """After 2026-12-01 Google serves gemini-2.5-flash's replacement: the check must pick an id that still fails."""
    monkeypatch.setenv("COURSE_TODAY", "2026-12-02")
    name = lesson05._retired_model()
    info = helpers.models.info("gemini", name)
    assert info is not None and info.status_on() == "shut_down" and info.after_shutdown == "404"


def test_stronger_model_rejects_minimal():
    info = helpers.models.info("gemini", lesson05._stronger_model())
    assert info.reasoning_param == "thinking_level" and "minimal" not in info.reasoning_levels
