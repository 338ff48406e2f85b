"""The model engine as the gateway sees it: generate text, stream it, count tokens.

Two implementations with the same async methods:

* ``LlamaEngine``: SmolLM2-135M-Instruct in llama.cpp, in a child process (``engine_child``).
* ``FallbackEngine``: a deterministic responder used only when llama.cpp cannot run here
  (no wheel for this platform, no AVX2, the model not installed). Its answers say so loudly.

Messages given to an engine are plain ``{"role": "system"|"user"|"assistant", "content": str}``;
each protocol module converts its provider's format to that.
"""
from __future__ import annotations

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

DEFAULT_MAX_TOKENS = 256  # local answers are capped so a CPU stays responsive; ask for more with max_tokens


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


def _schema_format(schema: dict, body: dict) -> dict:
    """``response_format`` for llama.cpp: the schema with string lengths bounded to fit the token budget.

    A string limit of about two characters per available token, shared between the schema's string
    fields, keeps the JSON complete instead of cut off by ``max_tokens``. A JSON answer also gets a low
    default temperature: the tiny model drifts into gibberish inside long strings when sampling hot.
    """
    from .toolcall import bounded, count_strings

    budget = int(body.get("max_tokens") or DEFAULT_MAX_TOKENS)
    per_string = max(12, min(160, (budget * 2) // max(1, count_strings(schema))))
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

    def __init__(self, log_dir: Path, threads: int | None = None, poll: int | None = None):
        from .engine_child import DEFAULT_POLL, default_threads

        self.log_dir = log_dir
        self.threads = threads or default_threads()
        self.poll = DEFAULT_POLL if poll is None else poll
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.client: httpx.AsyncClient | None = None
        self.started_in: float | None = None
        self.restarts = 0
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
                 "--threads", str(self.threads), "--poll", str(self.poll)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the engine process exited with code {self.proc.returncode}: {self._log_tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    self.started_in = time.perf_counter() - t0
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

    async def generate(self, messages: list[dict], *, max_tokens: int | None = None, temperature: float | None = None,
                       top_p: float | None = None, stop: Any = None, seed: int | None = None,
                       json_schema: dict | None = None, top_logprobs: int | None = None) -> Generation:
        """Answer a conversation. ``json_schema`` constrains the output to JSON valid for that schema."""
        body: dict[str, Any] = {"messages": messages, **_options(max_tokens, temperature, top_p, stop, seed)}
        if json_schema is not None:
            body["response_format"] = _schema_format(json_schema, body)
        if top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = int(top_logprobs)
        data = await self._post("/v1/chat/completions", body)
        if json_schema is not None and max_tokens is None and data["choices"][0].get("finish_reason") == "length":
            # Our own default limit cut the JSON short (the caller set none): try once more with room, greedily.
            data = await self._post("/v1/chat/completions", {**body, "max_tokens": 4 * DEFAULT_MAX_TOKENS,
                                                             "temperature": 0.0})
        choice = data["choices"][0]
        usage = data.get("usage", {})
        lp = (choice.get("logprobs") or {}).get("content")
        return Generation(choice["message"].get("content") or "", usage.get("prompt_tokens", 0),
                          usage.get("completion_tokens", 0), choice.get("finish_reason") or "stop", lp,
                          data.get("timings", {}))

    async def stream(self, messages: list[dict], *, max_tokens: int | None = None, temperature: float | None = None,
                     top_p: float | None = None, stop: Any = None, seed: int | None = None,
                     json_schema: dict | None = None) -> AsyncIterator[str | Generation]:
        """Yield the answer piece by piece (str), then one final ``Generation`` with the whole text and usage."""
        assert self.client is not None
        body: dict[str, Any] = {"messages": messages, "stream": True, "stream_options": {"include_usage": True},
                                **_options(max_tokens, temperature, top_p, stop, seed)}
        if json_schema is not None:
            body["response_format"] = _schema_format(json_schema, body)
        parts: list[str] = []
        finish, usage, timings = "stop", {}, {}
        try:
            for attempt in (1, 2):  # a stale kept-alive connection fails before the first byte: retry once
                try:
                    async with self.client.stream("POST", "/v1/chat/completions", json=body) as r:
                        async for item in self._read_stream(r, parts):
                            if isinstance(item, dict):
                                finish, usage, timings = item["finish"], item["usage"], item["timings"]
                            else:
                                yield item
                    break
                except (httpx.RemoteProtocolError, httpx.ConnectError):
                    if parts or attempt == 2:
                        raise
        except httpx.TransportError as e:
            raise EngineError(503, f"the local model engine stopped answering ({type(e).__name__}); the server restarts it "
                                   "by itself, or run `python -m helpers server restart`", "engine_down") from e
        yield Generation("".join(parts), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), finish,
                         None, timings)

    async def _read_stream(self, r: httpx.Response, parts: list[str]):
        """Text pieces from llama.cpp's SSE stream, then one dict with finish reason, usage and timings."""
        finish, usage, timings = "stop", {}, {}
        if r.status_code != 200:
            raise _engine_error(r.status_code, (await r.aread()).decode(errors="replace"))
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage, timings = chunk["usage"], chunk.get("timings", {})
            for choice in chunk.get("choices", []):
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    parts.append(piece)
                    yield piece
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        yield {"finish": finish, "usage": usage, "timings": timings}

    async def complete(self, prompt: str, *, max_tokens: int | None = None, temperature: float | None = None,
                       top_p: float | None = None, stop: Any = None, seed: int | None = None) -> Generation:
        """Continue raw text (no chat template), as a base text-generation model would."""
        opts = _options(max_tokens, temperature, top_p, stop, seed)
        body: dict[str, Any] = {"prompt": prompt, "n_predict": opts.pop("max_tokens"), **opts}
        data = await self._post("/completion", body)
        finish = "length" if data.get("stop_type") == "limit" or data.get("truncated") else "stop"
        return Generation(data.get("content", ""), data.get("tokens_evaluated", 0), data.get("tokens_predicted", 0),
                          finish, None, data.get("timings", {}))

    async def tokenize(self, text: str) -> list[tuple[int, str]]:
        """The model's tokens for ``text``: a list of (token id, piece)."""
        data = await self._post("/tokenize", {"content": text, "with_pieces": True})
        out = []
        for t in data.get("tokens", []):
            piece = t["piece"] if isinstance(t["piece"], str) else bytes(t["piece"]).decode(errors="replace")
            out.append((t["id"], piece))
        return out

    async def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is for this model."""
        data = await self._post("/tokenize", {"content": text})
        return len(data.get("tokens", []))


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
