"""Checks for lesson 09 · Errors, rate limits, retries and cost.

In the exercise notebook::

    from helpers.checks import lesson09 as check
    check.exercise_1(worth_retrying)

The checks of exercises 3 and 4 make real errors happen with all four SDKs against the course's
local server (clients pointed at it explicitly, in every mode), so your keys are never used. Each
request is valid for the catalogue's default model (max_completion_tokens, each model's least
reasoning), except where a case sends a parameter the model rejects on purpose.
"""
from __future__ import annotations

import math
import socket
from collections.abc import Callable
from typing import Any

from .base import Verdict, require_done, verdict
from .base import call_learner as _call, raised as _raised

SDKS = ("openai", "groq", "gemini", "huggingface")
HI = [{"role": "user", "content": "Say hi."}]


# --------------------------------------------------------------------------- exercise 1

SITUATION_HINTS = {
    "wrong_key": "A wrong key stays wrong: fix it (helpers.check_keys()), retrying only repeats the 401.",
    "rate_limit": "A rate limit passes: wait for retry-after seconds, then try again.",
    "insufficient_quota": "An empty quota does not refill by waiting: add credit. Never retry it.",
    "hf_credits": "Hugging Face's 402 means the monthly credits are spent: never retry it.",
    "retired_model": "A retired model will not come back: use a current one (the catalogue).",
    "server_error": "A 500 is the provider's problem and often passes: retry with backoff.",
    "overloaded": "A 503 (overloaded) usually passes in seconds: retry with backoff.",
    "timeout": "A timeout may pass (a slow moment, a busy network): retry a few times.",
    "region": "A region block does not change by waiting: use another provider.",
    "no_permission": "A missing permission stays missing: create a token with the right permission.",
    "rejected_parameter": "A 400 for a parameter the model does not take is the same every time: change the "
                          "request (helpers.explain_error(e) says how).",
}
WORTH_RETRYING = {"rate_limit", "server_error", "overloaded", "timeout"}


def exercise_1(worth_retrying: Any) -> Verdict:
    """``worth_retrying`` is the set of situation names worth retrying."""
    ex = "Exercise 1 · retry or not?"
    require_done(worth_retrying, exercise=ex)
    names = set(worth_retrying) if isinstance(worth_retrying, (set, frozenset, list, tuple)) else None
    unknown = sorted(n for n in (names or ()) if n not in SITUATION_HINTS)
    extra = sorted((names or set()) - WORTH_RETRYING - set(unknown))
    missing = sorted(WORTH_RETRYING - (names or set()))
    tests = [
        (lambda: names is not None, f"`worth_retrying` is a {type(worth_retrying).__name__}, not a set of names.",
         'Write a set of the names, e.g. {"rate_limit", ...}.'),
        (lambda: not unknown, f"Unknown name(s): {unknown}.", "Use the keys of SITUATIONS, spelled exactly."),
        (lambda: not extra, f"{extra[0]!r} is not worth retrying." if extra else "",
         SITUATION_HINTS[extra[0]] if extra else ""),
        (lambda: not missing, f"{missing[0]!r} is worth retrying." if missing else "",
         SITUATION_HINTS[missing[0]] if missing else ""),
    ]
    return verdict(ex, tests, "rate limits, server errors, overloads and timeouts are retried; "
                              "nothing that only a person can fix is.")


# --------------------------------------------------------------------------- exercise 2

def _usage_cases() -> list[tuple[str, str, Any, float | None, str]]:
    """(provider, model, usage object, expected cost, what the case is about)."""
    import groq.types
    import huggingface_hub
    import openai.types
    from google.genai import types

    from .. import models

    def cost(p: str, m: str, i: int, o: int) -> float | None:
        return models.estimate_cost(p, m, i, o)

    o_model, q_model, g_model, h_model = (models.chat(p) for p in ("openai", "groq", "gemini", "huggingface"))
    reasoning = openai.types.completion_usage.CompletionTokensDetails(reasoning_tokens=200)
    return [
        ("openai", o_model, openai.types.CompletionUsage(prompt_tokens=1200, completion_tokens=300, total_tokens=1500),
         cost("openai", o_model, 1200, 300), "an OpenAI usage"),
        ("openai", o_model, openai.types.CompletionUsage(prompt_tokens=1200, completion_tokens=300, total_tokens=1500,
                                                         completion_tokens_details=reasoning),
         cost("openai", o_model, 1200, 300), "an OpenAI usage with 200 reasoning tokens (part of the 300)"),
        ("groq", q_model, groq.types.CompletionUsage(prompt_tokens=5000, completion_tokens=20, total_tokens=5020),
         cost("groq", q_model, 5000, 20), "a Groq usage"),
        ("huggingface", h_model, huggingface_hub.ChatCompletionOutputUsage(prompt_tokens=80, completion_tokens=900,
                                                                           total_tokens=980),
         cost("huggingface", h_model, 80, 900), "a Hugging Face usage"),
        ("gemini", g_model, types.GenerateContentResponseUsageMetadata(
            prompt_token_count=700, candidates_token_count=150, total_token_count=850),
         cost("gemini", g_model, 700, 150), "a Gemini usage_metadata without thinking (thoughts_token_count None)"),
        ("gemini", g_model, types.GenerateContentResponseUsageMetadata(
            prompt_token_count=700, candidates_token_count=150, thoughts_token_count=400, total_token_count=1250),
         cost("gemini", g_model, 700, 550), "a Gemini usage_metadata with 400 thinking tokens"),
        ("openai", "no-such-model", openai.types.CompletionUsage(prompt_tokens=10, completion_tokens=10,
                                                                 total_tokens=20),
         None, "a model without a price in the catalogue"),
    ]


def exercise_2(call_cost: Callable) -> Verdict:
    """``call_cost(provider, model, usage)`` is the estimated cost in dollars (None without a price)."""
    ex = "Exercise 2 · the cost of a call"
    results = []
    for provider, model, usage, want, about in _usage_cases():
        got, err = _call(call_cost, provider, model, usage)
        if err:
            return _raised(ex, "call_cost", f"{err} for {about}",
                           "Gemini's usage has prompt_token_count / candidates_token_count; the others have "
                           "prompt_tokens / completion_tokens. Check with hasattr().")
        results.append((about, got, want))

    def close(got: Any, want: float | None) -> bool:
        if want is None:
            return got is None
        return isinstance(got, (int, float)) and math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-15)

    bad = next(((a, g, w) for a, g, w in results if not close(g, w)), None)
    hint = "cost = (input tokens × input price + output tokens × output price) / 1,000,000."
    if bad and bad[2] is None:
        hint = "helpers.models.price(...) returns None when the catalogue has no price: return None then."
    elif bad and isinstance(bad[1], (int, float)) and bad[2] and math.isclose(bad[1], bad[2] * 1_000_000, rel_tol=1e-6):
        hint = "Prices are per million tokens: divide by 1,000,000."
    elif bad and "thinking" in bad[0]:
        hint = "Thinking tokens are billed as output: add thoughts_token_count (when it is not None) to the output."
    elif bad and "reasoning" in bad[0]:
        hint = ("OpenAI's completion_tokens already include the reasoning tokens "
                "(completion_tokens_details.reasoning_tokens is a part of them): do not add them again.")
    tests = [(lambda: bad is None,
              f"For {bad[0]} you returned {bad[1]!r}; expected {bad[2]!r}." if bad else "", hint)]
    return verdict(ex, tests, "each SDK's usage priced correctly, reasoning and thinking tokens as output (once), "
                              "None without a price.")


# --------------------------------------------------------------------------- shared by exercises 3 and 4

def _free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _clients(base: str, key: str = "local", timeout: float = 60.0) -> dict:
    """One client per SDK pointed at ``base``, without the SDKs' own retries."""
    from google import genai
    from google.genai import types
    from groq import Groq
    from huggingface_hub import InferenceClient
    from openai import OpenAI

    return {
        "openai": OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=timeout),
        "groq": Groq(base_url=base, api_key=key, max_retries=0, timeout=timeout),
        "gemini": genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base, timeout=int(timeout * 1000))),
        "huggingface": InferenceClient(base_url=f"{base}/hf/router/v1", token="hf_" + key, timeout=timeout),
    }


def _ask(client: Any, provider: str, model: str) -> Any:
    """A short request, valid for the default model: each model's least reasoning, the current limit names."""
    from google.genai import types

    if provider == "openai":
        return client.chat.completions.create(model=model, messages=HI, max_completion_tokens=3,
                                              reasoning_effort="none")
    if provider == "groq":
        return client.chat.completions.create(model=model, messages=HI, max_completion_tokens=3,
                                              reasoning_effort="low")
    if provider == "gemini":
        return client.models.generate_content(model=model, contents="Say hi.", config=types.GenerateContentConfig(
            max_output_tokens=3, thinking_config=types.ThinkingConfig(thinking_level="minimal")))
    return client.chat_completion(HI, model=model, max_tokens=3)


def _ask_rejected(client: Any, provider: str, model: str) -> Any:
    """A request with a parameter the default model rejects with a 400, as older tutorials write it."""
    from google.genai import types

    if provider == "openai":   # reasoning models take max_completion_tokens, not max_tokens
        return client.chat.completions.create(model=model, messages=HI, max_tokens=3)
    if provider == "groq":     # gpt-oss cannot switch reasoning off
        return client.chat.completions.create(model=model, messages=HI, max_completion_tokens=3,
                                              reasoning_effort="none")
    return client.models.generate_content(model=model, contents="Say hi.", config=types.GenerateContentConfig(
        max_output_tokens=3, thinking_config=types.ThinkingConfig(thinking_level="minimal", thinking_budget=0)))


REJECTING = ("openai", "groq", "gemini")   # the providers whose rejections of these parameters are documented


def _retired(provider: str) -> str:
    """The provider's most recently shut-down model that answers 404 (not one the provider redirects)."""
    import datetime as dt

    from .. import models

    gone = [models.info(provider, old) for old in models.retired()]
    gone = [m for m in gone if m is not None and m.replacement and m.after_shutdown == "404"
            and "images" not in m.purpose]  # a chat model, as the lesson's cell picks
    return max(gone, key=lambda m: m.shutdown or dt.date.min).id


def _cases(include_ok: bool) -> list[tuple[str, str, Callable[[], Any]]]:
    """(provider, case, call) for every SDK and every kind of error the local server can produce."""
    from .. import models, server

    url = server.base_url()
    plain, bad = _clients(url), _clients(url, key="course-" + "invalid" + "-key")
    slow, closed = _clients(url, timeout=0.5), _clients(_free_port_url())
    out: list[tuple[str, str, Callable[[], Any]]] = []
    for p in SDKS:
        m = models.chat(p)

        def add(case: str, clients: dict, model: str, p: str = p) -> None:
            out.append((p, case, lambda: _ask(clients[p], p, model)))

        if include_ok:
            add("ok", plain, m)
        add("auth", bad, m)
        add("not_found", plain, _retired(p))
        add("rate_limit", plain, f"{m}-simulate-429")
        add("quota", plain, f"{m}-simulate-quota")
        add("server", plain, f"{m}-simulate-500")
        add("server (503)", plain, f"{m}-simulate-503")
        add("timeout", slow, f"{m}-simulate-slow-2")
        add("connection", closed, m)
        add("forbidden (403)", plain, f"{m}-simulate-403")
        add("region", plain, f"{m}-simulate-region")
        if p in REJECTING:
            out.append((p, "rejected parameter", lambda p=p, m=m: _ask_rejected(plain[p], p, m)))
    return out


# --------------------------------------------------------------------------- exercise 3

RETRYABLE = {"rate_limit": True, "server": True, "server (503)": True, "timeout": True, "connection": True,
             "auth": False, "not_found": False, "quota": False, "forbidden (403)": False, "region": False,
             "rejected parameter": False}

HINTS_3 = {
    ("openai", "quota"): "OpenAI's quota error is a RateLimitError too: e.code == 'insufficient_quota' means never retry.",
    ("groq", "quota"): "Groq's RateLimitError has no .code: read e.body['error']['code'] ('insufficient_quota').",
    ("gemini", "quota"): "Gemini's quota 429 says 'limit: 0' (or mentions a quota without 'retry in'): not retryable.",
    ("gemini", "rate_limit"): "Gemini's rate limit is ClientError 429 whose message suggests 'retry in ...s': retryable.",
    ("huggingface", "quota"): "Hugging Face's 402 (credits spent) must not be retried.",
    ("gemini", "timeout"): "Gemini's timeouts are httpx2.TimeoutException (a subclass of httpx2.TransportError).",
    ("gemini", "connection"): "Gemini's connection errors are httpx2.ConnectError (a subclass of httpx2.TransportError).",
    ("huggingface", "timeout"): "Hugging Face raises huggingface_hub.errors.InferenceTimeoutError.",
    ("huggingface", "connection"): "Hugging Face lets httpx2.ConnectError through for a refused connection.",
    ("openai", "timeout"): "openai.APITimeoutError is a subclass of openai.APIConnectionError: both are retryable.",
    ("groq", "timeout"): "groq.APITimeoutError is a subclass of groq.APIConnectionError: both are retryable.",
}


def _hint_3(provider: str, case: str) -> str:
    if (provider, case) in HINTS_3:
        return HINTS_3[(provider, case)]
    if RETRYABLE[case]:
        return {"rate_limit": "A 429 that is not a quota error is worth retrying.",
                "server": "Every status of 500 and above is worth retrying.",
                "server (503)": "A 503 (overloaded) is worth retrying.",
                "connection": "Connection errors (openai/groq APIConnectionError, httpx2.ConnectError) are retryable.",
                }.get(case, "Return True for this case.")
    if case == "rejected parameter":
        return "A 400 for a parameter the model does not take (BadRequestError, Gemini's ClientError 400) never " \
               "passes by waiting: return False."
    return "Only rate limits, 5xx, timeouts and connection errors are retryable; other 4xx errors are not."


def exercise_3(is_retryable: Callable) -> Verdict:
    """``is_retryable(e)`` says whether an SDK's exception is worth retrying."""
    ex = "Exercise 3 · a retry predicate"
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

    from .. import models, server

    collected: list[tuple[str, str, BaseException]] = []
    cases = _cases(include_ok=False)
    for provider, case, call in cases:
        try:
            call()
        except Exception as e:  # the exception each SDK raises for this case
            collected.append((provider, case, e))
    wrong = None
    for provider, case, e in collected:
        got, err = _call(is_retryable, e)
        if err:
            return _raised(ex, "is_retryable", f"{err} for {provider}'s {case} error ({type(e).__name__})",
                           "Check the class with isinstance() before reading attributes such as e.code.")
        if bool(got) != RETRYABLE[case]:
            wrong = (provider, case, e, got)
            break
    others = [ValueError("a bug in your own code"), KeyError("choices")]
    other_results = [_call(is_retryable, e) for e in others]

    attempts: list[int] = []
    hf = _clients(server.base_url())["huggingface"]
    model = models.chat("huggingface")

    def count_and_ask(directive: str) -> Any:
        attempts.append(1)
        return hf.chat_completion(HI, model=f"{model}-{directive}", max_tokens=3)

    counts = {}
    for directive in ("simulate-429", "simulate-quota"):
        attempts.clear()
        try:
            Retrying(retry=retry_if_exception(is_retryable), stop=stop_after_attempt(3), wait=wait_fixed(0.05),
                     reraise=True)(count_and_ask, directive)
        except NotImplementedError:
            raise
        except Exception:  # the last error, re-raised by tenacity
            pass
        counts[directive] = len(attempts)
    tests = [
        (lambda: len(collected) == len(cases),
         "Some injected errors did not happen; is the local server running?", "Run helpers.setup() and try again."),
        (lambda: wrong is None,
         f"For {wrong[0]}'s {wrong[1]} error ({type(wrong[2]).__name__}) you returned {wrong[3]!r}; "
         f"expected {RETRYABLE[wrong[1]]}." if wrong else "", _hint_3(wrong[0], wrong[1]) if wrong else ""),
        (lambda: all(err is None and r is False for r, err in other_results),
         f"For a ValueError or KeyError from your own code you returned {[r for r, _ in other_results]}.",
         "Return False for anything that is not an SDK's error: a bug does not go away by retrying."),
        (lambda: counts == {"simulate-429": 3, "simulate-quota": 1},
         f"With tenacity, a Hugging Face 429 was tried {counts.get('simulate-429')} times and a 402 "
         f"{counts.get('simulate-quota')} times; expected 3 and 1.", "Retry 429s; never 402s."),
    ]
    return verdict(ex, tests, f"{len(collected)} real errors from four SDKs judged right, and tenacity retried a "
                              "rate limit 3 times but a quota error only once.")


# --------------------------------------------------------------------------- exercise 4

HINTS_4 = {
    "auth": "A wrong key: openai/groq AuthenticationError, HfHubHTTPError 401, Gemini ClientError 400 'API key not valid'.",
    "not_found": "An unknown or retired model: openai/groq NotFoundError, Gemini ClientError 404, HF 404.",
    "rate_limit": "A rate limit: RateLimitError (not insufficient_quota), Gemini ClientError 429 with 'retry in', HF 429.",
    "quota": "A quota error: code insufficient_quota (groq: e.body['error']['code']), Gemini 429 'limit: 0', HF 402.",
    "server": "5xx: openai/groq InternalServerError, Gemini errors.ServerError, HfHubHTTPError with status >= 500.",
    "timeout": "Timeouts: APITimeoutError (catch it before APIConnectionError), httpx2.TimeoutException, "
               "InferenceTimeoutError (older SDKs, such as Colab's: httpx.TimeoutException).",
    "connection": "No connection: openai/groq APIConnectionError, httpx2.ConnectError (Gemini and Hugging Face; "
                  "httpx.ConnectError in their older versions).",
    "ok": "When call() succeeds, return 'ok'.",
}


def exercise_4(label_error: Callable) -> Verdict:
    """``label_error(call)`` runs ``call()`` and names the error with the SDKs' exception classes."""
    ex = "Exercise 4 · catch the right class"
    must_raise = {"forbidden (403)", "region", "rejected parameter"}
    wrong = None
    leaked = None
    caught = None
    total = 0
    for provider, case, call in _cases(include_ok=True):
        total += 1
        want = "server" if case == "server (503)" else case
        try:
            got = label_error(call)
        except NotImplementedError:
            raise
        except Exception as e:
            if case not in must_raise and leaked is None:
                leaked = (provider, case, f"{type(e).__name__}: {str(e)[:120]}")
            continue
        if case in must_raise:
            if caught is None:
                caught = (provider, case, got)
        elif got != want and wrong is None:
            wrong = (provider, want, got)
    tests = [
        (lambda: leaked is None,
         f"For {leaked[0]}'s {leaked[1]} case `label_error` raised {leaked[2]}." if leaked else "",
         HINTS_4.get(leaked[1].split(" ")[0], "") if leaked else ""),
        (lambda: wrong is None,
         f"For {wrong[0]}'s {wrong[1]!r} case you returned {wrong[2]!r}." if wrong else "",
         HINTS_4.get(wrong[1], "") if wrong else ""),
        (lambda: caught is None,
         f"{caught[0]}'s {caught[1]} error was caught (you returned {caught[2]!r}); it should raise." if caught else "",
         "Catch only the cases in the table; re-raise the rest (`raise` inside the except block), so you see them. "
         "A 400 for a rejected parameter is not 'auth': only Gemini's 400 that says 'API key not valid' is."),
    ]
    return verdict(ex, tests, f"{total} calls with four SDKs: every error named by its class, "
                              "403s, region blocks and rejected parameters passed on.")
