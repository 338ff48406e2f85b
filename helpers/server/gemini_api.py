"""The Gemini wire protocol (what ``google-genai`` speaks), under ``/v1/`` and ``/v1beta/``.

Endpoints: ``models/{m}:generateContent`` (text, system instruction, generation config, JSON with
a schema, function calling), ``:streamGenerateContent?alt=sse``, ``:countTokens``, ``:embedContent``,
``:batchEmbedContents``, ``GET models`` and ``GET models/{m}``.

Google's JSON accepts each field in camelCase (``systemInstruction``) or in its proto name
(``system_instruction``); so does this module. Images cannot be seen by the local model: they
become a note in the prompt saying so. A PDF's text is read (with ``pypdf`` when it is installed) and
given to the model, labelled; ``countTokens`` counts its pages as Gemini does.

Gemini's built-in tools answer honestly: ``googleSearch`` in Gemini's shape but with a labelled statement that
no web search was made, ``codeExecution`` with the code the local model wrote and a result saying it was not run.
An unknown model name is Google's 404 NOT_FOUND, for the API version and method of the path requested.

Every field the server reads is checked first (``check_generate``): a wrong type or value is Google's 400
INVALID_ARGUMENT naming the field, before any work and before a stream starts. Embeddings: at most 100
requests a batch; an input is cut to gemini-embedding-001's 2,048 tokens, as Google cuts it.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

import secrets

from .. import models as catalogue
from . import faults, grounding, model_rules, thinking, toolcall
from .grounding import TOOL_RESULT_PREFIX
from .common import (LOCAL_MODEL, BadParam, Fields, Reject, admit, api_key, backend, budget, check_faults, engine_error, local_headers,
                     new_id, note, primed, read_json, refuse, sse, supervise)
from .embeddings import embed_batched, truncate
from .engine import EngineError, Generation

ACTIONS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents")
CHAT_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
EMBED_METHODS = ["embedContent", "batchEmbedContents"]
LOCAL_CONTEXT = 8192  # the local engine's context window (tokens)
JSON_MAX_TOKENS = 512  # default room for a JSON answer when maxOutputTokens is not set
MAX_CANDIDATES = 8


# ---------------------------------------------------------------------- small helpers

def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for a camelCase ``name``, also found under its snake_case spelling."""
    if not isinstance(obj, dict):
        return default
    if name in obj and obj[name] is not None:
        return obj[name]
    value = obj.get(_snake(name))
    return default if value is None else value


def invalid(message: str, status: int = 400) -> Reject:
    """A Gemini-shaped 400 INVALID_ARGUMENT (or another status) to raise."""
    return Reject(faults.bad_request("gemini", message, status))


# ---------------------------------------------------------------------- contents -> engine messages

def _size_of_base64(data: Any) -> int:
    text = str(data or "").strip().rstrip("=")
    return len(text) * 3 // 4


def _decode_text(data: Any) -> str | None:
    raw = str(data or "")
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_" if ("-" in raw or "_" in raw) else None
                                ).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------- PDF documents

PDF_MIME = "application/pdf"
PDF_MAX_CHARS = 12_000  # the most of a PDF's text given to the local model (its context is 8,192 tokens)
# Tokens per PDF page, as Google documents them (read 2026-11-30): "Each document page is equivalent to 258 tokens"
# (ai.google.dev/gemini-api/docs/document-processing, the Gemini 2.x figure), while the media-resolution page gives
# Gemini 3 models a default of MEDIA_RESOLUTION_MEDIUM for PDFs, 560 tokens a page (ai.google.dev/gemini-api/docs/
# media-resolution, "Token counts"; the two pages disagree, and the newer one is about Gemini 3).
PDF_PAGE_TOKENS_GEMINI_3 = 560
PDF_PAGE_TOKENS_OLDER = 258


def _decode_bytes(data: Any) -> bytes | None:
    raw = str(data or "")
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_" if ("-" in raw or "_" in raw) else None)
    except (ValueError, binascii.Error):
        return None


def pdf_pages_and_text(data: bytes) -> tuple[int, str | None]:
    """(pages, the text of every page or None when it cannot be read) of a PDF given as bytes.

    The text comes from ``pypdf`` when it is installed; without it only the pages are counted (from the page
    objects in the file), and the text is None.
    """
    try:
        import pypdf
    except ImportError:
        pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
        return max(pages, 1), None
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        texts = [(page.extract_text() or "").strip() for page in reader.pages]
    except Exception:  # pypdf raises many kinds of error for a damaged or encrypted file
        return max(len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)), 1), None
    return len(texts), "\n\n".join(t for t in texts if t)


def pdf_note(data: Any) -> str:
    """What the local model reads for an inline PDF: its text, labelled, or a plain statement that it cannot."""
    raw = _decode_bytes(data)
    if not raw or not raw.startswith(b"%PDF"):
        return "[A file marked as a PDF was attached, but it is not a PDF, so the local server could not read it.]"
    pages, text = pdf_pages_and_text(raw)
    if text is None:
        return (f"[A PDF of {pages} page(s) was attached. The local server could not read its text (it reads PDFs "
                "with the pypdf package, which is not installed or could not read this file), so the local model "
                "cannot see the document.]")
    if not text.strip():
        return (f"[A PDF of {pages} page(s) was attached. It has no text the local server can read (scanned pages "
                "are pictures), so the local model cannot see what it shows.]")
    cut = len(text) > PDF_MAX_CHARS
    return (f"[The text of the attached PDF ({pages} page(s)), as read by the local server"
            f"{', cut to its first ' + format(PDF_MAX_CHARS, ',') + ' characters' if cut else ''}:]\n"
            f"{text[:PDF_MAX_CHARS]}\n[End of the PDF's text.]")


def pdf_page_tokens(model: str) -> int:
    """Tokens one PDF page counts for ``model`` (Gemini 3 and later: 560; earlier models: 258)."""
    m = re.match(r"gemini-(\d+)", faults.base_model(model))
    return PDF_PAGE_TOKENS_GEMINI_3 if m and int(m.group(1)) >= 3 else PDF_PAGE_TOKENS_OLDER


def part_text(part: Any) -> str:
    """What the local model reads for one Gemini part."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        raise ValueError(f"each part must be an object such as {{'text': '...'}}, not {type(part).__name__}")
    if field(part, "thought"):
        return ""  # a model's thinking summary is not replayed
    if "text" in part:
        return str(part["text"] or "")
    blob = field(part, "inlineData")
    if blob is not None:
        mime = str(field(blob, "mimeType", "application/octet-stream"))
        size = _size_of_base64(field(blob, "data"))
        if mime == PDF_MIME:
            return pdf_note(field(blob, "data"))
        if mime.startswith("text/") or mime in ("application/json", "application/xml"):
            decoded = _decode_text(field(blob, "data"))
            if decoded is not None:
                return f"[Attached file ({mime}):]\n{decoded}"
        kind = "An image" if mime.startswith("image/") else "A file"
        return (f"[{kind} was attached ({mime}, {size} bytes). The local model reads text only, "
                f"so it cannot see it.]")
    ref = field(part, "fileData")
    if ref is not None:
        return (f"[A file was attached by reference ({field(ref, 'mimeType', 'unknown type')}, "
                f"{field(ref, 'fileUri', '')}). The local model reads text only, so it cannot see it.]")
    call = field(part, "functionCall")
    if call is not None:
        return f"(I called the tool {field(call, 'name')} with arguments {json.dumps(field(call, 'args', {}))}.)"
    result = field(part, "functionResponse")
    if result is not None:
        return (f"{TOOL_RESULT_PREFIX}{field(result, 'name', 'the tool')} returned: {json.dumps(field(result, 'response', {}))}\n"
                "Use this result to answer my earlier question in one or two sentences.")
    code = field(part, "executableCode")
    if code is not None:
        return f"```{str(field(code, 'language', '')).lower()}\n{field(code, 'code', '')}\n```"
    outcome = field(part, "codeExecutionResult")
    if outcome is not None:
        return f"(Code output: {field(outcome, 'output', '')})"
    return ""


def _parts_of(content: Any) -> list:
    if isinstance(content, (str, list)):
        return [content] if isinstance(content, str) else content
    if isinstance(content, dict):
        if "parts" in content:
            parts = content["parts"]
            return parts if isinstance(parts, list) else [parts]
        return [content]  # a bare part such as {"text": "..."}
    raise ValueError("a content must be an object {role, parts: [...]} or a string")


def normalize_contents(contents: Any) -> list[dict]:
    """``contents`` as a list of ``{role, parts}`` (a bare string, part or part list becomes one user turn)."""
    if isinstance(contents, str):
        return [{"role": "user", "parts": [{"text": contents}]}]
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list):
        raise ValueError("'contents' must be a list of {role, parts} objects")
    if contents and all(isinstance(c, str) or (isinstance(c, dict) and "parts" not in c and "role" not in c)
                        for c in contents):
        return [{"role": "user", "parts": [p if isinstance(p, dict) else {"text": p} for p in contents]}]
    out = []
    for c in contents:
        if isinstance(c, str):
            out.append({"role": "user", "parts": [{"text": c}]})
        elif isinstance(c, dict):
            out.append({"role": c.get("role") or "user", "parts": _parts_of(c)})
        else:
            raise ValueError("each item of 'contents' must be an object {role, parts: [...]}")
    return out


def turn_role(content: dict) -> str:
    """"user", "model" or "tool" (a user turn that carries function results)."""
    role = content.get("role") or "user"
    if role in ("function", "tool") or any(isinstance(p, dict) and field(p, "functionResponse") is not None
                                           for p in content["parts"]):
        return "tool"
    if role not in ("user", "model"):
        raise ValueError(f"unknown role {role!r}: use 'user' or 'model'")
    return role


def system_text(instruction: Any) -> str:
    """The text of ``systemInstruction`` (a Content, a list of parts or a string)."""
    if instruction is None:
        return ""
    return "\n".join(t for t in (part_text(p) for p in _parts_of(instruction)) if t)


def to_engine_messages(contents: list[dict], instruction: Any = None) -> list[dict]:
    """Gemini contents -> the engine's plain system/user/assistant messages (same-role turns merged)."""
    out: list[dict] = []
    system = system_text(instruction)
    if system:
        out.append({"role": "system", "content": system})
    for c in contents:
        role = "assistant" if turn_role(c) == "model" else "user"
        text = "\n".join(t for t in (part_text(p) for p in c["parts"]) if t)
        if out and out[-1]["role"] == role and role != "system":
            out[-1]["content"] += "\n\n" + text
        else:
            out.append({"role": role, "content": text})
    return out


# ---------------------------------------------------------------------- config, tools, schemas

def options(config: dict) -> dict[str, Any]:
    """Sampling options the engine understands, from ``generationConfig``."""
    return {"max_tokens": field(config, "maxOutputTokens"), "temperature": field(config, "temperature"),
            "top_p": field(config, "topP"), "stop": field(config, "stopSequences"), "seed": field(config, "seed")}


def response_schema(config: dict) -> tuple[dict | None, bool]:
    """(the JSON schema the answer must follow or None, True when the answer is a bare enum value)."""
    mime = str(field(config, "responseMimeType", "text/plain"))
    schema = field(config, "responseJsonSchema")
    if schema is None:
        schema = field(config, "responseSchema")
    if mime == "text/x.enum":
        if schema is None:
            raise invalid("responseMimeType 'text/x.enum' needs a responseSchema with an 'enum' list.")
        return toolcall.normalize_schema(schema), True
    if mime == "application/json":
        return (toolcall.normalize_schema(schema) if schema is not None else {"type": "object"}), False
    if schema is not None:
        raise invalid(f"responseSchema needs responseMimeType 'application/json' (or 'text/x.enum'), not {mime!r}.")
    return None, False


def function_tools(tools: Any) -> list[dict]:
    """``[{name, description, parameters}]`` from Gemini ``tools`` (function declarations only)."""
    out = []
    for tool in tools or []:
        for decl in field(tool, "functionDeclarations", []) or []:
            name = field(decl, "name")
            if not name:
                raise invalid("Each function declaration needs a 'name'.")
            params = field(decl, "parametersJsonSchema")
            if params is None:
                params = field(decl, "parameters")
            out.append({"name": name, "description": field(decl, "description", ""),
                        "parameters": toolcall.normalize_schema(params) if params else None})
    return out


SEARCH_TOOLS = ("googleSearch", "googleSearchRetrieval")
CODE_TOOL = "codeExecution"


def builtin_tools(tools: Any) -> set[str]:
    """Which of Gemini's built-in tools a request asks for: "search" (Grounding with Google Search), "code"."""
    asked: set[str] = set()
    for tool in tools or []:
        if any(field(tool, name) is not None for name in SEARCH_TOOLS):
            asked.add("search")
        if field(tool, CODE_TOOL) is not None:
            asked.add("code")
    return asked


# Grounding with Google Search (tools=[types.Tool(google_search=types.GoogleSearch())]). Live, the model may search
# the web; the candidate then carries groundingMetadata with webSearchQueries, groundingChunks (each {web: {uri,
# title}}), groundingSupports and a searchEntryPoint (field names: google-genai 3.4.0 types.GroundingMetadata; REST
# reference GroundingMetadata). The local server cannot search the web and never invents results: its candidate has
# an empty groundingMetadata ({}: no queries, no sources, as Google sends when the model chose not to search) and the
# text starts with this labelled statement.
NO_SEARCH_NOTE = ("[Local server: Google Search is not available here, so no web search was made. This answer comes "
                  "from the small local model alone, without sources, and may be wrong or out of date.]\n\n")

# Code execution (tools=[types.Tool(code_execution=types.ToolCodeExecution())]). Live, the model writes Python, Google
# runs it in a sandbox and the model answers from its output: the parts are executableCode {language: "PYTHON", code},
# codeExecutionResult {outcome: "OUTCOME_OK" | "OUTCOME_FAILED" | "OUTCOME_DEADLINE_EXCEEDED", output}, then text
# (google-genai 3.4.0 types.ExecutableCode, CodeExecutionResult, Outcome). The local server keeps that shape with the
# honest half it can do: the local model really writes the code, but the server never runs it (running code a model
# wrote on a learner's machine, outside a sandbox, would be unsafe). So the result is OUTCOME_FAILED, whose output
# says plainly that the code was not run, and the final text is labelled as the local model's answer without it.
# The local model writes the code under a JSON schema (one Python expression, printed), after two worked examples:
# free text from a 135M model is mostly prose. Its expressions are code-shaped and often wrong; it is never run.
CODE_WRITER_PROMPT = ("You write Python. Answer with a JSON object whose 'expression' is one Python expression "
                      "that computes the answer to the user's question.")
CODE_EXAMPLES = [{"role": "user", "content": "What is 12 times 7?"},
                 {"role": "assistant", "content": '{"expression": "12 * 7"}'},
                 {"role": "user", "content": "How many letters are in the word 'banana'?"},
                 {"role": "assistant", "content": '{"expression": "len(\'banana\')"}'}]
CODE_SCHEMA = {"type": "object", "properties": {"expression": {"type": "string", "maxLength": 200}},
               "required": ["expression"], "additionalProperties": False}
CODE_MAX_TOKENS = 120
NOT_RUN_OUTPUT = ("Not run: the course's local server does not execute code (live, Google runs it in a sandbox and "
                  "this field holds what it printed). Read the code, and run it yourself if you trust it.")
NOT_RUN_NOTE = ("[Local server: the code above was not run, so this answer comes from the small local model without "
                "its output, and may be wrong.]\n\n")


async def write_code(engine, messages: list[dict], max_tokens: int | None) -> Generation:
    """The local model's Python program for the conversation's last request (never run), as a Generation."""
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    asked = [{"role": "system", "content": CODE_WRITER_PROMPT}, *CODE_EXAMPLES, {"role": "user", "content": last}]
    gen = await engine.generate(asked, max_tokens=min(max_tokens or CODE_MAX_TOKENS, CODE_MAX_TOKENS),
                                json_schema=CODE_SCHEMA)
    try:
        expression = str(json.loads(gen.text).get("expression", "")).strip()
    except (ValueError, AttributeError):
        expression = ""
    code = f"print({expression})" if expression else "# (the local model wrote no code)"
    return Generation(code, gen.prompt_tokens, gen.completion_tokens, gen.finish_reason)


def code_parts(code: Generation) -> list[dict]:
    """The executableCode and codeExecutionResult parts of a code-execution answer (the code not run)."""
    return [{"executableCode": {"language": "PYTHON", "code": code.text}},
            {"codeExecutionResult": {"outcome": "OUTCOME_FAILED", "output": NOT_RUN_OUTPUT}}]


def calling_mode(tool_config: Any, tools: list[dict]) -> tuple[str | None, str | None, list[dict]]:
    """(mode for ``toolcall.should_call``, forced function name, the tools allowed)."""
    cfg = field(tool_config, "functionCallingConfig", {}) or {}
    mode = str(field(cfg, "mode", "AUTO")).upper()
    allowed = field(cfg, "allowedFunctionNames") or []
    if allowed:
        unknown = [n for n in allowed if n not in {t["name"] for t in tools}]
        if unknown:
            raise invalid(f"allowedFunctionNames names {unknown[0]!r}, which is not among the function declarations.")
        tools = [t for t in tools if t["name"] in allowed]
    if mode == "NONE":
        return "none", None, tools
    if mode == "ANY":
        return "required", tools[0]["name"] if len(tools) == 1 else None, tools
    return "auto", None, tools


# ---------------------------------------------------------------------- response pieces

def finish_reason(gen: Generation) -> str:
    return "MAX_TOKENS" if gen.finish_reason == "length" else "STOP"


def usage(gen: Generation, candidates_tokens: int | None = None, thought: Generation | None = None) -> dict:
    """usageMetadata; thinking is reported apart (``thoughtsTokenCount``) and billed as output."""
    out = gen.completion_tokens if candidates_tokens is None else candidates_tokens
    thoughts = thought.completion_tokens if thought else 0
    u = {"promptTokenCount": gen.prompt_tokens or (thought.prompt_tokens if thought else 0),
         "candidatesTokenCount": out, "totalTokenCount": gen.prompt_tokens + out + thoughts,
         "promptTokensDetails": [{"modality": "TEXT", "tokenCount": gen.prompt_tokens}]}
    if thoughts:
        u["thoughtsTokenCount"] = thoughts
    return u


def signed(part: dict, plan: model_rules.Plan) -> dict:
    """A function-call part with a thought signature, as Gemini 3 models send it (opaque; send it back)."""
    if plan.model is not None and plan.model.thought_signatures:
        part["thoughtSignature"] = base64.b64encode(b"local-thought:" + secrets.token_bytes(24)).decode()
    return part


def thought_parts(thought: Generation | None, plan: model_rules.Plan) -> list[dict]:
    """The thought summary part Gemini adds first when ``include_thoughts`` is on."""
    return [{"text": thought.text, "thought": True}] if thought and plan.show_reasoning else []


def candidate(parts: list[dict], finish: str | None, index: int = 0) -> dict:
    c: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
    if finish:
        c["finishReason"] = finish
    return c


def reply(candidates: list[dict], rid: str, usage_metadata: dict | None) -> dict:
    d: dict[str, Any] = {"candidates": candidates}
    if usage_metadata is not None:
        d["usageMetadata"] = usage_metadata
    d["modelVersion"] = LOCAL_MODEL
    d["responseId"] = rid
    return d


def enum_text(text: str) -> str:
    try:
        value = json.loads(text)
        return value if isinstance(value, str) else text
    except ValueError:
        return text


# ---------------------------------------------------------------------- request checks

MIME_TYPES = ("text/plain", "application/json", "text/x.enum", "application/xml", "application/yaml")
MAX_STOP_SEQUENCES = 5  # Gemini takes at most 5 stop sequences
CALLING_MODES = ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED")


def _schema(f: Fields, key: str) -> None:
    value = f.raw(key)
    if value is None:
        return
    if not isinstance(value, dict):
        raise f.wrong_type(key, "an object", value)
    try:
        toolcall.check_schema(value)
    except toolcall.SchemaError as e:
        path = f.name(key)
        raise BadParam(f"* {f.request_name}.{path}: {e.what} (at {e.where}).", path, "invalid_schema") from None


def check_part(p: Fields) -> None:
    """One part: its fields have the types Gemini's API wants."""
    p.string("text")
    p.boolean("thought")
    p.string("thoughtSignature")
    blob = p.object("inlineData")
    if blob is not None:
        blob.string("mimeType")
        blob.string("data")
    ref = p.object("fileData")
    if ref is not None:
        ref.string("mimeType")
        ref.string("fileUri")
    call = p.object("functionCall")
    if call is not None:
        call.string("name", required=True)
        call.object("args")
    result = p.object("functionResponse")
    if result is not None:
        result.string("name", required=True)
        result.object("response")


def check_parts(f: Fields, key: str | int, parts: list) -> None:
    """Each part of a content: an object (or a string)."""
    listing = f.child(key, {})
    for j, part in enumerate(parts):
        if isinstance(part, str):
            continue
        if not isinstance(part, dict):
            raise listing.wrong_type(j, "an object", part)
        check_part(listing.child(j, part))


def check_content(f: Fields, key: str | int, value: Any) -> None:
    """A Content (``{role, parts}``), a bare part, a string or a list of parts, as ``_parts_of`` reads them."""
    if isinstance(value, str):
        return
    if isinstance(value, list):
        check_parts(f, key, value)
        return
    if not isinstance(value, dict):
        raise f.wrong_type(key, "an object {role, parts}", value)
    c = f.child(key, value)
    if "parts" not in value and "role" not in value:
        check_part(c)  # a bare part such as {"text": "..."}
        return
    c.string("role")
    parts = value.get("parts")
    if isinstance(parts, dict):
        check_part(c.child("parts", parts))
    elif isinstance(parts, list):
        check_parts(c, "parts", parts)
    elif parts is not None:
        raise c.wrong_type("parts", "an array of parts", parts)


def check_generate(body: dict) -> None:
    """Every field of a generateContent (or countTokens) request the local server reads, before any work."""
    f = Fields("gemini", body, request_name="GenerateContentRequest")
    contents = f.raw("contents")
    if isinstance(contents, list):
        listing = f.child("contents", {})
        for i, c in enumerate(contents):
            check_content(listing, i, c)
    elif contents is not None:
        check_content(f, "contents", contents)
    if f.present("systemInstruction"):
        check_content(f, "systemInstruction", f.raw("systemInstruction"))
    f.string("cachedContent")
    f.array("safetySettings")
    config = f.object("generationConfig")
    if config is not None:
        config.integer("maxOutputTokens", lo=1)
        config.number("temperature", 0, 2)
        config.number("topP", 0, 1)
        config.integer("topK", lo=0)
        config.integer("candidateCount")  # its range is checked with the model's rules (the message names it)
        config.strings("stopSequences", MAX_STOP_SEQUENCES, single=False)
        config.integer("seed", lo=-(2**31), hi=2**31 - 1)
        config.number("presencePenalty", -2, 2)
        config.number("frequencyPenalty", -2, 2)
        config.boolean("responseLogprobs")
        config.integer("logprobs", 0, 20)
        config.string("responseMimeType", MIME_TYPES)
        _schema(config, "responseSchema")
        _schema(config, "responseJsonSchema")
        config.array("responseModalities")
        thinking_cfg = config.object("thinkingConfig")
        if thinking_cfg is not None:
            thinking_cfg.integer("thinkingBudget", lo=-1)
            thinking_cfg.string("thinkingLevel")
            thinking_cfg.boolean("includeThoughts")
    tools = f.array("tools")
    listing = f.child("tools", {})
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            raise listing.wrong_type(i, "an object", tool)
        t = listing.child(i, tool)
        decls = t.array("functionDeclarations")
        dl = t.child("functionDeclarations", {})
        for j, decl in enumerate(decls or []):
            if not isinstance(decl, dict):
                raise dl.wrong_type(j, "an object", decl)
            d = dl.child(j, decl)
            d.string("name", required=True, nonempty=True)
            d.string("description")
            _schema(d, "parameters")
            _schema(d, "parametersJsonSchema")
    tool_config = f.object("toolConfig")
    if tool_config is not None:
        calling = tool_config.object("functionCallingConfig")
        if calling is not None:
            mode = calling.string("mode")
            if mode is not None and mode.upper() not in CALLING_MODES:
                raise calling.not_one_of("mode", CALLING_MODES[:4])
            calling.strings("allowedFunctionNames", single=False)


# ---------------------------------------------------------------------- generateContent

class GenerateRequest:
    """A generateContent body, checked and converted, with the requested model's rules applied."""

    def __init__(self, body: dict, model: str):
        try:
            check_generate(body)
        except BadParam as e:
            raise refuse("gemini", e) from None
        if "contents" not in body:
            raise invalid("* GenerateContentRequest.contents: contents is not specified. Send "
                          "{\"contents\": [{\"role\": \"user\", \"parts\": [{\"text\": \"...\"}]}]}.")
        try:
            self.contents = normalize_contents(body["contents"])
            if not self.contents:
                raise ValueError("'contents' is empty: send at least one user turn")
            self.messages = to_engine_messages(self.contents, field(body, "systemInstruction"))
            self.last_role = turn_role(self.contents[-1])
        except ValueError as e:
            raise invalid(f"Invalid 'contents': {e}.") from e
        config = field(body, "generationConfig", {}) or {}
        if not isinstance(config, dict):
            raise invalid("'generationConfig' must be an object.")
        try:
            self.plan = model_rules.gemini_plan(model, config, self.contents)
        except model_rules.RuleError as e:
            raise Reject(e.gemini_response()) from None
        self.schema, self.enum = response_schema(config)
        self.opts = options(config)
        if self.plan.drop_sampling:
            self.opts.update(temperature=None, top_p=None)
        if self.schema is not None and self.opts["max_tokens"] is None:
            self.opts["max_tokens"] = JSON_MAX_TOKENS
        n = field(config, "candidateCount", 1)
        if not isinstance(n, int) or not 1 <= n <= MAX_CANDIDATES:
            raise invalid(f"candidateCount must be between 1 and {MAX_CANDIDATES}, not {n!r}.")
        self.n = n
        tools = function_tools(field(body, "tools"))
        self.mode, self.forced, self.tools = calling_mode(field(body, "toolConfig"), tools)
        self.builtin = builtin_tools(field(body, "tools"))

    def notes_first(self, code: Generation | None) -> list[dict]:
        """The parts that come before the answer's text: the unrun code, and the labelled statements."""
        note = ""
        if self.schema is None:  # a JSON answer stays valid JSON: the statements then go to the inspector's notes
            note = (NO_SEARCH_NOTE if "search" in self.builtin else "") + (NOT_RUN_NOTE if code else "")
        return (code_parts(code) if code else []) + ([{"text": note}] if note else [])

    async def code(self, engine) -> Generation | None:
        """The local model's code when the request offers codeExecution (and is not a JSON answer)."""
        if "code" not in self.builtin or self.schema is not None:
            return None
        return await write_code(engine, self.messages, self.opts["max_tokens"])

    def work(self) -> int:
        """This request's size for the work queue (``common.budget``)."""
        return budget(self.opts["max_tokens"], n=self.n, thinking=self.plan.thinking_tokens,
                      prompt_chars=sum(len(m["content"]) for m in self.messages))

    def wants_call(self) -> bool:
        return bool(self.tools) and toolcall.should_call([{"role": self.last_role}], self.mode)


def note_plan(request: Request, req: GenerateRequest) -> None:
    for line in req.plan.notes:
        model_rules.note(request.scope, line)
    if "search" in req.builtin:
        note(request, "googleSearch: the local server cannot search the web; the answer comes from the local model "
                      "alone and its groundingMetadata is empty")
    if "code" in req.builtin:
        note(request, "codeExecution: the local model writes the code, but the local server never runs it")


def _merge_text(parts: list[dict]) -> list[dict]:
    """Parts with a leading statement joined to the answer's text part that follows it (one text part, as Gemini sends)."""
    if len(parts) >= 2 and set(parts[-2]) == {"text"} and set(parts[-1]) == {"text"}:
        return parts[:-2] + [{"text": parts[-2]["text"] + parts[-1]["text"]}]
    return parts


def _grounded(cands: list[dict], req: GenerateRequest) -> list[dict]:
    """Candidates with Gemini's groundingMetadata when Google Search was offered (empty: no search was made)."""
    if "search" in req.builtin:
        for c in cands:
            c["groundingMetadata"] = {}
    return cands


async def think_first(engine, req: GenerateRequest) -> tuple[Generation | None, bool]:
    """(the thinking, True when it used the whole maxOutputTokens) for one request."""
    thought = await thinking.think(engine, req.messages, req.plan.thinking_tokens, req.opts["max_tokens"])
    left = thinking.remaining(req.opts["max_tokens"], thought)
    if left is not None and left <= 0:
        return thought, True
    if left is not None:
        req.opts["max_tokens"] = left
    return thought, False


def _out_of_tokens(thought: Generation | None, req: GenerateRequest, rid: str) -> dict:
    """The reply when thinking used every output token: no text at all, finishReason MAX_TOKENS."""
    cand = {"content": {"role": "model", "parts": thought_parts(thought, req.plan)} if req.plan.show_reasoning
            else {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}
    return reply([cand], rid, usage(thinking.used_up(thought), 0, thought))


async def generate_content(request: Request, model: str) -> Response:
    body = await read_json(request, "gemini")
    req = GenerateRequest(body, model)
    require_known(request, model)
    note_plan(request, req)
    req.schema = grounding.apply(req.schema, req.messages, req.opts, request.scope)
    await admit(request, "gemini", work=req.work())
    engine = backend(request).engine
    rid, headers = new_id(""), local_headers(model)
    try:
        thought, spent = await think_first(engine, req)
        if spent:
            return JSONResponse(_out_of_tokens(thought, req, rid), headers=headers)
        if req.wants_call():
            found, gen = await toolcall.make_calls(engine, req.messages, req.tools, req.forced, request.scope,
                                                   **req.opts)
            # Gemini signs only the first of parallel calls (ai.google.dev/gemini-api/docs/thought-signatures,
            # read 2026-11-30); model_rules.check_function_turns checks that first one only
            calls = [{"functionCall": {"name": name, "args": args}} for name, args in found]
            parts = thought_parts(thought, req.plan) + [signed(calls[0], req.plan)] + calls[1:]
            return JSONResponse(reply([candidate(parts, "STOP")], rid, usage(gen, thought=thought)), headers=headers)
        code = await req.code(engine)
        gens = [await engine.generate(req.messages, json_schema=req.schema, **req.opts) for _ in range(req.n)]
    except EngineError as e:
        return engine_error("gemini", e)
    cands = _grounded([candidate(thought_parts(thought, req.plan) + _merge_text(
        req.notes_first(code) + [{"text": enum_text(g.text) if req.enum else g.text}]), finish_reason(g), i)
        for i, g in enumerate(gens)], req)
    written = sum(g.completion_tokens for g in gens) + (code.completion_tokens if code else 0)
    return JSONResponse(reply(cands, rid, usage(gens[0], written, thought)), headers=headers)


async def stream_generate_content(request: Request, model: str) -> Response:
    body = await read_json(request, "gemini")
    req = GenerateRequest(body, model)
    require_known(request, model)
    note_plan(request, req)
    req.schema = grounding.apply(req.schema, req.messages, req.opts, request.scope)
    if req.n > 1:
        raise invalid("candidateCount > 1 is not supported with streaming by the local server: "
                      "use generate_content for several candidates.")
    await admit(request, "gemini", work=req.work())
    engine = backend(request).engine
    rid, headers = new_id(""), local_headers(model)
    sse_mode = request.query_params.get("alt") == "sse"
    try:
        thought, spent = await think_first(engine, req)
        if spent:
            events = _single(_out_of_tokens(thought, req, rid))
        elif req.wants_call():
            found, gen = await toolcall.make_calls(engine, req.messages, req.tools, req.forced, request.scope,
                                                   **req.opts)
            # Gemini signs only the first of parallel calls (ai.google.dev/gemini-api/docs/thought-signatures,
            # read 2026-11-30); model_rules.check_function_turns checks that first one only
            calls = [{"functionCall": {"name": name, "args": args}} for name, args in found]
            parts = thought_parts(thought, req.plan) + [signed(calls[0], req.plan)] + calls[1:]
            events = _single(reply([candidate(parts, "STOP")], rid, usage(gen, thought=thought)))
        else:
            code = await req.code(engine)
            stream = engine.stream(req.messages, json_schema=req.schema, **req.opts)
            first = await stream.__anext__()  # engine errors (too long a prompt) become a proper HTTP error
            events = _text_chunks(first, stream, rid, req.enum, thought,
                                  thought_parts(thought, req.plan) + req.notes_first(code),
                                  grounded="search" in req.builtin, extra_tokens=code.completion_tokens if code else 0)
    except EngineError as e:
        return engine_error("gemini", e)
    if sse_mode:
        return StreamingResponse((sse(c) async for c in events), media_type="text/event-stream", headers=headers)
    return JSONResponse([c async for c in events], headers=headers)  # without alt=sse: one JSON array


async def _single(chunk: dict):
    yield chunk


async def _text_chunks(first: str | Generation, stream, rid: str, enum: bool, thought: Generation | None = None,
                       summary: list[dict] | None = None, grounded: bool = False, extra_tokens: int = 0):
    """Gemini stream chunks: each carries the next piece; the last adds finishReason and usage.

    ``summary``: parts sent first (a thought summary, unrun code, labelled statements); ``grounded``: the last chunk
    carries an empty groundingMetadata (Google Search was offered, none was made); ``extra_tokens``: output tokens
    written before the answer (the code), added to the usage.
    """
    if summary:
        yield reply([candidate(summary, None)], rid, None)
    held: str | None = None
    final: Generation | None = None
    item: str | Generation | None = first
    try:
        while item is not None:
            if isinstance(item, Generation):
                final = item
                break
            if held is not None and not enum:  # an enum value is sent whole, in the last chunk
                yield reply([candidate([{"text": held}], None)], rid, None)
            held = item
            item = await stream.__anext__()
    except StopAsyncIteration:
        pass
    except EngineError as e:
        status = faults.GEMINI_STATUS.get(e.status, "INTERNAL")
        yield {"error": {"code": e.status, "message": e.message, "status": status}}
        return
    if final is None:
        final = Generation(held or "", 0, 0)
    text = enum_text(final.text) if enum else held or ""  # the enum value without its JSON quotes
    last = candidate([{"text": text}], finish_reason(final))
    if grounded:
        last["groundingMetadata"] = {}
    yield reply([last], rid, usage(final, final.completion_tokens + extra_tokens, thought=thought))


# ---------------------------------------------------------------------- countTokens

async def count_tokens(request: Request, model: str) -> Response:
    body = await read_json(request, "gemini")
    inner = field(body, "generateContentRequest")
    source = inner if isinstance(inner, dict) else body
    if "contents" not in source:
        raise invalid("countTokens needs 'contents' (or a 'generateContentRequest' with 'contents').")
    try:
        check_generate(source)
    except BadParam as e:
        raise refuse("gemini", e) from None
    require_known(request, model)
    try:
        contents = normalize_contents(source["contents"])
        messages = to_engine_messages(contents, field(source, "systemInstruction"))
    except ValueError as e:
        raise invalid(f"Invalid 'contents': {e}.") from e
    pages = 0
    for c in contents:  # a PDF counts by the page, as Gemini counts it, not by the words the local server reads
        for p in c["parts"]:
            blob = field(p, "inlineData") if isinstance(p, dict) else None
            if blob is not None and str(field(blob, "mimeType", "")) == PDF_MIME:
                raw = _decode_bytes(field(blob, "data")) or b""
                pages += pdf_pages_and_text(raw)[0] if raw.startswith(b"%PDF") else 0
                messages = [{"role": m["role"], "content": m["content"].replace(pdf_note(field(blob, "data")), "")}
                            for m in messages]
    engine = backend(request).engine
    try:
        text = 0
        for m in messages:
            text += await engine.count_tokens(m["content"]) if m["content"].strip() else 0
    except EngineError as e:
        return engine_error("gemini", e)
    documents = pages * pdf_page_tokens(model)
    details = [{"modality": "TEXT", "tokenCount": text}] + (
        [{"modality": "DOCUMENT", "tokenCount": documents}] if documents else [])
    return JSONResponse({"totalTokens": text + documents, "promptTokensDetails": details}, headers=local_headers(model))


# ---------------------------------------------------------------------- embeddings

# Gemini's limits for embeddings: gemini-embedding-001 reads at most 2,048 tokens of an input (Google Developers Blog,
# "Gemini Embedding now generally available", 2025: "a 2048 maximum input token length"); longer text is cut
# silently, as Google documents for its embedding models (Vertex AI TextEmbeddingPredictionParams.autoTruncate:
# "Whether to silently truncate inputs longer than the maximum input token limit. This behavior is enabled by
# default"). batchEmbedContents takes at most 100 requests ("* BatchEmbedContentsRequest.requests: at most 100
# requests can be in one batch", quoted in langchainjs#4491, weaviate#11277, vercel/ai#16575; read 2026-11).
# Tokens are counted with the local embedding model's tokenizer.
EMBED_MAX_TOKENS = 2048
EMBED_MAX_BATCH = 100


def _embed_item(item: Any, model: str, f: Fields) -> tuple[str, str, int | None]:
    """(text, "query" or "passage", outputDimensionality) for one EmbedContentRequest."""
    if not isinstance(item, dict):
        raise invalid("Each embedding request must be an object with a 'content'.")
    try:
        content = f.raw("content")
        if content is None:
            raise f.missing("content")
        check_content(f, "content", content)
        f.string("taskType")
        f.string("title")
        dims = f.integer("outputDimensionality", lo=1)
    except BadParam as e:
        raise refuse("gemini", e) from None
    try:
        text = "\n".join(t for t in (part_text(p) for p in _parts_of(content)) if t)
    except ValueError as e:
        raise invalid(f"Invalid 'content': {e}.") from e
    if not text.strip():
        raise invalid("The text to embed is empty: put some text in content.parts[].text.")
    task = str(field(item, "taskType", "")).upper()
    title = field(item, "title")
    if title and task == "RETRIEVAL_DOCUMENT":
        text = f"{title}\n\n{text}"
    try:
        model_rules.check_dimensions("gemini", model, dims, "outputDimensionality")
    except model_rules.RuleError as e:
        raise Reject(e.gemini_response()) from None
    return text, "passage" if task == "RETRIEVAL_DOCUMENT" else "query", dims


async def _embed(request: Request, items: list[tuple[str, str, int | None]]) -> list[list[float]]:
    """Vectors for ``items``, each text cut to ``EMBED_MAX_TOKENS`` first (as Gemini does), in cancellable batches."""
    import anyio

    embedder = backend(request).embedder

    def cut_all() -> list[tuple[str, int, bool]]:
        return [embedder.truncate_tokens(text, EMBED_MAX_TOKENS) for text, _, _ in items]

    cuts = await anyio.to_thread.run_sync(cut_all)
    for i, (_, n, was_cut) in enumerate(cuts):
        if was_cut:
            note(request, f"input {i} was cut to its first {EMBED_MAX_TOKENS} tokens (of about {n} counted), as "
                          "Gemini cuts longer inputs without an error")
    await admit(request, "gemini", "embed", work=sum(min(n, EMBED_MAX_TOKENS) for _, n, _ in cuts))
    out: list[list[float] | None] = [None] * len(items)
    for task in ("query", "passage"):
        idx = [i for i, it in enumerate(items) if it[1] == task]
        if not idx:
            continue
        vecs = await embed_batched(embedder, [cuts[i][0] for i in idx], task,
                                   [min(cuts[i][1], EMBED_MAX_TOKENS) for i in idx])
        for i, v in zip(idx, vecs):
            out[i] = [float(x) for x in truncate(v, items[i][2])]
    return [v for v in out if v is not None]


async def embed_content(request: Request, model: str) -> Response:
    body = await read_json(request, "gemini")
    item = _embed_item(body, model, Fields("gemini", body, request_name="EmbedContentRequest"))
    require_known(request, model)
    values = (await _embed(request, [item]))[0]
    return JSONResponse({"embedding": {"values": values}}, headers=local_headers(model))


async def batch_embed_contents(request: Request, model: str) -> Response:
    body = await read_json(request, "gemini")
    f = Fields("gemini", body, request_name="BatchEmbedContentsRequest")
    reqs = field(body, "requests")
    if not isinstance(reqs, list) or not reqs:
        raise invalid("batchEmbedContents needs 'requests': a non-empty list of {model, content} objects.")
    if len(reqs) > EMBED_MAX_BATCH:
        raise invalid(f"* BatchEmbedContentsRequest.requests: at most {EMBED_MAX_BATCH} requests can be in one batch.")
    listing = f.child("requests", {})
    items = []
    for i, r in enumerate(reqs):
        if not isinstance(r, dict):
            raise refuse("gemini", listing.wrong_type(i, "an object {model, content}", r))
        items.append(_embed_item(r, model, listing.child(i, r)))
    require_known(request, model)
    vectors = await _embed(request, items)
    return JSONResponse({"embeddings": [{"values": v} for v in vectors]}, headers=local_headers(model))


# ---------------------------------------------------------------------- unknown and retired models

# Gemini's 404 for a model it does not serve (the same text for a name that never existed and for a shut-down model),
# naming the API version and the method of the path requested: "models/gemini-1.5-flash is not found for API version
# v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their
# supported methods." (openclaw#14036, 2026-02-11; adk-python#200; with "v1" and "v1 or": laravel#32). google-genai
# 3.4.0 calls /v1/ by default (_api_client.py, GOOGLE_AI_API_DEFAULT_VERSION = 'v1'), /v1beta/ when asked.
NOT_FOUND = ("models/{model} is not found for API version {version}, or is not supported for {method}. "
             "Call ListModels to see the list of available models and their supported methods.")

# Names the local server answers although the catalogue does not list them: Google's current naming scheme for
# Gemini 3 and later, gemini-<generation>-<pro|flash|flash-lite>[-preview|-image|...] (ai.google.dev deprecations
# page, 2026: gemini-3.5-flash, gemini-3.1-flash-image, gemini-3.1-pro-preview ...), the -latest aliases (changelog
# 2026-01-21: gemini-pro-latest, gemini-flash-latest) and gemini-embedding-<n> (gemini-embedding-2, 2026). Older
# generations (1.x, 2.0, 2.5) are answered only when the catalogue lists them: most are shut down.
GEMINI_FAMILY = re.compile(r"gemini-(?:[3-9]|[1-9]\d)(?:\.\d+)?-(?:pro|flash|flash-lite)(?:-[a-z0-9.]+)*"
                           r"|gemini-(?:pro|flash|flash-lite)-latest|gemini-embedding-\d+")


def _route(request: Request) -> tuple[str, str]:
    """(API version, method) of a Gemini models path such as ``/v1beta/models/m:generateContent``.

    ``GET models/{m}`` is named "get": the wording of Google's 404 for that call was not found in any stored source
    (2026-11-30), so the local server uses the same sentence as for the other methods.
    """
    path = request.url.path
    method = path.rsplit(":", 1)[1] if ":" in path.rsplit("/", 1)[-1] else "get"
    return path.split("/")[1], method


def is_known(model: str) -> bool:
    """True for a name Gemini answers: in the catalogue, a current Gemini family name, or the local model's."""
    name = faults.base_model(model.split("/", 1)[1] if model.startswith("models/") else model)
    local = catalogue.catalogue().get("local", {})
    if name in (LOCAL_MODEL, local.get("chat"), local.get("display_name")) or catalogue.info("gemini", name):
        return True
    purposes = {catalogue.get("gemini", p) for p in catalogue.purposes("gemini")}
    return name in purposes or name in catalogue.fallbacks("gemini") or bool(GEMINI_FAMILY.fullmatch(name))


def not_found(request: Request, model: str, hint: str = "") -> Reject:
    """Gemini's 404 NOT_FOUND for ``model``, worded for the path requested."""
    version, method = _route(request)
    message = NOT_FOUND.format(model=faults.base_model(model), version=version, method=method)
    return Reject(faults.gemini_error(404, message + hint + " (from the course's local server)"))


def require_known(request: Request, model: str) -> None:
    """Raise Gemini's 404 for a model name Gemini would not answer (checked after the request body)."""
    if not is_known(model):
        current = catalogue.chat("gemini")
        raise not_found(request, model, f" A current model is `{current}` (see helpers/models.toml).")


def check_retired(request: Request, model: str) -> None:
    """Raise Gemini's 404 for a catalogue model that is shut down (and not redirected to its replacement)."""
    if faults.find_fault(model, request.headers.get("x-course-simulate"), api_key(request)):
        return  # a teaching error asked for by name wins, as in common.check_faults
    entry = catalogue.info("gemini", faults.base_model(model))
    if entry is None or entry.status_on() != "shut_down" or (entry.after_shutdown == "redirect" and entry.replacement):
        return
    when = f" on {entry.shutdown}" if entry.shutdown else ""
    instead = f": use `{entry.replacement}` instead" if entry.replacement else ""
    raise not_found(request, model, f" It was shut down{when}{instead}.")


async def unsupported_method(request: Request, model: str) -> Response:
    """A method Gemini has but the local server does not serve for this model (Imagen's ``predict``): Gemini's 404."""
    require_known(request, model)
    raise not_found(request, model)


# ---------------------------------------------------------------------- models

def model_ids() -> list[tuple[str, list[str]]]:
    """The catalogue's Gemini models still answering today, with the methods each supports here."""
    entry = catalogue.catalogue().get("gemini", {})
    out: dict[str, list[str]] = {}
    for key in ("chat", "tools"):
        if isinstance(entry.get(key), str):
            out[entry[key]] = CHAT_METHODS
    for mid in entry.get("fallbacks", []):
        out.setdefault(mid, CHAT_METHODS)
    for (provider, mid), m in catalogue.entries().items():
        if provider == "gemini" and m.status_on() != "shut_down":
            out.setdefault(mid, EMBED_METHODS if m.dimensions or "embedding" in mid else CHAT_METHODS)
    return list(out.items())


def display_name(mid: str) -> str:
    """A readable name in Google's style: gemini-3.5-flash-lite -> "Gemini 3.5 Flash-Lite"."""
    words = mid.split("-")
    out = []
    for i, w in enumerate(words):
        if w == "lite" and out and out[-1] == "Flash":
            out[-1] = "Flash-Lite"
        else:
            out.append(w.capitalize() if w.isalpha() else w)
    return " ".join(out)


def model_obj(mid: str, methods: list[str] | None = None) -> dict:
    """One ``Model`` resource, as ``GET models/{m}`` and ``GET models`` return it (token limits from the catalogue)."""
    mid = mid.split("/", 1)[1] if mid.startswith("models/") else mid
    known = dict(model_ids())
    methods = methods or known.get(mid) or (EMBED_METHODS if "embedding" in mid else CHAT_METHODS)
    chat = "embedContent" not in methods
    m = catalogue.info("gemini", mid)
    d: dict[str, Any] = {
        "name": f"models/{mid}", "baseModelId": mid, "version": "local",
        "displayName": f"{display_name(mid)} (local stand-in)",
        "description": f"Served by the course's local server: answers come from {LOCAL_MODEL}, not from Google. "
                       f"Token limits: the real model's where the course catalogue lists them, otherwise the local "
                       f"model's ({LOCAL_CONTEXT:,} tokens).",
        "inputTokenLimit": (m.context_tokens if m and m.context_tokens else LOCAL_CONTEXT) if chat else EMBED_MAX_TOKENS,
        "outputTokenLimit": (m.max_output_tokens if m and m.max_output_tokens else 2048) if chat else 1,
        "supportedGenerationMethods": list(methods)}
    if chat:
        d.update({"temperature": 1.0, "topP": 0.95, "topK": 64, "maxTemperature": 2.0,
                  "thinking": bool(m and m.reasoning != "none")})
    return d


async def list_models(request: Request) -> Response:
    await check_faults(request, "gemini", None)
    models = [model_obj(mid, methods) for mid, methods in model_ids()]
    try:
        size = int(request.query_params.get("pageSize") or 50)
        start = int(request.query_params.get("pageToken") or 0)
    except ValueError:
        raise invalid("pageSize must be a number and pageToken must come from a previous nextPageToken.") from None
    size = max(1, min(size, 1000))
    out: dict[str, Any] = {"models": models[start:start + size]}
    if start + size < len(models):
        out["nextPageToken"] = str(start + size)
    return JSONResponse(out, headers=local_headers(None))


# ---------------------------------------------------------------------- routing

# Methods of Gemini's models API the local server does not serve: Imagen's predict (client.models.generate_images),
# Veo's predictLongRunning (generate_videos). Gemini answers them, for a model without them, with its 404.
UNSERVED_ACTIONS = ("predict", "predictLongRunning")

HANDLERS = {"generateContent": generate_content, "streamGenerateContent": stream_generate_content,
            "countTokens": count_tokens, "embedContent": embed_content, "batchEmbedContents": batch_embed_contents}


async def models_endpoint(request: Request, version: str, rest: str | None) -> Response:
    """Answer ``/{version}/models`` (``rest`` None), ``models/{m}`` or ``models/{m}:{action}``."""
    if not rest:
        if request.method != "GET":
            raise invalid(f"Invalid URL ({request.method} {request.url.path}): list models with GET.", 404)
        return await list_models(request)
    model, sep, action = rest.partition(":")
    model = model.split("/", 1)[1] if model.startswith("models/") else model
    if not sep:
        if request.method != "GET":
            raise invalid(f"Invalid URL ({request.method} {request.url.path}): POST to models/{model}:generateContent "
                          "(or another method such as :streamGenerateContent).", 404)
        check_retired(request, model)
        await check_faults(request, "gemini", model)
        require_known(request, model)
        return JSONResponse(model_obj(model), headers=local_headers(model))
    handler = HANDLERS.get(action) or (unsupported_method if action in UNSERVED_ACTIONS else None)
    if handler is None:
        raise invalid(f"Invalid URL: the method {action!r} does not exist for models on API version {version}. "
                      f"Methods served: {', '.join(ACTIONS)}.", 404)
    if request.method != "POST":
        raise invalid(f"Invalid URL ({request.method} {request.url.path}): models/{{model}}:{action} needs POST.", 404)

    async def work() -> Response:
        check_retired(request, model)
        await check_faults(request, "gemini", model)
        return await handler(request, model)

    return await supervise(request, "gemini", work)  # cancelled when the client leaves
