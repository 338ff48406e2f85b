"""Checks for lesson 11 (Capstone: a provider-agnostic chat app).

In the exercise notebook::

    from helpers.checks import lesson11 as check
    check.exercise_3(chat)

The checks test structure (types, roles, the settings chosen, the request that went on the wire),
never the model's wording, so they pass with the local model and with live providers alike.
Exercises 3 and 5 call your ``chat()`` for real, with small token limits (larger for models that
always reason, whose reasoning counts against the limit); the request inspector is read only for
the providers whose calls go to the local server.
"""
from __future__ import annotations

import copy
import json
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import course, models, server, unreachable
from .base import Verdict, require_done, verdict
from .base import call_learner as _call

PROVIDERS = ("openai", "groq", "gemini", "huggingface", "lmstudio")
OPENAI_STYLE = ("openai", "groq", "huggingface", "lmstudio")
ROLES = ("system", "user", "assistant")

# The conversation exercise 3 sends to every provider.
SAMPLE = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Name another one."},
]
TEMPERATURE = 0.3
MAX_TOKENS = 12   # for models that do not reason (or reason only when asked): a short answer
ROOMY_TOKENS = 200   # for models that always reason: the reasoning counts against the limit, so leave room
LIMIT_FIELD = {"openai": "max_completion_tokens", "groq": "max_completion_tokens", "gemini": "max_output_tokens",
               "huggingface": "max_tokens", "lmstudio": "max_tokens"}


def expected_options(provider: str, model: str, temperature: float, max_tokens: int) -> dict:
    """What ``model_options`` should return: the lesson's rules, applied to the catalogue's entry for ``model``."""
    info = models.info(provider, model)
    options: dict[str, Any] = {(info.token_limit if info and info.token_limit else LIMIT_FIELD[provider]): max_tokens}
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


def limit_for(provider: str, model: str | None = None) -> int:
    """The token limit the checks give ``chat()``: room for the reasoning of a model that always reasons."""
    info = models.info(provider, model or models.chat(provider))
    return ROOMY_TOKENS if info is not None and info.reasoning == "always" else MAX_TOKENS


def _fail(exercise: str, problem: str, hint: str) -> Verdict:
    return verdict(exercise, [(lambda: False, problem, hint)], "")


# --------------------------------------------------------------------------- exercise 1


def exercise_1(to_gemini: Callable[[list[dict]], tuple[list[dict], str | None]]) -> Verdict:
    """Exercise 1: ``to_gemini(messages)`` returns ``(contents, system_instruction)``."""
    require_done(to_gemini, exercise="Exercise 1")
    ex = "Exercise 1 · messages for Gemini"
    want = [{"role": "user", "parts": [{"text": "Name a colour."}]},
            {"role": "model", "parts": [{"text": "Blue."}]},
            {"role": "user", "parts": [{"text": "Name another one."}]}]
    given = copy.deepcopy(SAMPLE)
    out, err = _call(to_gemini, given)
    if err:
        return _fail(ex, f"`to_gemini` raised {err}.", "Loop over the messages; read m['role'] and m['content'].")
    no_system, err2 = _call(to_gemini, copy.deepcopy(SAMPLE[1:]))
    two = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
           {"role": "system", "content": "Answer in French."}]
    two_out, err3 = _call(to_gemini, copy.deepcopy(two))
    pair = out if isinstance(out, tuple) and len(out) == 2 else (None, None)
    contents, system = pair
    roles = [c.get("role") if isinstance(c, dict) else c for c in contents] if isinstance(contents, list) else None
    return verdict(ex, [
        (lambda: isinstance(out, tuple) and len(out) == 2,
         "`to_gemini` must return two things: (contents, system_instruction).",
         "End with `return contents, system_instruction`."),
        (lambda: isinstance(contents, list) and len(contents) == 3,
         f"`contents` should be a list of 3 items (one per user or assistant message); it is {contents!r:.120}.",
         "Leave the system message out of contents: Gemini takes it separately, as system_instruction."),
        (lambda: roles == ["user", "model", "user"], f"The roles are {roles}; expected ['user', 'model', 'user'].",
         "Gemini calls the assistant 'model'; 'user' stays 'user'."),
        (lambda: contents == want, 'Each item should be exactly {"role": ..., "parts": [{"text": ...}]}.',
         'Put the text in a list of parts: {"role": role, "parts": [{"text": m["content"]}]}.'),
        (lambda: system == SAMPLE[0]["content"],
         f"`system_instruction` should be the system message's text; it is {system!r}.",
         "Return the system message's content, a string."),
        (lambda: given == SAMPLE, "`to_gemini` changed the list it was given.",
         "Build new dictionaries; do not edit (or pop from) the input."),
        (lambda: err2 is None and no_system == (want, None),
         f"Without a system message, to_gemini should give (contents, None); it gave {err2 or no_system!r:.160}.",
         "When there is no system message, return None as the system instruction (not '')."),
        (lambda: err3 is None and two_out[1] == "Be brief.\nAnswer in French." and len(two_out[0]) == 1,
         "With two system messages the instruction should be both texts joined by a newline; "
         f"got {err3 or two_out!r:.160}.",
         'Collect every system message\'s text, then "\\n".join(...) them.'),
    ], "contents, roles, parts and the system instruction are right, and the input is untouched.")


# --------------------------------------------------------------------------- exercise 2

def _option_cases() -> list[tuple[str, str]]:
    """(provider, model) pairs that cover every rule: the defaults, the fallbacks, models the catalogue has for other
    reasons (a Gemini model that honours temperature, a stronger one, Hugging Face's reasoning fallback) and models it
    does not know."""
    cases = [(p, models.chat(p)) for p in PROVIDERS]
    cases += [(p, m) for p in PROVIDERS for m in models.fallbacks(p)]
    cases += [(p, m.id) for (p, _), m in models.entries().items() if m.token_limit and m.status_on() != "shut_down"]
    cases += [("openai", "a-model-the-catalogue-does-not-know"), ("gemini", "another-unknown-model"),
              ("lmstudio", "qwen/qwen3-4b")]
    return list(dict.fromkeys(cases))


def exercise_2(model_options: Callable[..., dict]) -> Verdict:
    """Exercise 2: ``model_options(provider, model, temperature, max_tokens)`` decides the settings from the catalogue.

    No model is called: the answer is compared with the lesson's rules applied to each catalogue entry.
    """
    require_done(model_options, exercise="Exercise 2")
    ex = "Exercise 2 · settings from the catalogue"
    wrong = []
    for provider, model in _option_cases():
        want = expected_options(provider, model, 0.5, 123)
        got, err = _call(model_options, provider, model, 0.5, 123)
        if err:
            return _fail(ex, f"model_options({provider!r}, {model!r}, 0.5, 123) raised {err}.",
                         "info = helpers.models.info(provider, model) is None for a model the catalogue does not know: "
                         "use LIMIT_FIELD[provider] and send the temperature then.")
        if got != want:
            wrong.append((provider, model, got, want))
    if wrong:
        provider, model, got, want = wrong[0]
        info = models.info(provider, model)
        limit_key = next(iter(want))
        if not isinstance(got, dict):
            why = "return a dictionary of keyword arguments"
        elif got.get(limit_key) != 123:
            why = f"the token limit is called {limit_key!r} for it"
        elif info is None:
            why = "the catalogue does not know this model: send the temperature, and LIMIT_FIELD[provider]"
        elif ("temperature" in got) != ("temperature" in want):
            why = f"its sampling is {info.sampling!r}: " + ("send the temperature" if "temperature" in want
                                                            else "no temperature")
        elif got.get("extra_body") != want.get("extra_body"):
            why = "InferenceClient.chat_completion() takes reasoning_effort only inside extra_body"
        elif got.get("reasoning_effort") != want.get("reasoning_effort"):
            why = (f"its reasoning_levels are {list(info.reasoning_levels)}: ask for the lowest, or 'none' when the "
                   "temperature needs the reasoning off")
        elif got.get("thinking_config") != want.get("thinking_config"):
            why = "a Gemini thinking level goes in thinking_config={'thinking_level': lowest}"
        else:
            why = "compare the two dictionaries key by key"
        return _fail(ex, f"{len(wrong)} case(s) wrong; for example model_options({provider!r}, {model!r}, 0.5, 123) "
                         f"returned {got!r}, expected {want!r} ({why}).",
                     "Decide from info = helpers.models.info(provider, model): .token_limit, .sampling, .reasoning, "
                     ".reasoning_param and .reasoning_levels, never from the model's name.")
    return verdict(ex, [(lambda: True, "", "")],
                   f"the right settings for all {len(_option_cases())} models tried (defaults, fallbacks, other "
                   "catalogue models and unknown ones).")


# --------------------------------------------------------------------------- exercise 3


def _last_n() -> int:
    items = server.last_requests(1)
    return items[-1]["n"] if items else 0


def _request_since(n0: int, wait: float = 5.0) -> dict | None:
    """The newest chat request the local server recorded after number ``n0`` (waits a moment for it)."""
    deadline = time.monotonic() + wait
    while True:
        items = [i for i in server.last_requests(10) if i.get("n", 0) > n0 and i.get("method") == "POST"
                 and ("chat/completions" in i.get("path", "") or "enerateContent" in i.get("path", ""))]
        if items or time.monotonic() > deadline:
            return items[-1] if items else None
        time.sleep(0.2)


def _expected_provider(provider: str) -> tuple[str, ...]:
    """How the local server names a request that came through ``provider``'s client."""
    if provider == "lmstudio":
        return ("lmstudio",) if server.status().get("lmstudio_port") else ("lmstudio", "openai")
    return (provider,)


def _sent_level(thinking: Any) -> str | None:
    """The thinking level in a Gemini request's thinkingConfig, lower case (either spelling of the key)."""
    if not isinstance(thinking, dict):
        return None
    level = thinking.get("thinkingLevel", thinking.get("thinking_level"))
    return str(level).lower() if level is not None else None


def _wire_problem(provider: str, req: dict | None, *, stream: bool, model: str,
                  limit: int) -> tuple[str, str] | None:
    """What is wrong with the request ``chat()`` sent for ``provider`` (None when it is right)."""
    want = expected_options(provider, model, TEMPERATURE, limit)
    hint_options = f"Send model_options({provider!r}, model, temperature, max_tokens), which gives {want}."
    who = f"chat({provider!r}, ...{', stream=True' if stream else ''})"
    if req is None:
        return (f"{who}: the local server saw no chat request.",
                "Create the client with make_client(provider) and call the provider's chat method.")
    if req.get("provider") not in _expected_provider(provider):
        return (f"{who} sent its request with the wrong client: it arrived as a {req.get('provider')!r} request.",
                "Use make_client(provider): OpenAI() for openai, Groq() for groq, genai.Client() for gemini, "
                "InferenceClient() for huggingface, OpenAI(base_url=LMSTUDIO_URL, ...) for lmstudio.")
    body = req.get("body") if isinstance(req.get("body"), dict) else {}
    if provider == "gemini":
        config = body.get("generationConfig") or {}
        system = "".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
        checks = [
            (f"models/{model}:" in req["path"], f"the model in the path is not {model!r} ({req['path']}).",
             "Pass model=model (the catalogue's chat model when model is None) to generate_content."),
            (req["path"].endswith(":streamGenerateContent") == stream,
             "with stream=True use generate_content_stream(...); without it, generate_content(...).",
             "Choose the method from the stream argument."),
            ([c.get("role") for c in body.get("contents", [])] == ["user", "model", "user"],
             "the contents do not have the roles user, model, user.", "Convert the messages with to_gemini(messages)."),
            (system == SAMPLE[0]["content"], "the system message did not arrive as the system instruction.",
             'Put it in the config: {"system_instruction": system_instruction, ...}.'),
            (config.get("temperature") == want.get("temperature"),
             f"the temperature sent was {config.get('temperature')!r}; expected {want.get('temperature')!r} "
             "(current Gemini models ignore a temperature, so none is sent)." if "temperature" not in want else
             f"the temperature sent was {config.get('temperature')!r}, not {TEMPERATURE}.",
             'Build the config as {"system_instruction": system_instruction, **options}. ' + hint_options),
            (config.get("maxOutputTokens") == limit,
             f"the token limit sent was {config.get('maxOutputTokens')!r}, not {limit}.",
             'Gemini calls it max_output_tokens, in the config. ' + hint_options),
            (_sent_level(config.get("thinkingConfig")) == (want.get("thinking_config") or {}).get("thinking_level"),
             f"the thinking config sent was {config.get('thinkingConfig')!r}; expected "
             f"{want.get('thinking_config')!r}.", hint_options),
        ]
    else:
        effort = (want.get("extra_body") or {}).get("reasoning_effort", want.get("reasoning_effort"))
        limit_field = next(k for k in want if k in ("max_tokens", "max_completion_tokens"))
        checks = [
            (body.get("model") == model, f"the model sent was {body.get('model')!r}, not {model!r}.",
             "Use model = model or helpers.models.chat(provider), and pass model=model."),
            (body.get("messages") == SAMPLE, "the messages sent are not the ones given to chat().",
             "Pass messages=messages unchanged: these providers take OpenAI-style messages as they are."),
            (bool(body.get("stream")) == stream,
             f"the request had stream={bool(body.get('stream'))}, expected {stream}.",
             "Pass stream=stream to the call."),
            (body.get("temperature") == want.get("temperature"),
             f"the temperature sent was {body.get('temperature')!r}, expected {want.get('temperature')!r}.",
             "Pass the settings with **options. " + hint_options),
            (body.get(limit_field) == limit and (limit_field == "max_tokens" or "max_tokens" not in body),
             f"the token limit sent was {body.get(limit_field)!r} as {limit_field!r}; expected {limit} "
             f"(fields sent: {sorted(k for k in body if 'tokens' in k)}).", hint_options),
            (body.get("reasoning_effort") == effort,
             f"the reasoning_effort sent was {body.get('reasoning_effort')!r}, expected {effort!r}.", hint_options),
        ]
    for ok, problem, hint in checks:
        if not ok:
            return f"{who}: {problem}", hint
    return None


def _check_one(chat: Callable, provider: str, stream: bool) -> tuple[str, str] | None:
    """Call ``chat`` once for ``provider``; what is wrong (problem, hint), or None."""
    local = course.is_local(provider)
    model = models.chat(provider)
    limit = limit_for(provider, model)
    n0 = _last_n() if local else 0
    out, err = _call(chat, provider, copy.deepcopy(SAMPLE), temperature=TEMPERATURE, max_tokens=limit,
                     stream=stream)
    who = f"chat({provider!r}, messages{', stream=True' if stream else ''})"
    if err:
        return f"{who} raised {err}.", "Read the error: which line of chat() was running? Try that provider alone."
    if not stream:
        if not isinstance(out, str):
            extra = (" (a generator: chat() itself must not contain `yield`; return a generator only when stream=True)"
                     if hasattr(out, "__next__") else "")
            return (f"{who} returned a {type(out).__name__}, not the answer's text{extra}.",
                    "Return response.choices[0].message.content (Gemini: response.text).")
        if not out.strip():
            return (f"{who} returned an empty answer.",
                    "Return the text of the answer. If the model reasons, did its reasoning use the whole token limit? "
                    "Send model_options(...), which asks for the least reasoning.")
    else:
        if isinstance(out, (str, bytes)) or not isinstance(out, Iterable):
            return (f"{who} returned a {type(out).__name__}; with stream=True it should give an iterator of "
                    "text pieces.",
                    "Return a generator that yields each chunk's text.")
        pieces, err = _call(list, out)
        if err:
            return (f"reading the pieces of {who} raised {err}.",
                    "Keep the client alive while the stream is read (pass it to the generator that reads the chunks).")
        if not pieces or not all(isinstance(p, str) for p in pieces):
            return (f"{who} gave {pieces!r:.120}; expected a few text pieces (strings).",
                    "Yield chunk.choices[0].delta.content (Gemini: chunk.text), skipping None and empty pieces.")
        if not "".join(pieces).strip():
            return f"the pieces of {who} join to an empty answer.", "Yield the text of each chunk."
    if local:
        return _wire_problem(provider, _request_since(n0), stream=stream, model=model, limit=limit)
    return None


def _lmstudio_reachable() -> bool:
    """True when LM Studio (or the course's stand-in for it) can answer."""
    if course.is_local("lmstudio"):
        return True
    try:
        with socket.create_connection(("127.0.0.1", 1234), timeout=0.5):
            return True
    except OSError:
        return False


def exercise_3(chat: Callable[..., Any]) -> Verdict:
    """Exercise 3: ``chat(provider, messages, *, model, temperature, max_tokens, stream)`` over all five back ends.

    Calls ``chat`` eleven times with ``max_tokens=12`` (200 for models that always reason); this takes up to a
    minute on the local model.
    LM Studio is left out (and the verdict says so) only when nothing answers for it, e.g. in live mode
    with LM Studio closed.
    """
    require_done(chat, exercise="Exercise 3")
    ex = "Exercise 3 · one function, five back ends"
    with_lmstudio = _lmstudio_reachable()
    for provider in PROVIDERS if with_lmstudio else PROVIDERS[:-1]:
        for stream in (False, True):
            found = _check_one(chat, provider, stream)
            if found:
                return _fail(ex, *found)
    alternative = (models.catalogue()["openai"].get("fallbacks") or [models.chat("openai")])[0]
    n0 = _last_n()
    out, err = _call(chat, "openai", copy.deepcopy(SAMPLE), model=alternative, temperature=TEMPERATURE,
                     max_tokens=limit_for("openai", alternative))
    if err or not isinstance(out, str):
        return _fail(ex, f"chat('openai', messages, model={alternative!r}) failed: {err or type(out).__name__}.",
                     "Use the model argument when it is given.")
    if course.is_local("openai"):
        req = _request_since(n0)
        sent = (req or {}).get("body", {}).get("model") if isinstance((req or {}).get("body"), dict) else None
        if sent != alternative:
            return _fail(ex, f"with model={alternative!r} the request asked for {sent!r}.",
                         "model = model or helpers.models.chat(provider): the argument wins when it is given.")
    _, err = _call(chat, "no-such-provider", copy.deepcopy(SAMPLE))
    if err is None or not err.startswith("ValueError"):
        what = f"raised {err}" if err else "did not raise"
        return _fail(ex, f"chat('no-such-provider', ...) should raise ValueError; it {what}.",
                     "make_client(provider) raises ValueError for an unknown name: call it before anything else.")
    done = "all five back ends answer" if with_lmstudio else \
        "OpenAI, Groq, Gemini and Hugging Face answer (LM Studio not tested: it is not running)"
    return verdict(ex, [(lambda: True, "", "")],
                   f"{done}, with and without streaming, and send the model and the settings it accepts "
                   "(temperature, token limit, reasoning) as model_options() decides them.")


# --------------------------------------------------------------------------- exercise 4

GOOD_TRANSCRIPT = {  # as the lesson's save_transcript writes it: each answer names the provider and model
    "saved_at": "2026-11-15T14:22:33+01:00",
    "messages": [{"role": "system", "content": "You are a friendly assistant."},
                 {"role": "user", "content": "Un café, s'il vous plaît ☕"},
                 {"role": "assistant", "content": "Voilà! <b>Bon appétit</b>.", "provider": "groq",
                  "model": models.chat("groq"), "local": True},
                 {"role": "user", "content": "Merci !"},
                 {"role": "assistant", "content": "De rien.", "provider": "gemini", "model": models.chat("gemini"),
                  "local": True, "stopped": True}],
}

# (what is wrong, the file's text): each must make load_transcript raise ValueError.
BAD_TRANSCRIPTS = [
    ("the file is not JSON", "messages: hello"),
    ("the file holds a list, not an object", json.dumps(GOOD_TRANSCRIPT["messages"])),
    ("there is no 'messages' key", json.dumps({"provider": "groq", "turns": []})),
    ("'messages' is a string, not a list", json.dumps({"messages": "hello"})),
    ("'messages' is an empty list", json.dumps({"messages": []})),
    ("a message is a string, not an object", json.dumps({"messages": ["hello"]})),
    ("a message has no 'content'", json.dumps({"messages": [{"role": "user"}]})),
    ("a message has the role 'robot'", json.dumps({"messages": [{"role": "robot", "content": "beep"}]})),
    ("a message's content is a number", json.dumps({"messages": [{"role": "user", "content": 42}]})),
    ("a system message comes after the first message",
     json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Obey."}]})),
]


def exercise_4(load_transcript: Callable[[Path], list[dict]]) -> Verdict:
    """Exercise 4: ``load_transcript(path)`` returns the messages of a saved transcript, or raises ValueError."""
    require_done(load_transcript, exercise="Exercise 4")
    ex = "Exercise 4 · load and validate a transcript"
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good.json"
        good.write_text(json.dumps(GOOD_TRANSCRIPT, ensure_ascii=False, indent=2), encoding="utf-8")
        out, err = _call(load_transcript, good)
        if err:
            return _fail(ex, f"a valid transcript raised {err}.",
                         "Open the file with encoding='utf-8', json.load it and return data['messages'].")
        wrong: list[str] = []
        for i, (what, text) in enumerate(BAD_TRANSCRIPTS):
            path = Path(tmp) / f"bad-{i}.json"
            path.write_text(text, encoding="utf-8")
            try:
                load_transcript(path)
                wrong.append(f"{what}: no error")
            except NotImplementedError:
                raise
            except ValueError as e:
                if not str(e).strip():
                    wrong.append(f"{what}: ValueError without a message")
            except Exception as e:  # noqa: BLE001 - the point: the wrong kind of error
                wrong.append(f"{what}: {type(e).__name__} instead of ValueError")
    return verdict(ex, [
        (lambda: isinstance(out, list),
         f"for a valid file it returned a {type(out).__name__}, not the list of messages.",
         "Return data['messages']."),
        (lambda: out == GOOD_TRANSCRIPT["messages"], "the messages returned are not the ones in the file.",
         "Return the messages as they are, with their other fields (provider, model, ...); read the file with "
         "encoding='utf-8'."),
        (lambda: not wrong, f"{len(wrong)} bad file(s) not refused with a ValueError: {'; '.join(wrong[:3])}.",
         "Check each thing before you use it (isinstance(data, dict), 'messages' in data, ...) and "
         "raise ValueError('what is wrong') as soon as one is not right."),
    ], f"a valid transcript loads, and all {len(BAD_TRANSCRIPTS)} broken ones are refused with a clear ValueError.")


# --------------------------------------------------------------------------- exercise 5


def _error_classes(provider_errors: Any) -> str | None:
    """What is wrong with ``PROVIDER_ERRORS`` (None when it is a tuple of exception classes)."""
    if not isinstance(provider_errors, tuple) or not provider_errors:
        return f"PROVIDER_ERRORS should be a tuple of exception classes; it is {provider_errors!r:.80}."
    if not all(isinstance(c, type) and issubclass(c, BaseException) for c in provider_errors):
        return "every item of PROVIDER_ERRORS should be an exception class (openai.APIError, not openai.APIError())."
    if Exception in provider_errors or BaseException in provider_errors:
        return "PROVIDER_ERRORS holds Exception itself: that catches your own bugs too."
    return None


def exercise_5(chat_with_fallback: Callable[..., tuple[str, str]], provider_errors: Any = None) -> Verdict:
    """Exercise 5: ``chat_with_fallback(messages, attempts, **options)`` returns (provider, answer).

    Uses model names with ``-simulate-404`` / ``-simulate-503`` (the local server's teaching errors; a live
    provider answers 404 to such a name), so the failing attempts are quick and cost nothing; then drops the
    connections of Gemini, Hugging Face and OpenAI for real (``helpers.unreachable``: a server on 127.0.0.1 that
    hangs up at once) and expects Groq's answer.
    """
    require_done(chat_with_fallback, provider_errors, exercise="Exercise 5")
    ex = "Exercise 5 · fall back to another provider"
    if provider_errors is not None and (problem := _error_classes(provider_errors)):
        return _fail(ex, problem, "List the classes: PROVIDER_ERRORS = (openai.APIError, groq.APIError, ...).")
    question = [{"role": "user", "content": "Say hello."}]
    broken_openai = models.chat("openai") + "-simulate-404"
    broken_gemini = models.chat("gemini") + "-simulate-503"
    broken_hf = models.chat("huggingface") + "-simulate-404"

    one, err1 = _call(chat_with_fallback, question, [("groq", None)], max_tokens=ROOMY_TOKENS)
    if err1:
        return _fail(ex, f"with one working attempt it raised {err1}.",
                     "Call chat(provider, messages, model=model, **options).")
    second, err2 = _call(chat_with_fallback, question, [("openai", broken_openai), ("groq", None)],
                         max_tokens=ROOMY_TOKENS)
    if err2:
        return _fail(ex, f"when the first provider fails (404) it raised {err2} instead of trying the next one.",
                     "Wrap the chat() call in try / except PROVIDER_ERRORS and continue with the next attempt.")
    dropped, err3 = _dropped_connections(chat_with_fallback, question)
    if err3:
        return _fail(ex, f"when a connection drops it raised {err3} instead of trying the next provider.",
                     "A dropped connection is a provider failure too: Gemini's and Hugging Face's SDKs raise httpx2's "
                     "errors for it (httpx2.TransportError covers them all); add that class to PROVIDER_ERRORS.")
    all_fail_error = ""
    try:
        chat_with_fallback(question, [("gemini", broken_gemini), ("huggingface", broken_hf)], max_tokens=MAX_TOKENS)
    except NotImplementedError:
        raise
    except RuntimeError as e:
        all_fail_error = str(e) or " "
    except Exception as e:  # noqa: BLE001 - reported
        all_fail_error = f"!{type(e).__name__}: {e}"
    own_bug = ""
    try:
        chat_with_fallback(question, [("no-such-provider", None), ("groq", None)], max_tokens=ROOMY_TOKENS)
    except NotImplementedError:
        raise
    except ValueError:
        own_bug = "ValueError"
    except Exception as e:  # noqa: BLE001 - reported
        own_bug = type(e).__name__

    def pair(x: Any) -> bool:
        return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], str) and bool(x[1].strip())

    return verdict(ex, [
        (lambda: pair(one) and one[0] == "groq",
         f"chat_with_fallback(messages, [('groq', None)]) returned {one!r:.120}; expected ('groq', <the answer>).",
         "Return a tuple: (provider, answer)."),
        (lambda: pair(second) and second[0] == "groq",
         f"when OpenAI fails, the answer should come from Groq; it returned {second!r:.120}.",
         "Try the attempts in order and return from the first that answers."),
        (lambda: pair(dropped) and dropped[0] == "groq",
         f"with the connections of Gemini, Hugging Face and OpenAI dropped, the answer should come from Groq; "
         f"it returned {dropped!r:.120}.",
         "Try the attempts in order and return from the first that answers."),
        (lambda: bool(all_fail_error) and not all_fail_error.startswith("!"),
         "when every attempt fails it should raise RuntimeError; it "
         + (f"raised {all_fail_error[1:200]}" if all_fail_error else "did not raise") + ".",
         "After the loop, raise RuntimeError(...) listing the errors you collected."),
        (lambda: "gemini" in all_fail_error and "huggingface" in all_fail_error,
         f"the RuntimeError should name each provider that failed; its message is {all_fail_error.strip()!r:.200}.",
         "Collect f'{provider}: {type(error).__name__}: {error}' for each failure and join them into the message."),
        (lambda: own_bug == "ValueError",
         "an unknown provider name is a bug in the caller's code, not a provider failure: it should raise ValueError "
         f"at once, not fall back ({own_bug or 'it fell back to the next attempt'}).",
         "Catch only PROVIDER_ERRORS (the SDKs' API errors), not every Exception."),
    ], "it falls back on HTTP errors and on dropped connections, reports when all fail, and does not hide your "
       "own bugs.")


def _dropped_connections(chat_with_fallback: Callable, question: list[dict]) -> tuple[Any, str | None]:
    """Call ``chat_with_fallback`` with the connections of Gemini, Hugging Face and OpenAI dropped; Groq answers."""
    with unreachable.provider("gemini"), unreachable.provider("huggingface"), unreachable.provider("openai"):
        return _call(chat_with_fallback, question, [("gemini", None), ("huggingface", None), ("openai", None),
                                                    ("groq", None)], max_tokens=ROOMY_TOKENS)
