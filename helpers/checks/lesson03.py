"""Checks for lesson 03 · Messages and roles.

In the exercise notebook::

    from helpers.checks import lesson03 as check
    check.exercise_1(messages)

Each check tests structure (roles, order, fields), never the model's wording.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from .base import Verdict, require_done, verdict
from .base import call_learner as _call, first_failure as _first_failure, raised as _raised

ROLES = ("system", "user", "assistant", "tool")


def estimate_tokens(messages: list[dict]) -> int:
    """A rough token count: about 4 characters a token, plus 4 tokens of overhead per message."""
    return sum(4 + len(m["content"]) // 4 for m in messages)


def _roles(messages: Any) -> list | None:
    try:
        return [m.get("role") for m in messages]
    except Exception:
        return None


# --------------------------------------------------------------------------- exercise 1

def exercise_1(messages: Any) -> Verdict:
    """A messages list: one system message first, then user and assistant taking turns, ending with the user."""
    require_done(messages, exercise="Exercise 1")
    ex = "Exercise 1 · a messages list"
    roles = _roles(messages)
    after = roles[1:] if roles else []
    tests = [
        (lambda: isinstance(messages, list), f"`messages` is a {type(messages).__name__}, not a list.",
         "Write a list in square brackets: messages = [{...}, {...}, ...]."),
        (lambda: all(isinstance(m, dict) for m in messages), "Every message must be a dictionary.",
         'Write each message as {"role": "...", "content": "..."}.'),
        (lambda: all("role" in m and "content" in m for m in messages),
         "A message is missing its 'role' or its 'content' key.",
         'Each message needs both keys: {"role": "user", "content": "..."}.'),
        (lambda: all(r in ROLES for r in roles), f"Unknown role among {roles}.",
         "The roles are spelled system, user, assistant and tool (all lower case)."),
        (lambda: all(isinstance(m["content"], str) and m["content"].strip() for m in messages),
         "Every content must be a non-empty string.", "Write some text in each 'content'."),
        (lambda: len(messages) >= 4, f"Your list has {len(messages) if isinstance(messages, list) else 0} messages; "
         "the exercise asks for at least 4.", "System, user, assistant, user: four messages."),
        (lambda: roles[0] == "system", f"The first message has the role {roles[0] if roles else None!r}.",
         "Put the system message (the instructions) first."),
        (lambda: roles.count("system") == 1, "There is more than one system message.",
         "Put all the instructions in one system message at the start."),
        (lambda: all(r == ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(after)),
         f"After the system message the roles are {after}; they should take turns, user first.",
         "user, assistant, user, ...: the assistant messages are the model's earlier answers."),
        (lambda: roles[-1] == "user", "The last message is not the user's.",
         "The model answers the last message: end with the user's follow-up question."),
    ]
    return verdict(ex, tests, f"{len(messages)} messages, roles {roles}: ready to send.")


# --------------------------------------------------------------------------- exercise 2

def _fake_completion(content: str, finish_reason: str, prompt: int, completion: int):
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate({
        "id": "chatcmpl-check", "object": "chat.completion", "created": 0, "model": "check-model",
        "choices": [{"index": 0, "finish_reason": finish_reason,
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})


def _expected_fields(response) -> dict:
    choice = response.choices[0]
    return {"text": choice.message.content, "role": choice.message.role,
            "finish_reason": choice.finish_reason, "total_tokens": response.usage.total_tokens}


def exercise_2(read_fields: Callable, response: Any) -> Verdict:
    """``read_fields(response)`` returns the text, role, finish_reason and total_tokens of a chat response."""
    ex = "Exercise 2 · reading a response"
    got, err = _call(read_fields, response)
    if err:
        return _raised(ex, "read_fields", err, "Start from response.choices[0]: choices is a list.")
    other = _fake_completion("A made-up answer to check your function.", "length", 11, 7)
    got_other, err_other = _call(read_fields, other)
    want, want_other = _expected_fields(response), _expected_fields(other)
    keys = set(want)

    def wrong(d: Any, w: dict) -> list[str]:
        return [k for k in w if not isinstance(d, dict) or d.get(k) != w[k]]

    tests = [
        (lambda: isinstance(got, dict), f"`read_fields` returned a {type(got).__name__}, not a dict.",
         'Return a dictionary: {"text": ..., "role": ..., "finish_reason": ..., "total_tokens": ...}.'),
        (lambda: set(got) == keys, f"The keys are {sorted(got) if isinstance(got, dict) else None}; "
         f"expected {sorted(keys)}.", "Use exactly the four keys text, role, finish_reason, total_tokens."),
        (lambda: got["text"] == want["text"], "The text is not the answer's content.",
         "The text is response.choices[0].message.content."),
        (lambda: got["role"] == want["role"], "The role is not the message's role.",
         "The role is response.choices[0].message.role (it is 'assistant')."),
        (lambda: got["finish_reason"] == want["finish_reason"], "The finish_reason is not the choice's.",
         "finish_reason belongs to the choice, not to the message: response.choices[0].finish_reason."),
        (lambda: got["total_tokens"] == want["total_tokens"], "total_tokens is not the response's.",
         "Token counts are in response.usage, next to choices (not inside them)."),
        (lambda: err_other is None and not wrong(got_other, want_other),
         f"On another response your function gives wrong {err_other or wrong(got_other, want_other)}.",
         "Read every value from the response you are given; do not write any value in by hand."),
    ]
    return verdict(ex, tests, f"text, role {want['role']!r}, finish_reason {want['finish_reason']!r}, "
                              f"{want['total_tokens']} tokens: all read correctly.")


# --------------------------------------------------------------------------- exercise 3

def exercise_3(add_turn: Callable, response: Any) -> Verdict:
    """``add_turn(messages, response, follow_up)`` appends the reply and the follow-up, and returns the list."""
    ex = "Exercise 3 · keeping the conversation"
    history = [{"role": "system", "content": "You are a helpful travel guide."},
               {"role": "user", "content": "Name one city worth visiting in Japan."}]
    follow_up = "What should I eat there?"
    given = copy.deepcopy(history)
    got, err = _call(add_turn, given, response, follow_up)
    if err:
        return _raised(ex, "add_turn", err, "Read the reply with response.choices[0].message.content.")
    reply = response.choices[0].message.content
    stored = type(got[-2]).__name__ if isinstance(got, list) and len(got) >= 2 else "?"
    tests = [
        (lambda: got is not None, "`add_turn` returned None.", "End the function with `return messages`."),
        (lambda: isinstance(got, list), f"`add_turn` returned a {type(got).__name__}, not a list.",
         "Return the messages list itself."),
        (lambda: len(got) == len(history) + 2, f"The list has {len(got) if isinstance(got, list) else '?'} "
         f"messages; expected {len(history) + 2} (two added).", "Append exactly two messages: the reply, then the follow-up."),
        (lambda: got[:len(history)] == history, "The messages that were already there changed.",
         "Only append at the end; do not change or reorder the earlier messages."),
        (lambda: isinstance(got[-2], dict), f"The reply was stored as a {stored}, not a dict.",
         'Store a plain dictionary {"role": "assistant", "content": ...}: other SDKs (and Exercise 4) need dicts.'),
        (lambda: got[-2].get("role") == "assistant", "The second-to-last message is not the assistant's.",
         "First append the model's reply with the role 'assistant'."),
        (lambda: got[-2].get("content") == reply, "The assistant message does not hold the reply's text.",
         "Use response.choices[0].message.content as its content."),
        (lambda: got[-1] == {"role": "user", "content": follow_up}, "The last message is not the user's follow-up.",
         'Then append {"role": "user", "content": follow_up}.'),
    ]
    return verdict(ex, tests, "reply and follow-up appended in order: the next call resends the whole history.")


# --------------------------------------------------------------------------- exercise 4

_SAMPLE = [
    {"role": "system", "content": "You are a geography tutor."},
    {"role": "user", "content": "What is the capital of Portugal?"},
    {"role": "assistant", "content": "Lisbon."},
    {"role": "user", "content": "And of Spain?"},
]


def exercise_4(to_gemini: Callable, to_openai: Callable) -> Verdict:
    """``to_gemini(messages)`` gives ``(contents, system_instruction)``; ``to_openai`` turns them back."""
    ex = "Exercise 4 · OpenAI messages <-> Gemini contents"
    given = copy.deepcopy(_SAMPLE)
    out, err = _call(to_gemini, given)
    if err:
        return _raised(ex, "to_gemini", err, "Loop over the messages; skip the system one, map assistant to model.")
    no_system = copy.deepcopy(_SAMPLE[1:])
    out2, err2 = _call(to_gemini, no_system)
    want_contents = [{"role": "user", "parts": [{"text": "What is the capital of Portugal?"}]},
                     {"role": "model", "parts": [{"text": "Lisbon."}]},
                     {"role": "user", "parts": [{"text": "And of Spain?"}]}]
    pair = out if isinstance(out, tuple) and len(out) == 2 else (None, None)
    contents, system = pair
    roles = _roles(contents) if isinstance(contents, list) else None
    n_contents = len(contents) if isinstance(contents, list) else 0
    tests = [
        (lambda: isinstance(out, tuple) and len(out) == 2, "`to_gemini` must return two things: (contents, system_instruction).",
         "End with `return contents, system_instruction`."),
        (lambda: isinstance(contents, list), "`contents` is not a list.", "Build a list with one item per user/assistant message."),
        (lambda: len(contents) == 3, f"`contents` has {n_contents} items; expected 3 (the system message is not one).",
         "Leave the system message out of contents: Gemini takes it separately."),
        (lambda: roles == ["user", "model", "user"], f"The roles are {roles}; expected ['user', 'model', 'user'].",
         "Gemini calls the assistant 'model'; 'user' stays 'user'."),
        (lambda: contents == want_contents, "The parts are not right: each item should be "
         '{"role": ..., "parts": [{"text": ...}]}.', "Put the text in a list of parts: \"parts\": [{\"text\": m[\"content\"]}]."),
        (lambda: system == _SAMPLE[0]["content"], "`system_instruction` is not the system message's text.",
         "Return the system message's content as a string."),
        (lambda: given == _SAMPLE, "`to_gemini` changed the list it was given.", "Build new dictionaries; do not edit the input."),
        (lambda: err2 is None and out2[1] is None and out2[0] == want_contents,
         f"Without a system message, to_gemini should give (contents, None); it gave {err2 or out2!r}.",
         "When there is no system message, return None as the system instruction."),
    ]
    failing = _first_failure(tests)  # to_gemini first: to_openai is tested on correct contents
    if failing is not None:
        return verdict(ex, [failing], "")
    back, err3 = _call(to_openai, copy.deepcopy(want_contents), _SAMPLE[0]["content"])
    if err3:
        return _raised(ex, "to_openai", err3, "Loop over contents; put the system instruction first when there is one.")
    back2, err4 = _call(to_openai, copy.deepcopy(want_contents), None)
    tests2 = [
        (lambda: isinstance(back, list), f"`to_openai` returned a {type(back).__name__}, not a list.", "Return a list of messages."),
        (lambda: _roles(back) == ["system", "user", "assistant", "user"],
         f"`to_openai` gives the roles {_roles(back)}; expected ['system', 'user', 'assistant', 'user'].",
         "Start with the system message; map 'model' back to 'assistant'."),
        (lambda: back == _SAMPLE, "The round trip to_openai(*to_gemini(messages)) does not give back the same messages.",
         'Each message is {"role": ..., "content": <the text of its parts joined>}.'),
        (lambda: err4 is None and back2 == _SAMPLE[1:], "With system_instruction=None, there should be no system message.",
         "Add the system message only when system_instruction is not None."),
    ]
    return verdict(ex, tests2, "contents, roles, parts and the system instruction are right, and the round trip is exact.")


# --------------------------------------------------------------------------- exercise 5

def _conversation(turns: int, system: bool = True) -> list[dict]:
    msgs = [{"role": "system", "content": "You are a patient tutor who explains things step by step."}] if system else []
    for i in range(turns):
        msgs.append({"role": "user", "content": f"Question {i + 1}: " + "tell me more about this topic " * (i % 3 + 1)})
        msgs.append({"role": "assistant", "content": f"Answer {i + 1}: " + "here is a careful explanation " * (i % 4 + 2)})
    msgs.append({"role": "user", "content": "Last question: can you sum it all up in one sentence?"})
    return msgs


def _expected_trim(messages: list[dict], budget: int, count: Callable) -> list[dict]:
    system = [m for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    for start in range(len(rest)):
        if rest[start]["role"] == "user" and count(system + rest[start:]) <= budget:
            return system + rest[start:]
    return system + rest[-1:]


def exercise_5(trim_to_budget: Callable) -> Verdict:
    """``trim_to_budget(messages, budget, count)`` drops the oldest turns, never the system message."""
    ex = "Exercise 5 · a token budget"
    cases = []
    for turns, system, budget in [(5, True, 10_000), (5, True, 125), (5, True, 240), (6, True, 75),
                                  (5, True, 5), (4, False, 65)]:
        msgs = _conversation(turns, system)
        given = copy.deepcopy(msgs)
        got, err = _call(trim_to_budget, given, budget, count=estimate_tokens)
        if err:
            return _raised(ex, "trim_to_budget", err, "Work on a copy of the list, dropping from the front of the non-system part.")
        cases.append((msgs, budget, given, got, _expected_trim(msgs, budget, estimate_tokens)))

    def each(test: Callable) -> bool:
        return all(test(*c) for c in cases)

    def is_suffix(msgs, got):
        rest, sys_ = [m for m in msgs if m["role"] != "system"], [m for m in msgs if m["role"] == "system"]
        tail = got[len(sys_):]
        return got[:len(sys_)] == sys_ and len(tail) <= len(rest) and rest[len(rest) - len(tail):] == tail

    tests = [
        (lambda: each(lambda m, b, g, got, w: isinstance(got, list)), "`trim_to_budget` did not return a list.",
         "Return the trimmed list of messages."),
        (lambda: each(lambda m, b, g, got, w: g == m), "`trim_to_budget` changed the list it was given.",
         "Build a new list (slicing makes a copy) instead of deleting from the input."),
        (lambda: cases[0][3] == cases[0][0], "A conversation that already fits the budget was changed.",
         "When count(messages) <= budget, return all the messages."),
        (lambda: each(lambda m, b, g, got, w: [x for x in m if x["role"] == "system"] ==
                      [x for x in got if x["role"] == "system"] and (not got or got[0] == m[0] or m[0]["role"] != "system")),
         "The system message was dropped or moved.", "Keep the system message first, always; drop only other messages."),
        (lambda: each(lambda m, b, g, got, w: got[-1] == m[-1]), "The last message (the user's question) was dropped.",
         "Never drop the last message: it is the one the model must answer."),
        (lambda: each(lambda m, b, g, got, w: is_suffix(m, got)),
         "The kept messages are not the newest ones in their original order.",
         "Drop from the oldest end only (right after the system message), keeping order."),
        (lambda: each(lambda m, b, g, got, w: [x["role"] for x in got if x["role"] != "system"][:1] == ["user"]),
         "After the system message, the kept part starts with an assistant message.",
         "Drop whole turns: if the oldest remaining message is the assistant's, drop it too."),
        (lambda: each(lambda m, b, g, got, w: estimate_tokens(got) <= b or got == w),
         "A trimmed conversation is still over the budget.", "Keep dropping while count(messages) > budget."),
        (lambda: each(lambda m, b, g, got, w: got == w), "Too many messages were dropped for one budget.",
         "Stop as soon as count(...) <= budget; if nothing fits, keep the system message and the last user message."),
    ]
    return verdict(ex, tests, "the system message stays, the newest turns fit the budget, nothing more was dropped.")


# --------------------------------------------------------------------------- exercise 6

TICKET_CATEGORIES = ("billing", "delivery", "technical")
_TICKET_ANSWER = re.compile(r"category: (billing|delivery|technical)")
_TICKET_TEXT = re.compile(r"<ticket>(.+?)</ticket>", re.DOTALL)
_TRIAL_TICKETS = ("I was charged twice for my March invoice.",
                  "The app crashes every time I open the settings page.")


def _holds(condition: Callable[[], bool]) -> bool:
    """Whether ``condition()`` is true; a condition that raises (a malformed answer) is false."""
    try:
        return bool(condition())
    except Exception:
        return False


def _prompt_rules(messages: Any, ticket: str) -> list[tuple[bool, str, str]]:
    """(passed, what is wrong, hint) for each rule of a few-shot prompt built for ``ticket``, in order."""
    msgs = messages if isinstance(messages, list) else []
    roles = _roles(msgs) or []
    text = [m.get("content") if isinstance(m, dict) else None for m in msgs]
    system = text[0] if roles[:1] == ["system"] and isinstance(text[0], str) else ""
    pairs = [(text[i], text[i + 1]) for i in range(1, len(msgs) - 2, 2)]
    answers = [a.strip() if isinstance(a, str) else a for _, a in pairs]
    last = text[-1] if text and isinstance(text[-1], str) else ""
    rules = [
        (lambda: isinstance(messages, list), f"`build_prompt` returned a {type(messages).__name__}, not a list.",
         "Return a list of messages: [{...}, {...}, ...]."),
        (lambda: all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in msgs)
         and all(isinstance(t, str) and t.strip() for t in text),
         "Every message must be a dictionary with a role and a non-empty text content.",
         'Write each message as {"role": "...", "content": "..."}.'),
        (lambda: roles[:1] == ["system"] and roles.count("system") == 1,
         f"The roles are {roles}: the prompt must start with one system message, and have only that one.",
         "Put the instructions (the task, the categories, the answer format) in one system message, first."),
        (lambda: all(c in system.lower() for c in TICKET_CATEGORIES),
         "The system message does not name all three categories.",
         "Name the categories the model may choose from: billing, delivery, technical."),
        (lambda: "category:" in system.lower(), "The system message does not say what the answer must look like.",
         'Ask for the format in words, for example: Answer with one line: "category: <category>".'),
        (lambda: ticket not in system, "The ticket itself is in the system message.",
         "Keep instructions and data apart: the ticket goes in the last user message only."),
        (lambda: len(pairs) >= 2 and roles[1:] == ["user", "assistant"] * len(pairs) + ["user"],
         f"After the system message the roles are {roles[1:]}; expected at least two user/assistant example "
         "pairs, then the user's ticket.",
         "Examples are pairs: a user turn with an example ticket, then the assistant turn with its answer."),
        (lambda: all(_TICKET_TEXT.search(u) for u, _ in pairs),
         "An example ticket is not between <ticket> and </ticket>.",
         "Wrap every example ticket the same way as the real one: <ticket>...</ticket>."),
        (lambda: all(_TICKET_ANSWER.fullmatch(a) for a in answers),
         f"An example answer is not in the format 'category: <category>': {answers}.",
         "Each assistant turn is exactly one line such as category: billing (lower case, nothing else)."),
        (lambda: len(set(answers)) >= 2, "All the example answers give the same category.",
         "Use at least two different categories in the examples, or the model may learn to repeat one."),
        (lambda: roles[-1:] == ["user"] and f"<ticket>{ticket}</ticket>" in last,
         "The last message does not hold the ticket it was given between <ticket> and </ticket>.",
         'End with {"role": "user", "content": f"<ticket>{ticket}</ticket>"}: use the argument, not a ticket of your own.'),
        (lambda: last.count("<ticket>") == 1, "The last message holds more than one <ticket>.",
         "Put only the ticket to classify in the last message; the examples go in their own turns."),
    ]
    return [(_holds(condition), problem, hint) for condition, problem, hint in rules]


def exercise_6(build_prompt: Callable) -> Verdict:
    """``build_prompt(ticket)``: a system message, few-shot pairs, the ticket in delimiters, a format instruction."""
    ex = "Exercise 6 · a few-shot prompt"
    checked = []
    for ticket in _TRIAL_TICKETS:  # two tickets: the prompt must hold the one it was given
        got, err = _call(build_prompt, ticket)
        if err:
            return _raised(ex, "build_prompt", err, "Build the list and return it; use `ticket` in the last message.")
        checked.append(_prompt_rules(got, ticket))
    tests = []
    for same_rule in zip(*checked):  # one rule, judged for each trial ticket
        failing = next((r for r in same_rule if not r[0]), same_rule[0])
        tests.append((lambda ok=failing[0]: ok, failing[1], failing[2]))
    return verdict(ex, tests, "one system message with the categories and the format, example pairs in order, and "
                              "the ticket between <ticket> tags: a prompt any chat model can follow.")
