"""Checks for lesson 05 · Google Gemini.

In the exercise notebook::

    from helpers.checks import lesson05 as check
    check.exercise_1(make_config, client, MODEL)

Checks that need a model call use the client you pass (live or local); the error check always
talks to the course's local server, which can produce each error on purpose.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from .base import Verdict, require_done, verdict
from .base import call_learner as _call, raised as _raised


def _local_body(action: str = ":generateContent") -> dict:
    """The body of the last request to the local server whose path ends with ``action`` ({} if none)."""
    from .. import server

    seen = [r for r in server.last_requests(10) if str(r.get("path", "")).endswith(action)]
    body = seen[-1].get("body") if seen else None
    return body if isinstance(body, dict) else {}


def _is_local() -> bool:
    from .. import course

    return course.is_local("gemini")


def _holds(condition: Callable[[], bool]) -> bool:
    """True when ``condition()`` is true; a condition that raises does not hold."""
    try:
        return bool(condition())
    except Exception:
        return False


def _text_of(instruction: Any) -> str:
    """The text of a system instruction given as a string, a Content or a Part."""
    if isinstance(instruction, str):
        return instruction
    parts = getattr(instruction, "parts", None)
    if parts:
        return "".join(getattr(p, "text", "") or "" for p in parts)
    return getattr(instruction, "text", "") or ""


def _content(item: Any) -> Any:
    """A ``types.Content`` from a Content or a dict (None when it is neither)."""
    from google.genai import types

    if isinstance(item, types.Content):
        return item
    if isinstance(item, dict):
        try:
            return types.Content.model_validate(item)
        except Exception:  # not a content: the verdict reports it
            return None
    return None


# --------------------------------------------------------------------------- exercise 1

def exercise_1(make_config: Callable, client: Any, model: str) -> Verdict:
    """``make_config(instruction, max_tokens)`` returns a GenerateContentConfig with the asked-for fields."""
    ex = "Exercise 1 · a generation config"
    from google.genai import types

    from .. import server

    instruction, limit = "You answer in one short sentence.", 25
    config, err = _call(make_config, instruction, limit)
    require_done(config, exercise=ex)
    if err:
        return _raised(ex, "make_config", err, "Return types.GenerateContentConfig(system_instruction=..., ...).")
    other, err = _call(make_config, "Be brief.", 12)
    if err:
        return _raised(ex, "make_config", err, "Use the two arguments, instruction and max_tokens.")
    def get(obj: Any, name: str) -> Any:
        return getattr(obj, name, None)

    thinking = get(config, "thinking_config")
    tests = [
        (lambda: isinstance(config, types.GenerateContentConfig),
         f"`make_config` returned a {type(config).__name__}, not a types.GenerateContentConfig.",
         "Build it with types.GenerateContentConfig(...) (from google.genai import types)."),
        (lambda: _text_of(config.system_instruction) == instruction,
         f"system_instruction is {get(config, 'system_instruction')!r}; expected the instruction you were given.",
         "Pass system_instruction=instruction."),
        (lambda: _text_of(other.system_instruction) == "Be brief.",
         "With another instruction, the config still holds the first one.",
         "Use the `instruction` argument, not a fixed text."),
        (lambda: config.max_output_tokens == limit,
         f"max_output_tokens is {get(config, 'max_output_tokens')!r}; expected max_tokens ({limit}).",
         "Pass max_output_tokens=max_tokens."),
        (lambda: other.max_output_tokens == 12,
         f"With max_tokens=12 you set max_output_tokens to {get(other, 'max_output_tokens')!r}.",
         "Use the `max_tokens` argument, not a fixed number."),
        (lambda: isinstance(config.temperature, numbers.Real) and math.isclose(config.temperature, 0.3),
         f"temperature is {get(config, 'temperature')!r}; expected 0.3.", "Pass temperature=0.3."),
        (lambda: config.stop_sequences == ["END"],
         f"stop_sequences is {get(config, 'stop_sequences')!r}; expected ['END'].",
         'Pass stop_sequences=["END"]: a list, even for one text.'),
        (lambda: thinking is not None and thinking.thinking_budget == 0, "Thinking is not turned off.",
         "Pass thinking_config=NO_THINKING (types.ThinkingConfig(thinking_budget=0))."),
    ]
    if not all(_holds(condition) for condition, _, _ in tests):  # report it before spending a model call
        return verdict(ex, tests, "")
    local = _is_local()
    if local:
        server.clear_requests()
    response, err = _call(client.models.generate_content, model=model, contents="Describe the sea.", config=config)
    if err:
        return _raised(ex, "generate_content with your config", err, "Check each field's name and type.")
    body = _local_body() if local else {}
    generation = body.get("generationConfig") or {}
    used = getattr(response.usage_metadata, "candidates_token_count", None) or 0
    tests += [
        (lambda: not local or (body.get("systemInstruction") and generation.get("maxOutputTokens") == limit),
         "The request did not carry your systemInstruction and maxOutputTokens.",
         "Pass the config to generate_content(config=...)."),
        (lambda: used <= limit, f"The answer used {used} tokens, more than the limit of {limit}.",
         "Set max_output_tokens."),
    ]
    return verdict(ex, tests, f"a config with all five settings; the call answered in {used} tokens (limit {limit}).")


# --------------------------------------------------------------------------- exercise 2

def exercise_2(two_turns: Callable, client: Any, model: str) -> Verdict:
    """``two_turns(client, model, first, second)`` returns a chat's history after two messages."""
    ex = "Exercise 2 · a chat of two turns"
    from .. import server

    first, second = "My favourite colour is green.", "What is my favourite colour?"
    local = _is_local()
    if local:
        server.clear_requests()
    history, err = _call(two_turns, client, model, first, second)
    if err:
        return _raised(ex, "two_turns", err, "Create the chat with client.chats.create(model=model, config=...), "
                       "then call chat.send_message twice.")
    turns = [_content(c) for c in history] if isinstance(history, list) else []
    roles = [getattr(c, "role", None) for c in turns]
    texts = [(c.parts[0].text if c is not None and c.parts else None) for c in turns]
    sent = [r for r in server.last_requests(10) if str(r.get("path", "")).endswith(":generateContent")] if local else []
    last_roles = [c.get("role") for c in (sent[-1].get("body") or {}).get("contents", [])] if sent else []
    tests = [
        (lambda: isinstance(history, list), f"`two_turns` returned a {type(history).__name__}, not a list.",
         "Return chat.get_history(), a list of types.Content."),
        (lambda: all(c is not None for c in turns), "The history holds items that are not contents.",
         "Return chat.get_history() itself."),
        (lambda: len(turns) == 4, f"The history has {len(turns)} turns; expected 4 (two questions, two answers).",
         "Send both messages in the same chat object, then return its history."),
        (lambda: roles == ["user", "model", "user", "model"], f"The roles are {roles}; expected user, model, user, model.",
         "Gemini's roles are 'user' and 'model'; the history alternates them."),
        (lambda: texts[0] == first and texts[2] == second, "The user turns are not the two messages, in order.",
         "Send `first`, then `second`."),
        (lambda: all(isinstance(t, str) and t.strip() for t in (texts[1], texts[3])), "An answer in the history is empty.",
         "Keep max_output_tokens at 60 and thinking off."),
        (lambda: not local or last_roles == ["user", "model", "user"],
         f"The second request sent {last_roles}; a chat resends the history (user, model, user).",
         "Use one chat for both messages: client.chats.create once, send_message twice."),
    ]
    return verdict(ex, tests, "four turns, user and model in turn; the second request resent the whole history.")


# --------------------------------------------------------------------------- exercise 3

BOOK_TEXT = "My favourite novel is 'The Left Hand of Darkness' by Ursula K. Le Guin, published in 1969."


def exercise_3(extract_book: Callable, book_class: type, client: Any, model: str) -> Verdict:
    """``extract_book(client, model, text)`` returns a ``Book`` from ``response.parsed``."""
    ex = "Exercise 3 · structured output"
    from .. import server

    local = _is_local()
    if local:
        server.clear_requests()
    got, err = _call(extract_book, client, model, BOOK_TEXT)
    if err:
        return _raised(ex, "extract_book", err, "Ask for JSON with response_mime_type='application/json' and "
                       "response_schema=Book, and return response.parsed.")
    body = _local_body() if local else {}
    generation = body.get("generationConfig") or {}
    schema = generation.get("responseSchema") or generation.get("responseJsonSchema") or {}
    props = schema.get("properties") or {}
    tests = [
        (lambda: got is not None, "`extract_book` returned None.", "Return response.parsed (after checking it)."),
        (lambda: not isinstance(got, str), "`extract_book` returned the JSON text, not a Book.",
         "Read response.parsed: the SDK has already turned the JSON into your class."),
        (lambda: isinstance(got, book_class), f"`extract_book` returned a {type(got).__name__}, not a Book.",
         "Pass response_schema=Book in the config and return response.parsed."),
        (lambda: book_class.model_validate(got.model_dump()) == got, "The Book does not validate against its schema.",
         "Let the SDK build the object; do not edit its fields by hand."),
        (lambda: not local or generation.get("responseMimeType") == "application/json",
         "The request did not ask for JSON.", "Set response_mime_type='application/json' in the config."),
        (lambda: not local or set(props) == set(book_class.model_fields),
         "The request did not send the Book schema.", "Set response_schema=Book (the class itself) in the config."),
    ]
    fields = ", ".join(f"{k}={v!r}" for k, v in got.model_dump().items()) if isinstance(got, book_class) else ""
    return verdict(ex, tests, f"a Book that fits the schema: {fields}.")


# --------------------------------------------------------------------------- exercise 4

LABELS = ("ok", "region", "bad_request", "not_found", "rate_limit", "server")


def exercise_4(classify_error: Callable) -> Verdict:
    """``classify_error(call)`` names Gemini errors from their class, ``code`` and ``status``."""
    ex = "Exercise 4 · the right error class"
    from google import genai
    from google.genai import errors, types

    from .. import models, server

    url = server.base_url()
    model = models.chat("gemini")
    clients: dict[str, Any] = {}  # kept alive while the check runs (a client without a name is closed at once)

    def ask(m: str = model, key: str = "local"):
        if key not in clients:
            clients[key] = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url))
        c = clients[key]
        return lambda: c.models.generate_content(model=m, contents="Say hi.", config={"max_output_tokens": 3})

    retired = next((m for m in models.retired() if m.startswith("gemini")), f"{model}-simulate-404")
    cases = [("bad_request", ask(key="my-" + "invalid" + "-key"), "a bad key"),
             ("region", ask(f"{model}-simulate-region"), "a region the API does not serve"),
             ("not_found", ask(retired), "a retired model"),
             ("rate_limit", ask(f"{model}-simulate-429"), "a rate limit"),
             ("rate_limit", ask(f"{model}-simulate-quota"), "an empty quota"),
             ("server", ask(f"{model}-simulate-503"), "an overloaded server (503)"),
             ("server", ask(f"{model}-simulate-500"), "an internal error (500)"),
             ("ok", ask(), "a call that works")]
    answers = []
    for want, call, what in cases:
        got, err = _call(classify_error, call)
        require_done(got, exercise=ex)
        if err:
            return _raised(ex, "classify_error", f"{err} for {what}",
                           "Put the call inside try: and catch errors.ClientError and errors.ServerError.")
        answers.append((want, got, what))

    def passes_through(call: Callable, expected: type) -> tuple[bool, str]:
        try:
            label = classify_error(call)
        except NotImplementedError:
            raise
        except expected:
            return True, ""
        except Exception as e:
            return False, f"raised {type(e).__name__}"
        return False, f"returned {label!r}"

    def broken() -> None:
        raise ValueError("not an API error")

    forbidden_ok, forbidden_said = passes_through(ask(f"{model}-simulate-403"), errors.ClientError)
    other_ok, other_said = passes_through(broken, ValueError)
    wrong = [(w, g, what) for w, g, what in answers if g != w]
    hints = {"bad_request": "A bad key is a ClientError with code 400 (status INVALID_ARGUMENT).",
             "region": "Check e.status == 'FAILED_PRECONDITION' before the generic 400 case.",
             "not_found": "A retired model is a ClientError with code 404.",
             "rate_limit": "Rate limits and empty quotas are both ClientError with code 429.",
             "server": "5xx errors are errors.ServerError, a different class from ClientError.",
             "ok": "When the call succeeds, return 'ok'."}
    tests = [
        (lambda: not wrong, f"For {wrong[0][2]} you returned {wrong[0][1]!r}; expected {wrong[0][0]!r}." if wrong else "",
         hints[wrong[0][0]] if wrong else ""),
        (lambda: forbidden_ok, f"A 403 ClientError should pass through, but `classify_error` {forbidden_said}.",
         "For a ClientError whose code is not in the table, `raise` it again."),
        (lambda: other_ok, f"A ValueError should pass through, but `classify_error` {other_said}.",
         "Catch only errors.ClientError and errors.ServerError, never a bare `except:`."),
    ]
    return verdict(ex, tests, "each error named from its class, code and status; the others passed on.")


# --------------------------------------------------------------------------- exercise 5

CURRENCY_DECLARATION = {
    "name": "convert_currency", "description": "Convert an amount of US dollars into another currency",
    "parameters": {"type": "object", "properties": {
        "amount": {"type": "number", "description": "the amount in US dollars"},
        "currency": {"type": "string", "enum": ["EUR", "GBP", "JPY"]}},
        "required": ["amount", "currency"]}}
RATES = {"EUR": 0.92, "GBP": 0.79, "JPY": 151.0}


def _kinds(content: Any) -> list[str]:
    """The kinds of a content's parts: "text", "function_call", "function_response", ..."""
    return [k for p in (content.parts or []) for k, v in p.model_dump(exclude_none=True).items()
            if k in ("text", "function_call", "function_response", "inline_data")]


def exercise_5(ask_with_function: Callable, client: Any, model: str) -> Verdict:
    """``ask_with_function`` runs a full round trip: the model asks, you run the function, the model answers."""
    ex = "Exercise 5 · a function-calling round trip"
    from .. import server

    calls: list[dict] = []
    results: list[dict] = []

    def convert_currency(amount: float, currency: str) -> dict:
        calls.append({"amount": amount, "currency": currency})
        result = {"amount": round(float(amount) * RATES[currency], 2), "currency": currency}
        results.append(result)
        return result

    local = _is_local()
    if local:
        server.clear_requests()
    question = "How much is 20 US dollars in euros?"
    got, err = _call(ask_with_function, client, model, question, CURRENCY_DECLARATION, convert_currency)
    if err:
        return _raised(ex, "ask_with_function", err, "Follow the lesson's round trip: call, run each function call, "
                       "send the results as function_response parts, call again.")
    answer, contents = got if isinstance(got, tuple) and len(got) == 2 else (None, None)
    turns = [_content(c) for c in contents] if isinstance(contents, list) else []
    asked = [i for i, c in enumerate(turns) if c is not None and "function_call" in _kinds(c)]
    answered = [i for i, c in enumerate(turns) if c is not None and "function_response" in _kinds(c)]
    responses = [p.function_response for i in answered for p in turns[i].parts if p.function_response]
    body = _local_body() if local else {}
    last_parts = [p for c in body.get("contents", []) for p in c.get("parts", [])]
    tests = [
        (lambda: isinstance(got, tuple) and len(got) == 2, "`ask_with_function` must return (answer, contents).",
         "End with `return final.text, contents`."),
        (lambda: turns and all(c is not None for c in turns), "`contents` holds items that are not contents.",
         "Build each turn with types.Content(role=..., parts=[...])."),
        (lambda: turns[0].role == "user" and turns[0].parts[0].text == question,
         "contents[0] is not the user's question.",
         "Start with types.Content(role='user', parts=[types.Part(text=question)])."),
        (lambda: asked, "No model turn with a function_call is in `contents`.",
         "Append response.candidates[0].content (the model's turn) before the results."),
        (lambda: calls, "Your convert_currency function was never called.",
         "For each call in response.function_calls, run function(**call.args)."),
        (lambda: all(isinstance(c["amount"], (int, float)) and c["currency"] in RATES for c in calls),
         f"The function was called with arguments that do not fit its schema: {calls}.",
         "Pass the model's arguments as keywords: function(**call.args)."),
        (lambda: len(responses) >= len(calls) and all(r.name == "convert_currency" for r in responses),
         "Each call needs a function_response part with the function's name.",
         "Append types.Part.from_function_response(name=call.name, response=result) for each call."),
        (lambda: [r.response for r in responses] == results[:len(responses)],
         "The function_response does not carry the function's result.",
         "Pass the dictionary the function returned as response=."),
        (lambda: all(turns[i].role == "user" for i in answered), "The function results must be in a 'user' turn.",
         "Wrap the function_response part in types.Content(role='user', parts=[...])."),
        (lambda: asked[0] < min(answered), "The results come before the model's function call.",
         "Append the model's turn first, then the results."),
        (lambda: not local or any("functionResponse" in p for p in last_parts),
         "The last request sent to the model did not include the function result.",
         "Call generate_content a second time with the whole `contents` list."),
        (lambda: isinstance(answer, str) and answer.strip(), "The final answer is not a non-empty string.",
         "Return the second response's .text."),
    ]
    return verdict(ex, tests, f"the model called convert_currency{tuple(calls[0].values()) if calls else ''}, "
                              "got the result and answered in words.")
