"""Checks for lesson 07 · Hugging Face.

In the exercise notebook::

    from helpers.checks import lesson07 as check
    check.exercise_1(top_label, client, SENTIMENT_MODEL)

Checks test structure (a label and a score, spans cut with the offsets, a JSON body the router
accepts, the status code of an error), never the model's wording. The error check always talks to
the course's local server, which can produce each error on purpose.
"""
from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable
from typing import Any

from .base import Verdict, verdict
from .base import call_learner as _call, first_failure as _first_failing, raised as _raised

ROUTER_CHAT_URL = "https://router.huggingface.co/v1/chat/completions"
ROUTER_TASK_PREFIX = "https://router.huggingface.co/hf-inference/models/"
INFERENCE_PERMISSION = "inference.serverless.write"


# --------------------------------------------------------------------------- exercise 1

def _labels(*pairs: tuple[str, float]) -> list:
    from huggingface_hub import TextClassificationOutputElement

    return [TextClassificationOutputElement(label=label, score=score) for label, score in pairs]


def exercise_1(top_label: Callable, client: Any, model: str) -> Verdict:
    """``top_label(result)`` returns ``(label, score)`` of the best-scoring element of a text_classification result."""
    ex = "Exercise 1 · the label and its score"
    made_up = [
        (_labels(("NEGATIVE", 0.1), ("POSITIVE", 0.9)), ("POSITIVE", 0.9)),          # best last: not sorted
        (_labels(("joy", 0.2), ("anger", 0.05), ("surprise", 0.75)), ("surprise", 0.75)),
        (_labels(("NEGATIVE", 0.97), ("POSITIVE", 0.03)), ("NEGATIVE", 0.97)),
    ]
    answers = []
    for result, want in made_up:
        got, err = _call(top_label, list(result))
        if err:
            return _raised(ex, "top_label", err, "Each element has .label and .score; pick the one with the highest score.")
        answers.append((result, got, want))
    real = client.text_classification("What a wonderful, helpful lesson!", model=model)
    best = max(real, key=lambda e: e.score)
    got_real, err = _call(top_label, list(real))
    wrong = next(((r, g, w) for r, g, w in answers if not (isinstance(g, tuple) and len(g) == 2 and g[0] == w[0]
                                                           and isinstance(g[1], numbers.Real)
                                                           and math.isclose(float(g[1]), w[1]))), None)
    tests = [
        (lambda: all(isinstance(g, tuple) and len(g) == 2 for _, g, _ in answers),
         f"`top_label` returned {answers[0][1]!r}; expected a tuple (label, score).", "End with `return best.label, best.score`."),
        (lambda: wrong is None,
         f"For {[(e.label, e.score) for e in wrong[0]]} you returned {wrong[1]!r}; expected {wrong[2]!r}." if wrong else "",
         "Do not assume the list is sorted: use max(result, key=lambda e: e.score)."),
        (lambda: err is None, f"On a real result `top_label` raised {err}.", "Use the attributes .label and .score."),
        (lambda: got_real == (best.label, best.score), f"On a real result you returned {got_real!r}; expected "
         f"{(best.label, best.score)!r}.", "Return the label and the score of the same element."),
    ]
    return verdict(ex, tests, f"the real result's best label is {best.label} ({best.score:.2f}).")


# --------------------------------------------------------------------------- exercise 2

MADE_UP_TEXT = "Yesterday Grace Hopper visited IBM in New York."


def _entities(*items: tuple[str, int, int, str]) -> list:
    from huggingface_hub import TokenClassificationOutputElement

    return [TokenClassificationOutputElement(entity_group=group, start=start, end=end, word=word, score=0.9)
            for group, start, end, word in items]


def exercise_2(entity_spans: Callable, client: Any, model: str) -> Verdict:
    """``entity_spans(text, entities)`` returns ``[(entity_group, text[start:end]), ...]`` in text order."""
    ex = "Exercise 2 · entities cut out with their offsets"
    # The words are spelled as an uncased model would return them, and the list is out of order:
    # only the offsets give the original spelling and the order.
    made_up = _entities(("LOC", 38, 46, "new york"), ("PER", 10, 22, "grace hopper"), ("ORG", 31, 34, "ibm"))
    want = [("PER", "Grace Hopper"), ("ORG", "IBM"), ("LOC", "New York")]
    got, err = _call(entity_spans, MADE_UP_TEXT, list(made_up))
    if err:
        return _raised(ex, "entity_spans", err, "For each entity e: (e.entity_group, text[e.start:e.end]).")
    text = "Ada Lovelace wrote about the Analytical Engine in London."
    real = client.token_classification(text, model=model)
    want_real = [(e.entity_group, text[e.start:e.end]) for e in sorted(real, key=lambda e: e.start)]
    got_real, err_real = _call(entity_spans, text, list(real))
    tests = [
        (lambda: isinstance(got, list) and all(isinstance(p, tuple) and len(p) == 2 for p in got),
         f"`entity_spans` returned {got!r}; expected a list of (group, text) tuples.",
         "Build a list of tuples: [(e.entity_group, text[e.start:e.end]) for e in ...]."),
        (lambda: sorted(got) != sorted([("PER", "grace hopper"), ("ORG", "ibm"), ("LOC", "new york")]),
         "You returned the entities' `word` field, which a model may lowercase or split.",
         "Cut the text itself with the offsets: text[e.start:e.end]."),
        (lambda: sorted(got) == sorted(want), f"You returned {got!r}; expected {want!r} (in some order at least).",
         "Use e.entity_group for the type and text[e.start:e.end] for the words."),
        (lambda: got == want, f"The spans are not in the order they appear in the text: {got!r}.",
         "Sort the entities by e.start before building the list."),
        (lambda: err_real is None and got_real == want_real,
         f"On a real result you returned {got_real!r}" + (f" ({err_real})" if err_real else "") + f"; expected {want_real!r}.",
         "The same code should work on what client.token_classification returns."),
    ]
    return verdict(ex, tests, f"{len(want_real)} entities cut from the real text: {want_real}.")


# --------------------------------------------------------------------------- exercise 3

def exercise_3(chat_request: Callable, task_request: Callable, chat_model: str, task_model: str) -> Verdict:
    """``chat_request`` and ``task_request`` return ``(url, body)`` for the router, ready for ``requests.post``.

    ``chat_request(model, question, max_tokens, policy=None)`` puts a routing policy (``"cheapest"``, ...) after
    the model id as ``model:policy``; without one the router's default, ``:fastest``, applies.
    """
    ex = "Exercise 3 · JSON for the router"
    question = "Name one use of a sentiment model."
    chat, err = _call(chat_request, chat_model, question, 50)
    if err:
        return _raised(ex, "chat_request", err, "Return a tuple: (url, body).")
    cheap, err = _call(chat_request, chat_model, question, 50, policy="cheapest")
    if err:
        return _raised(ex, "chat_request", f"{err} with policy='cheapest'",
                       "Give chat_request a fourth parameter, policy=None, and add it to the model id when it is given.")
    preferred, err = _call(chat_request, chat_model, question, 50, "preferred")
    if err:
        return _raised(ex, "chat_request", f"{err} with the policy 'preferred' passed as the fourth argument",
                       "The fourth parameter is the policy: def chat_request(model, question, max_tokens, policy=None).")
    task, err = _call(task_request, task_model, "I like this course.")
    if err:
        return _raised(ex, "task_request", err, "Return a tuple: (url, body).")
    c_url, c_body = chat if isinstance(chat, tuple) and len(chat) == 2 else (None, None)
    t_url, t_body = task if isinstance(task, tuple) and len(task) == 2 else (None, None)
    want_chat = {"model": chat_model, "messages": [{"role": "user", "content": question}], "max_tokens": 50}
    policy_models = [b.get("model") if isinstance(b, dict) else None
                     for b in (cheap[1] if isinstance(cheap, tuple) and len(cheap) == 2 else None,
                               preferred[1] if isinstance(preferred, tuple) and len(preferred) == 2 else None)]
    tests = [
        (lambda: isinstance(chat, tuple) and len(chat) == 2, f"`chat_request` returned {type(chat).__name__}; expected (url, body).",
         "End with `return url, body`."),
        (lambda: isinstance(task, tuple) and len(task) == 2, f"`task_request` returned {type(task).__name__}; expected (url, body).",
         "End with `return url, body`."),
        (lambda: "api-inference" not in str(c_url) + str(t_url), "A URL still uses api-inference.huggingface.co, which is retired.",
         "Use https://router.huggingface.co/..."),
        (lambda: c_url == ROUTER_CHAT_URL, f"The chat URL is {c_url!r}; expected {ROUTER_CHAT_URL!r}.",
         "Chat goes to the router's OpenAI-compatible path: /v1/chat/completions."),
        (lambda: isinstance(c_body, dict) and json.loads(json.dumps(c_body)) == c_body, "The chat body is not a plain JSON object.",
         "Use a dict of strings, numbers and lists."),
        (lambda: c_body.get("model") == chat_model and isinstance(c_body.get("messages"), list),
         f"The chat body needs 'model' and 'messages' (got keys {sorted(c_body) if isinstance(c_body, dict) else c_body!r}).",
         'Body: {"model": model, "messages": [...], "max_tokens": max_tokens}.'),
        (lambda: c_body == want_chat, f"The chat body is {c_body!r}; expected {want_chat!r}.",
         "One user message with the question, and the token limit as max_tokens."),
        (lambda: policy_models == [f"{chat_model}:cheapest", f"{chat_model}:preferred"],
         f"With the policies 'cheapest' and 'preferred' the body's model ids are {policy_models}; expected "
         f"{[f'{chat_model}:cheapest', f'{chat_model}:preferred']}.",
         'Append the policy to the model id after a colon: f"{model}:{policy}" (and nothing when policy is None).'),
        (lambda: cheap[0] == ROUTER_CHAT_URL and {k: v for k, v in cheap[1].items() if k != "model"} ==
         {k: v for k, v in want_chat.items() if k != "model"},
         "With a policy, the URL or the rest of the body changed.",
         "A policy changes only the model id: the URL, the messages and max_tokens stay the same."),
        (lambda: t_url == ROUTER_TASK_PREFIX + task_model, f"The task URL is {t_url!r}; expected {ROUTER_TASK_PREFIX + task_model!r}.",
         "Tasks go to https://router.huggingface.co/hf-inference/models/<model id>."),
        (lambda: t_body == {"inputs": "I like this course."}, f"The task body is {t_body!r}; expected {{'inputs': <the text>}}.",
         'Task bodies are {"inputs": text} (plus "parameters" when you need them).'),
    ]
    failed = _first_failing(tests)
    if failed is None:
        sent = _send_locally(c_url, cheap[1], t_url, t_body)
        if sent:
            tests.append((lambda: False, sent, "Check the body against the lesson's example."))
    return verdict(ex, tests, "both requests have the router's URL and JSON body, with the policy in the model id"
                   + (" and the local router accepted them." if _local() else "; send them with requests.post(...)."))


def _local() -> bool:
    from .. import course

    return course.is_local("huggingface")


def _send_locally(c_url: str, c_body: dict, t_url: str, t_body: dict) -> str | None:
    """In local mode, post both bodies (the course's hook sends them to the local server); a problem, or None."""
    if not _local():
        return None
    import os

    import requests

    headers = {"Authorization": f"Bearer {os.environ.get('HF_TOKEN', '')}"}
    r = requests.post(c_url, headers=headers, json=c_body, timeout=180)
    if r.status_code != 200 or not r.json().get("choices"):
        return f"The local router refused the chat body: {r.status_code} {r.text[:200]}"
    r = requests.post(t_url, headers=headers, json=t_body, timeout=180)
    if r.status_code != 200 or not isinstance(r.json(), list):
        return f"The local router refused the task body: {r.status_code} {r.text[:200]}"
    return None


# --------------------------------------------------------------------------- exercise 4

def _whoami(role: str | None, global_perms: list[str] | None = None, scoped: list | None = None) -> dict:
    token: dict = {"displayName": "course example"}
    if role is not None:
        token["role"] = role
    if global_perms is not None or scoped is not None:
        token["fineGrained"] = {"global": global_perms or [], "scoped": scoped or []}
    return {"type": "user", "name": "learner", "auth": {"type": "access_token", "accessToken": token}}


def exercise_4(can_call_inference: Callable) -> Verdict:
    """``can_call_inference(whoami)`` says whether a token may call Inference Providers."""
    ex = "Exercise 4 · does this token allow inference?"
    repo_only = [{"entity": {"type": "model", "name": "some-org/some-model"}, "permissions": ["repo.content.read"]}]
    cases = [
        ("a read token", _whoami("read"), True),
        ("a write token", _whoami("write"), True),
        ("a fine-grained token with 'Make calls to Inference Providers'",
         _whoami("fineGrained", ["discussion.write", INFERENCE_PERMISSION]), True),
        ("a fine-grained token without it", _whoami("fineGrained", ["discussion.write", "post.write"], repo_only), False),
        ("a fine-grained token with no permissions listed", _whoami("fineGrained"), False),
        ("an answer without token details", {"type": "user", "name": "learner"}, False),
    ]
    answers = []
    for name, whoami, want in cases:
        got, err = _call(can_call_inference, whoami)
        if err:
            return _raised(ex, "can_call_inference", f"{err} for {name}",
                           "Read with .get(...) and defaults, so that a missing field does not raise.")
        answers.append((name, got, want))
    wrong = next(((n, g, w) for n, g, w in answers if g is not w), None)
    tests = [
        (lambda: all(isinstance(g, bool) for _, g, _ in answers), "`can_call_inference` should return True or False.",
         "Return a bool, not the role or the list of permissions."),
        (lambda: wrong is None, f"For {wrong[0]} you returned {wrong[1]}; expected {wrong[2]}." if wrong else "",
         f"Read and write tokens may call inference; a fine-grained one only with {INFERENCE_PERMISSION!r} "
         "in auth.accessToken.fineGrained.global."),
    ]
    return verdict(ex, tests, "read, write and fine-grained tokens are told apart correctly.")


# --------------------------------------------------------------------------- exercise 5

LABELS = {401: "bad_token", 402: "no_credits", 403: "no_permission", 404: "not_found", 429: "rate_limit"}


def exercise_5(classify_hf_error: Callable) -> Verdict:
    """``classify_hf_error(call)`` runs ``call()`` and names the error from ``HfHubHTTPError``'s status code."""
    ex = "Exercise 5 · read the status of an HfHubHTTPError"
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    from .. import hf_local, models, server

    router = hf_local.local_url("https://router.huggingface.co/", server.base_url()).rstrip("/")
    model = models.chat("huggingface")
    question = [{"role": "user", "content": "Say hi."}]

    def ask(m: str = model, key: str = "hf_course_check"):
        client = InferenceClient(base_url=router, api_key=key, timeout=120)
        return lambda: client.chat_completion(question, model=m, max_tokens=3)

    cases = [("bad_token", ask(key="hf_" + "invalid" + "_course_check")), ("no_credits", ask(f"{model}-simulate-quota")),
             ("no_permission", ask(f"{model}-simulate-403")), ("not_found", ask("gpt2")),
             ("rate_limit", ask(f"{model}-simulate-429")), ("ok", ask())]
    answers = {}
    for want, call in cases:
        got, err = _call(classify_hf_error, call)
        if err:
            return _raised(ex, "classify_hf_error", f"{err} for the {want!r} case",
                           "Put the call in try:, catch HfHubHTTPError as e, and read e.response.status_code.")
        answers[want] = got
    try:
        other = classify_hf_error(ask(f"{model}-simulate-503"))
        passed_on = False
    except NotImplementedError:
        raise
    except HfHubHTTPError as e:
        other, passed_on = None, e.response.status_code == 503
    except Exception as e:
        other, passed_on = type(e).__name__, False
    order = ["ok", "bad_token", "no_credits", "no_permission", "not_found", "rate_limit"]
    wrong = [k for k in order if answers.get(k) != k]
    hints = {"bad_token": "401: the token is wrong or revoked.", "no_credits": "402: the monthly credits are used up.",
             "no_permission": "403: a fine-grained token without 'Make calls to Inference Providers'.",
             "not_found": "404: the model is unknown or no longer served (here: gpt2).",
             "rate_limit": "429: too many requests.", "ok": "When the call succeeds, return 'ok'."}
    tests = [
        (lambda: not wrong, f"For the {wrong[0]!r} case you returned {answers.get(wrong[0])!r}." if wrong else "",
         (hints[wrong[0]] + " Map e.response.status_code to the label.") if wrong else ""),
        (lambda: passed_on, f"A 503 error was caught (you returned {other!r}); it should pass through.",
         "For a status you do not handle, re-raise the error with a bare `raise` inside the except block."),
    ]
    return verdict(ex, tests, "each status code read from HfHubHTTPError, and other errors passed on.")
