"""Gemini's Interactions API (``client.interactions`` in google-genai), under ``/v1/`` and ``/v1beta/``.

Endpoints, as google-genai 3.4.0 calls them (``google/genai/_gaos/interactions.py``, read 2026-11-30):
``POST /{version}/interactions`` (create; ``stream: true`` answers server-sent events),
``GET /{version}/interactions/{id}``, ``DELETE /{version}/interactions/{id}`` and
``POST /{version}/interactions/{id}/cancel``.

An interaction is one turn: its ``input`` (a string, content blocks or steps) becomes Gemini contents, and the answer
is made exactly as ``generateContent`` makes it (``gemini_api``: the requested model's rules, thinking, function
calls, the honest Google Search and code execution statements). The answer's ``steps`` are typed (``thought``,
``function_call``, ``code_execution_call``, ``code_execution_result``, ``model_output``); the SDK adds
``output_text`` from them. Interactions are kept in memory (the newest ``MAX_STORED``) so that
``previous_interaction_id`` continues a conversation and ``GET`` finds them again; ``store: false`` keeps nothing.

What the local server cannot do, it says: agents (``agent="deep-research-..."``) and tools other than functions,
Google Search and code execution are refused with a message naming what is served; ``background: true`` runs the
turn before answering (it is already ``completed`` when ``create`` returns). Errors have the Interactions API's shape,
``{"error": {"code": "not_found", "message": ...}}`` (google-genai 3.4.0 ``types/interactions/error.py``: ``code`` is
a string; its tests use codes such as "too_many_requests" and "resource_exhausted").
"""
from __future__ import annotations

import base64
import json
import secrets
import time
from collections import OrderedDict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import faults, gemini_api, grounding, toolcall
from .common import (BadParam, Fields, Reject, admit, backend, check_faults, local_headers, new_id, note, read_json, sse,
                     supervise)
from .engine import EngineError, Generation

MAX_STORED = 200  # interactions kept for previous_interaction_id and GET, oldest forgotten first (as openai_api)
_stored: OrderedDict[str, dict] = OrderedDict()  # id -> {"interaction": as GET returns it, "contents": [...]}

# The tools the local server serves, by the Interactions API's ``type`` (types/interactions/tool.py lists the others:
# computer_use, file_search, google_maps, mcp_server, retrieval, tool_search, url_context).
SERVED_TOOLS = ("function", "google_search", "code_execution")
TOOL_CHOICES = ("auto", "any", "none", "validated")
THINKING_LEVELS = ("minimal", "low", "medium", "high", "xhigh")
REQUEST = "CreateInteractionRequest"


# ---------------------------------------------------------------------- errors in the Interactions API's shape

def error(status: int, message: str, code: str | None = None) -> JSONResponse:
    """``{"error": {"code": "not_found", "message": ...}}`` with the HTTP ``status``."""
    word = code or faults.GEMINI_STATUS.get(status, "UNKNOWN").lower()
    return JSONResponse({"error": {"code": word, "message": message}}, status_code=status)


def _reshaped(response: Response) -> Response:
    """A Gemini-shaped error answer (``{"error": {code: 404, status: "NOT_FOUND", message}}``, as ``gemini_api`` and
    ``common`` make them) in the Interactions API's shape; any other answer as it is."""
    if not isinstance(response, JSONResponse) or response.status_code < 400:
        return response
    try:
        err = json.loads(response.body)["error"]
        message, status = str(err["message"]), str(err["status"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return response  # already in the Interactions API's shape
    # gemini_api's 404 for a model names the method of a models path; here the method is createInteraction
    message = message.replace(", or is not supported for get.", ", or is not supported for createInteraction.")
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse({"error": {"code": status.lower(), "message": message}}, status_code=response.status_code,
                        headers=headers)


def _bad(message: str, status: int = 400) -> Reject:
    return Reject(error(status, message + " (from the course's local server)"))


def _checked(check) -> Any:
    """Run a field check; a ``BadParam`` becomes a 400 in the Interactions API's shape."""
    try:
        return check()
    except BadParam as e:
        raise _bad(str(e).removesuffix(".") + ".") from None


# ---------------------------------------------------------------------- input -> Gemini contents

STEP_TYPES = ("user_input", "model_output", "thought", "function_call", "function_result", "code_execution_call",
              "code_execution_result", "google_search_call", "google_search_result")
MEDIA = ("image", "audio", "video", "document")


def input_steps(value: Any) -> list[dict]:
    """``input`` as a list of steps: a string or content blocks become one ``user_input`` step."""
    if isinstance(value, str):
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, dict) for i in items):
        raise _bad(f"* {REQUEST}.input: send a string, a list of content blocks such as {{'type': 'text', "
                   "'text': '...'}, or a list of steps such as {'type': 'user_input', 'content': [...]}.")
    steps, blocks = [], []
    for item in items:
        kind = item.get("type")
        if kind in STEP_TYPES:
            if blocks:
                steps.append({"type": "user_input", "content": blocks})
                blocks = []
            steps.append(item)
        elif "role" in item:  # the older turn shape {role, content}
            role, content = item.get("role"), item.get("content")
            content = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            steps.append({"type": "model_output" if role == "model" else "user_input", "content": content})
        else:
            blocks.append(item if "type" in item else {**item, "type": "text"})
    if blocks:
        steps.append({"type": "user_input", "content": blocks})
    return steps


def content_part(block: Any, where: str) -> dict:
    """One content block (``{"type": "text", "text": ...}``, an image ...) as a Gemini part."""
    if not isinstance(block, dict):
        raise _bad(f"* {REQUEST}.{where}: each content block must be an object such as {{'type': 'text', "
                   "'text': '...'}.")
    kind = block.get("type")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise _bad(f"* {REQUEST}.{where}.text: a text block needs 'text', a string.")
        return {"text": block["text"]}
    if kind in MEDIA:
        mime = block.get("mime_type") or block.get("mimeType") or ("application/pdf" if kind == "document" else
                                                                   f"{kind}/*")
        if block.get("data") is not None:
            return {"inlineData": {"mimeType": str(mime), "data": str(block["data"])}}
        if block.get("uri") is not None:
            return {"fileData": {"mimeType": str(mime), "fileUri": str(block["uri"])}}
        raise _bad(f"* {REQUEST}.{where}: an {kind} block needs 'data' (base64) or 'uri'.")
    raise _bad(f"* {REQUEST}.{where}.type: the local server reads content of type 'text', "
               f"{', '.join(repr(m) for m in MEDIA)}, not {str(kind)[:40]!r}.")


def _signature() -> str:
    """An opaque signature in the shape Gemini gives (the local server's own; nothing checks it)."""
    return base64.b64encode(b"local-thought:" + secrets.token_bytes(24)).decode()


def to_contents(steps: list[dict], call_names: dict[str, str]) -> list[dict]:
    """Steps as Gemini contents (``{role, parts}``), same-role turns merged; ``call_names``: call id -> function
    name, for a ``function_result`` that does not repeat its name (updated with the calls met here)."""
    out: list[dict] = []

    def add(role: str, part: dict) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["parts"].append(part)
        else:
            out.append({"role": role, "parts": [part]})

    for i, step in enumerate(steps):
        kind, where = step.get("type"), f"input[{i}]"
        if kind in ("user_input", "model_output"):
            content = step.get("content") or []
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            if not isinstance(content, list):
                raise _bad(f"* {REQUEST}.{where}.content: a list of content blocks.")
            for j, block in enumerate(content):
                add("user" if kind == "user_input" else "model", content_part(block, f"{where}.content[{j}]"))
        elif kind == "function_call":
            name, args = step.get("name"), step.get("arguments") or {}
            if not isinstance(name, str) or not isinstance(args, dict):
                raise _bad(f"* {REQUEST}.{where}: a function_call step needs 'name' (a string) and 'arguments' "
                           "(an object).")
            call_names[str(step.get("id", ""))] = name
            part = {"functionCall": {"name": name, "args": args}}
            first = not (out and out[-1]["role"] == "model" and any("functionCall" in p for p in out[-1]["parts"]))
            add("model", {**part, "thoughtSignature": _signature()} if first else part)
        elif kind == "function_result":
            call_id = step.get("call_id")
            if not isinstance(call_id, str):
                raise _bad(f"* {REQUEST}.{where}.call_id: a function_result needs the 'call_id' of the "
                           "function_call it answers (the step's 'id').")
            name = step.get("name") or call_names.get(call_id)
            if not name:
                raise _bad(f"* {REQUEST}.{where}.call_id: no function_call with id {call_id[:60]!r} in this "
                           "conversation: send previous_interaction_id, or the function_call step before its result.")
            add("user", {"functionResponse": {"name": str(name), "response": {"result": step.get("result")}}})
        elif kind == "code_execution_call":
            code = (step.get("arguments") or {}).get("code", "")
            add("model", {"executableCode": {"language": "PYTHON", "code": str(code)}})
        elif kind == "code_execution_result":
            result = step.get("result")
            add("model", {"codeExecutionResult": {"outcome": "OUTCOME_FAILED" if step.get("is_error") else
                                                  "OUTCOME_OK", "output": result if isinstance(result, str)
                                                  else json.dumps(result)}})
        # thought, google_search_call and google_search_result steps carry nothing the local model reads
    return out


# ---------------------------------------------------------------------- the request -> a generateContent body

def check_create(body: dict) -> None:
    """The fields of a create request the local server reads, with their types, before any work."""
    f = Fields("gemini", body, request_name=REQUEST)
    f.string("model")
    f.string("previous_interaction_id")
    f.string("system_instruction")
    for key in ("stream", "store", "background"):
        f.boolean(key)
    tools = f.array("tools")
    listing = f.child("tools", {})
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            raise listing.wrong_type(i, "an object such as {'type': 'google_search'}", tool)
        t = listing.child(i, tool)
        kind = t.string("type", required=True)
        if kind not in SERVED_TOOLS:
            raise BadParam(f"* {REQUEST}.tools[{i}].type: the local server serves tools of type "
                           f"{', '.join(repr(s) for s in SERVED_TOOLS)}, not {str(kind)[:40]!r}", f"tools[{i}].type")
        if kind == "function":
            t.string("name", required=True, nonempty=True)
            t.string("description")
            t.object("parameters")
    config = f.object("generation_config")
    if config is not None:
        config.integer("max_output_tokens", lo=1)
        config.number("temperature", 0, 2)
        config.number("top_p", 0, 1)
        config.integer("seed", lo=-(2**31), hi=2**31 - 1)
        config.strings("stop_sequences", gemini_api.MAX_STOP_SEQUENCES, single=False)
        config.string("thinking_level", THINKING_LEVELS)
        config.string("thinking_summaries", ("auto", "none"))
        choice = config.raw("tool_choice")
        if isinstance(choice, str):
            config.string("tool_choice", TOOL_CHOICES)
        elif choice is not None:
            allowed = config.object("tool_choice").object("allowed_tools")
            if allowed is not None:
                allowed.string("mode", TOOL_CHOICES)
                allowed.strings("tools", single=False)


def response_schema(body: dict) -> dict | None:
    """The JSON schema ``response_format`` asks for (``{"type": "text", "mime_type": "application/json", "schema":
    {...}}``, a list holding one, or a bare JSON schema), or None."""
    fmt = body.get("response_format")
    if isinstance(fmt, list):
        fmt = next((x for x in fmt if isinstance(x, dict) and x.get("type") == "text"), None)
    if not isinstance(fmt, dict):
        return {"type": "object"} if body.get("response_mime_type") == "application/json" else None
    if fmt.get("type") == "text":
        return fmt.get("schema") if isinstance(fmt.get("schema"), dict) else (
            {"type": "object"} if fmt.get("mime_type") == "application/json" else None)
    return fmt  # a JSON schema given directly


def generate_body(body: dict, contents: list[dict]) -> dict:
    """The generateContent request that makes this interaction's answer (``gemini_api`` reads it)."""
    out: dict[str, Any] = {"contents": contents}
    if body.get("system_instruction"):
        out["systemInstruction"] = {"parts": [{"text": body["system_instruction"]}]}
    cfg = body.get("generation_config") or {}
    gen: dict[str, Any] = {k2: cfg[k1] for k1, k2 in (("max_output_tokens", "maxOutputTokens"),
                                                      ("temperature", "temperature"), ("top_p", "topP"),
                                                      ("seed", "seed"), ("stop_sequences", "stopSequences"))
                           if cfg.get(k1) is not None}
    if cfg.get("thinking_level") is not None or cfg.get("thinking_summaries") == "auto":
        gen["thinkingConfig"] = {k: v for k, v in (("thinkingLevel", cfg.get("thinking_level")),
                                                   ("includeThoughts", cfg.get("thinking_summaries") == "auto"))
                                 if v is not None}
    schema = response_schema(body)
    if schema is not None:
        gen.update(responseMimeType="application/json", responseJsonSchema=schema)
    if gen:
        out["generationConfig"] = gen
    tools: list[dict] = []
    functions = [{"name": t["name"], "description": t.get("description", ""),
                  **({"parametersJsonSchema": t["parameters"]} if t.get("parameters") else {})}
                 for t in body.get("tools") or [] if t.get("type") == "function"]
    if functions:
        tools.append({"functionDeclarations": functions})
    kinds = {t.get("type") for t in body.get("tools") or []}
    if "google_search" in kinds:
        tools.append({"googleSearch": {}})
    if "code_execution" in kinds:
        tools.append({"codeExecution": {}})
    if tools:
        out["tools"] = tools
    choice = cfg.get("tool_choice")
    if isinstance(choice, str):
        out["toolConfig"] = {"functionCallingConfig": {"mode": choice.upper()}}
    elif isinstance(choice, dict) and isinstance(choice.get("allowed_tools"), dict):
        allowed = choice["allowed_tools"]
        out["toolConfig"] = {"functionCallingConfig": {"mode": str(allowed.get("mode") or "auto").upper(),
                                                       "allowedFunctionNames": allowed.get("tools") or []}}
    return out


class Turn:
    """One create request, checked: its steps, the whole conversation as Gemini contents, and ``gemini_api``'s
    reading of it (``req``: model rules, options, tools)."""

    def __init__(self, body: dict):
        _checked(lambda: check_create(body))
        if body.get("agent") is not None or body.get("agent_config") is not None:
            raise _bad("The local server runs models, not agents: it cannot do a Deep Research task or any other "
                       "agent's work. Send model='...' (for example the course's Gemini model) instead of agent.")
        self.model = body.get("model")
        if not self.model:
            raise _bad(f"* {REQUEST}.model: model is not specified. Send model='...' with the input.")
        if body.get("input") is None:
            raise _bad(f"* {REQUEST}.input: input is not specified. Send input='...' (a string, content blocks "
                       "or steps).")
        self.body = body
        self.previous = body.get("previous_interaction_id")
        history: list[dict] = []
        names: dict[str, str] = {}
        if self.previous:
            record = _stored.get(self.previous)
            if record is None:
                raise Reject(not_found(self.previous))
            history, names = [dict(c, parts=list(c["parts"])) for c in record["contents"]], dict(record["calls"])
        self.steps = input_steps(body["input"])
        new = to_contents(self.steps, names)
        if history and new and history[-1]["role"] == new[0]["role"]:  # one turn, as same-role turns are merged
            history[-1]["parts"] += new[0]["parts"]
            new = new[1:]
        self.contents, self.calls = history + new, names
        self.req = gemini_api.GenerateRequest(generate_body(body, self.contents), self.model)


def not_found(interaction_id: str) -> JSONResponse:
    return error(404, f"Interaction {interaction_id[:80]!r} was not found: it was never created on this server, was "
                      f"created with store=false, or is older than the {MAX_STORED} interactions the local server "
                      "keeps (they are also lost when the server restarts). Create a new interaction. (from the "
                      "course's local server)")


# ---------------------------------------------------------------------- the answer

def timestamp() -> str:
    """Now in the Interactions API's format, ISO 8601 ``YYYY-MM-DDThh:mm:ssZ`` (REST reference, Interaction)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def thought_step(thought: Generation | None, turn: Turn) -> list[dict]:
    """The ``thought`` step (with a summary when ``thinking_summaries="auto"``), when the model thought."""
    if thought is None:
        return []
    step: dict[str, Any] = {"type": "thought", "signature": _signature()}
    if turn.req.plan.show_reasoning and thought.text:
        step["summary"] = [{"type": "text", "text": thought.text}]
    return [step]


def code_steps(code: Generation | None) -> list[dict]:
    """The code the local model wrote (``code_execution_call``) and its result: not run (``is_error``)."""
    if code is None:
        return []
    call_id = "call_" + new_id("")[:16]
    return [{"type": "code_execution_call", "id": call_id, "arguments": {"language": "python", "code": code.text}},
            {"type": "code_execution_result", "call_id": call_id, "result": gemini_api.NOT_RUN_OUTPUT,
             "is_error": True}]


def usage(prompt: int, output: int, thought: Generation | None) -> dict:
    """The Interactions API's ``usage`` (types/interactions/usage.py): thinking reported apart, billed as output."""
    thoughts = thought.completion_tokens if thought else 0
    u = {"total_input_tokens": prompt, "total_output_tokens": output, "total_tokens": prompt + output + thoughts}
    if thoughts:
        u["total_thought_tokens"] = thoughts
    return u


def interaction(iid: str, turn: Turn, status: str, steps: list[dict] | None, use: dict | None) -> dict:
    """An ``Interaction`` resource (its ``created`` and ``updated`` are now)."""
    obj: dict[str, Any] = {"id": iid, "object": "interaction", "status": status, "model": turn.model,
                           "created": timestamp(), "updated": timestamp()}
    if steps is not None:
        obj["steps"] = steps
    if use is not None:
        obj["usage"] = use
    for key in ("previous_interaction_id", "system_instruction"):
        if turn.body.get(key):
            obj[key] = turn.body[key]
    return obj


def model_turn(steps: list[dict]) -> list[dict]:
    """The answer's steps as the model's turn in Gemini contents (for the next ``previous_interaction_id``)."""
    return to_contents([s for s in steps if s["type"] != "thought"], {})


def remember(turn: Turn, obj: dict) -> None:
    """Keep a finished interaction (unless ``store`` is false): ``GET`` shows its input steps, then its answer."""
    if turn.body.get("store") is False:
        return
    answer = obj.get("steps") or []
    calls = dict(turn.calls)
    calls.update({s["id"]: s["name"] for s in answer if s["type"] == "function_call"})
    contents = [dict(c, parts=list(c["parts"])) for c in turn.contents]
    for c in model_turn(answer):
        if contents and contents[-1]["role"] == c["role"]:
            contents[-1]["parts"] += c["parts"]
        else:
            contents.append(c)
    _stored[obj["id"]] = {"interaction": {**obj, "steps": turn.steps + answer}, "contents": contents, "calls": calls,
                          "input": turn.body.get("input")}
    _stored.move_to_end(obj["id"])
    while len(_stored) > MAX_STORED:
        _stored.popitem(last=False)


async def _answer_steps(engine, turn: Turn, request: Request) -> tuple[str, list[dict], dict, Any]:
    """(status, the answer's steps before its text, usage so far, what comes next) for one turn.

    What comes next is None (the answer is complete), or ``(code, thought)`` when the text is still to write.
    """
    req = turn.req
    thought, spent = await gemini_api.think_first(engine, req)
    if spent:  # thinking used every output token: no text, as Gemini does
        prompt = thought.prompt_tokens if thought else 0
        return "incomplete", thought_step(thought, turn), usage(prompt, 0, thought), None
    if req.wants_call():
        found, gen = await toolcall.make_calls(engine, req.messages, req.tools, req.forced, request.scope, **req.opts)
        calls = [{"type": "function_call", "id": "call_" + new_id("")[:16], "name": name, "arguments": args}
                 for name, args in found]
        return "requires_action", thought_step(thought, turn) + calls, usage(gen.prompt_tokens, gen.completion_tokens,
                                                                              thought), None
    code = await req.code(engine)
    return "completed", thought_step(thought, turn) + code_steps(code), {}, (code, thought)


def _statements(turn: Turn, code: Generation | None) -> str:
    """The labelled statements that start the answer's text (no web search made; the code not run)."""
    if turn.req.schema is not None:  # a JSON answer stays valid JSON: the statements are in the inspector's notes
        return ""
    return ((gemini_api.NO_SEARCH_NOTE if "search" in turn.req.builtin else "") +
            (gemini_api.NOT_RUN_NOTE if code is not None else ""))


async def create(request: Request) -> Response:
    body = await read_json(request, "gemini")
    turn = Turn(body)
    gemini_api.check_retired(request, turn.model)
    await check_faults(request, "gemini", turn.model)
    gemini_api.require_known(request, turn.model)
    gemini_api.note_plan(request, turn.req)
    if body.get("background"):
        note(request, "background=true: the local server ran the interaction before answering, so it is already "
                      "completed when create returns (Google answers at once and works on)")
    req = turn.req
    req.schema = grounding.apply(req.schema, req.messages, req.opts, request.scope)
    await admit(request, "gemini", work=req.work())
    engine = backend(request).engine
    iid, headers = new_id("")[:24], local_headers(turn.model)
    if body.get("stream"):
        return await _stream(request, engine, turn, iid, headers)
    status, steps, use, rest = await _answer_steps(engine, turn, request)
    if rest is not None:
        code, thought = rest
        gen = await engine.generate(req.messages, json_schema=req.schema, **req.opts)
        text = _statements(turn, code) + (gemini_api.enum_text(gen.text) if req.enum else gen.text)
        steps.append({"type": "model_output", "content": [{"type": "text", "text": text}]})
        status = "incomplete" if gen.finish_reason == "length" else "completed"
        use = usage(gen.prompt_tokens, gen.completion_tokens + (code.completion_tokens if code else 0), thought)
    obj = interaction(iid, turn, status, steps, use)
    remember(turn, obj)
    return JSONResponse(obj, headers=headers)


# ---------------------------------------------------------------------- streaming (server-sent events)

def _event(kind: str, **fields: Any) -> bytes:
    return sse({"event_type": kind, **fields})


async def _stream(request: Request, engine, turn: Turn, iid: str, headers: dict) -> Response:
    """``stream: true``: ``interaction.created``, then for each step ``step.start`` (``step.delta`` pieces of text)
    ``step.stop``, then ``interaction.completed`` (types/interactions/interactionsseevent.py lists the events).
    As Google streams it, the input steps are not repeated."""
    status, steps, use, rest = await _answer_steps(engine, turn, request)
    pieces = None
    if rest is not None:
        pieces = engine.stream(turn.req.messages, json_schema=turn.req.schema, **turn.req.opts)
        first = await pieces.__anext__()  # engine errors (too long a prompt) become a proper HTTP error, before 200

    async def events():
        nonlocal status, use
        yield _event("interaction.created", interaction=interaction(iid, turn, "in_progress", None, None))
        for index, step in enumerate(steps):
            yield _event("step.start", index=index, step=step)
            yield _event("step.stop", index=index)
        answer = list(steps)
        if pieces is not None:
            code, thought = rest
            index, text, final = len(steps), _statements(turn, code), None
            yield _event("step.start", index=index, step={"type": "model_output", "content": []})
            if text:
                yield _event("step.delta", index=index, delta={"type": "text", "text": text})
            item: Any = first
            try:
                while item is not None:
                    if isinstance(item, Generation):
                        final = item
                        break
                    if not turn.req.enum:  # an enum value is sent whole, at the end
                        yield _event("step.delta", index=index, delta={"type": "text", "text": item})
                    text += item if not turn.req.enum else ""
                    item = await pieces.__anext__()
            except StopAsyncIteration:
                pass
            except EngineError as e:
                yield _event("error", error={"code": faults.GEMINI_STATUS.get(e.status, "INTERNAL").lower(),
                                             "message": e.message})
                return
            final = final or Generation(text, 0, 0)
            if turn.req.enum:
                text = gemini_api.enum_text(final.text)
                yield _event("step.delta", index=index, delta={"type": "text", "text": text})
            yield _event("step.stop", index=index)
            answer.append({"type": "model_output", "content": [{"type": "text", "text": text}]})
            status = "incomplete" if final.finish_reason == "length" else "completed"
            use = usage(final.prompt_tokens, final.completion_tokens + (code.completion_tokens if code else 0),
                        thought)
        obj = interaction(iid, turn, status, answer, use)
        remember(turn, obj)
        yield _event("interaction.completed", interaction={k: v for k, v in obj.items() if k != "steps"})

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# ---------------------------------------------------------------------- get, delete, cancel

def _stored_or_404(request: Request) -> dict:
    iid = request.path_params["interaction_id"]
    record = _stored.get(iid)
    if record is None:
        raise Reject(not_found(iid))
    return record


async def get(request: Request) -> Response:
    """``GET .../interactions/{id}``: the whole turn (its input steps, then the answer); ``include_input=true`` adds
    the ``input`` as sent; ``stream=true`` sends the finished interaction again as events."""
    await check_faults(request, "gemini", None)
    record = _stored_or_404(request)
    obj = dict(record["interaction"])
    if request.query_params.get("include_input") in ("true", "True", "1"):
        obj["input"] = record["input"]
    if request.query_params.get("stream") not in ("true", "True", "1"):
        return JSONResponse(obj, headers=local_headers(None))

    async def replay():
        yield _event("interaction.created", interaction={k: v for k, v in obj.items() if k != "steps"})
        for index, step in enumerate(s for s in obj["steps"] if s["type"] != "user_input"):
            yield _event("step.start", index=index, step=step)
            yield _event("step.stop", index=index)
        yield _event("interaction.completed", interaction={k: v for k, v in obj.items() if k != "steps"})

    return StreamingResponse(replay(), media_type="text/event-stream", headers=local_headers(None))


async def delete(request: Request) -> Response:
    """``DELETE .../interactions/{id}``: forget it (``{}``, as Google answers: types/interactions/empty.py)."""
    await check_faults(request, "gemini", None)
    _stored_or_404(request)
    _stored.pop(request.path_params["interaction_id"], None)
    return JSONResponse({}, headers=local_headers(None))


async def cancel(request: Request) -> Response:
    """``POST .../interactions/{id}/cancel``: only a background interaction still running can be cancelled; the
    local server finishes every interaction before answering, so there is never one to cancel."""
    await check_faults(request, "gemini", None)
    record = _stored_or_404(request)
    status = record["interaction"]["status"]
    return error(400, f"This interaction has already finished (status {status!r}): only a background interaction "
                      "that is still running can be cancelled, and the local server finishes each interaction before "
                      "answering. (from the course's local server)", "failed_precondition")


# ---------------------------------------------------------------------- routing

def _supervised(handler):
    """Run ``handler`` under ``common.supervise`` (cancelled when the client leaves); every error answer in the
    Interactions API's shape."""

    async def route(request: Request) -> Response:
        try:
            return _reshaped(await supervise(request, "gemini", lambda: handler(request)))
        except Reject as e:
            return _reshaped(e.response)

    return route


def routes() -> list[Route]:
    """The Interactions API's routes, under ``/v1`` (google-genai's default) and ``/v1beta``."""
    out = []
    for version in ("v1", "v1beta"):
        base = f"/{version}/interactions"
        out += [Route(base, _supervised(create), methods=["POST"]),
                Route(base + "/{interaction_id}", _supervised(get), methods=["GET"]),
                Route(base + "/{interaction_id}", _supervised(delete), methods=["DELETE"]),
                Route(base + "/{interaction_id}/cancel", _supervised(cancel), methods=["POST"])]
    return out
