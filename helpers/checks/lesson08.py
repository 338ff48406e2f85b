"""Checks for lesson 08 · LM Studio and local models.

In the exercise notebook::

    from helpers.checks import lesson08 as check
    check.exercise_1(make_client)

The checks talk to the course's local server (an OpenAI-compatible server on your machine, like
LM Studio's) and to a port where nothing listens, so they pass with or without LM Studio.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .base import Verdict, verdict
from .base import call_learner as _call, raised as _raised


def _course_v1() -> str:
    """The course's local server, OpenAI-compatible: ``http://127.0.0.1:PORT/v1``."""
    from .. import server

    return server.base_url() + "/v1"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (just freed), for "server is down" cases."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- exercise 1

def exercise_1(make_client: Callable) -> Verdict:
    """``make_client(host, port, token=None)`` returns an ``OpenAI`` client for the server at that host and port.

    The key is ``token`` when one is given (LM Studio with Require Authentication on, 0.4.0 and later), and any
    text otherwise.
    """
    ex = "Exercise 1 · a client for a local server"
    from openai import OpenAI

    a, err = _call(make_client, "localhost", 1234)
    if err:
        return _raised(ex, "make_client", err, 'Return OpenAI(base_url=f"http://{host}:{port}/v1", api_key=...) '
                       'with any text as the key, such as lm-studio.')
    b, err = _call(make_client, "192.168.1.20", 11434)
    if err:
        return _raised(ex, "make_client", err, "Build the address from the host and port you are given.")
    fake_token = "check-token-" + "0" * 6  # made up at run time: not a real token
    t, err = _call(make_client, "localhost", 1234, token=fake_token)
    if err:
        return _raised(ex, "make_client", f"{err} when given token=...",
                       "Give make_client a third parameter, token=None, and use it as the api_key when it is given.")
    parts = urlsplit(_course_v1())
    c, err = _call(make_client, parts.hostname, parts.port)
    if err:
        return _raised(ex, "make_client", err, "Build the address from the host and port you are given.")
    ids, list_err = None, None
    if isinstance(c, OpenAI):
        try:
            ids = [m.id for m in c.with_options(max_retries=0, timeout=30).models.list()]
        except Exception as e:  # reported below
            list_err = f"{type(e).__name__}: {e}"
    tests = [
        (lambda: isinstance(a, OpenAI), f"`make_client` returned a {type(a).__name__}, not an OpenAI client.",
         "from openai import OpenAI, then return OpenAI(base_url=..., api_key=...)."),
        (lambda: str(a.base_url) == "http://localhost:1234/v1/", f"For localhost:1234 the base URL is {str(a.base_url)!r}; "
         "expected 'http://localhost:1234/v1'.", "Do not forget the /v1 at the end: the OpenAI-compatible API lives there."),
        (lambda: str(b.base_url) == "http://192.168.1.20:11434/v1/", f"For 192.168.1.20:11434 the base URL is "
         f"{str(b.base_url)!r}.", 'Use the arguments: f"http://{host}:{port}/v1".'),
        (lambda: bool(a.api_key), "The client has an empty api_key.",
         "LM Studio ignores the key unless Require Authentication is on, but the SDK needs one: any text, such as "
         "lm-studio."),
        (lambda: isinstance(t, OpenAI) and t.api_key == fake_token,
         "Given a token, the client does not send it as its api_key.",
         "Use the token as the key when one is given: api_key=token or \"lm-studio\"."),
        (lambda: str(t.base_url) == "http://localhost:1234/v1/", "Given a token, the base URL changed.",
         "The token changes only the key, not the address."),
        (lambda: list_err is None and ids, f"Listing models through your client failed: {list_err}.",
         "The client should reach the server at the host and port given."),
    ]
    return verdict(ex, tests, f"the client reaches a local server and lists {len(ids or [])} model(s).")


# --------------------------------------------------------------------------- exercise 2

def exercise_2(list_model_ids: Callable) -> Verdict:
    """``list_model_ids(base_url)`` returns the model ids that ``GET {base_url}/models`` lists."""
    ex = "Exercise 2 · the model ids at /v1/models"
    import requests

    base = _course_v1()
    want = [m["id"] for m in requests.get(base + "/models", timeout=30).json()["data"]]
    got, err = _call(list_model_ids, base)
    if err:
        return _raised(ex, "list_model_ids", err, 'requests.get(base_url + "/models", timeout=5).json()["data"]: '
                       'one dict per model, with an "id".')
    tests = [
        (lambda: isinstance(got, list), f"`list_model_ids` returned a {type(got).__name__}, not a list.",
         "Return a list of strings."),
        (lambda: all(isinstance(i, str) for i in got), f"The list holds {type(got[0]).__name__ if got else '?'}s, not ids.",
         'Take m["id"] from each entry of .json()["data"].'),
        (lambda: got == want, f"You returned {got!r}; the server lists {want!r}.",
         "Keep every id, in the order the server sends them."),
    ]
    return verdict(ex, tests, f"{len(want)} model id(s): {want}.")


# --------------------------------------------------------------------------- exercise 3

def exercise_3(server_is_up: Callable) -> Verdict:
    """``server_is_up(url, timeout)`` is True only for a quick 200, and never raises."""
    ex = "Exercise 3 · is the server up?"
    base = _course_v1()
    down = f"http://127.0.0.1:{closed_port()}/v1/models"
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for name, url, timeout in [("up", base + "/models", 5.0), ("down", down, 1.0),
                               ("slow", base + "/models/course-check-simulate-slow-6", 1.0),
                               ("404", base.rsplit("/v1", 1)[0] + "/no/such/path", 5.0)]:
        start = time.perf_counter()
        got, err = _call(server_is_up, url, timeout)
        timings[name] = time.perf_counter() - start
        if err:
            return _raised(ex, "server_is_up", f"{err} for a server that is {name}",
                           "Catch requests.RequestException (connection refused, timeout, ...) and return False.")
        results[name] = got
    tests = [
        (lambda: all(isinstance(v, bool) for v in results.values()), f"`server_is_up` returned {results!r}; expected True or False.",
         "Return a bool."),
        (lambda: results["up"] is True, "For the course's server, which is running, you returned False.",
         "A 200 answer means the server is up."),
        (lambda: results["down"] is False, "For a port where nothing listens you returned True.",
         "A connection error means the server is down: return False."),
        (lambda: results["404"] is False, "For a path that answers 404 you returned True.",
         "Only a 200 counts: a 404 means a wrong address (a missing /v1, say)."),
        (lambda: results["slow"] is False, "For a server that takes 6 s to answer you returned True with a 1 s timeout.",
         "Pass timeout=timeout to requests.get, and return False on requests.Timeout."),
        (lambda: timings["slow"] < 4.0, f"The slow case took {timings['slow']:.1f} s although the timeout was 1 s.",
         "Pass timeout=timeout to requests.get: without it, requests waits as long as the server takes."),
    ]
    return verdict(ex, tests, f"up, down, 404 and slow servers told apart (the slow one in {timings['slow']:.1f} s).")


# --------------------------------------------------------------------------- exercise 4

def exercise_4(first_server: Callable) -> Verdict:
    """``first_server(candidates)`` returns the first base URL whose ``/models`` answers, or None."""
    ex = "Exercise 4 · find a running server"
    base = _course_v1()
    down1 = f"http://127.0.0.1:{closed_port()}/v1"
    down2 = f"http://127.0.0.1:{closed_port()}/v1"
    other = base.replace("127.0.0.1", "localhost")
    cases = [([down1, base], base), ([other, down1, base], other), ([down1, down2], None), ([], None)]
    answers = []
    for candidates, want in cases:
        got, err = _call(first_server, list(candidates))
        if err:
            return _raised(ex, "first_server", f"{err} for {candidates}",
                           "Loop over the candidates; for each, ask server_is_up(url + '/models').")
        answers.append((candidates, got, want))
    wrong = next(((c, g, w) for c, g, w in answers if g != w), None)
    tests = [
        (lambda: wrong is None, f"For {wrong[0]} you returned {wrong[1]!r}; expected {wrong[2]!r}." if wrong else "",
         "Return the first base URL (as given) whose /models answers 200; None when none does."),
    ]
    return verdict(ex, tests, "the first running server is found, and None when nothing runs.")
