"""The OpenAI wire protocol, also spoken by Groq (under ``/openai/v1``) and LM Studio.

Endpoints: ``chat/completions`` (plain, streaming, tools, JSON mode, JSON schema), ``responses``
(plain, streaming, function tools, JSON schema), ``models``, ``embeddings`` (float and base64).

Every field the server reads is checked first (``check_chat``, ``check_responses``, ``check_embeddings``): a
wrong type or value is OpenAI's 400 with ``param`` naming it, before any work and before a stream starts.
Embeddings are capped as OpenAI caps them (8,192 tokens an input, 2,048 inputs, 300,000 tokens a request).
"""
from __future__ import annotations

import base64
import json
import re
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import models as catalogue
from . import grounding, model_rules, thinking, toolcall
from .grounding import TOOL_RESULT_PREFIX
from .common import (LOCAL_MODEL, BadParam, Fields, Reject, admit, backend, budget, check_faults, engine_error, local_headers,
                     new_id, now, note, primed, read_json, refuse, sse, supervise)
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
            out.append({"role": "assistant", "content": text.strip()})
        elif role in ("tool", "function"):
            name = names.get(m.get("tool_call_id", ""), m.get("name") or "the tool")
            out.append({"role": "user", "content": f"{TOOL_RESULT_PREFIX}{name} returned: {text_of(m.get('content'))}\n"
                                                   "Use this result to answer my earlier question in one or two sentences."})
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
    cid, created, t0, groq_id = new_id("chatcmpl-"), now(), time.perf_counter(), new_id("req_")
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
            name, args, gen = await toolcall.make_call(engine, messages, tools, forced, request.scope, **opts)
            call = {"id": new_id("call_"), "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            if body.get("stream"):
                return StreamingResponse(_stream_tool_call(envelope, call, gen, body, provider, t0, thought, reasoning),
                                         media_type="text/event-stream", headers=headers)
            msg = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None, **reasoning}
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


async def _stream_tool_call(envelope, call: dict, gen: Generation, body: dict, provider: str, t0: float,
                            thought: Generation | None = None, reasoning: dict | None = None):
    yield sse(_chunk(envelope, {"role": "assistant", "content": None}))
    if reasoning:
        yield sse(_chunk(envelope, reasoning))
    head = {"index": 0, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}}
    yield sse(_chunk(envelope, {"tool_calls": [head]}))
    args = call["function"]["arguments"]
    for i in range(0, len(args), 16):
        yield sse(_chunk(envelope, {"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 16]}}]}))
    last = _chunk(envelope, {}, "tool_calls")
    if provider == "groq":
        last["x_groq"]["usage"] = usage(gen, provider, time.perf_counter() - t0, thought)
    yield sse(last)
    if (body.get("stream_options") or {}).get("include_usage"):
        d = envelope(choices=[], usage=usage(gen, provider, thought=thought))
        d["object"] = "chat.completion.chunk"
        yield sse(d)
    yield sse("[DONE]")


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
            "parallel_tool_calls": True, "previous_response_id": body.get("previous_response_id"),
            "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools", []),
            "text": {"format": fmt}, "truncation": "disabled", "metadata": {}, "store": True,
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


async def responses(request: Request) -> Response:
    provider = provider_of(request)
    body = await read_json(request, provider, ("model", "input"))
    model = body["model"] if isinstance(body["model"], str) else ""
    await check_faults(request, provider, model)
    checked(provider, check_responses, body)
    plan = planned(request, provider, model, body, "responses")
    try:
        chat_msgs = responses_input(body)
        messages = to_engine_messages(chat_msgs)
    except ValueError as e:
        err = BadParam(str(e), "previous_response_id", "previous_response_not_found") \
            if "revious response" in str(e) else BadParam(f"Invalid 'input': {e}", "input", "invalid_value")
        raise refuse(provider, err) from None
    await admit(request, provider, work=budget(body.get("max_output_tokens"), thinking=plan.thinking_tokens,
                                               prompt_chars=sum(len(m["content"]) for m in messages)))
    engine = backend(request).engine
    fmt = (body.get("text") or {}).get("format") or {}
    schema = schema_from_response_format(fmt if fmt.get("type") != "json_schema" else {"type": "json_schema", "json_schema": fmt})
    tools = function_tools([t for t in body.get("tools") or [] if t.get("type") == "function"])
    mode, forced = forced_tool(body.get("tool_choice"))
    opts = apply_plan(options(body), plan)
    schema = grounding.apply(schema, messages, opts, request.scope)
    rid, mid = new_id("resp_"), new_id("msg_")
    headers = local_headers(model)
    try:
        thought = await thinking.think(engine, messages, plan.thinking_tokens, opts["max_tokens"])
        left = thinking.remaining(opts["max_tokens"], thought)
        if left is not None and left <= 0:  # the thinking used the whole limit: no answer at all
            obj = _response_object(rid, body, [], thinking.used_up(thought), "incomplete", thought)
            return JSONResponse(obj, headers=headers)
        if left is not None:
            opts["max_tokens"] = left
        if tools and toolcall.should_call(chat_msgs, mode):
            name, args, gen = await toolcall.make_call(engine, messages, tools, forced, request.scope, **opts)
            output = [{"type": "function_call", "id": new_id("fc_"), "call_id": new_id("call_"), "name": name,
                       "arguments": json.dumps(args), "status": "completed"}]
            _remember(rid, chat_msgs, output)
            obj = _response_object(rid, body, output, gen, thought=thought)
            if body.get("stream"):
                return StreamingResponse(_stream_done_items(obj), media_type="text/event-stream", headers=headers)
            return JSONResponse(obj, headers=headers)
        if body.get("stream"):
            stream = await primed(engine.stream(messages, json_schema=schema, **opts))  # errors before the 200
            return StreamingResponse(_stream_response(rid, mid, body, chat_msgs, stream, thought),
                                     media_type="text/event-stream", headers=headers)
        gen = await engine.generate(messages, json_schema=schema, **opts)
    except EngineError as e:
        return engine_error(provider, e)
    output = [_message_item(mid, gen.text)]
    _remember(rid, chat_msgs, output)
    return JSONResponse(_response_object(rid, body, output, gen, _status(gen), thought), headers=headers)


def _status(gen: Generation) -> str:
    return "incomplete" if gen.finish_reason == "length" else "completed"


def _message_item(mid: str, text: str, status: str = "completed") -> dict:
    return {"type": "message", "id": mid, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


class _Seq:
    def __init__(self) -> None:
        self.n = 0

    def event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.n, **data}
        self.n += 1
        return sse(payload, event=kind)


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
    done = _message_item(mid, final.text)
    yield seq.event("response.output_item.done", output_index=0, item=done)
    _remember(rid, chat_msgs, [done])
    yield seq.event("response.completed", response=_response_object(rid, body, [done], final, _status(final), thought))


async def _stream_done_items(obj: dict):
    seq = _Seq()
    skeleton = {**obj, "output": [], "status": "in_progress", "usage": None}
    yield seq.event("response.created", response=skeleton)
    for i, item in enumerate(obj["output"]):
        yield seq.event("response.output_item.added", output_index=i, item={**item, "arguments": "", "status": "in_progress"})
        yield seq.event("response.function_call_arguments.delta", item_id=item["id"], output_index=i, delta=item["arguments"])
        yield seq.event("response.function_call_arguments.done", item_id=item["id"], output_index=i, arguments=item["arguments"])
        yield seq.event("response.output_item.done", output_index=i, item=item)
    yield seq.event("response.completed", response=obj)


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


def guarded(handler, provider: str | None = None):
    """``handler`` as a route endpoint run by ``common.supervise`` (cancelled when the client leaves)."""

    async def endpoint(request: Request) -> Response:
        return await supervise(request, provider or provider_of(request), lambda: handler(request))

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    endpoint.__doc__ = handler.__doc__
    return endpoint


def routes(prefix: str) -> list[Route]:
    """The OpenAI-shaped routes under ``prefix`` ("/v1" for OpenAI and LM Studio, "/openai/v1" for Groq).

    ``/v1/models`` is routed by the gateway, which tells OpenAI from Gemini requests.
    """
    rs = [Route(f"{prefix}/chat/completions", guarded(chat_completions), methods=["POST"]),
          Route(f"{prefix}/responses", guarded(responses), methods=["POST"]),
          Route(f"{prefix}/embeddings", guarded(embeddings), methods=["POST"])]
    if prefix != "/v1":
        rs += [Route(f"{prefix}/models", list_models, methods=["GET"]),
               Route(prefix + "/models/{model:path}", get_model, methods=["GET"])]
    return rs
