"""Pieces every protocol module shares: reading and checking a request, faults, the work queue, local labels.

* ``read_json``: the JSON object body, refused with a provider-shaped 400 when it is not JSON, nested deeper
  than ``MAX_DEPTH``, or holds a lone UTF-16 surrogate, NaN or Infinity (never a 500 later on).
* ``Fields``: typed reads of request fields; a wrong type or an out-of-range value is a 400 naming the
  parameter, in the provider's words (OpenAI/Groq ``param``, Gemini's field path, Hugging Face's message).
* ``admit``: the bounded work queue. Generation and embedding requests wait for a slot; when the expected wait
  is longer than the caller's SDK waits (Groq's 60 s timeout), the answer is an immediate 503 with
  ``retry-after`` (and ``x-should-retry`` for the OpenAI-style SDKs) instead of a timeout and a retry storm.
* ``supervise``: runs a handler so that its work is cancelled when the client goes away (the engine stops
  generating), unexpected errors become a provider-shaped 500 that keeps the connection open, and a stream
  that fails after it started ends with an error event instead of a dropped connection.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sys
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import models as catalogue
from . import faults
from .engine import CONTEXT_TOKENS, DEFAULT_MAX_TOKENS, EngineError

LOCAL_MODEL = catalogue.local_model_name()  # "smollm2-135m-instruct (local)"


class Reject(Exception):
    """Stop handling a request and send ``response`` (a provider-shaped error)."""

    def __init__(self, response: Response):
        super().__init__("rejected")
        self.response = response


def backend(request: Request):
    """The server's shared state: ``.engine``, ``.embedder``, ``.inspector``."""
    return request.app.state.backend


def api_key(request: Request) -> str | None:
    """The key the client sent (Bearer token, x-goog-api-key or ?key=)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-goog-api-key") or request.query_params.get("key")


# ---------------------------------------------------------------------- reading and checking a request

NOTE = " (from the course's local server)"
# Google's JSON parser (protobuf) refuses documents nested more than 100 levels; no SDK request comes near it,
# and a bound keeps every recursive step after parsing (schemas, the inspector, the engine's JSON) safe.
MAX_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadParam(Exception):
    """A malformed request field: sent as the provider's 400 naming the parameter (``param_error``)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value",
                 status: int = 400):
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status


def param_error(provider: str, err: BadParam) -> Response:
    """``err`` in the provider's error shape (OpenAI and Groq name the parameter in ``param``)."""
    if provider == "gemini":
        return faults.gemini_error(err.status, err.message + NOTE, "INVALID_ARGUMENT" if err.status == 400 else None)
    if provider == "huggingface":
        return faults.hf_error(err.status, err.message + NOTE)
    return faults.openai_error(err.status, err.message + NOTE, "invalid_request_error", err.code, err.param)


def refuse(provider: str, err: BadParam) -> Reject:
    return Reject(param_error(provider, err))


def _path_text(path: tuple) -> str:
    """``("messages", 0, "content")`` as ``messages[0].content``; a run of array levels after the last named
    field is left out (in a body nested a thousand levels deep, the field is what matters)."""
    last_key = max((i for i, p in enumerate(path) if isinstance(p, str)), default=min(len(path), 3) - 1)
    out = ""
    for p in path[:last_key + 1]:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out if len(out) <= 120 else out[:117] + "..."


_STRING_END = re.compile(rb'(?:[^"\\]|\\.)*"', re.DOTALL)


def _deep_path(raw: bytes, limit: int = MAX_DEPTH) -> str:
    """Where ``raw`` (JSON too deep for Python's parser) first nests more than ``limit`` levels, as a path.

    A scan of the bytes that stops at that point; strings are skipped with a regular expression."""
    stack: list[list] = []  # [kind, key or index] per open container
    last = b""
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x22:  # a string: a key if a colon follows
            m = _STRING_END.match(raw, i + 1)
            if m is None:
                break
            last, i = raw[i + 1:m.end() - 1], m.end()
            continue
        if c in (0x5B, 0x7B):  # [ {
            if len(stack) >= limit:
                break
            stack.append(["[", 0] if c == 0x5B else ["{", None])
        elif c in (0x5D, 0x7D):  # ] }
            if stack:
                stack.pop()
        elif c == 0x3A and stack and stack[-1][0] == "{":  # :
            stack[-1][1] = last.decode("utf-8", errors="replace")[:64]
        elif c == 0x2C and stack and stack[-1][0] == "[":  # ,
            stack[-1][1] += 1
        i += 1
    return _path_text(tuple(k for _, k in stack if k is not None))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_json_value(value: Any) -> None:
    """Refuse JSON nested deeper than ``MAX_DEPTH`` or holding a lone surrogate (in a key or a string)."""
    stack: list[tuple[Any, int, tuple]] = [(value, 1, ())]
    while stack:
        v, depth, path = stack.pop()
        if isinstance(v, str):
            if not v.isascii() and _SURROGATE.search(v):
                where = _path_text(path) or "the body"
                raise BadParam(f"Invalid string in '{where}': it holds a lone UTF-16 surrogate (an escape such as "
                               "\\ud83d without its pair), which is not valid Unicode. Send the whole character "
                               "(both halves of the pair) or remove it.", where or None, "invalid_string")
            continue
        if isinstance(v, (dict, list)):
            if depth > MAX_DEPTH:
                where = _path_text(path) or "the body"
                raise BadParam(f"The JSON body is nested too deeply at '{where}': more than {MAX_DEPTH} levels of "
                               "objects and arrays.", where, "json_too_deep")
            if isinstance(v, dict):
                for k, item in v.items():
                    if not k.isascii() and _SURROGATE.search(k):
                        where = _path_text(path) or "the body"
                        raise BadParam(f"Invalid key in '{where}': it holds a lone UTF-16 surrogate, which is not "
                                       "valid Unicode.", where, "invalid_string")
                    stack.append((item, depth + 1, path + (k,)))
            else:
                stack.extend((item, depth + 1, path + (i,)) for i, item in enumerate(v))


async def read_json(request: Request, provider: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object body, or a provider-shaped 400 (raised as ``Reject``).

    Refused here, before any work: a body that is not JSON, NaN or Infinity (not JSON, although Python
    reads them), nesting deeper than ``MAX_DEPTH``, a lone UTF-16 surrogate in any string.
    """
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if raw and "json" not in ctype and not ctype.startswith("text/plain"):
        raise Reject(faults.bad_request(provider, f"Unsupported content type {ctype[:80] or '(none)'!r}: send a JSON "
                                        "body with 'Content-Type: application/json'."))
    try:
        body = json.loads(raw or b"{}", parse_constant=_reject_constant)
    except RecursionError:
        where = _deep_path(raw or b"")
        raise refuse(provider, BadParam(f"The JSON body is nested too deeply at '{where or 'the body'}': more than "
                                        f"{MAX_DEPTH} levels of objects and arrays.", where or None,
                                        "json_too_deep")) from None
    except ValueError as e:  # also invalid UTF-8 and numbers too long to read
        raise Reject(faults.bad_request(provider, f"We could not parse the JSON body of your request "
                                        f"({str(e)[:120]}). Check for a missing quote, comma or brace.")) from None
    try:
        check_json_value(body)
    except BadParam as e:
        raise refuse(provider, e) from None
    if not isinstance(body, dict):
        raise Reject(faults.bad_request(provider, "The JSON body must be an object ({...})."))
    missing = [k for k in required if k not in body]
    if missing:
        raise refuse(provider, BadParam(f"Missing required parameter: '{missing[0]}'.", missing[0],
                                        "missing_required_parameter"))
    return body


def kind_of(value: Any) -> str:
    """A JSON value's type in words ("a string", "an integer", ...), as the providers' messages say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


_PROTO = {"an integer": "TYPE_INT32", "a number": "TYPE_FLOAT", "a boolean": "TYPE_BOOL", "a string": "TYPE_STRING"}


class Fields:
    """Typed reads of one JSON object of a request; a bad value raises ``BadParam`` naming the parameter.

    ``provider`` picks the words: OpenAI-style (``Invalid type for 'max_tokens': expected an integer, but got
    a string instead.``, with ``param``), Gemini's (the snake_case field path, as Google's API names it) or
    Hugging Face's (``Input validation error: `temperature` must be ...``). Gemini fields are read in
    camelCase or snake_case. ``prefix`` is the path of this object inside the body. Values are never quoted
    back (a key may be hiding in one): only numbers are.
    """

    def __init__(self, provider: str, obj: dict, prefix: str = "", request_name: str = ""):
        self.provider, self.obj, self.prefix, self.request_name = provider, obj, prefix, request_name

    # -- naming
    def name(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.prefix}[{key}]"
        key = _snake(key) if self.provider == "gemini" else key
        return f"{self.prefix}.{key}" if self.prefix else key

    def key(self, key: str) -> str | None:
        """The spelling of ``key`` present in the object (camelCase or snake_case for Gemini), or None."""
        if key in self.obj:
            return key
        if self.provider == "gemini" and _snake(key) in self.obj:
            return _snake(key)
        return None

    def raw(self, key: str) -> Any:
        k = self.key(key)
        return None if k is None else self.obj[k]

    def present(self, key: str) -> bool:
        return self.raw(key) is not None

    def child(self, key: str | int, obj: dict) -> "Fields":
        return Fields(self.provider, obj, self.name(key), self.request_name)

    # -- errors in the provider's words
    def wrong_type(self, key: str | int, expected: str, value: Any) -> BadParam:
        path = self.name(key)
        if self.provider == "gemini":
            proto = f" ({_PROTO[expected]})" if expected in _PROTO else ""
            return BadParam(f"Invalid JSON payload received. Invalid value at '{path}'{proto}: expected "
                            f"{expected}, got {kind_of(value)}.", path, "invalid_type")
        if self.provider == "huggingface":
            return BadParam(f"Input validation error: `{path}` must be {expected}, not {kind_of(value)}.", path,
                            "invalid_type")
        return BadParam(f"Invalid type for '{path}': expected {expected}, but got {kind_of(value)} instead.", path,
                        "invalid_type")

    def out_of_range(self, key: str | int, value: Any, lo: Any, hi: Any) -> BadParam:
        path = self.name(key)
        shown = value if isinstance(value, (int, float)) else "this value"
        if self.provider == "gemini":
            where = f"{self.request_name}.{path}" if self.request_name else path
            span = f"between {lo} and {hi}" if lo is not None and hi is not None else \
                f"at least {lo}" if lo is not None else f"at most {hi}"
            return BadParam(f"* {where}: must be {span} (got {shown}).", path, "invalid_value")
        if self.provider == "huggingface":
            span = f"between {lo} and {hi}" if lo is not None and hi is not None else \
                f">= {lo}" if lo is not None else f"<= {hi}"
            return BadParam(f"Input validation error: `{path}` must be {span} (got {shown}).", path, "invalid_value")
        noun = "integer" if isinstance(value, int) else "decimal"
        if lo is not None and value < lo:
            return BadParam(f"Invalid '{path}': {noun} below minimum value. Expected a value >= {lo}, but got "
                            f"{shown} instead.", path, f"{noun}_below_min_value")
        return BadParam(f"Invalid '{path}': {noun} above maximum value. Expected a value <= {hi}, but got {shown} "
                        "instead.", path, f"{noun}_above_max_value")

    def not_one_of(self, key: str | int, choices: tuple) -> BadParam:
        path = self.name(key)
        listed = ", ".join(f"'{c}'" for c in choices[:-1]) + (f", and '{choices[-1]}'" if len(choices) > 1 else
                                                                f"'{choices[0]}'")
        if self.provider == "gemini":
            return BadParam(f"Invalid JSON payload received. Invalid value at '{path}' (enum): use one of "
                            f"{listed}.", path, "invalid_value")
        if self.provider == "huggingface":
            return BadParam(f"Input validation error: `{path}` must be one of {listed}.", path, "invalid_value")
        return BadParam(f"Invalid value for '{path}': supported values are {listed}.", path, "invalid_value")

    def missing(self, key: str | int) -> BadParam:
        path = self.name(key)
        if self.provider == "gemini":
            where = f"{self.request_name}.{path}" if self.request_name else path
            return BadParam(f"* {where}: {path.rsplit('.', 1)[-1]} is not specified.", path, "missing")
        if self.provider == "huggingface":
            return BadParam(f"Input validation error: `{path}` is required.", path, "missing_required_parameter")
        return BadParam(f"Missing required parameter: '{path}'.", path, "missing_required_parameter")

    def too_many(self, key: str | int, n: int, limit: int) -> BadParam:
        path = self.name(key)
        if self.provider == "gemini":
            where = f"{self.request_name}.{path}" if self.request_name else path
            return BadParam(f"* {where}: at most {limit} items are allowed (got {n}).", path, "array_above_max_length")
        if self.provider == "huggingface":
            return BadParam(f"Input validation error: `{path}` may hold at most {limit} items (got {n}).", path,
                            "array_above_max_length")
        return BadParam(f"Invalid '{path}': array too long. Expected an array with maximum length {limit}, but got "
                        f"an array with length {n} instead.", path, "array_above_max_length")

    def too_few(self, key: str | int, n: int, least: int) -> BadParam:
        path = self.name(key)
        if self.provider == "openai":
            return BadParam(f"Invalid '{path}': empty array. Expected an array with minimum length {least}, but got "
                            f"an array with length {n} instead.", path, "empty_array")
        return self.wrong_type(key, f"a list of at least {least} item{'s' if least > 1 else ''}", [])

    # -- typed reads (None when absent or null)
    def integer(self, key: str, lo: int | None = None, hi: int | None = 2**31 - 1, required: bool = False,
                ) -> int | None:
        v = self.raw(key)
        if v is None:
            if required:
                raise self.missing(key)
            return None
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            v = int(v)
            self.obj[self.key(key)] = v
        elif isinstance(v, str) and self.provider == "gemini" and re.fullmatch(r"-?\d{1,15}", v.strip()):
            v = int(v)  # proto3 JSON reads integers written as strings
            self.obj[self.key(key)] = v
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.wrong_type(key, "an integer", v)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.out_of_range(key, v, lo, hi)
        return v

    def number(self, key: str, lo: float | None = None, hi: float | None = None) -> float | None:
        v = self.raw(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.wrong_type(key, "a number", v)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.out_of_range(key, v, lo, hi)
        return v

    def boolean(self, key: str) -> bool | None:
        v = self.raw(key)
        if v is None:
            return None
        if not isinstance(v, bool):
            raise self.wrong_type(key, "a boolean", v)
        return v

    def string(self, key: str, choices: tuple | None = None, required: bool = False, nonempty: bool = False,
               ) -> str | None:
        v = self.raw(key)
        if v is None:
            if required:
                raise self.missing(key)
            return None
        if not isinstance(v, str):
            raise self.wrong_type(key, "a string", v)
        if nonempty and not v.strip():
            raise self.wrong_type(key, "a non-empty string", v)
        if choices is not None and v not in choices:
            raise self.not_one_of(key, choices)
        return v

    def object(self, key: str, required: bool = False) -> "Fields | None":
        v = self.raw(key)
        if v is None:
            if required:
                raise self.missing(key)
            return None
        if not isinstance(v, dict):
            raise self.wrong_type(key, "an object", v)
        return self.child(key, v)

    def array(self, key: str, max_len: int | None = None, min_len: int = 0, required: bool = False,
              ) -> list | None:
        v = self.raw(key)
        if v is None:
            if required:
                raise self.missing(key)
            return None
        if not isinstance(v, list):
            raise self.wrong_type(key, "an array", v)
        if len(v) < min_len:
            raise self.too_few(key, len(v), min_len)
        if max_len is not None and len(v) > max_len:
            raise self.too_many(key, len(v), max_len)
        return v

    def strings(self, key: str, max_len: int | None = None, single: bool = True) -> list[str] | None:
        """A string or (``single``) an array of strings, as a list."""
        v = self.raw(key)
        if v is None:
            return None
        if isinstance(v, str) and single:
            return [v]
        items = self.array(key, max_len)
        for i, item in enumerate(items or []):
            if not isinstance(item, str):
                raise Fields(self.provider, {}, self.name(key), self.request_name).wrong_type(i, "a string", item)
        return items


async def check_faults(request: Request, provider: str, model: str | None) -> None:
    """Apply any requested teaching error (raises ``Reject``) or delay; 404 for retired models."""
    fault = faults.find_fault(model, request.headers.get("x-course-simulate"), api_key(request))
    if fault is None and model:
        entry = catalogue.info(provider, model) or catalogue.find(model)
        if entry is not None and entry.status_on() == "shut_down":
            if entry.after_shutdown == "redirect" and entry.replacement:
                request.scope.setdefault("course_notes", []).append(
                    f"{entry.id} was shut down on {entry.shutdown}: the provider now answers with {entry.replacement}, "
                    "billed at its rates, and so does the local server")
            else:
                fault = faults.Fault("404", model=model, replacement=entry.replacement, retired=True,
                                     shutdown=str(entry.shutdown) if entry.shutdown else None)
    if fault is None:
        return
    if fault.kind == "slow":
        deadline = time.monotonic() + fault.delay
        while time.monotonic() < deadline:  # stop waiting as soon as the client has given up
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            if await request.is_disconnected():
                raise Reject(faults.bad_request(provider, "The client closed the connection before the "
                                                "simulated slow answer was ready.", 499))
        return
    if provider == "gemini":  # Google's 404 names the API version and the method of the path called
        path = request.url.path
        fault.route = (path.split("/")[1] or "v1", path.rsplit(":", 1)[1] if ":" in path.rsplit("/", 1)[-1] else "get")
    if fault.kind == "404" and fault.replacement is None:
        current = _current_for(provider)
        fault.replacement = current if current != faults.base_model(model or "") else None
    raise Reject(faults.error_response(provider, fault))


def _current_for(provider: str) -> str | None:
    try:
        return catalogue.chat("huggingface" if provider == "huggingface" else
                              "groq" if provider == "groq" else "gemini" if provider == "gemini" else "openai")
    except KeyError:
        return None


def engine_error(provider: str, err: EngineError) -> Response:
    """An engine failure as the provider would report it."""
    code = err.kind if err.kind == "context_length_exceeded" else None
    return faults.bad_request(provider, err.message, err.status if 400 <= err.status < 600 else 500, code)


def new_id(prefix: str) -> str:
    """A provider-style random id such as ``chatcmpl-3f9a...``."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def local_headers(requested: str | None) -> dict[str, str]:
    """Headers that mark an answer as local (never mistaken for the real provider)."""
    h = {"x-course-local": LOCAL_MODEL}
    if requested:
        h["x-course-requested-model"] = requested
    return h


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data: {json}`` (with a space, which some SDKs require)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


def primed(stream) -> Any:
    """Wait for a stream's first item, so that its errors (a prompt too long, a bad schema) are raised here,
    before a ``StreamingResponse`` has sent 200; returns the whole stream again."""

    async def again(first: Any):
        yield first
        async for item in stream:
            yield item

    async def start():
        first = await stream.__anext__()
        return again(first)

    return start()


# ---------------------------------------------------------------------- the work queue

# How long a request may wait for its turn before the server answers 503 at once instead: well inside the time
# the caller's SDK waits for an answer, leaving room for the answer itself (and for the SDK's own retries).
# Groq's SDK gives up after 60 s (groq/_constants.py DEFAULT_TIMEOUT); OpenAI's after 600 s; google-genai and
# huggingface_hub wait without a limit, and so does a learner, but not for long: two minutes is the course's bound.
# Groq's is half its SDK's timeout: the wait is an estimate, and with 40 s, 2 of 500 calls of 100 learners at once
# on a room's 8-slot engine still ran past 60 s and ended in a silent client timeout (benchmarks/room_load_bench.py).
WAIT_LIMITS = {"groq": 30.0}
DEFAULT_WAIT_LIMIT = 120.0
MAX_WAITING = 200  # requests waiting for one queue, whatever the estimate
SDK_RETRY_CEILING = 60.0  # the OpenAI-style SDKs honour retry-after only up to 60 s (_calculate_retry_timeout)


class Gate:
    """A FIFO queue in front of ``slots`` workers (the engine's slots, or the embedder).

    Each request brings a *budget*: the work it may need, in tokens (its output limit plus a share for its
    prompt; for embeddings, its input tokens). The gate measures the seconds one budget token takes (a moving
    average over finished requests), so the expected wait of a newcomer is the work ahead of it spread over
    the slots: short requests behind short ones wait little even after a few long ones. Cancelled waiters
    leave the queue at once.
    """

    def __init__(self, name: str, slots: int, seconds_per_token: float, floor: float = 0.0):
        self.name, self.slots, self.spt, self.floor = name, slots, seconds_per_token, floor
        self.active: list[int] = []  # budgets of the requests holding a slot
        self.waiters: deque[tuple[asyncio.Future, int]] = deque()
        self.next_retry = 0.0  # time.monotonic() at which the last deferred client was told to come back

    def waiting(self) -> list[int]:
        return [b for f, b in self.waiters if not f.done()]

    def ahead(self) -> int:
        return len(self.active) + len(self.waiting())

    def expected_wait(self) -> float:
        """Seconds a newcomer would wait for a slot: none while one is free, else the work ahead (half of what
        the running requests may still need) shared by the slots."""
        waiting = self.waiting()
        if len(self.active) < self.slots and not waiting:
            return 0.0
        return (sum(waiting) + sum(self.active) / 2) / self.slots * self.spt

    def defer(self, wait: float, limit: float, budget: int) -> float:
        """Seconds after which a refused client should come back: when the queue will have room for it, spread
        out (one client per expected turn) so that refused clients do not all return at once."""
        now = time.monotonic()
        at = max(now + max(1.0, wait - limit), self.next_retry + budget * self.spt / self.slots)
        self.next_retry = at
        return at - now

    async def enter(self, budget: int) -> None:
        if len(self.active) < self.slots and not self.waiting():
            self.active.append(budget)
            return
        fut = asyncio.get_running_loop().create_future()
        entry = (fut, budget)
        self.waiters.append(entry)
        try:
            await fut  # the slot is handed over by ``release`` (``active`` already counts this request)
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # handed a slot just as the client left: pass it on
                self.release(budget, None)
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(entry)
            raise

    def release(self, budget: int, held: float | None) -> None:
        """Give back a slot (``held``: seconds it was held, which refines the estimate; None: not measured)."""
        if held is not None and budget > 0:
            self.spt = max(self.floor, 0.7 * self.spt + 0.3 * min(1.0, held / budget))
        with contextlib.suppress(ValueError):
            self.active.remove(budget)
        while self.waiters:
            fut, waiting_budget = self.waiters.popleft()
            if not fut.done():
                self.active.append(waiting_budget)
                fut.set_result(None)
                return


class _Ticket:
    def __init__(self, gate: Gate, budget: int):
        self.gate, self.budget, self.start, self.released = gate, budget, time.monotonic(), False

    def release(self, measured: bool = True) -> None:
        if not self.released:
            self.released = True
            self.gate.release(self.budget, time.monotonic() - self.start if measured else None)


# The engine's budgets are output limits, and most answers stop well before theirs: so short answers teach the
# gate a small time per budget token. It never goes below 2 ms (a slot writing 500 tokens a second, faster than the
# local model on any laptop), so that a burst of answers that do run to their limit is not let in on that evidence.
ENGINE_SPT_FLOOR = 0.002


def gates(request: Request) -> dict[str, Gate]:
    """The server's queues: "engine" (generation: as many slots as llama.cpp decodes requests at once, 2 on a
    learner's own server, more on a room's; budgets in tokens, 10 ms each on 2 CPUs to begin with) and "embed" (the
    embedder, one at a time; input tokens, 2 ms)."""
    b = backend(request)
    found = b.__dict__.get("course_gates")
    if found is None:
        slots = getattr(b.engine, "slots", 2)  # the fallback responder has no slots: two, as before
        found = b.__dict__["course_gates"] = {"engine": Gate("engine", slots, 0.01, ENGINE_SPT_FLOOR),
                                              "embed": Gate("embed", 1, 0.002, 0.0001)}
    return found


def budget(max_tokens: Any = None, *, n: int = 1, thinking: int = 0, prompt_chars: int = 0) -> int:
    """A generation request's work in tokens, for the queue: its output limit (256 when it sets none, never more
    than the local context) for each answer, its thinking, and its prompt (read about 10x faster than written)."""
    out = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0 \
        else DEFAULT_MAX_TOKENS
    return max(1, min(out, CONTEXT_TOKENS) * max(1, n) + thinking + prompt_chars // 40 + 8)


async def admit(request: Request, provider: str, kind: str = "engine", work: int | None = None) -> None:
    """Wait for a turn in the ``kind`` queue, or raise ``Reject`` (a 503 with retry-after) at once when the
    wait would outlast the caller's SDK. ``work``: the request's budget (``budget``). The turn is released
    when the response has been sent (``supervise``)."""
    tickets: dict = request.scope.setdefault("course_tickets", {})
    if kind in tickets:
        return
    gate = gates(request)[kind]
    work = max(1, work or budget())
    _admit_learner(request, provider, gate, work)
    limit = WAIT_LIMITS.get(provider, DEFAULT_WAIT_LIMIT)
    wait = gate.expected_wait()
    if wait > limit or len(gate.waiting()) >= MAX_WAITING:
        retry_after = gate.defer(wait, limit, work)
        note(request, f"refused at once: {gate.ahead()} requests ahead, an expected wait of {wait:.0f} s "
                      f"(the limit for {provider} is {limit:.0f} s); told to retry after {retry_after:.0f} s")
        raise Reject(faults.busy(provider, ahead=gate.ahead(), wait=wait, retry_after=retry_after,
                                 retry=retry_after <= SDK_RETRY_CEILING))
    t0 = time.monotonic()
    await gate.enter(work)
    tickets[kind] = _Ticket(gate, work)
    waited = time.monotonic() - t0
    if waited >= 0.5:
        note(request, f"waited {waited:.1f} s for a free slot of the local {kind} (other requests were ahead)")


def note(request: Request, text: str) -> None:
    request.scope.setdefault("course_notes", []).append(text)


class _LearnerTurn:
    """One of a learner's requests in a shared server's queues (``learners.LEARNER_LIMIT`` at once)."""

    def __init__(self, load: dict[str, int], learner: str):
        self.load, self.learner, self.released = load, learner, False
        load[learner] = load.get(learner, 0) + 1

    def release(self, measured: bool = True) -> None:
        if not self.released:
            self.released = True
            self.load[self.learner] -= 1
            if self.load[self.learner] <= 0:
                del self.load[self.learner]


def _admit_learner(request: Request, provider: str, gate: Gate, work: int) -> None:
    """On a shared server: count this request against its learner's share, or refuse it with a 429."""
    from .learners import LEARNER_LIMIT

    learner = request.scope.get("course_learner")
    tickets: dict = request.scope["course_tickets"]
    if learner is None or "learner" in tickets:
        return
    load: dict[str, int] = backend(request).__dict__.setdefault("course_learner_load", {})
    if load.get(learner, 0) >= LEARNER_LIMIT:
        retry_after = max(1.0, work * gate.spt / gate.slots)
        note(request, f"refused: learner {learner!r} already had {LEARNER_LIMIT} requests in the queue")
        raise Reject(faults.learner_limit(provider, limit=LEARNER_LIMIT, retry_after=retry_after))
    tickets["learner"] = _LearnerTurn(load, learner)


def _release_all(request: Request, measured: bool = True) -> None:
    """Give back the request's queue turns (``measured`` False: it was cut short, its time says nothing)."""
    for ticket in (request.scope.get("course_tickets") or {}).values():
        ticket.release(measured)


# ---------------------------------------------------------------------- running a handler

def log_exception(request: Request, exc: BaseException) -> None:
    """The traceback in server.log (the answer itself never carries details)."""
    print(f"internal error on {request.method} {request.url.path}: {type(exc).__name__}", file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    sys.stderr.flush()


def internal_error(provider: str, exc: BaseException) -> Response:
    """A provider-shaped 500 that names only the kind of error (never a value from the request)."""
    return faults.bad_request(provider, f"The local server hit an internal error ({type(exc).__name__}). The server "
                              "keeps running and its log (server.log in the state folder) has the details; try "
                              "again, and if it repeats, report it.", 500)


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects (the body has been read already, so only that can arrive)."""
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return
        await asyncio.sleep(0.05)  # never spin on a server that repeats an empty body message


async def supervise(request: Request, provider: str, work: Callable[[], Awaitable[Response]]) -> Response:
    """Run ``work`` for ``request``: cancelled when the client leaves, its errors answered in the provider's shape.

    * The client disconnects before the answer is ready: the work is cancelled (the engine stops generating,
      a queued request leaves the queue) and nothing is sent (the inspector shows 499).
    * ``EngineError``: the provider-shaped error; any other exception: a provider-shaped 500 that is *returned*,
      so the kept-alive connection stays usable (an exception that escapes makes uvicorn close it).
    * A streamed answer keeps its queue turn until the stream ends, and a stream that fails after it started
      ends with an error event and a clean end of the response instead of a dropped connection.
    """
    await request.body()  # read (and cached) before anything else may call receive()
    task = asyncio.ensure_future(work())
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the server is shutting down
        task.cancel()
        gone.cancel()
        _release_all(request, measured=False)
        raise
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        _release_all(request, measured=False)
        note(request, "the client closed the connection before the answer was ready: the work was cancelled")
        return Response(status_code=499)
    gone.cancel()
    try:
        response = task.result()
    except (Reject, HTTPException):
        _release_all(request, measured=False)
        raise
    except EngineError as e:
        _release_all(request, measured=False)
        return engine_error(provider, e)
    except Exception as e:  # noqa: BLE001 - a bug: answered, logged, and the connection stays open
        _release_all(request, measured=False)
        log_exception(request, e)
        return internal_error(provider, e)
    if getattr(response, "body_iterator", None) is not None:
        return _GuardedStream(request, provider, response)
    _release_all(request)
    return response


class _GuardedStream:
    """An ASGI response wrapping a ``StreamingResponse``: releases the request's queue turns when the stream
    ends (finished, failed or abandoned) and turns an exception inside the stream into a final error event."""

    def __init__(self, request: Request, provider: str, response: Response):
        self.request, self.provider, self.response = request, provider, response
        inner = response.body_iterator
        response.body_iterator = self._guard(inner)
        self.inner = inner
        self.finished = False  # the whole stream was sent: its time measures the work

    async def _guard(self, inner):
        try:
            async for chunk in inner:
                yield chunk
            self.finished = True
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except EngineError as e:
            yield _error_event(self.provider, e.status, e.message, e.kind)
        except Exception as e:  # noqa: BLE001 - the headers are sent: end the stream with an error event instead
            log_exception(self.request, e)
            yield _error_event(self.provider, 500, f"The local server hit an internal error ({type(e).__name__}) "
                               "while streaming; the answer is incomplete." + NOTE, "server_error")

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.response(scope, receive, send)
        finally:
            _release_all(self.request, measured=self.finished)
            for it in (self.response.body_iterator, self.inner):
                with contextlib.suppress(Exception):
                    await it.aclose()


def _error_event(provider: str, status: int, message: str, kind: str | None) -> bytes:
    if provider == "gemini":
        return sse({"error": {"code": status, "message": message,
                              "status": faults.GEMINI_STATUS.get(status, "INTERNAL")}})
    if provider == "huggingface":
        return sse({"error": message})
    return sse({"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error",
                          "param": None, "code": kind}})
