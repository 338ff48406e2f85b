"""Checks for lesson 05 · Google Gemini.

In the exercise notebook::

    from helpers.checks import lesson05 as check
    check.exercise_1(make_config, client, MODEL)

Checks that need a model call use the client you pass (live or local); the error check always
talks to the course's local server, which can produce each error on purpose.
"""
from __future__ import annotations

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


def _dump(obj: Any) -> str:
    """A short one-line view of an SDK object (its fields that are set)."""
    dump = getattr(obj, "model_dump", None)
    return repr(dump(exclude_none=True, mode="json")) if dump else repr(obj)


def _stronger_model() -> str:
    """The catalogue's stronger Gemini model (its lowest thinking level is above "minimal")."""
    from .. import models

    return next(m.id for (p, _), m in models.entries().items() if p == "gemini" and "stronger" in m.purpose)


def _retired_model() -> str:
    """A shut-down Gemini id that answers 404 (not one the provider now redirects to its replacement)."""
    from .. import models

    for name in models.retired():
        info = models.info("gemini", name)
        if info is not None and info.after_shutdown == "404":
            return name
    return models.chat("gemini") + "-simulate-404"


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
        (lambda: config.stop_sequences == ["END"],
         f"stop_sequences is {get(config, 'stop_sequences')!r}; expected ['END'].",
         'Pass stop_sequences=["END"]: a list, even for one text.'),
        (lambda: thinking is not None and thinking.thinking_level == types.ThinkingLevel.MINIMAL,
         f"thinking_config is {_dump(thinking)}; expected thinking_level 'minimal'.",
         'Pass thinking_config=MINIMAL_THINKING (types.ThinkingConfig(thinking_level="minimal")).'),
        (lambda: thinking.thinking_budget is None,
         "thinking_config also sets thinking_budget: Gemini 3 models reject a request with both.",
         "Set only thinking_level; thinking_budget=0 is for Gemini 2.5 models."),
        (lambda: config.temperature is None,
         f"temperature is {get(config, 'temperature')!r}; current Gemini models ignore it.",
         "Leave temperature out: since 21 July 2026 Gemini 3 models ignore it."),
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
    return verdict(ex, tests, f"a config with all four settings and no temperature; the call answered in {used} tokens "
                              f"(limit {limit}).")


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
         "Keep max_output_tokens at 60 and thinking at 'minimal' (MINIMAL_THINKING)."),
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

    def ask(m: str = model, key: str = "local", thinking: str | None = None):
        if key not in clients:
            clients[key] = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url))
        c = clients[key]
        config: dict = {"max_output_tokens": 3}
        if thinking:
            config["thinking_config"] = {"thinking_level": thinking}
        return lambda: c.models.generate_content(model=m, contents="Say hi.", config=config)

    stronger = _stronger_model()
    cases = [("bad_request", ask(key="my-" + "invalid" + "-key"), "a bad key"),
             ("bad_request", ask(stronger, thinking="minimal"), "a thinking level the model does not have"),
             ("region", ask(f"{model}-simulate-region"), "a region the API does not serve"),
             ("not_found", ask(_retired_model()), "a retired model"),
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
    hints = {"bad_request": "A bad key, or a thinking level the model does not have, is a ClientError with code 400 "
                            "(status INVALID_ARGUMENT).",
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

PARALLEL_QUESTION = "What is the weather and the local time in Lisbon?"
PARALLEL_DECLARATIONS = [
    {"name": "get_weather", "description": "The current weather in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    {"name": "get_local_time", "description": "The local time in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
]


def _model_turn(calls: list[tuple[str, dict]]) -> Any:
    """A test fixture, not a model answer: a response whose model turn asks for ``calls`` (name, args) at once.

    As Gemini 3 does in a parallel turn, only the first call carries a thought signature (opaque bytes).
    """
    import os

    from google.genai import types

    parts = [types.Part(function_call=types.FunctionCall(name=name, args=args),
                        thought_signature=(b"course-check:" + os.urandom(16)) if i == 0 else None)
             for i, (name, args) in enumerate(calls)]
    return types.GenerateContentResponse(candidates=[types.Candidate(
        content=types.Content(role="model", parts=parts), finish_reason=types.FinishReason.STOP, index=0)])


def _send_locally(contents: list) -> tuple[Any, str | None]:
    """Send ``contents`` with the two declarations to the local server: (response, None) or (None, its error)."""
    from google import genai
    from google.genai import errors, types

    from .. import models, server

    local = genai.Client(api_key="local", http_options=types.HttpOptions(base_url=server.base_url()))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=PARALLEL_DECLARATIONS)], max_output_tokens=60,
        thinking_config=types.ThinkingConfig(thinking_level="minimal"))
    try:
        return local.models.generate_content(model=models.get("gemini", "tools"), contents=contents, config=config), None
    except errors.APIError as e:
        return None, f"{e.code} {e.status}: {str(e.message).split(' (simulated')[0]}"


def exercise_5(function_responses: Callable) -> Verdict:
    """``function_responses(response, functions)`` answers every call of a turn in ONE user Content.

    The model turn is built here (the local model calls one function per turn); the result is then sent to the
    course's local server in every mode, since the fixture's thought signature is not one Google made.
    """
    ex = "Exercise 5 · several function calls in one turn"
    from google.genai import types

    ran: list[tuple[str, str]] = []

    def get_weather(city: str) -> dict:
        ran.append(("get_weather", city))
        return {"city": city, "sky": "sunny", "celsius": 21}

    def get_local_time(city: str) -> dict:
        ran.append(("get_local_time", city))
        return {"city": city, "time": "14:05"}

    functions = {"get_local_time": get_local_time, "get_weather": get_weather}   # not in the calls' order, on purpose
    response = _model_turn([("get_weather", {"city": "Lisbon"}), ("get_local_time", {"city": "Lisbon"})])
    got, err = _call(function_responses, response, functions)
    require_done(got, exercise=ex)
    if err:
        return _raised(ex, "function_responses", err, "Loop over response.function_calls and run "
                       "functions[call.name](**call.args) for each.")
    want_results = [{"city": "Lisbon", "sky": "sunny", "celsius": 21}, {"city": "Lisbon", "time": "14:05"}]
    ran_by_learner = list(ran)
    question = types.Content(role="user", parts=[types.Part(text=PARALLEL_QUESTION)])
    model_turn = response.candidates[0].content

    if isinstance(got, list) and got and all(_content(c) is not None for c in got):  # one turn per result
        _, rejected = _send_locally([question, model_turn, *[_content(c) for c in got]])
        said = f" Gemini answers that with {rejected}" if rejected else ""
        return verdict(ex, [(lambda: False, f"`function_responses` returned a list of {len(got)} contents, not one "
                             f"Content.{said}",
                             "Put every function_response part in ONE types.Content(role='user', parts=[...]).")], "")

    turn = _content(got)
    parts = list(getattr(turn, "parts", None) or [])
    answers = [p.function_response for p in parts if getattr(p, "function_response", None) is not None]
    one = _model_turn([("get_weather", {"city": "Oslo"})])
    single, err_single = _call(function_responses, one, {"get_weather": get_weather})
    single_turn = _content(single)
    sent, rejected = (None, None)
    tests = [
        (lambda: turn is not None, f"`function_responses` returned a {type(got).__name__}, not a types.Content.",
         "Return types.Content(role='user', parts=[...])."),
        (lambda: turn.role == "user", f"The Content's role is {turn.role!r}; function results go in a 'user' turn.",
         "Use types.Content(role='user', parts=[...])."),
        (lambda: not any(getattr(p, "function_call", None) for p in parts),
         "The Content holds function_call parts: those belong to the model's turn, which the caller appends itself.",
         "Return only the results: one types.Part.from_function_response(...) per call."),
        (lambda: len(parts) == 2 and len(answers) == 2,
         f"The Content has {len(answers)} function_response part(s) among {len(parts)}; the model asked for 2 "
         "functions.",
         "One types.Part.from_function_response(name=call.name, response=result) per call in response.function_calls."),
        (lambda: [a.name for a in answers] == ["get_weather", "get_local_time"],
         f"The function responses are named {[a.name for a in answers]}; expected the calls' names, in their order.",
         "Loop over response.function_calls (not over the functions dictionary) and use name=call.name."),
        (lambda: sorted(ran_by_learner) == sorted([("get_weather", "Lisbon"), ("get_local_time", "Lisbon")]),
         f"The functions ran as {ran_by_learner}; each call should run its function once, with the call's arguments.",
         "Run functions[call.name](**call.args) for each call."),
        (lambda: [a.response for a in answers] == want_results,
         "A function_response does not carry its function's result.",
         "Pass the dictionary the function returned as response=."),
        (lambda: err_single is None and single_turn is not None and len(single_turn.parts or []) == 1,
         f"For a turn with a single call it gave {err_single or single!r:.160}; expected a Content with one part.",
         "Do not assume two calls: loop over response.function_calls."),
    ]
    if all(_holds(condition) for condition, _, _ in tests):  # the structure is right: does Gemini's rule accept it?
        sent, rejected = _send_locally([question, model_turn, turn])
    tests += [
        (lambda: rejected is None, f"The local server rejected the turns, as Gemini would: {rejected}.",
         "Send all the results in one user turn, right after the model's turn."),
        (lambda: bool(sent.text), "The model's answer after your results is empty.", "Return the results as shown."),
    ]
    return verdict(ex, tests, "one user turn with both results, in the calls' order; the local server, checking "
                              "as Gemini does, accepted it and the model answered.")


# --------------------------------------------------------------------------- exercise 6

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


def exercise_6(ask_with_function: Callable, client: Any, model: str) -> Verdict:
    """``ask_with_function`` runs a full round trip: the model asks, you run the function, the model answers."""
    ex = "Exercise 6 · a function-calling round trip"
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
        return _raised(ex, "ask_with_function", err, "Follow the lesson's round trip: call; append the model's turn as "
                       "it came back (response.candidates[0].content, with its thought signature); append ONE user "
                       "turn with every function_response; call again.")
    answer, contents = got if isinstance(got, tuple) and len(got) == 2 else (None, None)
    turns = [_content(c) for c in contents] if isinstance(contents, list) else []
    asked = [i for i, c in enumerate(turns) if c is not None and "function_call" in _kinds(c)]
    answered = [i for i, c in enumerate(turns) if c is not None and "function_response" in _kinds(c)]
    responses = [p.function_response for i in answered for p in turns[i].parts if p.function_response]
    n_calls = sum(1 for i in asked[:1] for p in turns[i].parts if p.function_call)
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
         "Use function_responses(response, {declaration['name']: function}) from exercise 5."),
        (lambda: [r.response for r in responses] == results[:len(responses)],
         "The function_response does not carry the function's result.",
         "Pass the dictionary the function returned as response=."),
        (lambda: all(turns[i].role == "user" for i in answered), "The function results must be in a 'user' turn.",
         "Wrap the function_response parts in types.Content(role='user', parts=[...])."),
        (lambda: len(answered) == 1 and len(responses) == n_calls,
         f"The results of the model's {n_calls} call(s) are spread over {len(answered)} turns.",
         "All the results of one model turn go in ONE user turn (exercise 5)."),
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
