"""Checks for lesson 06 · Groq.

In the exercise notebook::

    from helpers.checks import lesson06 as check
    check.exercise_1(speed)

Checks that need a model call use the client you pass (live or local); in local mode they also
read the course server's request inspector to see what your code sent.
"""
from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Callable
from typing import Any

from .base import Verdict, verdict
from .base import call_learner as _call, raised as _raised
from . import tool_round_trip

QUESTION = [{"role": "user", "content": "Write one short sentence about mountains."}]


def _is_local() -> bool:
    from .. import course

    return course.is_local("groq")


def _chat_requests() -> list[dict]:
    """The chat-completion requests the local server has recorded since the last clear."""
    from .. import server

    return [r for r in server.last_requests(20) if str(r.get("path", "")).endswith("/chat/completions")]


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))


# --------------------------------------------------------------------------- exercise 1

SPEED_CASES = [((10.0, 10.25, 12.25, 100), 0.25, 50.0), ((5.0, 5.5, 9.5, 2), 0.5, 0.5),
               ((0.0, 1.5, 1.5, 7), 1.5, None)]


def exercise_1(speed: Callable) -> Verdict:
    """``speed(start, first_token, end, tokens)`` returns ``{"ttft": ..., "tokens_per_second": ...}``."""
    ex = "Exercise 1 · speed from timings"
    results = []
    for args, ttft, tps in SPEED_CASES:
        got, err = _call(speed, *args)
        if err:
            return _raised(ex, "speed", f"{err} for speed{args}",
                           "When end is not after first_token, return None for tokens_per_second instead of dividing.")
        results.append((args, got, ttft, tps))
    dicts = all(isinstance(g, dict) for _, g, _, _ in results)
    keys_ok = dicts and all({"ttft", "tokens_per_second"} <= set(g) for _, g, _, _ in results)

    def close(a: Any, b: float) -> bool:
        return _is_number(a) and math.isclose(float(a), b, rel_tol=1e-6, abs_tol=1e-9)

    bad_ttft = next(((a, g["ttft"], t) for a, g, t, _ in results if not close(g["ttft"], t)), None) if keys_ok else None
    bad_tps = next(((a, g["tokens_per_second"], s) for a, g, _, s in results if s is not None
                    and not close(g["tokens_per_second"], s)), None) if keys_ok else None
    whole_time = bad_tps is not None and close(bad_tps[1], bad_tps[0][3] / (bad_tps[0][2] - bad_tps[0][0]))
    none_case = results[-1][1].get("tokens_per_second", "missing") if keys_ok else "missing"
    tests = [
        (lambda: dicts, f"`speed` returned a {type(results[0][1]).__name__}, not a dict.",
         'Return {"ttft": ..., "tokens_per_second": ...}.'),
        (lambda: keys_ok, f"The dict's keys are {sorted(results[0][1])}; expected 'ttft' and 'tokens_per_second'.",
         "Use exactly these two key names."),
        (lambda: bad_ttft is None, f"speed{bad_ttft[0]} gave ttft={bad_ttft[1]!r}; expected {bad_ttft[2]}." if bad_ttft else "",
         "The time to first token is first_token - start."),
        (lambda: bad_tps is None, (f"speed{bad_tps[0]} gave tokens_per_second={bad_tps[1]!r}; expected {bad_tps[2]}."
                                   + (" You divided by the whole time, end - start." if whole_time else ""))
         if bad_tps else "", "Output speed counts from the first token: tokens / (end - first_token)."),
        (lambda: none_case is None, f"With end == first_token you returned tokens_per_second={none_case!r}; expected None.",
         "When end - first_token is 0 (or less), there is no time to divide by: return None."),
    ]
    return verdict(ex, tests, "ttft = first_token - start; tokens per second = tokens / (end - first_token).")


# --------------------------------------------------------------------------- exercise 2

HEADER = "x-ratelimit-remaining-requests"


def exercise_2(remaining_requests: Callable, client: Any, model: str) -> Verdict:
    """``remaining_requests(client, model)`` reads ``x-ratelimit-remaining-requests`` as an int."""
    ex = "Exercise 2 · read a rate-limit header"
    from .. import server

    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                                           max_completion_tokens=5)
    before = raw.headers.get(HEADER)
    limit = raw.headers.get("x-ratelimit-limit-requests")
    local = _is_local()
    if local:
        server.clear_requests()
    got, err = _call(remaining_requests, client, model)
    if err:
        return _raised(ex, "remaining_requests", err, "Use client.chat.completions.with_raw_response.create(...) and "
                       f"read raw.headers[{HEADER!r}].")
    sent = _chat_requests() if local else []
    tests = [
        (lambda: before is not None, f"The service sent no {HEADER} header, so this exercise cannot be checked now.",
         "Run the check again; if it persists, the service has changed its headers."),
        (lambda: not isinstance(got, str), f"`remaining_requests` returned the text {got!r}, not a number.",
         "Header values are strings: convert with int(...)."),
        (lambda: isinstance(got, int) and not isinstance(got, bool),
         f"`remaining_requests` returned a {type(got).__name__}, not an int.",
         f"Return int(raw.headers[{HEADER!r}])."),
        (lambda: 0 <= got <= int(limit or got), f"{got} is not between 0 and your limit ({limit}).",
         f"Read the header named {HEADER!r}, not another one."),
        (lambda: abs(got - int(before)) <= 10, f"You returned {got}, but the header said about {before}.",
         f"Read {HEADER!r} from the response of your own request."),
        (lambda: not local or sent, "`remaining_requests` sent no request.",
         "Make one request with client.chat.completions.with_raw_response.create(...) and read its headers."),
    ]
    return verdict(ex, tests, f"{got} requests left (of {limit}), read from the headers as an int.")


# --------------------------------------------------------------------------- exercise 3

def _stream_text_from_inspector(response: Any) -> tuple[str | None, int | None]:
    """(text, completion tokens) from a recorded SSE response, or (None, None) if it was cut short."""
    if not isinstance(response, str) or "data: [DONE]" not in response:
        return None, None
    text, tokens = [], None
    for line in response.splitlines():
        if not line.startswith("data: {"):
            continue
        chunk = json.loads(line[6:])
        for choice in chunk.get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
        usage = (chunk.get("x_groq") or {}).get("usage")
        if usage:
            tokens = usage.get("completion_tokens")
    return "".join(text), tokens


def exercise_3(timed_stream: Callable, client: Any, model: str) -> Verdict:
    """``timed_stream(client, model, messages)`` streams and returns text, tokens, ttft and tokens_per_second."""
    ex = "Exercise 3 · time a stream"
    from .. import server

    local = _is_local()
    if local:
        server.clear_requests()
    start = time.perf_counter()
    got, err = _call(timed_stream, client, model, QUESTION)
    wall = time.perf_counter() - start
    if err:
        return _raised(ex, "timed_stream", err, "Stream with stream=True, note time.perf_counter() at the start, at the "
                       "first chunk with text and at the end, and use your speed() function.")
    d = got if isinstance(got, dict) else {}
    sent = _chat_requests() if local else []
    body = sent[-1].get("body") if sent and isinstance(sent[-1].get("body"), dict) else {}
    server_text, server_tokens = _stream_text_from_inspector(sent[-1].get("response")) if sent else (None, None)
    tps = d.get("tokens_per_second")
    tolerance = 0.05  # seconds: clock readings a little apart
    tests = [
        (lambda: isinstance(got, dict), f"`timed_stream` returned a {type(got).__name__}, not a dict.",
         'Return {"text": ..., "tokens": ..., "ttft": ..., "tokens_per_second": ...}.'),
        (lambda: {"text", "tokens", "ttft", "tokens_per_second"} <= set(d),
         f"The dict's keys are {sorted(d)}; expected text, tokens, ttft and tokens_per_second.",
         "Merge your speed(...) result into the dict: {\"text\": ..., \"tokens\": ..., **speed(...)}."),
        (lambda: not local or body.get("stream") is True, "The request was not streamed.", "Pass stream=True."),
        (lambda: isinstance(d["text"], str) and d["text"].strip(), "The text is empty.",
         "Join chunk.choices[0].delta.content of every chunk that has text."),
        (lambda: server_text is None or d["text"] == server_text, "The text is not the whole streamed answer.",
         "Add every chunk's text, in order, from the first to the last."),
        (lambda: isinstance(d["tokens"], int) and d["tokens"] > 0, f"tokens is {d.get('tokens')!r}; expected a positive int.",
         "Read chunk.x_groq.usage.completion_tokens from the chunk that has it (the last one)."),
        (lambda: server_tokens is None or d["tokens"] == server_tokens,
         f"tokens is {d.get('tokens')!r}, but the stream reported {server_tokens}.",
         "Take completion_tokens from x_groq.usage, not the number of chunks."),
        (lambda: _is_number(d["ttft"]) and 0 < d["ttft"] <= wall + tolerance,
         f"ttft is {d.get('ttft')!r}; the whole call took {wall:.2f} s.",
         "ttft = (time of the first chunk with text) - (time just before you sent the request)."),
        (lambda: tps is None or (_is_number(tps) and tps > 0), f"tokens_per_second is {tps!r}; expected a positive number.",
         "Use your speed() function."),
        (lambda: tps is None or d["ttft"] + d["tokens"] / tps <= wall + tolerance,
         f"ttft + tokens / tokens_per_second is longer than the call itself ({wall:.2f} s).",
         "Take the three clock readings inside the function: before the request, at the first text, after the loop."),
    ]
    rate = f"{tps:.0f} tokens/s" if _is_number(tps) else "no rate (one chunk)"
    return verdict(ex, tests, f"TTFT {d.get('ttft', 0):.2f} s, {d.get('tokens')} tokens, {rate} "
                              f"(local mode measures your CPU, not Groq).")


# --------------------------------------------------------------------------- exercise 4

def _completion(content: str, finish: str = "stop") -> Any:
    from groq.types.chat import ChatCompletion

    return ChatCompletion.model_validate({
        "id": "chatcmpl-check", "object": "chat.completion", "created": 0, "model": "check",
        "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}]})


def exercise_4(parse_json_answer: Callable, client: Any, model: str) -> Verdict:
    """``parse_json_answer(completion)`` returns the JSON object, or raises ValueError saying what is wrong."""
    ex = "Exercise 4 · parse a JSON-mode answer"
    good = {"name": "kiwi", "colour": "green"}
    got_good, err = _call(parse_json_answer, _completion(json.dumps(good)))
    if err:
        return _raised(ex, "parse_json_answer", f"{err} on a valid JSON object",
                       "json.loads(completion.choices[0].message.content) and return the dict.")
    bad_cases = [("an answer cut by the token limit", _completion('{"name": "ki', "length")),
                 ("text that is not JSON", _completion("Sure! Here it is: {name: kiwi}")),
                 ("a JSON list instead of an object", _completion("[1, 2, 3]")),
                 ("valid JSON cut by the token limit", _completion('{"name": "kiwi"}', "length"))]
    outcomes = []
    for what, completion in bad_cases:
        try:
            value = parse_json_answer(completion)
            outcomes.append((what, f"returned {value!r}"))
        except NotImplementedError:
            raise
        except ValueError:
            outcomes.append((what, None))
        except Exception as e:
            outcomes.append((what, f"raised {type(e).__name__} instead of ValueError"))
    wrong = next(((w, o) for w, o in outcomes if o), None)
    hints = {"an answer cut by the token limit": 'Check choices[0].finish_reason == "length" first.',
             "valid JSON cut by the token limit": 'Check finish_reason == "length" even when the JSON happens to parse.',
             "text that is not JSON": "json.loads raises json.JSONDecodeError, a ValueError: let it raise, or raise your own.",
             "a JSON list instead of an object": "After json.loads, check isinstance(data, dict)."}
    live = client.chat.completions.create(
        model=model, response_format={"type": "json_object"}, max_completion_tokens=120,
        messages=[{"role": "system", "content": "Answer in JSON with the keys 'city' and 'country'."},
                  {"role": "user", "content": "Name a city."}])
    got_live, err_live = _call(parse_json_answer, live)
    tests = [
        (lambda: got_good == good, f"On a valid answer you returned {got_good!r}; expected {good!r}.",
         "Return the dict that json.loads gives you."),
        (lambda: wrong is None, f"For {wrong[0]}, `parse_json_answer` {wrong[1]}." if wrong else "",
         hints[wrong[0]] if wrong else ""),
        (lambda: err_live is None and isinstance(got_live, dict),
         f"On a real JSON-mode answer: {err_live or type(got_live).__name__}.",
         "A JSON-mode answer is a JSON object: json.loads gives a dict."),
    ]
    keys = sorted(got_live) if isinstance(got_live, dict) else []
    return verdict(ex, tests, f"valid objects parsed, broken answers refused with ValueError; the real answer had keys {keys}.")


# --------------------------------------------------------------------------- exercise 5

def exercise_5(ask_with_tools: Callable, client: Any, model: str) -> Verdict:
    """``ask_with_tools`` runs a full round trip: the model asks for a tool, you run it, the model answers."""
    return tool_round_trip.check("Exercise 5 · a tool round trip", "groq", ask_with_tools, client, model)
