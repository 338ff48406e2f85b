"""Lesson 11's checks: model_options() is judged against the catalogue, and chat() by the settings it sends.

The full, passing run of exercise 3 (eleven model calls) is in solutions/11_*.ipynb under nbval; here the quick
paths: the right model_options passes, the usual mistakes fail with a reason, and a chat() that sends a model
settings it does not accept (a temperature to a reasoning model, no reasoning effort for Groq) is refused.
"""
from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
from groq import Groq
from openai import OpenAI

import helpers
from helpers.checks import lesson11
from helpers.checks.base import CheckFailed

LIMIT_FIELD = lesson11.LIMIT_FIELD


def verdict_of(check, *args):
    """(passed, message) of a check, without its display."""
    with redirect_stdout(io.StringIO()):
        try:
            v = check(*args)
            return v.ok, v.message
        except CheckFailed as e:
            return False, str(e)


def model_options(provider, model, temperature, max_tokens):
    """The lesson's function."""
    info = helpers.models.info(provider, model)
    options = {(info and info.token_limit) or LIMIT_FIELD[provider]: max_tokens}
    if info is None or info.sampling == "honoured":
        options["temperature"] = temperature
    elif info.sampling == "reasoning_off":
        options.update(temperature=temperature, reasoning_effort="none")
    if info is not None and info.reasoning != "none" and "reasoning_effort" not in options and info.reasoning_levels:
        lowest = info.reasoning_levels[0]
        if info.reasoning_param == "thinking_level":
            options["thinking_config"] = {"thinking_level": lowest}
        else:
            options[info.reasoning_param] = lowest
    if provider == "huggingface" and "reasoning_effort" in options:
        options["extra_body"] = {"reasoning_effort": options.pop("reasoning_effort")}
    return options


def always_temperature(provider, model, temperature, max_tokens):
    """The pre-2026 habit: a temperature and the same limit field for everyone."""
    return {"temperature": temperature, "max_tokens": max_tokens}


def no_reasoning_settings(provider, model, temperature, max_tokens):
    info = helpers.models.info(provider, model)
    options = {(info and info.token_limit) or LIMIT_FIELD[provider]: max_tokens}
    if info is None or info.sampling in ("honoured", "reasoning_off"):
        options["temperature"] = temperature
    return options


def by_name(provider, model, temperature, max_tokens):
    """Decides from the model's name: right for today's defaults, wrong for the rest of the catalogue."""
    if model.startswith("gemini"):
        return {"max_output_tokens": max_tokens, "thinking_config": {"thinking_level": "minimal"}}
    if provider == "openai":
        return {"max_completion_tokens": max_tokens, "temperature": temperature, "reasoning_effort": "none"}
    if provider == "groq":
        return {"max_completion_tokens": max_tokens, "temperature": temperature, "reasoning_effort": "low"}
    return {"max_tokens": max_tokens, "temperature": temperature}


def test_exercise_2_accepts_the_lesson_s_model_options():
    ok, message = verdict_of(lesson11.exercise_2, model_options)
    assert ok, message


@pytest.mark.parametrize("wrong", [always_temperature, no_reasoning_settings, by_name])
def test_exercise_2_refuses_settings_not_taken_from_the_catalogue(wrong):
    ok, message = verdict_of(lesson11.exercise_2, wrong)
    assert not ok and "expected" in message, message


def test_expected_options_follow_the_catalogue():
    openai_model = helpers.models.chat("openai")
    assert lesson11.expected_options("openai", openai_model, 0.3, 12) == model_options("openai", openai_model, 0.3, 12)
    gemini = lesson11.expected_options("gemini", helpers.models.chat("gemini"), 0.3, 12)
    assert "temperature" not in gemini and gemini["max_output_tokens"] == 12
    hf_reasoning = next(m for m in helpers.models.fallbacks("huggingface")
                        if helpers.models.info("huggingface", m).reasoning == "always")
    assert "extra_body" in lesson11.expected_options("huggingface", hf_reasoning, 0.3, 12)
    assert lesson11.limit_for("groq") == lesson11.ROOMY_TOKENS


def chat_with(options_for):
    """A chat() for OpenAI and Groq only (enough for the check to refuse it before it reaches the others)."""
    def chat(provider, messages, *, model=None, temperature=0.7, max_tokens=300, stream=False):
        client = {"openai": OpenAI, "groq": Groq}[provider]()
        model = model or helpers.models.chat(provider)
        response = client.chat.completions.create(model=model, messages=messages, stream=stream,
                                                  **options_for(provider, model, temperature, max_tokens))
        if not stream:
            return response.choices[0].message.content or ""
        return (c.choices[0].delta.content for c in response if c.choices and c.choices[0].delta.content)
    return chat


def test_exercise_3_reports_openai_s_400_for_a_temperature_with_reasoning_on(local_mode):
    ok, message = verdict_of(lesson11.exercise_3, chat_with(no_reasoning_settings))
    assert not ok and "BadRequestError" in message and "temperature" in message, message


def test_exercise_3_refuses_groq_without_the_lowest_reasoning_effort(local_mode):
    def options(provider, model, temperature, max_tokens):
        got = model_options(provider, model, temperature, max_tokens)
        return got if provider == "openai" else {k: v for k, v in got.items() if k != "reasoning_effort"}

    ok, message = verdict_of(lesson11.exercise_3, chat_with(options))
    assert not ok and "chat('groq'" in message and "reasoning_effort" in message, message


# --------------------------------------------------------------------------- exercise 5: a dropped connection


def fallback_catching(errors):
    """A chat_with_fallback over a minimal chat() for the four SDKs, catching ``errors``."""
    from google import genai
    from huggingface_hub import InferenceClient

    def chat(provider, messages, *, model=None, max_tokens=200):
        if provider not in ("openai", "groq", "gemini", "huggingface"):
            raise ValueError(provider)
        model = model or helpers.models.chat(provider)
        options = model_options(provider, model, 0.7, max_tokens)
        if provider == "gemini":
            client = genai.Client()
            return client.models.generate_content(model=model, contents="Say hello.", config=options).text or ""
        if provider == "huggingface":
            response = InferenceClient().chat_completion(messages, model=model, **options)
        else:
            response = {"openai": OpenAI, "groq": Groq}[provider]().chat.completions.create(
                model=model, messages=messages, **options)
        return response.choices[0].message.content or ""

    def chat_with_fallback(messages, attempts, **options):
        failures = []
        for provider, model in attempts:
            try:
                return provider, chat(provider, messages, model=model, **options)
            except errors as error:
                failures.append(f"{provider}: {type(error).__name__}: {error}")
        raise RuntimeError(" | ".join(failures))
    return chat_with_fallback




def _http_errors():
    import groq
    import openai
    from google.genai import errors as genai_errors
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
    return (openai.APIError, groq.APIError, genai_errors.APIError, HfHubHTTPError, InferenceTimeoutError)


def test_exercise_5_passes_a_fallback_that_catches_dropped_connections(local_mode):
    import httpx2
    errors = (*_http_errors(), httpx2.TransportError)
    ok, message = verdict_of(lesson11.exercise_5, fallback_catching(errors), errors)
    assert ok, message


def test_exercise_5_refuses_a_fallback_that_misses_dropped_connections(local_mode):
    """The check drops Gemini's and Hugging Face's connections for real: their httpx2 errors must be caught."""
    errors = _http_errors()
    ok, message = verdict_of(lesson11.exercise_5, fallback_catching(errors), errors)
    assert not ok and "connection drops" in message and "httpx2" in message, message


def test_exercise_5_refuses_exception_as_a_provider_error(local_mode):
    ok, message = verdict_of(lesson11.exercise_5, fallback_catching((Exception,)), (Exception,))
    assert not ok and "Exception itself" in message, message


def test_exercise_5_says_not_done_for_the_placeholder():
    from helpers.checks.base import NotDoneYet
    with pytest.raises(NotDoneYet):
        lesson11.exercise_5(lambda *a, **k: None, ...)
