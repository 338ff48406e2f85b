"""The model engine as the gateway sees it: generate text, stream it, count tokens.

Two implementations with the same async methods:

* ``LlamaEngine``: SmolLM2-135M-Instruct in llama.cpp, in a child process (``engine_child``).
* ``FallbackEngine``: a deterministic responder used only when llama.cpp cannot run here
  (no wheel for this platform, no AVX2, the model not installed). Its answers say so loudly.

Messages given to an engine are plain ``{"role": "system"|"user"|"assistant", "content": str}``;
each protocol module converts its provider's format to that.

Two guarantees the gateway relies on:

* **Cancellation stops the work.** Answers are read from llama.cpp as a stream, even ``generate``'s whole
  answer: a cancelled caller (its client went away) closes the connection and llama.cpp frees the slot at the
  next token. (llama.cpp keeps decoding a non-streaming request whose connection closed.) The exception is an
  answer with log-probabilities, read whole (see ``generate``).
* **No megabyte prompts.** A prompt longer than the context times ``MAX_CHARS_PER_TOKEN`` characters cannot
  fit, so it gets the context-length error at once, without being sent to the engine to be tokenized.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from . import grounding, inspector, tool_answer

DEFAULT_MAX_TOKENS = 256  # local answers are capped so a CPU stays responsive; ask for more with max_tokens
SCHEMA_ROOM = 4 * DEFAULT_MAX_TOKENS  # a JSON answer's limit when the caller set none (cut JSON is useless)
JSON_FRAME_TOKENS, JSON_FIELD_TOKENS = 32, 8  # room for a JSON answer's braces, and for each field's key and quotes
CONTEXT_TOKENS = 2048  # the context of one request: one engine slot (engine_child.SLOT_CONTEXT)


class EngineError(Exception):
    """The engine refused a request (for example the prompt is longer than the context)."""

    def __init__(self, status: int, message: str, kind: str = "engine_error"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


@dataclass
class Generation:
    """One finished answer with its true token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop" or "length"
    logprobs: list[dict] | None = None  # per generated token: {"token", "logprob", "top_logprobs": [...]}
    timings: dict = field(default_factory=dict)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _options(max_tokens, temperature, top_p, stop, seed) -> dict[str, Any]:
    body: dict[str, Any] = {"max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max(1, int(max_tokens))}
    if temperature is not None:
        body["temperature"] = float(temperature)
    if top_p is not None:
        body["top_p"] = float(top_p)
    if stop:
        body["stop"] = [stop] if isinstance(stop, str) else list(stop)[:4]
    if seed is not None:
        body["seed"] = int(seed)
    body["repeat_penalty"] = 1.1  # a 135M model loops easily ("a whispered promise, a whispered promise...")
    return body


def _take_distinct(schema: dict | None) -> tuple[dict | None, dict | None]:
    """(``schema`` without the grounding's ``DISTINCT`` key, that key's value)."""
    if schema is None or grounding.DISTINCT not in schema:
        return schema, None
    schema = dict(schema)
    return schema, schema.pop(grounding.DISTINCT)


def _json_object(text: str) -> dict | None:
    """``text`` read as a JSON object; None when it is not one (for example cut short by the token limit)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _same_words(answer: dict, distinct: dict) -> tuple[str, str] | None:
    """The first two of ``distinct``'s fields that hold the same words in ``answer`` (words the user wrote twice
    may fill two fields); None when there are none."""
    fields = [f for f in distinct["fields"] if isinstance(answer.get(f), str)]
    return next(((a, b) for i, a in enumerate(fields) for b in fields[i + 1:]
                 if answer[a] == answer[b] and answer[a] not in distinct["repeats"]), None)


def _slot_context(port: int) -> int:
    """The context (tokens) of one engine slot, from llama.cpp's /props; the default when it cannot say."""
    try:
        n = httpx.get(f"http://127.0.0.1:{port}/props", timeout=5).json()["default_generation_settings"]["n_ctx"]
        return int(n) if int(n) > 0 else CONTEXT_TOKENS
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return CONTEXT_TOKENS


def _schema_format(schema: dict, body: dict) -> dict:
    """``response_format`` for llama.cpp: the schema with string lengths bounded to fit the token budget.

    A string limit of one character per available token (what digits, symbols and rare words can cost),
    shared between the schema's string fields after room for the keys and punctuation, keeps the JSON
    complete instead of cut off by ``max_tokens`` (two characters a token once let 13 long strings overrun
    1,024 tokens). A JSON answer also gets a low default temperature: the tiny model drifts into gibberish
    inside long strings when sampling hot.
    """
    from .toolcall import bounded, count_strings

    budget = int(body.get("max_tokens") or DEFAULT_MAX_TOKENS)
    strings = max(1, count_strings(schema))
    per_string = max(12, min(160, (budget - JSON_FRAME_TOKENS - JSON_FIELD_TOKENS * strings) // strings))
    body.setdefault("temperature", 0.2)
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": bounded(schema, per_string)}}


class LlamaEngine:
    """SmolLM2-135M-Instruct served by llama.cpp in a child process."""

    kind = "llama.cpp"
    model = "smollm2-135m-instruct"

    # A process that is alive but has not answered a health probe for this long is hung (frozen, stopped,
    # deadlocked): it is reported as not alive and the server restarts it. Its HTTP threads outnumber the
    # gateway's connections (see engine_child.HTTP_THREADS), so a busy engine still answers probes at once.
    HUNG_AFTER = 20.0
    # The decode loop must take a queued task (``/slots``) within this long; a long prompt takes seconds.
    LOOP_HUNG_AFTER = 60.0

    def __init__(self, log_dir: Path, threads: int | None = None, poll: int | None = None, slots: int | None = None):
        from .engine_child import DEFAULT_POLL, default_slots, default_threads

        self.log_dir = log_dir
        self.threads = threads or default_threads()
        self.slots = slots or default_slots()  # requests decoded at once (2; a room's server: COURSE_ENGINE_SLOTS)
        self.poll = DEFAULT_POLL if poll is None else poll
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.client: httpx.AsyncClient | None = None
        self.started_in: float | None = None
        self.restarts = 0
        self.context_tokens = CONTEXT_TOKENS  # per request (slot); read from the engine when it starts
        self.health = "starting"  # "ok", "unresponsive" (a probe failed), "hung", "dead"
        self.last_ok: float | None = None  # time.monotonic() of the last answered probe
        self.last_loop_ok: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 60.0) -> None:
        """Start the child process and wait until it answers /health. Raises RuntimeError on failure."""
        self.port = free_port()
        self.health, self.last_ok, self.last_loop_ok = "starting", None, None
        t0 = time.perf_counter()
        with open(self.log_dir / "engine.log", "ab") as log:  # append mode: the server may truncate it to rotate
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "helpers.server.engine_child", "--port", str(self.port),
                 "--threads", str(self.threads), "--poll", str(self.poll), "--parallel", str(self.slots)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the engine process exited with code {self.proc.returncode}: {self._log_tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    self.started_in = time.perf_counter() - t0
                    self.context_tokens = _slot_context(self.port)
                    self.health, self.last_ok = "ok", time.monotonic()
                    self.last_loop_ok = self.last_ok
                    self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}",
                                                    timeout=httpx.Timeout(300, connect=5),
                                                    # llama.cpp closes idle connections; never reuse one that old
                                                    limits=httpx.Limits(max_connections=32, keepalive_expiry=2.0))
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the engine did not become ready within {timeout:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = (self.log_dir / "engine.log").read_text(errors="replace").strip().splitlines()
            errors = [ln for ln in lines if "ERROR" in ln or "Error" in ln or "error" in ln]
            return (errors or lines or ["(no output)"])[-1][-300:]
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        """True while the child process exists (hung or not)."""
        return self.proc is not None and self.proc.poll() is None

    def alive(self) -> bool:
        """True when the child process runs and answers: a hung engine is not alive."""
        return self.running() and self.health not in ("hung", "starting")

    async def check_health(self, timeout: float = 5.0) -> str:
        """Probe the engine and return its health: "ok", "unresponsive", "hung" or "dead".

        Two probes on a connection of their own (never queued behind answers in the shared pool):
        ``/health``, answered by llama.cpp's HTTP threads, and ``/slots``, which must pass through
        the decode loop. "unresponsive" is one missed probe (the CPU may just be very busy); "hung"
        is no answer for ``HUNG_AFTER`` seconds (``LOOP_HUNG_AFTER`` for the decode loop).
        """
        if not self.running():
            self.health = "dead"
            return self.health
        now = time.monotonic()
        base = f"http://127.0.0.1:{self.port}"
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0))) as probe:
                http_ok = (await probe.get(f"{base}/health")).status_code == 200
                loop_ok = http_ok and (await probe.get(f"{base}/slots")).status_code in (200, 501)
        except httpx.HTTPError:
            http_ok = loop_ok = False
        if http_ok:
            self.last_ok = now
        if loop_ok:
            self.last_loop_ok = now
        if not self.running():
            self.health = "dead"
        elif http_ok and loop_ok:
            self.health = "ok"
        elif now - (self.last_ok or now) >= self.HUNG_AFTER or now - (self.last_loop_ok or now) >= self.LOOP_HUNG_AFTER:
            self.health = "hung"
        else:
            self.health = "unresponsive"
        return self.health

    def stop(self) -> None:
        """Stop the child process (only the one this object started)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self.proc = None

    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # ------------------------------------------------------------------ calls
    #
    # Answers are read from llama.cpp as a stream, even when the caller wants them whole: when the caller is
    # cancelled (its client went away), leaving the ``async with`` closes the connection, llama.cpp fails to
    # write the next token and frees the slot at once. (A non-streaming request keeps generating to the end
    # after its connection closes: measured, 600 tokens decoded for a client gone after 1 s.)

    async def _post(self, path: str, body: dict) -> dict:
        assert self.client is not None
        try:
            try:
                r = await self.client.post(path, json=body)
            except (httpx.RemoteProtocolError, httpx.ConnectError):  # a stale kept-alive connection: once more
                r = await self.client.post(path, json=body)
        except httpx.TransportError as e:
            raise EngineError(503, f"the local model engine is not answering ({type(e).__name__}); the server restarts "
                                   "it by itself, or run `python -m helpers server restart`", "engine_down") from e
        if r.status_code != 200:
            raise _engine_error(r.status_code, r.text)
        return r.json()

    async def _events(self, path: str, body: dict) -> AsyncIterator[dict]:
        """The engine's server-sent events for ``body`` (``stream`` on), as dicts; closed when the caller stops."""
        assert self.client is not None
        started = False
        try:
            for attempt in (1, 2):  # a stale kept-alive connection fails before the first byte: retry once
                try:
                    async with self.client.stream("POST", path, json=body) as r:
                        if r.status_code != 200:
                            raise _engine_error(r.status_code, (await r.aread()).decode(errors="replace"))
                        async for line in r.aiter_lines():
                            if not line.startswith("data: ") or line == "data: [DONE]":
                                continue
                            started = True
                            event = json.loads(line[6:])
                            if isinstance(event, dict) and event.get("error"):
                                err = event["error"]
                                raise _engine_error(int(err.get("code") or 500) if isinstance(err, dict) else 500,
                                                    json.dumps(event))
                            yield event
                    return
                except (httpx.RemoteProtocolError, httpx.ConnectError):
                    if started or attempt == 2:
                        raise
        except httpx.TransportError as e:
            raise EngineError(503, f"the local model engine stopped answering ({type(e).__name__}); the server restarts it "
                                   "by itself, or run `python -m helpers server restart`", "engine_down") from e

    def _check_size(self, texts: list[str]) -> None:
        check_prompt_size(sum(len(t) for t in texts), self.context_tokens)

    async def _read(self, body: dict) -> AsyncIterator[str | Generation]:
        """The engine's streamed chat answer to ``body``: its pieces (str), then one ``Generation``."""
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        finish, usage, timings = "stop", {}, {}
        async with contextlib.aclosing(self._events("/v1/chat/completions", body)) as events:
            async for chunk in events:
                if chunk.get("usage"):
                    usage, timings = chunk["usage"], chunk.get("timings", {})
                for choice in chunk.get("choices", []):
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        parts.append(piece)
                        yield piece
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        yield Generation("".join(parts), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), finish,
                         None, timings)

    async def _chat(self, body: dict) -> Generation:
        """One whole answer, read as a stream (see above)."""
        async with contextlib.aclosing(self._read(body)) as items:
            async for item in items:
                pass
        return item  # the last item is the whole answer

    @staticmethod
    def _whole(data: dict) -> Generation:
        choice = data["choices"][0]
        usage = data.get("usage", {})
        lp = (choice.get("logprobs") or {}).get("content")
        return Generation(choice["message"].get("content") or "", usage.get("prompt_tokens", 0),
                          usage.get("completion_tokens", 0), choice.get("finish_reason") or "stop", lp,
                          data.get("timings", {}))

    async def generate(self, messages: list[dict], *, max_tokens: int | None = None, temperature: float | None = None,
                       top_p: float | None = None, stop: Any = None, seed: int | None = None,
                       json_schema: dict | None = None, top_logprobs: int | None = None,
                       data_help: bool = True) -> Generation:
        """Answer a conversation. ``json_schema`` constrains the output to JSON valid for that schema; without
        ``data_help`` an answer after a tool result gets no help from ``tool_answer`` (a model's thinking)."""
        self._check_size([str(m.get("content") or "") for m in messages])
        json_schema, distinct = _take_distinct(json_schema)
        body: dict[str, Any] = {"messages": messages, **_options(max_tokens, temperature, top_p, stop, seed)}
        if data_help and json_schema is None and top_logprobs is None and (plan := tool_answer.plan(messages)):
            return await self._answer_with_data(plan, body)
        if json_schema is not None:
            body["response_format"] = _schema_format(json_schema, body)
        if top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = int(top_logprobs)
            # Read whole: llama.cpp's stream leaves out the end-of-text token's log-probability, which its whole
            # answer includes (one per completion token, as the lessons count). These answers are short (a label,
            # a sentence); a longer one runs to its limit after its client has gone.
            for _ in range(3):
                gen = self._whole(await self._post("/v1/chat/completions", body))
                if gen.logprobs or not gen.completion_tokens:
                    break
                # A sampled token that is only part of a UTF-8 character (about 1 in 40 one-token answers at the
                # default temperature) comes back with no log-probabilities at all: draw again, at most twice (the
                # SDKs would read `logprobs` as None and a lesson's cell would fail).
            return gen
        gen = await self._chat(body)
        if json_schema is not None and max_tokens is None and gen.finish_reason == "length":
            # Our own default limit cut the JSON short (the caller set none): try once more with room, greedily.
            gen = await self._chat({**body, "max_tokens": SCHEMA_ROOM, "temperature": 0.0})
        if distinct and json_schema is not None:
            gen = await self._make_distinct(gen, body, json_schema, distinct)
        return gen

    async def _make_distinct(self, gen: Generation, body: dict, schema: dict, distinct: dict) -> Generation:
        """An extraction whose grounded fields took the same phrase (``grounding.distinct_fields``): decoded again
        twice, once with the phrase taken from each field, greedily; of the answers whose fields now differ, the
        one the model finds more likely (by the sum of its tokens' log-probabilities)."""
        answer = _json_object(gen.text)
        pair = _same_words(answer, distinct) if answer is not None else None
        if pair is None:
            return gen
        value = answer[pair[0]]
        options = []
        for field_name in pair:
            choices = [c for c in schema["properties"][field_name]["enum"] if c != value]
            if not choices:
                continue
            narrowed = {**schema, "properties": {**schema["properties"],
                                                 field_name: {**schema["properties"][field_name], "enum": choices}}}
            again = {**body, "temperature": 0.0, "logprobs": True, "stream": False}
            again["response_format"] = _schema_format(narrowed, again)
            whole = self._whole(await self._post("/v1/chat/completions", again))
            # Only a whole JSON object whose fields differ counts: {'name': 'Tom', 'job': 'Tom'} without "Tom" for
            # the name can become {'name': 'nurse', 'job': 'nurse'}, and an answer can be cut by the token limit.
            other = _json_object(whole.text)
            options.append((other is not None and _same_words(other, distinct) is None,
                            sum(t.get("logprob", 0.0) for t in whole.logprobs or []), whole))
        if not any(ok for ok, _, _ in options):
            return gen
        chosen = max(options, key=lambda o: o[:2])[2]
        chosen.logprobs = None
        inspector.note(f"structured output: {pair[0]!r} and {pair[1]!r} took the same words ({value!r}), "
                       "so the most likely answer whose fields differ was decoded (helpers/server/engine.py)")
        return chosen

    async def stream(self, messages: list[dict], *, max_tokens: int | None = None, temperature: float | None = None,
                     top_p: float | None = None, stop: Any = None, seed: int | None = None,
                     json_schema: dict | None = None) -> AsyncIterator[str | Generation]:
        """Yield the answer piece by piece (str), then one final ``Generation`` with the whole text and usage.

        A JSON answer (``json_schema``) with no ``max_tokens`` from the caller gets room up front (what
        ``generate`` gives its retry): a stream cannot be taken back and retried once it was cut. An answer
        after a tool result, and an extraction whose fields must differ, are chosen among whole answers first.
        """
        self._check_size([str(m.get("content") or "") for m in messages])
        whole_first = grounding.DISTINCT in json_schema if json_schema is not None \
            else tool_answer.answering_tool_result(messages)
        if whole_first:
            # an answer chosen among whole answers (see ``generate``), then sent in pieces
            gen = await self.generate(messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                      stop=stop, seed=seed, json_schema=json_schema)
            for piece in re.findall(r"\s*\S+", gen.text):
                yield piece
            yield gen
            return
        if json_schema is not None and max_tokens is None:
            max_tokens = SCHEMA_ROOM
        body: dict[str, Any] = {"messages": messages, **_options(max_tokens, temperature, top_p, stop, seed)}
        if json_schema is not None:
            body["response_format"] = _schema_format(json_schema, body)
        async with contextlib.aclosing(self._read(body)) as items:
            async for item in items:
                yield item

    async def _answer_with_data(self, plan: tool_answer.Plan, body: dict) -> Generation:
        """The answer after tool results (``tool_answer``): greedy first, then samples with fixed seeds (at most
        ``EXTRA_TOKENS`` in all) while the answer leaves out some of the data's values or was cut; the first
        finished answer that states the most of them."""
        body = {**body, "messages": plan.messages, "grammar": plan.grammar}
        chosen = body.get("temperature")
        best: Generation | None = None
        best_rank, kept, spent, attempts = (False, -1.0), 0, 0, 0
        for k in range(tool_answer.ATTEMPTS):
            if k and spent >= tool_answer.EXTRA_TOKENS:
                break  # the help costs at most one default answer's worth of tokens more
            hot = chosen if chosen else (0.0 if k == 0 else tool_answer.SAMPLE_TEMPERATURE)
            seed = body["seed"] + k if "seed" in body else None if chosen else k  # a run repeats itself
            limit = body["max_tokens"] if k == 0 else min(body["max_tokens"], tool_answer.EXTRA_TOKENS - spent)
            gen = await self._chat({**body, "temperature": hot, "max_tokens": limit,
                                    **({"seed": seed} if seed is not None else {})})
            spent += gen.completion_tokens if k else 0
            attempts += 1
            # A finished answer before one cut by the token limit (a rambling sample states more values, and a
            # cut answer is an "incomplete" response); then the share of values stated; on a tie the earlier.
            rank = (gen.finish_reason != "length", tool_answer.score(gen.text, plan.values))
            if rank > best_rank:
                best, best_rank, kept = gen, rank, k
            if rank == (True, 1.0):
                break
        tool_answer.note(attempts, kept, best_rank[1])
        assert best is not None
        return best

    async def complete(self, prompt: str, *, max_tokens: int | None = None, temperature: float | None = None,
                       top_p: float | None = None, stop: Any = None, seed: int | None = None) -> Generation:
        """Continue raw text (no chat template), as a base text-generation model would."""
        self._check_size([prompt])
        opts = _options(max_tokens, temperature, top_p, stop, seed)
        body: dict[str, Any] = {"prompt": prompt, "n_predict": opts.pop("max_tokens"), **opts, "stream": True}
        parts: list[str] = []
        last: dict = {}
        async with contextlib.aclosing(self._events("/completion", body)) as events:
            async for event in events:
                parts.append(event.get("content") or "")
                last = event
        finish = "length" if last.get("stop_type") == "limit" or last.get("truncated") else "stop"
        return Generation("".join(parts), last.get("tokens_evaluated", 0), last.get("tokens_predicted", 0),
                          finish, None, last.get("timings", {}))

    async def complete_stream(self, prompt: str, *, max_tokens: int | None = None, temperature: float | None = None,
                              top_p: float | None = None, stop: Any = None,
                              seed: int | None = None) -> AsyncIterator[str | Generation]:
        """``complete`` piece by piece (str), then one final ``Generation`` with the whole text and usage."""
        self._check_size([prompt])
        opts = _options(max_tokens, temperature, top_p, stop, seed)
        body: dict[str, Any] = {"prompt": prompt, "n_predict": opts.pop("max_tokens"), **opts, "stream": True}
        parts: list[str] = []
        last: dict = {}
        async with contextlib.aclosing(self._events("/completion", body)) as events:
            async for event in events:
                if event.get("content"):
                    parts.append(event["content"])
                    yield event["content"]
                last = event
        finish = "length" if last.get("stop_type") == "limit" or last.get("truncated") else "stop"
        yield Generation("".join(parts), last.get("tokens_evaluated", 0), last.get("tokens_predicted", 0),
                         finish, None, last.get("timings", {}))

    async def count_prompt_tokens(self, messages: list[dict]) -> int:
        """How many tokens ``messages`` are as the model reads them (its chat template applied), the count an
        answer's usage reports as its prompt tokens."""
        self._check_size([str(m.get("content") or "") for m in messages])
        prompt = (await self._post("/apply-template", {"messages": messages}))["prompt"]
        data = await self._post("/tokenize", {"content": prompt, "parse_special": True})
        return len(data.get("tokens", []))

    async def tokenize(self, text: str) -> list[tuple[int, str]]:
        """The model's tokens for ``text``: a list of (token id, piece)."""
        self._check_size([text])
        data = await self._post("/tokenize", {"content": text, "with_pieces": True})
        out = []
        for t in data.get("tokens", []):
            piece = t["piece"] if isinstance(t["piece"], str) else bytes(t["piece"]).decode(errors="replace")
            out.append((t["id"], piece))
        return out

    async def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is for this model (a long text is counted in pieces, never all at once)."""
        total = 0
        for piece in split_for_counting(text):
            data = await self._post("/tokenize", {"content": piece})
            total += len(data.get("tokens", []))
        return total


# The longest piece of text one token of SmolLM2's tokenizer covers: 64 characters (a run of 64 spaces, "=", "-" or
# "#"; measured with the engine's /tokenize). So a text longer than context x 64 characters cannot fit the context:
# it is refused without asking the engine to tokenize it (a 5 MiB prompt used to grow the engine by 80 MB a time).
MAX_CHARS_PER_TOKEN = 64
COUNT_PIECE = 65_536  # characters tokenized per /tokenize call when counting a long text


def check_prompt_size(chars: int, context_tokens: int) -> None:
    """Raise the context-length error for a prompt that cannot fit, judged by its length in characters."""
    limit = context_tokens * MAX_CHARS_PER_TOKEN
    if chars > limit:
        raise EngineError(400, f"This conversation is too long for the local model's context window: {chars} "
                               f"characters, while the local model reads at most {context_tokens} tokens (never more "
                               f"than {limit} characters). Drop older turns or shorten the input.",
                          "context_length_exceeded")


def split_for_counting(text: str, size: int = COUNT_PIECE) -> list[str]:
    """``text`` in pieces of about ``size`` characters, cut after whitespace so that words stay whole."""
    pieces, start = [], 0
    while len(text) - start > size:
        cut = max(text.rfind(" ", start, start + size), text.rfind("\n", start, start + size))
        cut = cut + 1 if cut > start else start + size
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def _engine_error(status: int, text: str) -> EngineError:
    try:
        err = json.loads(text).get("error", {})
        message, kind = err.get("message", text), err.get("type", "engine_error")
    except (ValueError, AttributeError):
        message, kind = text[:300], "engine_error"
    if "context" in message and ("exceed" in message or "size" in message):
        return EngineError(400, f"This conversation is too long for the local model's context window "
                                f"({message}). Drop older turns or shorten the input.", "context_length_exceeded")
    return EngineError(status if 400 <= status < 600 else 500, message, kind)


# ---------------------------------------------------------------------- fallback

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class FallbackEngine:
    """A deterministic stand-in used only when the real model cannot run on this machine.

    It does not pretend to be a model: every answer starts with ``[fallback responder]`` and
    quotes what it was asked, so different prompts give different, clearly labelled answers.
    JSON answers are the smallest object that satisfies the requested schema.
    """

    kind = "fallback"
    model = "fallback-responder"
    context_tokens = CONTEXT_TOKENS  # the same bound as the real engine, so both refuse the same prompts

    def __init__(self, reason: str):
        self.reason = reason

    def pid(self) -> None:
        return None

    def alive(self) -> bool:
        return True

    def stop(self) -> None:
        pass

    def _answer(self, messages: list[dict], max_tokens: int | None) -> str:
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        words = _WORD.findall(str(last))
        quote = " ".join(words[:24]) + (" ..." if len(words) > 24 else "")
        text = (f"[fallback responder: no local model could run here ({self.reason})] "
                f"You asked ({len(words)} words): \"{quote}\". A real model would answer this.")
        limit = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
        toks = _WORD.findall(text)
        return text if len(toks) <= limit else " ".join(toks[:limit])

    async def generate(self, messages: list[dict], *, max_tokens: int | None = None, json_schema: dict | None = None,
                       top_logprobs: int | None = None, **_: Any) -> Generation:
        check_prompt_size(sum(len(str(m.get("content") or "")) for m in messages), self.context_tokens)
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        if json_schema is not None:
            text = json.dumps(schema_instance(json_schema, str(last)))
        else:
            text = self._answer(messages, max_tokens)
        prompt = sum(len(_WORD.findall(str(m.get("content", "")))) for m in messages)
        lp = None
        if top_logprobs is not None:
            first = (_WORD.findall(text) or [""])[0]
            lp = [{"token": first, "logprob": 0.0, "top_logprobs": [{"token": first, "logprob": 0.0}]}]
        return Generation(text, prompt, len(_WORD.findall(text)), "stop", lp)

    async def stream(self, messages: list[dict], **kw: Any) -> AsyncIterator[str | Generation]:
        g = await self.generate(messages, **kw)
        for piece in re.findall(r"\S+\s*", g.text):
            yield piece
        yield g

    async def complete(self, prompt: str, **kw: Any) -> Generation:
        return await self.generate([{"role": "user", "content": prompt}], **kw)

    async def complete_stream(self, prompt: str, **kw: Any) -> AsyncIterator[str | Generation]:
        async for piece in self.stream([{"role": "user", "content": prompt}], **kw):
            yield piece

    async def count_prompt_tokens(self, messages: list[dict]) -> int:
        check_prompt_size(sum(len(str(m.get("content") or "")) for m in messages), self.context_tokens)
        return sum(len(_WORD.findall(str(m.get("content", "")))) for m in messages)

    async def tokenize(self, text: str) -> list[tuple[int, str]]:
        return [(abs(hash(w)) % 49152, w) for w in _WORD.findall(text)]

    async def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))


def schema_instance(schema: dict, seed_text: str = "", _defs: dict | None = None) -> Any:
    """The smallest value valid for a JSON schema (used by the fallback responder only)."""
    defs = _defs if _defs is not None else {**schema.get("$defs", {}), **schema.get("definitions", {})}
    if "$ref" in schema:
        return schema_instance(defs.get(schema["$ref"].split("/")[-1], {}), seed_text, defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema and schema[key]:
            return schema_instance(schema[key][0], seed_text, defs)
    t = schema.get("type", "object")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t == "object":
        props = schema.get("properties", {})
        required = schema.get("required", list(props))
        return {k: schema_instance(props[k], seed_text, defs) for k in props if k in required}
    if t == "array" and isinstance(schema.get("prefixItems"), list):
        return [schema_instance(s, seed_text, defs) for s in schema["prefixItems"]]
    if t == "array":
        n = schema.get("minItems", 0)
        return [schema_instance(schema.get("items", {}), seed_text, defs) for _ in range(n)]
    if t == "string":
        words = _WORD.findall(seed_text)
        return (" ".join(words[:3]) or "text")[: schema.get("maxLength", 1000)]
    if t == "integer":
        return int(schema.get("minimum", 0))
    if t == "number":
        return float(schema.get("minimum", 0))
    if t == "boolean":
        return False
    return None
