"""What a provider error means and what to do next: ``helpers.explain_error(e)``.

Works with the exceptions of all four SDKs (openai, groq, google-genai, huggingface_hub). For a
404 it names the model catalogue's current model, so a retired model id is a one-line fix. For a 429
it tells a per-minute rate limit (wait the delay the provider gives, then retry) from a used-up
quota or daily limit (retrying now will not help). The explanation never contains a key: it is
passed through ``helpers.masking.redact``, like everything else the course shows.
"""
from __future__ import annotations

import re

from . import models
from .masking import redact

PROVIDER_OF_MODULE = {"openai": "openai", "groq": "groq", "google": "gemini", "huggingface_hub": "huggingface"}


def _provider(error: BaseException) -> str | None:
    return PROVIDER_OF_MODULE.get(type(error).__module__.split(".")[0])


def _status(error: BaseException) -> int | None:
    for value in (getattr(error, "status_code", None), getattr(error, "code", None),
                  getattr(getattr(error, "response", None), "status_code", None)):
        if isinstance(value, int):
            return value
    return None


# (what the provider's message says, what to change): one sentence each, for the parameters that today's
# reasoning models reject (helpers/models.toml lists which model rejects what, with sources).
PARAMETER_ADVICE = (
    ("'max_tokens' is not supported", "send max_completion_tokens instead of max_tokens."),
    ("Unknown parameter: 'max_tokens'", "the Responses API takes max_output_tokens, not max_tokens."),
    ("'temperature' does not support", "leave temperature out, or send reasoning_effort=\"none\" with it (GPT-6 and "
     "GPT-5.6 models take a temperature only with reasoning off)."),
    ("'temperature' is not supported", "leave temperature out, or send reasoning={\"effort\": \"none\"} with it."),
    ("'top_p' ", "leave top_p out, or send reasoning_effort=\"none\" with it."),
    ("'logprobs' is not supported", "logprobs need reasoning_effort=\"none\" on OpenAI's reasoning models; Groq does "
     "not return them at all."),
    ("is not supported by Groq", "Groq does not support this parameter: leave it out."),
    ("Function tools with reasoning_effort", "send reasoning_effort=\"none\" with tools in Chat Completions, or use "
     "the Responses API."),
    ("reasoning_effort must be one of", "use one of the levels the message lists (Groq's gpt-oss models: low, medium "
     "or high; they cannot turn reasoning off)."),
    ("'reasoning_effort' does not support", "use one of the levels the message lists."),
    ("Supported values are", "use one of the values the message lists."),
    ("`reasoning_effort` is not supported", "this model does not reason: leave reasoning_effort out."),
    ("`reasoning_format` is not supported", "use include_reasoning=True or False to show or hide the reasoning."),
    ("Thinking level", "use a thinking_level the model accepts: helpers.models.info('gemini', MODEL).reasoning_levels "
     "lists them."),
    ("one of thinking budget and thinking level", "send thinking_level or thinking_budget, not both "
     "(thinking_level on Gemini 3 models)."),
    ("Budget 0 is invalid", "this model always thinks: send thinking_level=\"low\" instead of thinking_budget=0."),
    ("thought_signature", "append the model's own content (response.candidates[0].content) to the conversation, so "
     "its thought signature goes back with the function call."),
    ("number of function response parts", "send the responses to all function calls of one turn together, in one "
     "Content with one part per call."),
    ("messages with role 'tool' must be a response", "a tool message must follow the assistant message whose "
     "tool_calls it answers (same tool_call_id)."),
    ("must be followed by tool messages", "answer every tool call of the assistant message with a tool message "
     "before anything else."),
    ("'n' must be at most", "ask for one answer (n=1) and call again for more."),
    ("candidateCount", "ask for one candidate and call again for more."),
    ("dimensions", "ask for a number of dimensions inside the range the message gives."),
    ("output_dimensionality", "ask for an output_dimensionality inside the range the message gives."),
)


def parameter_advice(message: str) -> str | None:
    """One sentence on what to change, for a 400 that names a parameter the model rejects (else None)."""
    return next((advice for needle, advice in PARAMETER_ADVICE if needle in message), None)


def explain(error: BaseException, model: str | None = None) -> str:
    """A plain-words explanation of ``error`` with the next step; never contains a key."""
    try:
        text = _explain(error, model)
    except Exception as e:  # noqa: BLE001 - an explanation must never raise
        text = f"{type(error).__name__}: {str(error)[:300]} (and explaining it failed: {type(e).__name__})"
    return redact(text)


# A 429 that says so is a limit per minute (or per second, per hour): it lifts by itself after a short wait.
_SHORT_WINDOW = re.compile(r"per[ _-]?(?:minute|min|second|sec|hour)\b|PerMinute|PerSecond|PerHour|\b(?:RPM|TPM|RPS|"
                           r"ITPM|OTPM)\b|reset hourly", re.IGNORECASE)
# One that says this is a daily limit, or that the quota is used up or zero, does not lift by retrying now.
_DAILY = re.compile(r"per[ _-]?day\b|PerDay|\bdaily\b|\b(?:RPD|TPD)\b", re.IGNORECASE)
_NO_QUOTA = re.compile(r"exceeded your current quota|billing details", re.IGNORECASE)
# ... and these say so whatever the window: no quota at all (limit 0), no credit, an account without quota.
_ZERO = re.compile(r"insufficient_quota|\blimit: 0\b|\bcredits?\b|monthly included", re.IGNORECASE)
_DELAY = re.compile(r"(?:retry|try again)(?: after| in)?\s*(?:(\d+)h)?\s*(?:(\d+)m(?!s))?\s*(\d+(?:\.\d+)?)\s*"
                    r"(s|ms|seconds?)\b|retryDelay['\"]?\s*[:=]\s*['\"]?(\d+(?:\.\d+)?)s", re.IGNORECASE)


def _retry_delay(error: BaseException, text: str) -> float | None:
    """Seconds to wait, from the ``retry-after`` header or the message ("retry in 23.5s", retryDelay: "23s")."""
    headers = getattr(getattr(error, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        if value is not None:
            return float(value)
    except (TypeError, ValueError, AttributeError):
        pass
    m = _DELAY.search(text)
    if not m:
        return None
    if m.group(5):
        return float(m.group(5))
    seconds = float(m.group(3)) / (1000 if m.group(4) == "ms" else 1)
    return seconds + 60 * int(m.group(2) or 0) + 3600 * int(m.group(1) or 0)


def _wait_words(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 5400:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


def _limit_advice(label: str, status: int | None, error: BaseException, text: str) -> str | None:
    """The advice for a 429 or 402: a per-minute rate limit, a daily limit, or a used-up quota (None: not one)."""
    if status not in (429, 402) and "insufficient_quota" not in text and "RESOURCE_EXHAUSTED" not in text:
        return None
    delay = _retry_delay(error, text)
    short = _SHORT_WINDOW.search(text)
    if status == 402 or _ZERO.search(text) or (_NO_QUOTA.search(text) and not short and not _DAILY.search(text)):
        return (f"{label}: the account has no credit or quota left for this model. Retrying will not help: add "
                "credit or billing, wait for the next period, use another model, or use local mode "
                "(`helpers.setup('local')`).")
    if _DAILY.search(text) and not short:
        when = f" (the provider says: in {_wait_words(delay)})" if delay else ""
        return (f"{label}: the daily limit for this model is used up (429). Retrying now will not help: wait until "
                f"it resets{when}, use another model, or use local mode (`helpers.setup('local')`).")
    wait = f"wait {_wait_words(delay)} (the delay the provider gives), then retry" if delay else \
        "wait a moment and retry with backoff (the SDKs' max_retries does this)"
    return (f"{label} rate limit (429): too many requests in a short time (a per-minute limit), so {wait}. "
            "Sending fewer requests per minute, or smaller ones, avoids it.")


def _explain(error: BaseException, model: str | None) -> str:
    provider = _provider(error)
    status = _status(error)
    text = str(error)
    label = models.catalogue().get(provider or "", {}).get("label", "the provider")
    if model is None:
        m = re.search(r"models?[/ ]`?([\w.:/-]+?)`? (?:is not found|does not exist)", text) or \
            re.search(r"[Mm]odel `([^`]+)`", text)
        model = m.group(1) if m else None
    name = type(error).__name__
    if "Timeout" in name:
        return f"{label} did not answer in time ({name}). Try again, raise the client's timeout, or shorten the request."
    if "Connection" in name or "ConnectError" in name:
        return (f"Could not reach {label} ({name}): check the internet connection (or, for a local server, "
                "that it is running: `python -m helpers server status`).")
    if status in (401,) or "API key not valid" in text:
        return f"{label} rejected the key (401). Run `helpers.check_keys()`, or create a new key and update .env."
    limit = _limit_advice(label, status, error, text)
    if limit:
        return limit
    if "location is not supported" in text:  # Gemini says so with a 400 FAILED_PRECONDITION
        return f"{label} is not available in your region (403/400). Use another provider or local mode."
    if status == 403:
        if "location is not supported" in text or "region" in text.lower():
            return f"{label} is not available in your region (403/400). Use another provider or local mode."
        return f"{label}: the key lacks a permission for this request (403). Check the key's project or permissions."
    if status == 404:
        current = (models.replacement_for(model) if model else None) or (models.chat(provider) if provider else None)
        what = f"The model `{model}`" if model else "The model"
        hint = f" The catalogue's current model for {label} is `{current}` (helpers/models.toml)." if current else ""
        return f"{what} was not found at {label} (404): retired, misspelt or not offered to this account.{hint}"
    if status is not None and status >= 500:
        return f"{label} had a server problem ({status}). It is usually brief: retry after a moment."
    if status == 400:
        advice = parameter_advice(text)
        if advice:
            return f"{label} rejected a parameter for this model (400): {advice}"
        return f"{label} refused the request as malformed (400): check the parameters. The message says which."
    return f"{name}: {redact(text)[:200]}"
