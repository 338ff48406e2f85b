"""The OpenAI wire protocol, also spoken by Groq (under ``/openai/v1``) and LM Studio.

Endpoints: ``chat/completions`` (plain, streaming, tools, JSON mode, JSON schema), ``responses``
(plain, streaming, function tools, JSON schema), ``models``, ``embeddings`` (float and base64).
"""
from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import models as catalogue
from . import model_rules, thinking, toolcall
from .common import (LOCAL_MODEL, Reject, backend, check_faults, engine_error, local_headers, new_id, now,
                     read_json, sse)
from .embeddings import truncate
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
            out.append({"role": "user", "content": f"The tool {name} returned: {text_of(m.get('content'))}\n"
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
    model = str(body["model"])
    await check_faults(request, provider, model)
    if not isinstance(body["messages"], list) or not body["messages"]:
        raise Reject(engine_error(provider, EngineError(400, "'messages' must be a non-empty list of messages.")))
    plan = planned(request, provider, model, body, "chat")
    try:
        messages = to_engine_messages(body["messages"])
    except ValueError as e:
        raise Reject(engine_error(provider, EngineError(400, f"Invalid 'messages': {e}.")))
    engine = backend(request).engine
    tools = function_tools(body.get("tools"))
    mode, forced = forced_tool(body.get("tool_choice"))
    schema = schema_from_response_format(body.get("response_format"))
    opts = apply_plan(options(body), plan)
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
            name, args, gen = await toolcall.make_call(engine, messages, tools, forced, **opts)
            call = {"id": new_id("call_"), "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            if body.get("stream"):
                return StreamingResponse(_stream_tool_call(envelope, call, gen, body, provider, t0, thought, reasoning),
                                         media_type="text/event-stream", headers=headers)
            msg = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None, **reasoning}
            return JSONResponse(envelope(choices=[{"index": 0, "message": msg, "logprobs": None,
                                                   "finish_reason": "tool_calls"}],
                                         usage=usage(gen, provider, time.perf_counter() - t0, thought)), headers=headers)
        if body.get("stream"):
            stream = engine.stream(messages, json_schema=schema, **opts)
            return StreamingResponse(_stream_text(envelope, stream, body, provider, t0, thought, reasoning),
                                     media_type="text/event-stream", headers=headers)
        n = max(1, min(int(body.get("n") or 1), 4))
        top = int(body.get("top_logprobs") or 0) if body.get("logprobs") else None
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
    model = str(body["model"])
    await check_faults(request, provider, model)
    plan = planned(request, provider, model, body, "responses")
    try:
        chat_msgs = responses_input(body)
        messages = to_engine_messages(chat_msgs)
    except ValueError as e:
        raise Reject(engine_error(provider, EngineError(400, f"Invalid 'input': {e}")))
    engine = backend(request).engine
    fmt = (body.get("text") or {}).get("format") or {}
    schema = schema_from_response_format(fmt if fmt.get("type") != "json_schema" else {"type": "json_schema", "json_schema": fmt})
    tools = function_tools([t for t in body.get("tools") or [] if t.get("type") == "function"])
    mode, forced = forced_tool(body.get("tool_choice"))
    opts = apply_plan(options(body), plan)
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
            name, args, gen = await toolcall.make_call(engine, messages, tools, forced, **opts)
            output = [{"type": "function_call", "id": new_id("fc_"), "call_id": new_id("call_"), "name": name,
                       "arguments": json.dumps(args), "status": "completed"}]
            _remember(rid, chat_msgs, output)
            obj = _response_object(rid, body, output, gen, thought=thought)
            if body.get("stream"):
                return StreamingResponse(_stream_done_items(obj), media_type="text/event-stream", headers=headers)
            return JSONResponse(obj, headers=headers)
        if body.get("stream"):
            stream = engine.stream(messages, json_schema=schema, **opts)
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


async def embeddings(request: Request, provider: str | None = None) -> Response:
    """``POST .../embeddings``; ``provider`` overrides the error shape (Hugging Face's router reuses this)."""
    provider = provider or provider_of(request)
    body = await read_json(request, provider, ("model", "input"))
    model = str(body["model"])
    await check_faults(request, provider, model)
    inp = body["input"]
    texts = [inp] if isinstance(inp, str) else list(inp) if isinstance(inp, list) else None
    if not texts or not all(isinstance(t, str) for t in texts):
        raise Reject(engine_error(provider, EngineError(400, "'input' must be a non-empty string or list of strings.")))
    if any(t == "" for t in texts):
        raise Reject(engine_error(provider, EngineError(400, "'input' cannot contain an empty string.")))
    try:
        model_rules.check_dimensions(provider, model, body.get("dimensions"))
    except model_rules.RuleError as e:
        raise Reject(e.hf_response() if provider == "huggingface" else e.openai_response()) from None
    b = backend(request)
    import anyio

    vecs = await anyio.to_thread.run_sync(b.embedder.embed, texts)
    vecs = truncate(vecs, body.get("dimensions"))
    b64 = body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": i,
             "embedding": base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() if b64 else [float(x) for x in v]}
            for i, v in enumerate(vecs)]
    tokens = 0
    for t in texts:
        try:
            tokens += await b.engine.count_tokens(t)
        except EngineError:
            tokens += len(t.split())
    return JSONResponse({"object": "list", "data": data, "model": catalogue.catalogue()["local"]["embeddings"],
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, headers=local_headers(model))


def routes(prefix: str) -> list[Route]:
    """The OpenAI-shaped routes under ``prefix`` ("/v1" for OpenAI and LM Studio, "/openai/v1" for Groq).

    ``/v1/models`` is routed by the gateway, which tells OpenAI from Gemini requests.
    """
    rs = [Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]),
          Route(f"{prefix}/responses", responses, methods=["POST"]),
          Route(f"{prefix}/embeddings", embeddings, methods=["POST"])]
    if prefix != "/v1":
        rs += [Route(f"{prefix}/models", list_models, methods=["GET"]),
               Route(prefix + "/models/{model:path}", get_model, methods=["GET"])]
    return rs
