"""Checks for lesson 04 · OpenAI.

In the exercise notebook::

    from helpers.checks import lesson04 as check
    check.exercise_1(assemble, client, MODEL)

Checks that need a model call use the client you pass (live or local); the error check always
talks to the course's local server, which can produce each error on purpose.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from ..errors import parameter_advice
from .base import Verdict, verdict
from .base import call_learner as _call, raised as _raised
from . import tool_round_trip

QUESTION = [{"role": "user", "content": "Write one short sentence about rivers."}]


def _answer_now(model: str) -> dict:
    """``reasoning_effort="none"`` for a model that can switch reasoning off (so short limits hold an answer)."""
    from .. import models

    m = models.info("openai", model)
    levels = (m.chat_reasoning_levels or m.reasoning_levels) if m else ()
    return {"reasoning_effort": "none"} if "none" in levels else {}


def _chunk(delta: dict, finish: str | None = None, choices: bool = True, usage: dict | None = None):
    from openai.types.chat import ChatCompletionChunk

    data: dict = {"id": "chatcmpl-check", "object": "chat.completion.chunk", "created": 0, "model": "check",
                  "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
    if usage:
        data["usage"] = usage
    return ChatCompletionChunk.model_validate(data)


def _made_up_stream() -> tuple[list, str]:
    chunks = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Rivers "}),
              _chunk({"content": "carry "}), _chunk({}), _chunk({"content": "water."}), _chunk({}, "stop"),
              _chunk({}, choices=False, usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13})]
    return chunks, "Rivers carry water."


def exercise_1(assemble: Callable, client: Any, model: str) -> Verdict:
    """``assemble(chunks)`` joins the text of a chat-completions stream into one string."""
    ex = "Exercise 1 · a streamed answer"
    made_up, want_made_up = _made_up_stream()
    got_made_up, err = _call(assemble, iter(made_up))
    if err:
        return _raised(ex, "assemble", err, "Skip chunks whose `choices` list is empty, and deltas whose content is None.")
    stream = client.chat.completions.create(model=model, messages=QUESTION, max_completion_tokens=30, stream=True,
                                            stream_options={"include_usage": True}, **_answer_now(model))
    chunks = list(stream)
    want = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    got, err = _call(assemble, iter(chunks))
    tests = [
        (lambda: isinstance(got_made_up, str), f"`assemble` returned a {type(got_made_up).__name__}, not a string.",
         'Collect the pieces in a list and return "".join(pieces).'),
        (lambda: got_made_up == want_made_up, f"On a made-up stream `assemble` gave {got_made_up!r}; "
         f"expected {want_made_up!r}.", "Add chunk.choices[0].delta.content when it is not None, in order; "
         "the last chunk (with usage) has no choices at all."),
        (lambda: err is None, f"On a real stream `assemble` raised {err}.", "Guard with `if chunk.choices` before choices[0]."),
        (lambda: got == want, "On a real stream the text is not the whole answer.",
         "Join every delta's content, from the first chunk to the last."),
    ]
    return verdict(ex, tests, f"{len(chunks)} chunks assembled into {len(want)} characters.")


# --------------------------------------------------------------------------- exercise 2

_VECTORS = {"kittens": [1.0, 0.0], "Cats purr when they are happy.": [0.9, 0.1],
            "Dogs bark at strangers.": [5.0, 3.0], "Cars need fuel.": [0.1, 1.0]}


def exercise_2(cosine: Callable, rank: Callable) -> Verdict:
    """``cosine(a, b)`` is the cosine similarity; ``rank(query, documents, embed)`` sorts by it, best first."""
    ex = "Exercise 2 · cosine similarity ranking"
    pairs = [([1, 0], [0, 1], 0.0), ([1, 2, 3], [2, 4, 6], 1.0), ([1, 0], [-1, 0], -1.0), ([3, 4], [4, 3], 0.96)]
    results = []
    for a, b, want in pairs:
        got, err = _call(cosine, a, b)
        if err:
            return _raised(ex, "cosine", err, "Use numpy: np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)).")
        results.append((a, b, got, want))
    calls: list = []

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(list(texts))
        return [_VECTORS[t] for t in texts]

    docs = ["Dogs bark at strangers.", "Cars need fuel.", "Cats purr when they are happy."]
    ranked, err = _call(rank, "kittens", list(docs), embed)
    if err:
        return _raised(ex, "rank", err, "Embed the query and the documents, score each document, sort best first.")
    bad = next(((a, b, g, w) for a, b, g, w in results
                if not (isinstance(g, numbers.Real) and math.isclose(float(g), w, abs_tol=1e-6))), None)
    want_rank = ["Cats purr when they are happy.", "Dogs bark at strangers.", "Cars need fuel."]
    tests = [
        (lambda: bad is None, f"cosine({bad[0]}, {bad[1]}) gave {bad[2]!r}; expected {bad[3]}." if bad else "",
         "Divide the dot product by the product of the two lengths (norms)."),
        (lambda: isinstance(ranked, list), f"`rank` returned a {type(ranked).__name__}, not a list.",
         "Return the documents (the strings) in a list, best match first."),
        (lambda: sorted(ranked) == sorted(docs), "`rank` should return each document exactly once.",
         "Return the document texts themselves, not their scores or indexes."),
        (lambda: ranked != ["Dogs bark at strangers.", "Cats purr when they are happy.", "Cars need fuel."],
         "`rank` sorted by the dot product, which favours long vectors.", "Score with your cosine(), not with np.dot()."),
        (lambda: ranked == want_rank, f"`rank` gave {ranked}; expected {want_rank}.",
         "Sort by cosine similarity to the query, highest first (sorted(..., reverse=True))."),
    ]
    note = " (tip: one embed() call for all texts is cheaper)" if len(calls) > 2 else ""
    return verdict(ex, tests, f"cosine is right and the ranking puts the closest document first{note}.")


# --------------------------------------------------------------------------- exercise 3

EVENT_TEXT = "Reminder: the team lunch is on Friday at 12:30 in the Blue Room. Bring a dessert!"


def exercise_3(extract_event: Callable, event_class: type, client: Any, model: str) -> Verdict:
    """``extract_event(client, model, text)`` returns an ``Event`` parsed by ``client.chat.completions.parse``."""
    ex = "Exercise 3 · structured output"
    from .. import course, server

    local = course.is_local("openai")
    if local:
        server.clear_requests()
    got, err = _call(extract_event, client, model, EVENT_TEXT)
    if err and "LengthFinishReasonError" in err:
        return _raised(ex, "extract_event", err, "The token limit cut the JSON short. Raise max_completion_tokens, and "
                       "send reasoning_effort=\"none\" so that thinking does not use up the limit.")
    if err:
        return _raised(ex, "extract_event", err, parameter_advice(err) or "Call client.chat.completions.parse("
                       "..., response_format=Event) and return .choices[0].message.parsed.")
    sent = server.last_requests(1) if local else []
    body = sent[-1]["body"] if sent and isinstance(sent[-1].get("body"), dict) else {}
    schema_sent = ((body.get("response_format") or {}).get("type") == "json_schema"
                   or ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema")
    tests = [
        (lambda: got is not None, "`extract_event` returned None.",
         "Return message.parsed (and raise an error if message.refusal is set)."),
        (lambda: not isinstance(got, str), "`extract_event` returned the JSON text, not an Event.",
         "Read .choices[0].message.parsed: the SDK has already validated it into your class."),
        (lambda: isinstance(got, event_class), f"`extract_event` returned a {type(got).__name__}, not an Event.",
         "Pass response_format=Event to parse() and return message.parsed."),
        (lambda: event_class.model_validate(got.model_dump()) == got, "The Event does not validate against its own schema.",
         "Let the SDK build the object; do not edit its fields by hand."),
        (lambda: not local or schema_sent, "The request did not ask for a JSON schema.",
         "Use client.chat.completions.parse(..., response_format=Event): it sends the schema for you."),
    ]
    fields = ", ".join(f"{k}={v!r}" for k, v in got.model_dump().items()) if isinstance(got, event_class) else ""
    return verdict(ex, tests, f"an Event that fits the schema: {fields}.")


# --------------------------------------------------------------------------- exercise 4

LABELS = ("ok", "auth", "not_found", "rate_limit", "quota", "timeout")


def exercise_4(classify_error: Callable) -> Verdict:
    """``classify_error(call)`` runs ``call()`` and names the error with the SDK's exception classes."""
    ex = "Exercise 4 · the right exception class"
    import openai

    from .. import models, server

    url = server.base_url() + "/v1"
    model = models.chat("openai")
    quick = _answer_now(model)

    def ask(m: str = model, key: str = "local", timeout: float = 60.0):
        c = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=timeout)
        return lambda: c.chat.completions.create(model=m, messages=QUESTION, max_completion_tokens=3, **quick)

    cases = [("auth", ask(key="sk-course-" + "invalid" + "-key-0000")), ("not_found", ask(f"{model}-simulate-404")),
             ("rate_limit", ask(f"{model}-simulate-429")), ("quota", ask(f"{model}-simulate-quota")),
             ("timeout", ask(f"{model}-simulate-slow-3", timeout=0.5)), ("ok", ask())]
    answers = {}
    for want, call in cases:
        got, err = _call(classify_error, call)
        if err:
            return _raised(ex, "classify_error", f"{err} for the {want!r} case",
                           "Put the call inside try: and add one `except openai.SomeError:` per case.")
        answers[want] = got
    try:
        other = classify_error(ask(f"{model}-simulate-500"))
        passed_on = False
    except NotImplementedError:
        raise
    except openai.InternalServerError:
        other, passed_on = None, True
    except Exception as e:
        other, passed_on = f"{type(e).__name__}", False
    wrong = [k for k in LABELS if answers.get(k) != k]
    hints = {"auth": "A bad key raises openai.AuthenticationError (401).",
             "not_found": "An unknown or retired model raises openai.NotFoundError (404).",
             "rate_limit": "A rate limit raises openai.RateLimitError whose .code is 'rate_limit_exceeded'.",
             "quota": "An empty quota is a RateLimitError too: tell them apart with e.code == 'insufficient_quota'.",
             "timeout": "A client timeout raises openai.APITimeoutError; catch it before openai.APIConnectionError, its parent.",
             "ok": "When the call succeeds, return 'ok'."}
    tests = [
        (lambda: not wrong, f"For the {wrong[0]!r} case you returned {answers.get(wrong[0])!r}." if wrong else "",
         hints[wrong[0]] if wrong else ""),
        (lambda: passed_on, f"A 500 server error was caught (you returned {other!r}); it should pass through.",
         "Catch only the errors you handle; let others (openai.InternalServerError here) raise, so you see them."),
    ]
    return verdict(ex, tests, "each error caught with its own class, quota told apart from rate limit, others passed on.")


# --------------------------------------------------------------------------- exercise 5

def exercise_5(ask_with_tools: Callable, client: Any, model: str) -> Verdict:
    """``ask_with_tools`` runs a full round trip: the model asks for a function, you run it, the model answers."""
    return tool_round_trip.check("Exercise 5 · a tool-calling round trip", "openai", ask_with_tools, client, model)
