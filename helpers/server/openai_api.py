"""The OpenAI wire protocol, also spoken by Groq (under ``/openai/v1``) and LM Studio.

Endpoints: ``chat/completions`` (plain, streaming, tools with parallel calls, JSON mode, JSON schema),
``responses`` (plain, streaming, function tools, JSON schema, stored and background responses: ``GET
responses/{id}``, ``POST responses/{id}/cancel``; ``responses/input_tokens``; the WebSocket mode is
``openai_responses_ws``, with the same stream events), the legacy ``completions``
(OpenAI and LM Studio only), ``models``, ``embeddings`` (float and base64). Every answer carries an
``x-request-id`` header, as OpenAI's and Groq's do.

Every field the server reads is checked first (``check_chat``, ``check_responses``, ``check_embeddings``): a
wrong type or value is OpenAI's 400 with ``param`` naming it, before any work and before a stream starts.
Embeddings are capped as OpenAI caps them (8,192 tokens an input, 2,048 inputs, 300,000 tokens a request).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import models as catalogue
from . import faults, grounding, model_rules, thinking, toolcall
from .grounding import TOOL_RESULT_PREFIX
from .common import (LOCAL_MODEL, BadParam, Fields, Reject, admit, backend, budget, check_faults, engine_error, local_headers,
                     new_id, now, primed, read_json, refuse, sse, supervise)
from .embeddings import MAX_CHARS_PER_TOKEN, embed_batched, truncate
from .engine import EngineError, Generation

IMAGE_NOTE = "[An image was attached here. The local model reads text only, so it cannot see it.]"


# ---------------------------------------------------------------------- conversions

def text_of(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                if part.get("type") in ("text", "input_text", "output_text"):
                    out.append(part.get("text", ""))
                elif part.get("type") in ("image_url", "input_image", "image"):
                    out.append(IMAGE_NOTE)
                elif part.get("type") in ("input_audio", "input_file", "file"):
                    out.append("[A file was attached here. The local model reads text only.]")
        return "\n".join(out)
    return str(content)


def to_engine_messages(messages: list[dict]) -> list[dict]:
    """OpenAI chat messages -> the engine's plain system/user/assistant messages."""
    out: list[dict] = []
    names: dict[str, str] = {}
    system: list[str] = []
    for m in messages:
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError("each message must be an object with a 'role' and a 'content'")
        role = m["role"]
        if role in ("system", "developer"):
            system.append(text_of(m.get("content")))
        elif role == "user":
            out.append({"role": "user", "content": text_of(m.get("content"))})
        elif role == "assistant":
            text = text_of(m.get("content"))
            for call in m.get("tool_calls") or []:
                fn = call.get("function", {})
                names[call.get("id", "")] = fn.get("name", "tool")
                text += f"\n(I called the tool {fn.get('name')} with arguments {fn.get('arguments')}.)"
            if out and out[-1]["role"] == "assistant" and not text_of(m.get("content")) and m.get("tool_calls"):
                out[-1]["content"] = (out[-1]["content"] + text).strip()  # parallel calls sent as several messages
            else:
                out.append({"role": "assistant", "content": text.strip()})
        elif role in ("tool", "function"):
            name = names.get(m.get("tool_call_id", ""), m.get("name") or "the tool")
            result = f"{TOOL_RESULT_PREFIX}{name} returned: {text_of(m.get('content'))}"
            ask = "\nUse this result to answer my earlier question in one or two sentences."
            if out and out[-1]["role"] == "user" and out[-1]["content"].startswith(TOOL_RESULT_PREFIX):
                # several results of parallel calls: one message that lists them all
                out[-1]["content"] = out[-1]["content"].rsplit("\n", 1)[0] + "\n" + result + \
                    "\nUse these results to answer my earlier question in one or two sentences."
            else:
                out.append({"role": "user", "content": result + ask})
        else:
            raise ValueError(f"unknown role {role!r}: use system, developer, user, assistant or tool")
    if system:
        out.insert(0, {"role": "system", "content": "\n".join(system)})
    return out


def schema_from_response_format(fmt: Any) -> dict | None:
    """The JSON schema implied by ``response_format`` (None for plain text)."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return toolcall.JSON_OBJECT_SCHEMA
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or fmt
        return toolcall.normalize_schema(spec.get("schema") or {"type": "object"})
    return None


def function_tools(tools: list | None) -> list[dict]:
    """``[{name, description, parameters}]`` from chat-completions or Responses tool lists."""
    out = []
    for t in tools or []:
        if not isinstance(t, dict):
            continue
        fn = t.get("function") if t.get("type") == "function" and "function" in t else t
        if fn.get("name"):
            out.append({"name": fn["name"], "description": fn.get("description", ""),
                        "parameters": fn.get("parameters")})
    return out


def forced_tool(tool_choice: Any) -> tuple[str | None, str | None]:
    """(mode, forced name) from ``tool_choice``: mode is None/"auto"/"none"/"required"."""
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        return "required", name
    return tool_choice, None


def options(body: dict) -> dict[str, Any]:
    """Sampling options the engine understands, from an OpenAI request body."""
    return {"max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens"),
            "temperature": body.get("temperature"), "top_p": body.get("top_p"), "stop": body.get("stop"),
            "seed": body.get("seed")}


def usage(gen: Generation, provider: str, elapsed: float | None = None, thought: Generation | None = None) -> dict:
    """OpenAI-style usage; reasoning tokens (``thought``) are output tokens, as providers bill them."""
    reasoning = thought.completion_tokens if thought else 0
    out = gen.completion_tokens + reasoning
    u: dict[str, Any] = {"prompt_tokens": gen.prompt_tokens, "completion_tokens": out,
                         "total_tokens": gen.prompt_tokens + out}
    if provider == "groq":
        if elapsed is not None:
            u.update({"queue_time": 0.0, "prompt_time": round(gen.timings.get("prompt_ms", 0) / 1000, 4),
                      "completion_time": round(gen.timings.get("predicted_ms", 0) / 1000, 4),
                      "total_time": round(elapsed, 4)})
    else:
        u["prompt_tokens_details"] = {"cached_tokens": 0}
        u["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return u


def planned(request: Request, provider: str, model: str, body: dict, api: str) -> model_rules.Plan:
    """The requested model's rules for this request (a provider-shaped 400 when it would reject it)."""
    try:
        plan = model_rules.openai_plan(provider, model, body, api=api)
    except model_rules.RuleError as e:
        raise Reject(e.hf_response() if provider == "huggingface" else e.openai_response()) from None
    for line in plan.notes:
        model_rules.note(request.scope, line)
    return plan


def apply_plan(opts: dict, plan: model_rules.Plan) -> dict:
    """Sampling options as the model uses them (temperature and top_p dropped where it ignores them)."""
    if plan.drop_sampling:
        opts = {**opts, "temperature": None, "top_p": None}
    return opts


# ---------------------------------------------------------------------- request checks

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
TOOL_CHOICES = ("none", "auto", "required")
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,64}")
MAX_STOP = 4  # OpenAI and Groq take at most 4 stop sequences


def schema_param(f: Fields, key: str, schema: Any) -> None:
    """A JSON schema inside a request (tool parameters, response_format): refused with its path when unusable."""
    try:
        toolcall.check_schema(schema)
    except toolcall.SchemaError as e:
        path = f.name(key)
        raise BadParam(f"Invalid schema for '{path}': {e.what} (at {e.where}).", path, "invalid_schema") from None


def check_content(f: Fields, key: str, required: bool = False) -> None:
    """A message content: a string, null, or an array of parts that are objects with a ``type``."""
    value = f.raw(key)
    if value is None:
        if required:
            raise f.missing(key)
        return
    if isinstance(value, str):
        return
    if not isinstance(value, list):
        raise f.wrong_type(key, "a string or an array of content parts", value)
    parts = f.child(key, {})
    for i, part in enumerate(value):
        if not isinstance(part, dict):
            raise parts.wrong_type(i, "an object", part)
        p = parts.child(i, part)
        kind = p.string("type", required=True)
        if kind in ("text", "input_text", "output_text"):
            p.string("text", required=True)
        elif kind == "image_url" and not isinstance(part.get("image_url"), (dict, str)):
            raise p.missing("image_url")


def check_sampling(f: Fields, provider: str, token_fields: tuple[str, ...]) -> None:
    """The fields chat completions and Responses share: token limits, sampling, stop, seed, stream."""
    for name in token_fields:
        f.integer(name, lo=1)
    f.number("temperature", 0, 2)
    f.number("top_p", 0, 1)
    f.number("presence_penalty", -2, 2)
    f.number("frequency_penalty", -2, 2)
    f.integer("seed", lo=-(2**63), hi=2**63 - 1)
    f.integer("top_logprobs", 0, 20)
    f.boolean("stream")
    f.boolean("parallel_tool_calls")
    f.boolean("store")
    f.string("user")
    f.string("service_tier")
    f.object("metadata")


def check_tool_choice(f: Fields, names: list[str]) -> None:
    value = f.raw("tool_choice")
    if value is None:
        return
    if isinstance(value, str):
        f.string("tool_choice", TOOL_CHOICES)
        return
    choice = f.object("tool_choice")
    assert choice is not None
    kind = choice.string("type")
    if kind == "function" or "function" in choice.obj or "name" in choice.obj:
        fn = choice.object("function") if "function" in choice.obj else choice
        name = fn.string("name", required=True)
        if name not in names:
            raise BadParam(f"Invalid value for '{fn.name('name')}': no function named in 'tools' has this name."
                           if names else "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                                         "are specified.", fn.name("name") if names else "tool_choice")
    elif kind is None:
        raise choice.missing("type")


def check_chat(body: dict, provider: str) -> None:
    """Every field of a chat-completions request the local server reads, checked before any work."""
    f = Fields(provider, body)
    f.string("model", required=True, nonempty=True)
    messages = f.array("messages", required=True, min_len=1)
    listing = f.child("messages", {})
    for i, m in enumerate(messages or []):
        if not isinstance(m, dict):
            raise listing.wrong_type(i, "an object", m)
        mf = listing.child(i, m)
        role = mf.string("role", ROLES, required=True)
        check_content(mf, "content", required=role in ("user", "system", "developer", "tool"))
        mf.string("name")
        if role == "tool":
            mf.string("tool_call_id")
        calls = mf.array("tool_calls") if role == "assistant" else None
        cf = mf.child("tool_calls", {})
        for j, call in enumerate(calls or []):
            if not isinstance(call, dict):
                raise cf.wrong_type(j, "an object", call)
            one = cf.child(j, call)
            one.string("id")
            fn = one.object("function", required=True)
            assert fn is not None
            fn.string("name", required=True)
            fn.string("arguments")
    check_sampling(f, provider, ("max_tokens", "max_completion_tokens"))
    f.integer("n", 1, 128)
    f.boolean("logprobs")
    f.strings("stop", MAX_STOP)
    f.string("reasoning_effort")
    opts = f.object("stream_options")
    if opts is not None:
        opts.boolean("include_usage")
    fmt = f.object("response_format")
    if fmt is not None:
        kinds = ("text", "json_object", "json_schema") + (("json", "regex") if provider == "huggingface" else ())
        kind = fmt.string("type", kinds, required=True)  # (TGI's "json" with a schema is converted by hf_api)
        if kind == "json_schema":
            spec = fmt.object("json_schema", required=True)
            assert spec is not None
            spec.string("name", required=True)
            spec.boolean("strict")
            if spec.present("schema"):
                schema_param(spec, "schema", spec.raw("schema"))
    names = check_tools(f, nested=True)
    check_tool_choice(f, names)


def check_tools(f: Fields, nested: bool) -> list[str]:
    """``tools`` (chat: ``{type, function: {name, parameters}}``; Responses: ``{type, name, parameters}``)."""
    tools = f.array("tools")
    listing = f.child("tools", {})
    names = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            raise listing.wrong_type(i, "an object", tool)
        tf = listing.child(i, tool)
        kind = tf.string("type", required=not nested or "function" not in tool)
        if kind not in (None, "function"):
            continue  # built-in tools (web search, code interpreter...): not run locally, ignored
        fn = tf.object("function", required=True) if nested else tf
        assert fn is not None
        name = fn.string("name", required=True)
        if not FUNCTION_NAME.fullmatch(name or ""):
            raise BadParam(f"Invalid '{fn.name('name')}': a function name is 1 to 64 letters, digits, '_', '-' or "
                           "'.'.", fn.name("name"), "invalid_value")
        fn.string("description")
        fn.boolean("strict")
        if fn.present("parameters"):
            if not isinstance(fn.raw("parameters"), dict):
                raise fn.wrong_type("parameters", "an object", fn.raw("parameters"))
            schema_param(fn, "parameters", fn.raw("parameters"))
        names.append(name)
    return names


def check_responses(body: dict, provider: str) -> None:
    """Every field of a Responses request the local server reads, checked before any work."""
    f = Fields(provider, body)
    f.string("model", required=True, nonempty=True)
    inp = f.raw("input")
    if inp is None:
        raise f.missing("input")
    if not isinstance(inp, (str, list)):
        raise f.wrong_type("input", "a string or an array of input items", inp)
    listing = f.child("input", {})
    for i, item in enumerate(inp if isinstance(inp, list) else []):
        if not isinstance(item, dict):
            raise listing.wrong_type(i, "an object", item)
        it = listing.child(i, item)
        kind = it.string("type") or "message"
        if kind == "message":
            it.string("role", ("user", "assistant", "system", "developer"), required=True)
            check_content(it, "content", required=True)
        elif kind == "function_call":
            it.string("call_id", required=True)
            it.string("name", required=True)
            it.string("arguments", required=True)
        elif kind == "function_call_output":
            it.string("call_id", required=True)
            check_content(it, "output", required=True)
    f.string("instructions")
    f.string("previous_response_id")
    f.boolean("background")
    check_sampling(f, provider, ("max_output_tokens",))
    f.string("truncation", ("auto", "disabled"))
    include = f.array("include")
    for i, x in enumerate(include or []):
        if not isinstance(x, str):
            raise f.child("include", {}).wrong_type(i, "a string", x)
    reasoning = f.object("reasoning")
    if reasoning is not None:
        reasoning.string("effort")
        reasoning.string("summary")
    text = f.object("text")
    if text is not None:
        text.string("verbosity")
        fmt = text.object("format")
        if fmt is not None:
            kind = fmt.string("type", ("text", "json_object", "json_schema"), required=True)
            if kind == "json_schema":
                fmt.string("name", required=True)
                fmt.boolean("strict")
                if not isinstance(fmt.raw("schema"), dict):
                    raise fmt.missing("schema") if fmt.raw("schema") is None else \
                        fmt.wrong_type("schema", "an object", fmt.raw("schema"))
                schema_param(fmt, "schema", fmt.raw("schema"))
    names = check_tools(f, nested=False)
    check_tool_choice(f, names)


def checked(provider: str, check, body: dict) -> None:
    try:
        check(body, provider)
    except BadParam as e:
        raise refuse(provider, e) from None


# ---------------------------------------------------------------------- chat completions

def provider_of(request: Request) -> str:
    """"groq", "lmstudio" or "openai", from the path and port the request came in on."""
    if request.url.path.startswith("/openai/"):
        return "groq"
    lm_port = getattr(request.app.state, "lmstudio_port", None)
    if lm_port and (request.scope.get("server") or (None, 0))[1] == lm_port:
        return "lmstudio"
    return "openai"


async def chat_completions(request: Request, provider: str | None = None) -> Response:
    """``POST .../chat/completions``; ``provider`` overrides the error shape (Hugging Face's router reuses this)."""
    provider = provider or provider_of(request)
    body = await read_json(request, provider, ("model", "messages"))
    model = body["model"] if isinstance(body["model"], str) else ""
    await check_faults(request, provider, model)
    checked(provider, check_chat, body)
    plan = planned(request, provider, model, body, "chat")
    try:
        messages = to_engine_messages(body["messages"])
    except ValueError as e:
        raise Reject(engine_error(provider, EngineError(400, f"Invalid 'messages': {e}.")))
    await admit(request, provider, work=budget(body.get("max_completion_tokens") or body.get("max_tokens"),
                                               n=min(body.get("n") or 1, 4), thinking=plan.thinking_tokens,
                                               prompt_chars=sum(len(m["content"]) for m in messages)))
    engine = backend(request).engine
    tools = function_tools(body.get("tools"))
    mode, forced = forced_tool(body.get("tool_choice"))
    opts = apply_plan(options(body), plan)
    schema = grounding.apply(schema_from_response_format(body.get("response_format")), messages, opts, request.scope)
    cid, created, t0, groq_id = new_id("chatcmpl-"), now(), time.perf_counter(), request_id(request, provider)
    headers = local_headers(model)
    if provider == "groq":
        headers.update({"x-ratelimit-limit-requests": "1000", "x-ratelimit-remaining-requests": "999",
                        "x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "5900",
                        "x-ratelimit-reset-requests": "86.4s", "x-ratelimit-reset-tokens": "1s"})

    def envelope(**extra: Any) -> dict:
        d = {"id": cid, "object": "chat.completion", "created": created, "model": LOCAL_MODEL,
             "system_fingerprint": "local-smollm2", **extra}
        if provider == "groq":
            d["x_groq"] = {"id": groq_id}
        return d

    try:
        thought = await thinking.think(engine, messages, plan.thinking_tokens, opts["max_tokens"])
        left = thinking.remaining(opts["max_tokens"], thought)
        reasoning = {"reasoning": thought.text} if thought and plan.show_reasoning else {}
        if left is not None and left <= 0:  # the thinking used the whole limit: no answer at all
            gen = thinking.used_up(thought)
            if body.get("stream"):
                return StreamingResponse(_stream_text(envelope, _nothing(gen), body, provider, t0, thought, reasoning),
                                         media_type="text/event-stream", headers=headers)
            msg = {"role": "assistant", "content": "", "refusal": None, **reasoning}
            return JSONResponse(envelope(choices=[{"index": 0, "message": msg, "logprobs": None,
                                                   "finish_reason": "length"}],
                                         usage=usage(gen, provider, time.perf_counter() - t0, thought)), headers=headers)
        if left is not None:
            opts["max_tokens"] = left
        if tools and toolcall.should_call(body["messages"], mode):
            found, gen = await toolcall.make_calls(engine, messages, tools, forced, request.scope,
                                                   parallel=parallel_allowed(body, forced, provider), **opts)
            calls = [{"id": new_id("call_"), "type": "function",
                      "function": {"name": name, "arguments": json.dumps(args)}} for name, args in found]
            if body.get("stream"):
                events = _stream_tool_calls(envelope, calls, gen, body, provider, t0, thought, reasoning)
                return StreamingResponse(events, media_type="text/event-stream", headers=headers)
            msg = {"role": "assistant", "content": None, "tool_calls": calls, "refusal": None, **reasoning}
            return JSONResponse(envelope(choices=[{"index": 0, "message": msg, "logprobs": None,
                                                   "finish_reason": "tool_calls"}],
                                         usage=usage(gen, provider, time.perf_counter() - t0, thought)), headers=headers)
        if body.get("stream"):
            stream = await primed(engine.stream(messages, json_schema=schema, **opts))  # errors before the 200
            return StreamingResponse(_stream_text(envelope, stream, body, provider, t0, thought, reasoning),
                                     media_type="text/event-stream", headers=headers)
        n = min(body.get("n") or 1, 4)
        top = (body.get("top_logprobs") or 0) if body.get("logprobs") else None
        gens = [await engine.generate(messages, json_schema=schema, top_logprobs=top, **opts) for _ in range(n)]
    except EngineError as e:
        return engine_error(provider, e)
    choices = [{"index": i, "message": {"role": "assistant", "content": g.text, "refusal": None, **reasoning},
                "logprobs": {"content": g.logprobs} if g.logprobs is not None else None,
                "finish_reason": g.finish_reason} for i, g in enumerate(gens)]
    total = Generation("", gens[0].prompt_tokens, sum(g.completion_tokens for g in gens), timings=gens[0].timings)
    return JSONResponse(envelope(choices=choices, usage=usage(total, provider, time.perf_counter() - t0, thought)),
                        headers=headers)


async def _nothing(gen: Generation):
    """A stream with no text, only the final generation (when thinking used the whole limit)."""
    yield gen


def _chunk(envelope, delta: dict, finish: str | None = None, **extra: Any) -> dict:
    d = envelope(choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra)
    d["object"] = "chat.completion.chunk"
    return d


async def _stream_text(envelope, stream, body: dict, provider: str, t0: float, thought: Generation | None = None,
                       reasoning: dict | None = None):
    yield sse(_chunk(envelope, {"role": "assistant", "content": ""}))
    if reasoning:
        yield sse(_chunk(envelope, reasoning))
    final: Generation | None = None
    try:
        async for piece in stream:
            if isinstance(piece, Generation):
                final = piece
            else:
                yield sse(_chunk(envelope, {"content": piece}))
    except EngineError as e:
        yield sse({"error": {"message": e.message, "type": "server_error", "param": None, "code": e.kind}})
        return
    assert final is not None
    last = _chunk(envelope, {}, final.finish_reason)
    if provider == "groq":
        last["x_groq"]["usage"] = usage(final, provider, time.perf_counter() - t0, thought)
    yield sse(last)
    if (body.get("stream_options") or {}).get("include_usage"):
        d = envelope(choices=[], usage=usage(final, provider, time.perf_counter() - t0, thought))
        d["object"] = "chat.completion.chunk"
        yield sse(d)
    yield sse("[DONE]")


async def _stream_tool_calls(envelope, calls: list[dict], gen: Generation, body: dict, provider: str, t0: float,
                             thought: Generation | None = None, reasoning: dict | None = None):
    """Tool calls streamed as OpenAI does: per call a head (its ``index``, id, name) then its arguments in pieces."""
    yield sse(_chunk(envelope, {"role": "assistant", "content": None}))
    if reasoning:
        yield sse(_chunk(envelope, reasoning))
    for index, call in enumerate(calls):
        head = {"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}
        yield sse(_chunk(envelope, {"tool_calls": [head]}))
        args = call["function"]["arguments"]
        for i in range(0, len(args), 16):
            yield sse(_chunk(envelope, {"tool_calls": [{"index": index, "function": {"arguments": args[i:i + 16]}}]}))
    last = _chunk(envelope, {}, "tool_calls")
    if provider == "groq":
        last["x_groq"]["usage"] = usage(gen, provider, time.perf_counter() - t0, thought)
    yield sse(last)
    if (body.get("stream_options") or {}).get("include_usage"):
        d = envelope(choices=[], usage=usage(gen, provider, thought=thought))
        d["object"] = "chat.completion.chunk"
        yield sse(d)
    yield sse("[DONE]")


# Groq does not offer parallel tool calls for gpt-oss: one call a turn (lesson 06, from console.groq.com/docs/tool-use
# as of November 2026). Not re-checked with the search tool on 2026-11-30 (the stored Groq pages do not say either way).
ONE_CALL_A_TURN = {"groq": ("openai/gpt-oss-",)}


def parallel_allowed(body: dict, forced: str | None, provider: str = "openai") -> bool:
    """Whether this request lets the model make several tool calls in one turn: ``parallel_tool_calls``
    (true unless set false), no single function forced by ``tool_choice``, and a model that makes them."""
    model = body.get("model") if isinstance(body.get("model"), str) else ""
    if any(model.startswith(prefix) for prefix in ONE_CALL_A_TURN.get(provider, ())):
        return False
    return body.get("parallel_tool_calls") is not False and forced is None


# ---------------------------------------------------------------------- Responses API

_previous: OrderedDict[str, list[dict]] = OrderedDict()  # response id -> conversation, for previous_response_id


def responses_input(body: dict) -> list[dict]:
    """The Responses API ``input`` (+ ``instructions``, ``previous_response_id``) as OpenAI chat messages."""
    msgs: list[dict] = []
    if body.get("previous_response_id"):
        prev = _previous.get(body["previous_response_id"])
        if prev is None:
            raise ValueError(f"Previous response with id '{body['previous_response_id']}' not found.")
        msgs.extend(prev)
    if body.get("instructions"):
        msgs = [m for m in msgs if m["role"] != "system"]
        msgs.insert(0, {"role": "system", "content": body["instructions"]})
    inp = body.get("input")
    if isinstance(inp, str):
        msgs.append({"role": "user", "content": inp})
    elif isinstance(inp, list):
        for item in inp:
            if not isinstance(item, dict):
                raise ValueError("each input item must be an object")
            kind = item.get("type", "message")
            if kind == "message" or "role" in item and kind not in ("function_call", "function_call_output"):
                msgs.append({"role": item.get("role", "user"), "content": text_of(item.get("content"))})
            elif kind == "function_call":
                msgs.append({"role": "assistant", "content": None, "tool_calls": [
                    {"id": item.get("call_id", ""), "type": "function",
                     "function": {"name": item.get("name"), "arguments": item.get("arguments", "{}")}}]})
            elif kind == "function_call_output":
                msgs.append({"role": "tool", "tool_call_id": item.get("call_id", ""), "content": text_of(item.get("output"))})
    else:
        raise ValueError("'input' must be a string or a list of input items")
    return msgs


def _response_object(rid: str, body: dict, output: list[dict], gen: Generation | None, status: str = "completed",
                     thought: Generation | None = None) -> dict:
    fmt = (body.get("text") or {}).get("format") or {"type": "text"}
    reasoning = thought.completion_tokens if thought else 0
    if thought is not None:  # reasoning models list their (encrypted, unshown) reasoning as an output item
        output = [{"type": "reasoning", "id": new_id("rs_"), "summary": []}] + output
    return {"id": rid, "object": "response", "created_at": now(), "status": status, "model": LOCAL_MODEL,
            "output": output, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
            "previous_response_id": body.get("previous_response_id"),
            "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools", []),
            "text": {"format": fmt}, "truncation": "disabled", "metadata": body.get("metadata") or {},
            "store": body.get("store") is not False, "background": bool(body.get("background")),
            "usage": None if gen is None else {
                "input_tokens": gen.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": gen.completion_tokens + reasoning,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": gen.prompt_tokens + gen.completion_tokens + reasoning}}


def _remember(rid: str, msgs: list[dict], output: list[dict]) -> None:
    convo = list(msgs)
    for item in output:
        if item["type"] == "message":
            convo.append({"role": "assistant", "content": item["content"][0]["text"]})
        elif item["type"] == "function_call":
            convo.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": item["call_id"], "type": "function",
                 "function": {"name": item["name"], "arguments": item["arguments"]}}]})
    _previous[rid] = convo
    while len(_previous) > 200:
        _previous.popitem(last=False)


@dataclass
class _Turn:
    """One Responses request, read and checked: what ``_answer`` needs to answer it (now or in the background)."""

    body: dict
    chat_msgs: list[dict]
    messages: list[dict]
    tools: list[dict]
    mode: str | None
    forced: str | None
    opts: dict
    schema: dict | None
    plan: model_rules.Plan
    scope: dict
    provider: str = "openai"
    rid: str = field(default_factory=lambda: new_id("resp_"))
    mid: str = field(default_factory=lambda: new_id("msg_"))


def read_turn(request: Request, provider: str, model: str, body: dict) -> _Turn:
    """The checked request as a ``_Turn`` (a provider-shaped 400 when it is malformed)."""
    checked(provider, check_responses, body)
    plan = planned(request, provider, model, body, "responses")
    try:
        chat_msgs = responses_input(body)
        messages = to_engine_messages(chat_msgs)
    except ValueError as e:
        err = BadParam(str(e), "previous_response_id", "previous_response_not_found") \
            if "revious response" in str(e) else BadParam(f"Invalid 'input': {e}", "input", "invalid_value")
        raise refuse(provider, err) from None
    fmt = (body.get("text") or {}).get("format") or {}
    schema = schema_from_response_format(fmt if fmt.get("type") != "json_schema" else {"type": "json_schema", "json_schema": fmt})
    tools = function_tools([t for t in body.get("tools") or [] if t.get("type") == "function"])
    mode, forced = forced_tool(body.get("tool_choice"))
    opts = apply_plan(options(body), plan)
    schema = grounding.apply(schema, messages, opts, request.scope)
    return _Turn(body, chat_msgs, messages, tools, mode, forced, opts, schema, plan, request.scope, provider)


async def _think_or_call(engine, t: _Turn) -> tuple[Generation | None, dict | None]:
    """Thinking, then the tool calls when the model calls: ``(the thinking, the finished response object)``, the
    object None when a text answer is still to be written (``t.opts`` then holds the tokens left for it)."""
    thought = await thinking.think(engine, t.messages, t.plan.thinking_tokens, t.opts["max_tokens"])
    left = thinking.remaining(t.opts["max_tokens"], thought)
    if left is not None and left <= 0:  # the thinking used the whole limit: no answer at all
        return thought, _response_object(t.rid, t.body, [], thinking.used_up(thought), "incomplete", thought)
    if left is not None:
        t.opts["max_tokens"] = left
    if t.tools and toolcall.should_call(t.chat_msgs, t.mode):
        found, gen = await toolcall.make_calls(engine, t.messages, t.tools, t.forced, t.scope,
                                               parallel=parallel_allowed(t.body, t.forced, t.provider), **t.opts)
        output = [{"type": "function_call", "id": new_id("fc_"), "call_id": new_id("call_"), "name": name,
                   "arguments": json.dumps(args), "status": "completed"} for name, args in found]
        _remember(t.rid, t.chat_msgs, output)
        return thought, _response_object(t.rid, t.body, output, gen, thought=thought)
    return thought, None


async def _answer(engine, t: _Turn) -> dict:
    """The whole response object for ``t`` (not streamed): thinking, then tool calls or text."""
    thought, done = await _think_or_call(engine, t)
    if done is not None:
        return done
    gen = await engine.generate(t.messages, json_schema=t.schema, **t.opts)
    output = [_message_item(t.mid, gen.text, _status(gen))]
    _remember(t.rid, t.chat_msgs, output)
    return _response_object(t.rid, t.body, output, gen, _status(gen), thought)


def turn_work(t: _Turn) -> int:
    """The request's work for the model's queue (``common.budget``): its output limit, thinking and prompt."""
    return budget(t.body.get("max_output_tokens"), thinking=t.plan.thinking_tokens,
                  prompt_chars=sum(len(m.get("content") or "") for m in t.messages))


async def responses(request: Request) -> Response:
    provider = provider_of(request)
    body = await read_json(request, provider, ("model", "input"))
    model = body["model"] if isinstance(body["model"], str) else ""
    await check_faults(request, provider, model)
    t = read_turn(request, provider, model, body)
    engine = backend(request).engine
    headers = local_headers(model)
    if body.get("background"):  # the work goes on (and keeps its place in the queue) after this request ends
        turn = await _admit_background(request, provider, turn_work(t))
        if not body.get("stream"):
            return JSONResponse(_start_background(engine, t, turn), headers=headers)
        log = _start_background_stream(engine, t, turn)
        return StreamingResponse(log.follow(), media_type="text/event-stream", headers=headers)
    await admit(request, provider, work=turn_work(t))
    try:
        if not body.get("stream"):
            return JSONResponse(_store(await _answer(engine, t)), headers=headers)
        thought = await thinking.think(engine, t.messages, t.plan.thinking_tokens, t.opts["max_tokens"])
        left = thinking.remaining(t.opts["max_tokens"], thought)
        if left is not None and left <= 0:
            obj = _store(_response_object(t.rid, body, [], thinking.used_up(thought), "incomplete", thought))
            return StreamingResponse(as_sse(_stream_done_items(obj)), media_type="text/event-stream", headers=headers)
        if left is not None:
            t.opts["max_tokens"] = left
        if t.tools and toolcall.should_call(t.chat_msgs, t.mode):
            found, gen = await toolcall.make_calls(engine, t.messages, t.tools, t.forced, request.scope,
                                                   parallel=parallel_allowed(body, t.forced, provider), **t.opts)
            output = [{"type": "function_call", "id": new_id("fc_"), "call_id": new_id("call_"), "name": name,
                       "arguments": json.dumps(args), "status": "completed"} for name, args in found]
            _remember(t.rid, t.chat_msgs, output)
            obj = _store(_response_object(t.rid, body, output, gen, thought=thought))
            return StreamingResponse(as_sse(_stream_done_items(obj)), media_type="text/event-stream", headers=headers)
        stream = await primed(engine.stream(t.messages, json_schema=t.schema, **t.opts))  # errors before the 200
        return StreamingResponse(as_sse(_stream_response(t.rid, t.mid, body, t.chat_msgs, stream, thought)),
                                 media_type="text/event-stream", headers=headers)
    except EngineError as e:
        return engine_error(provider, e)


# Stored responses, for GET /v1/responses/{id} (OpenAI stores a response unless ``store`` is false), and the
# background tasks still running (``background=true``: the request returns at once, the work goes on here).
MAX_STORED = 200
_stored: OrderedDict[str, dict] = OrderedDict()
_background: dict[str, asyncio.Task] = {}


def _store(obj: dict) -> dict:
    """Keep ``obj`` for retrieval (unless its request said ``store: false``); returns it."""
    if obj.get("store") is not False:
        _stored[obj["id"]] = obj
        _stored.move_to_end(obj["id"])
        while len(_stored) > MAX_STORED:
            _stored.popitem(last=False)
    return obj


@dataclass
class _QueueTurn:
    """A background response's place in the model's queue: ``admitted`` ends when it holds a slot; ``tickets``
    are the turns (``common.admit``) to give back when its work ends."""

    admitted: asyncio.Future
    tickets: dict

    def release(self, measured: bool) -> None:
        for ticket in self.tickets.values():
            ticket.release(measured)


async def _admit_background(request: Request, provider: str, work: int) -> _QueueTurn:
    """A place in the model's queue for a background response, as every request gets one (``common.admit``),
    held by the background work instead of the request that created it (which ends at once).

    A refusal (the queue is full: 503; a shared room's learner already has their share: 429) is raised here, so
    the creating request gets it; a wait for a free slot happens in the background, the response "queued".
    """
    scope = {**request.scope, "course_tickets": {}}  # the work's own turns: the request's are given back when it ends
    waiting = asyncio.ensure_future(admit(Request(scope, request.receive), provider, work=work))
    turn = _QueueTurn(waiting, scope["course_tickets"])
    try:
        await asyncio.sleep(0)  # admit refuses before it first waits: let it run that far
    except asyncio.CancelledError:  # the client left before the response was created: no place is kept
        waiting.cancel()
        turn.release(measured=False)
        raise
    if waiting.done() and waiting.exception() is not None:
        raise waiting.exception()
    return turn


def _in_background(t: _Turn, turn: _QueueTurn, run, finish=lambda: None) -> dict:
    """Store ``t``'s response as "queued" and run ``run()`` in an asyncio task once ``turn`` is admitted; the
    stored status follows ("in_progress", then what ``run`` stores, or "failed" / "cancelled"). ``finish``
    runs at the end, whatever happened; the queue turn is given back then."""
    queued = _store(_response_object(t.rid, t.body, [], None, "queued"))

    def fail(message: str) -> None:
        _stored[t.rid] = {**_stored.get(t.rid, queued), "status": "failed",
                          "error": {"code": "server_error", "message": message}}

    async def work() -> None:
        finished = False
        try:
            await turn.admitted
            _stored[t.rid] = {**_stored.get(t.rid, queued), "status": "in_progress"}
            await run()
            finished = True
        except asyncio.CancelledError:
            _stored[t.rid] = {**_stored.get(t.rid, queued), "status": "cancelled"}
        except EngineError as e:
            fail(e.message)
        except Reject:  # refused after all (admit's checks came after its first wait)
            fail("The local server's queue refused this background response; try again later.")
        except Exception as e:  # noqa: BLE001 - a bug: the stored response says so instead of hanging "in_progress"
            fail(f"The local server hit an internal error ({type(e).__name__}).")
        finally:
            turn.admitted.cancel()  # still waiting for a slot when cancelled: leave the queue
            turn.release(measured=finished)
            finish()
            _background.pop(t.rid, None)

    _background[t.rid] = asyncio.ensure_future(work())
    return queued


def _start_background(engine, t: _Turn, turn: _QueueTurn) -> dict:
    """``background=true``: answer "queued" now; the work runs in an asyncio task that updates the stored
    response ("in_progress", then "completed", "incomplete", "failed" or "cancelled")."""

    async def run() -> None:
        _store(await _answer(engine, t))

    return _in_background(t, turn, run)


class _EventLog:
    """The events of a background response streamed as they are made, kept so that a client that left can
    read them again (``GET .../responses/{id}?stream=true&starting_after=N``). Event *i* has sequence number *i*."""

    def __init__(self) -> None:
        self.events: list[bytes] = []
        self.done = False
        self._changed = asyncio.Event()

    def add(self, event: bytes) -> None:
        self.events.append(event)
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, after: int = -1):
        """The events after sequence number ``after``, then each new one until the response is done."""
        i = after + 1
        while True:
            changed = self._changed
            if i < len(self.events):
                yield self.events[i]
                i += 1
            elif self.done:
                return
            else:
                await changed.wait()


_logs: OrderedDict[str, _EventLog] = OrderedDict()


async def stream_events(engine, t: _Turn):
    """The Responses stream events for ``t`` (thinking first, then tool calls or the text piece by piece), as
    dicts: a background stream keeps them (``_EventLog``), the WebSocket mode sends them."""
    thought, done = await _think_or_call(engine, t)
    if done is not None:
        async for event in _stream_done_items(_store(done)):
            yield event
        return
    async for event in _stream_response(t.rid, t.mid, t.body, t.chat_msgs,
                                        engine.stream(t.messages, json_schema=t.schema, **t.opts), thought):
        yield event


async def prepared_events(t: _Turn):
    """``generate: false`` (the WebSocket mode's warm-up): a completed response with no output, stored with its
    conversation so that a later ``previous_response_id`` continues it (openai 3.54.0
    ``responses_client_event_param.ResponseCreate.generate``: "prepare request state without model output")."""
    obj = _store(_response_object(t.rid, t.body, [], None))
    _remember(t.rid, t.chat_msgs, [])
    async for event in _stream_done_items(obj):
        yield event


def _start_background_stream(engine, t: _Turn, turn: _QueueTurn) -> _EventLog:
    """``background=true`` with ``stream=true``: the events are made by an asyncio task into an ``_EventLog``
    that the creating request follows, and that a later ``GET ...?stream=true`` reads again."""
    log = _logs[t.rid] = _EventLog()
    while len(_logs) > MAX_STORED // 4:  # each log holds a whole answer's events: keep fewer of them
        _logs.popitem(last=False)

    async def run() -> None:
        try:
            async for event in stream_events(engine, t):
                log.add(sse(event, event=event["type"]))
        except EngineError as e:
            log.add(sse({"type": "error", "sequence_number": len(log.events), "code": e.kind, "message": e.message,
                         "param": None}, event="error"))
            raise

    _in_background(t, turn, run, log.finish)
    return log


def _not_found(provider: str, rid: str) -> Response:
    # The wording of OpenAI's own "Previous response with id '...' not found." (see responses_input)
    return faults.openai_error(404, f"Response with id '{rid}' not found.", "invalid_request_error", None, None)


async def retrieve_response(request: Request) -> Response:
    """``GET .../responses/{id}``: a stored response, as it stands now (a background one may still run)."""
    provider = provider_of(request)
    await check_faults(request, provider, None)
    rid = request.path_params["response_id"]
    obj = _stored.get(rid)
    if obj is None:
        return _not_found(provider, rid)
    if request.query_params.get("stream") not in ("true", "True", "1"):
        return JSONResponse(obj, headers=local_headers(None))
    log = _logs.get(rid)
    if log is None:
        return faults.bad_request(provider, "Only a response created with background=true and stream=true can be "
                                            "streamed again; retrieve this one without stream.")
    try:
        after = int(request.query_params.get("starting_after", -1))
    except ValueError:
        return faults.bad_request(provider, "Invalid 'starting_after': expected an integer (an event's "
                                            "sequence_number).")
    return StreamingResponse(log.follow(after), media_type="text/event-stream", headers=local_headers(None))


async def cancel_response(request: Request) -> Response:
    """``POST .../responses/{id}/cancel``: stops a background response that is still running."""
    provider = provider_of(request)
    await check_faults(request, provider, None)
    rid = request.path_params["response_id"]
    if rid not in _stored:
        return _not_found(provider, rid)
    task = _background.get(rid)
    if task is None:
        if not _stored[rid].get("background"):
            return faults.openai_error(400, "Only responses created with background set to true can be cancelled.",
                                       "invalid_request_error", None, None)
        return JSONResponse(_stored[rid], headers=local_headers(None))
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    return JSONResponse(_stored[rid], headers=local_headers(None))


async def count_input_tokens(request: Request) -> Response:
    """``POST .../responses/input_tokens``: how many input tokens a Responses request would use, counted with
    the local model's own tokenizer and chat template (OpenAI counts with its model's)."""
    provider = provider_of(request)
    body = await read_json(request, provider)
    model = body.get("model") if isinstance(body.get("model"), str) else None
    await check_faults(request, provider, model)
    checked(provider, check_responses, {"model": model or LOCAL_MODEL, "input": body.get("input") or [], **{
        k: v for k, v in body.items() if k not in ("model", "input")}})
    try:
        chat_msgs = responses_input({**body, "input": body.get("input") or []})
        messages = to_engine_messages(chat_msgs)
    except ValueError as e:
        err = BadParam(str(e), "previous_response_id", "previous_response_not_found") \
            if "revious response" in str(e) else BadParam(f"Invalid 'input': {e}", "input", "invalid_value")
        raise refuse(provider, err) from None
    tools = function_tools([t for t in body.get("tools") or [] if t.get("type") == "function"])
    mode, _ = forced_tool(body.get("tool_choice"))
    if tools and toolcall.should_call(chat_msgs, mode):  # a call's prompt lists the tools
        messages = toolcall.call_prompt(messages, tools, body.get("parallel_tool_calls") is not False)
    try:
        n = await backend(request).engine.count_prompt_tokens(messages)
    except EngineError as e:
        return engine_error(provider, e)
    return JSONResponse({"object": "response.input_tokens", "input_tokens": n}, headers=local_headers(model))


def _status(gen: Generation) -> str:
    return "incomplete" if gen.finish_reason == "length" else "completed"


def _message_item(mid: str, text: str, status: str = "completed") -> dict:
    return {"type": "message", "id": mid, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


class _Seq:
    """Numbers a response's stream events (``sequence_number`` 0, 1, 2 ...)."""

    def __init__(self) -> None:
        self.n = 0

    def event(self, kind: str, **data: Any) -> dict:
        payload = {"type": kind, "sequence_number": self.n, **data}
        self.n += 1
        return payload


async def as_sse(events):
    """Stream events (dicts, from ``_stream_response`` and friends) as server-sent events, for HTTP. The
    WebSocket mode (``openai_responses_ws``) sends the same events as JSON messages."""
    async for event in events:
        yield sse(event, event=event["type"])


async def _stream_response(rid: str, mid: str, body: dict, chat_msgs: list[dict], stream,
                           thought: Generation | None = None):
    seq = _Seq()
    skeleton = _response_object(rid, body, [], None, "in_progress")
    yield seq.event("response.created", response=skeleton)
    yield seq.event("response.in_progress", response=skeleton)
    item = _message_item(mid, "", "in_progress")
    item["content"] = []
    yield seq.event("response.output_item.added", output_index=0, item=item)
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    yield seq.event("response.content_part.added", item_id=mid, output_index=0, content_index=0, part=part)
    final: Generation | None = None
    try:
        async for piece in stream:
            if isinstance(piece, Generation):
                final = piece
            else:
                yield seq.event("response.output_text.delta", item_id=mid, output_index=0, content_index=0,
                                delta=piece, logprobs=[])
    except EngineError as e:
        yield seq.event("error", code=e.kind, message=e.message, param=None)
        return
    assert final is not None
    yield seq.event("response.output_text.done", item_id=mid, output_index=0, content_index=0, text=final.text, logprobs=[])
    yield seq.event("response.content_part.done", item_id=mid, output_index=0, content_index=0,
                    part={**part, "text": final.text})
    status = _status(final)
    done = _message_item(mid, final.text, status)
    yield seq.event("response.output_item.done", output_index=0, item=done)
    _remember(rid, chat_msgs, [done])
    # A cut answer ends with response.incomplete (openai/types/responses/response_incomplete_event.py, openai 3.54.0)
    yield seq.event(f"response.{status}", response=_store(_response_object(rid, body, [done], final, status, thought)))


async def _stream_done_items(obj: dict):
    seq = _Seq()
    skeleton = {**obj, "output": [], "status": "in_progress", "usage": None}
    yield seq.event("response.created", response=skeleton)
    yield seq.event("response.in_progress", response=skeleton)
    for i, item in enumerate(obj["output"]):
        if item["type"] != "function_call":
            yield seq.event("response.output_item.added", output_index=i, item=item)
            yield seq.event("response.output_item.done", output_index=i, item=item)
            continue
        yield seq.event("response.output_item.added", output_index=i, item={**item, "arguments": "", "status": "in_progress"})
        yield seq.event("response.function_call_arguments.delta", item_id=item["id"], output_index=i, delta=item["arguments"])
        yield seq.event("response.function_call_arguments.done", item_id=item["id"], output_index=i, arguments=item["arguments"])
        yield seq.event("response.output_item.done", output_index=i, item=item)
    yield seq.event(f"response.{obj['status']}", response=obj)


# ---------------------------------------------------------------------- legacy completions

# OpenAI's chat models refuse the legacy endpoint: 404, param "model", "This is a chat model and not supported in
# the v1/completions endpoint. Did you mean to use v1/chat/completions?" (the error body quoted in
# github.com/hegelai/prompttools/issues/115, 2023-12, and tmc/langchaingo#201; read with the search tool 2026-11-30).
# Only the old instruct/base models (gpt-3.5-turbo-instruct, davinci-002, babbage-002) take it; none is in the
# catalogue. LM Studio documents POST /v1/completions for its loaded model; Groq has no such endpoint.
CHAT_MODEL_ON_COMPLETIONS = ("This is a chat model and not supported in the v1/completions endpoint. Did you mean to "
                             "use v1/chat/completions?")
LEGACY_DEFAULT_MAX_TOKENS = 16  # the legacy endpoint's own default for max_tokens


def chat_only(provider: str, model: str) -> bool:
    """True when the catalogue knows ``model`` as an OpenAI chat model (which the legacy endpoint refuses)."""
    if provider != "openai":
        return False
    m = catalogue.info("openai", model)
    return m is not None and m.dimensions is None and (bool(m.token_limit) or bool(m.purpose) or m.reasoning != "none")


def check_completions(body: dict, provider: str) -> list[str]:
    """The prompts of a legacy completions request (``prompt``: a string or a list of strings)."""
    f = Fields(provider, body)
    f.string("model", required=True, nonempty=True)
    check_sampling(f, provider, ("max_tokens",))
    f.integer("n", 1, 128)
    f.boolean("echo")
    f.strings("stop", MAX_STOP)
    f.string("suffix")
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
        raise BadParam("Invalid 'prompt': token arrays (lists of integers) are not read by the local server, whose "
                       "model has another tokenizer: send the text.", "prompt", "invalid_value")
    if prompt is None:
        raise f.missing("prompt")
    raise f.wrong_type("prompt", "a string or an array of strings", prompt)


async def completions(request: Request) -> Response:
    """``POST /v1/completions``, the legacy text-completion endpoint: the local model continues the raw prompt
    (no chat template), as a base model does."""
    provider = provider_of(request)
    body = await read_json(request, provider, ("model",))
    model = body["model"] if isinstance(body["model"], str) else ""
    await check_faults(request, provider, model)
    try:
        prompts = check_completions(body, provider)
    except BadParam as e:
        raise refuse(provider, e) from None
    if chat_only(provider, model):
        raise Reject(faults.openai_error(404, CHAT_MODEL_ON_COMPLETIONS, "invalid_request_error", None, "model"))
    n = min(body.get("n") or 1, 4)
    limit = body.get("max_tokens") or LEGACY_DEFAULT_MAX_TOKENS
    await admit(request, provider, work=budget(limit, n=n * len(prompts), prompt_chars=sum(map(len, prompts))))
    engine = backend(request).engine
    opts = {"max_tokens": limit, "temperature": body.get("temperature"), "top_p": body.get("top_p"),
            "stop": body.get("stop"), "seed": body.get("seed")}
    cid, created, headers = new_id("cmpl-"), now(), local_headers(model)

    def envelope(choices: list[dict], **extra: Any) -> dict:
        return {"id": cid, "object": "text_completion", "created": created, "model": LOCAL_MODEL,
                "system_fingerprint": "local-smollm2", "choices": choices, **extra}

    echo = bool(body.get("echo"))
    try:
        if body.get("stream"):
            if len(prompts) * n > 1:
                raise refuse(provider, BadParam("The local server streams one completion at a time: send one "
                                                "prompt with n=1, or leave out stream.", "stream", "invalid_value"))
            stream = await primed(engine.complete_stream(prompts[0], **opts))
            return StreamingResponse(_stream_completion(envelope, stream, prompts[0] if echo else "", body),
                                     media_type="text/event-stream", headers=headers)
        gens = [await engine.complete(p, **opts) for p in prompts for _ in range(n)]
    except EngineError as e:
        return engine_error(provider, e)
    choices = [{"text": (prompts[i // n] if echo else "") + g.text, "index": i, "logprobs": None,
                "finish_reason": g.finish_reason} for i, g in enumerate(gens)]
    prompt_tokens = sum(g.prompt_tokens for g in gens[::n])
    out = sum(g.completion_tokens for g in gens)
    return JSONResponse(envelope(choices, usage={"prompt_tokens": prompt_tokens, "completion_tokens": out,
                                                 "total_tokens": prompt_tokens + out}), headers=headers)


async def _stream_completion(envelope, stream, echo: str, body: dict):
    if echo:
        yield sse(envelope([{"text": echo, "index": 0, "logprobs": None, "finish_reason": None}]))
    final: Generation | None = None
    try:
        async for piece in stream:
            if isinstance(piece, Generation):
                final = piece
            else:
                yield sse(envelope([{"text": piece, "index": 0, "logprobs": None, "finish_reason": None}]))
    except EngineError as e:
        yield sse({"error": {"message": e.message, "type": "server_error", "param": None, "code": e.kind}})
        return
    assert final is not None
    yield sse(envelope([{"text": "", "index": 0, "logprobs": None, "finish_reason": final.finish_reason}]))
    if (body.get("stream_options") or {}).get("include_usage"):
        used = {"prompt_tokens": final.prompt_tokens, "completion_tokens": final.completion_tokens,
                "total_tokens": final.prompt_tokens + final.completion_tokens}
        yield sse(envelope([], usage=used))
    yield sse("[DONE]")


# ---------------------------------------------------------------------- models and embeddings

def model_ids(provider: str) -> list[str]:
    """The models this provider's local stand-in lists: the catalogue's plus the local model itself."""
    cat = catalogue.catalogue()
    key = "openai" if provider == "openai" else provider
    entry = cat.get(key, {})
    ids = [catalogue.get(key, p) for p in catalogue.purposes(key)] if key in catalogue.PROVIDERS else []
    ids += list(entry.get("fallbacks", []))
    ids += [mid for (p, mid), m in catalogue.entries().items() if p == key and m.status_on() != "shut_down"]
    ids.append(cat["local"]["chat"])
    if provider == "lmstudio":
        ids = [cat["local"]["chat"], "text-embedding-multilingual-e5-small"]
    return list(dict.fromkeys(ids))


def _model_obj(mid: str, provider: str) -> dict:
    d = {"id": mid, "object": "model", "created": 1700000000,
         "owned_by": "course-local-server (answers with smollm2-135m-instruct)"}
    if provider == "groq":
        m = catalogue.info("groq", mid)
        d.update({"active": True, "context_window": (m and m.context_tokens) or 8192, "public_apps": None,
                  "max_completion_tokens": (m and m.max_output_tokens) or 8192})
    return d


async def list_models(request: Request) -> Response:
    provider = provider_of(request)
    await check_faults(request, provider, None)
    return JSONResponse({"object": "list", "data": [_model_obj(m, provider) for m in model_ids(provider)]},
                        headers=local_headers(None))


async def get_model(request: Request) -> Response:
    provider = provider_of(request)
    mid = request.path_params["model"]
    await check_faults(request, provider, mid)
    return JSONResponse(_model_obj(mid, provider), headers=local_headers(mid))


# OpenAI's limits for embeddings (developers.openai.com API reference, "Create embeddings", input: "The input must
# not exceed the max input tokens for the model (8192 tokens for all embedding models), cannot be an empty string,
# and any array must be 2048 dimensions or less ... all embedding models enforce a maximum of 300,000 tokens summed
# across all inputs in a single request"; read with the search tool, 2026-11). Tokens are counted with the local
# embedding model's tokenizer, which differs a little from OpenAI's cl100k.
EMBED_MAX_INPUTS = 2048
EMBED_MAX_TOKENS = 8192
EMBED_MAX_TOTAL_TOKENS = 300_000


def check_embeddings(body: dict, provider: str) -> list[str]:
    """The texts of an embeddings request, refused before any tokenizing when malformed or far too long."""
    f = Fields(provider, body)
    f.string("model", required=True, nonempty=True)
    f.string("encoding_format", ("float", "base64"))
    f.string("user")
    inp = body.get("input")
    if isinstance(inp, str):
        texts = [inp]
    elif isinstance(inp, list) and inp and all(isinstance(t, str) for t in inp):
        texts = inp
    elif isinstance(inp, list) and inp and all(isinstance(t, int) and not isinstance(t, bool) for t in inp):
        raise BadParam("Invalid 'input': token arrays (lists of integers) are not read by the local server, whose "
                       "embedding model has another tokenizer: send the text.", "input", "invalid_value")
    elif isinstance(inp, list) and not inp:
        raise f.too_few("input", 0, 1)
    else:
        raise f.wrong_type("input", "a string or an array of strings", inp)
    if len(texts) > EMBED_MAX_INPUTS:
        raise f.too_many("input", len(texts), EMBED_MAX_INPUTS)
    for i, t in enumerate(texts):
        where = "input" if isinstance(inp, str) else f"input[{i}]"
        if not t:
            raise BadParam(f"Invalid '{where}': an input cannot be an empty string.", "input", "invalid_value")
        if len(t) > EMBED_MAX_TOKENS * MAX_CHARS_PER_TOKEN:  # sure to be over the limit: refused unread
            raise BadParam(f"Invalid '{where}': maximum input length is {EMBED_MAX_TOKENS} tokens ({len(t)} "
                           "characters is far more).", "input", "invalid_value")
    return texts


async def embeddings(request: Request, provider: str | None = None) -> Response:
    """``POST .../embeddings``; ``provider`` overrides the error shape (Hugging Face's router reuses this)."""
    provider = provider or provider_of(request)
    body = await read_json(request, provider, ("model", "input"))
    model = body["model"] if isinstance(body["model"], str) else ""
    await check_faults(request, provider, model)
    try:
        texts = check_embeddings(body, provider)
    except BadParam as e:
        raise refuse(provider, e) from None
    try:
        model_rules.check_dimensions(provider, model, body.get("dimensions"))
    except model_rules.RuleError as e:
        raise Reject(e.hf_response() if provider == "huggingface" else e.openai_response()) from None
    b = backend(request)
    import anyio

    counts = await anyio.to_thread.run_sync(b.embedder.count_many, texts)
    for i, n in enumerate(counts):
        if n > EMBED_MAX_TOKENS:
            where = "input" if isinstance(body["input"], str) else f"input[{i}]"
            raise refuse(provider, BadParam(f"Invalid '{where}': maximum input length is {EMBED_MAX_TOKENS} tokens "
                                            f"(this one is {n}).", "input", "invalid_value"))
    if sum(counts) > EMBED_MAX_TOTAL_TOKENS:
        raise refuse(provider, BadParam(f"Invalid 'input': the inputs hold {sum(counts)} tokens; a request may hold "
                                        f"at most {EMBED_MAX_TOTAL_TOKENS} tokens summed across all inputs.", "input",
                                        "invalid_value"))
    await admit(request, provider, "embed", work=sum(counts))
    vecs = await embed_batched(b.embedder, texts, "query", counts)
    vecs = truncate(vecs, body.get("dimensions"))
    b64 = body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": i,
             "embedding": base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() if b64 else [float(x) for x in v]}
            for i, v in enumerate(vecs)]
    tokens = sum(counts)
    return JSONResponse({"object": "list", "data": data, "model": catalogue.catalogue()["local"]["embeddings"],
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, headers=local_headers(model))


def request_id(request: Request, provider: str) -> str:
    """This request's id for the ``x-request-id`` header: Groq's is its ``x_groq.id`` ("req_..."), OpenAI's a
    "req_" and 32 hex digits (openai/_response.py reads it as ``_request_id``; errors as ``e.request_id``)."""
    rid = request.scope.get("course_request_id")
    if rid is None:
        rid = request.scope["course_request_id"] = new_id("req_") + uuid.uuid4().hex[:8]
    return rid


def with_request_id(handler, provider: str | None = None):
    """``handler`` whose every answer, errors included, carries an ``x-request-id`` header, as OpenAI's and
    Groq's do (Groq: the same id as ``x_groq.id``)."""

    async def endpoint(request: Request) -> Response:
        rid = request_id(request, provider or provider_of(request))
        try:
            response = await handler(request)
        except Reject as e:
            e.response.headers["x-request-id"] = rid
            raise
        target = getattr(response, "response", response)  # a guarded stream wraps its StreamingResponse
        target.headers["x-request-id"] = rid
        return response

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    endpoint.__doc__ = handler.__doc__
    return endpoint


def guarded(handler, provider: str | None = None):
    """``handler`` as a route endpoint run by ``common.supervise`` (cancelled when the client leaves)."""

    async def endpoint(request: Request) -> Response:
        return await supervise(request, provider or provider_of(request), lambda: handler(request))

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    endpoint.__doc__ = handler.__doc__
    return with_request_id(endpoint, provider)


def routes(prefix: str) -> list[Route]:
    """The OpenAI-shaped routes under ``prefix`` ("/v1" for OpenAI and LM Studio, "/openai/v1" for Groq).

    ``/v1/models`` is routed by the gateway, which tells OpenAI from Gemini requests. The legacy
    ``/completions`` is OpenAI's and LM Studio's only (Groq has none).
    """
    rs = [Route(f"{prefix}/chat/completions", guarded(chat_completions), methods=["POST"]),
          Route(f"{prefix}/responses", guarded(responses), methods=["POST"]),
          Route(f"{prefix}/responses/input_tokens", guarded(count_input_tokens), methods=["POST"]),
          Route(prefix + "/responses/{response_id}", with_request_id(retrieve_response), methods=["GET"]),
          Route(prefix + "/responses/{response_id}/cancel", with_request_id(cancel_response), methods=["POST"]),
          Route(f"{prefix}/embeddings", guarded(embeddings), methods=["POST"])]
    if prefix == "/v1":
        rs.append(Route(f"{prefix}/completions", guarded(completions), methods=["POST"]))
    else:
        rs += [Route(f"{prefix}/models", with_request_id(list_models), methods=["GET"]),
               Route(prefix + "/models/{model:path}", with_request_id(get_model), methods=["GET"])]
    return rs
