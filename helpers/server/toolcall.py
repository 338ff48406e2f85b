"""Tool (function) calls made by the local model under a JSON schema.

SmolLM2 has no native tool-call format, so the gateway asks it for
``{"name": <one of the tool names>, "arguments": <that tool's parameter schema>}`` with
schema-constrained decoding: the arguments are the model's own and always valid JSON for the schema.

When to call (the local server's rule, stated in the lessons): with tools offered and
``tool_choice`` not "none", the model calls a tool when the last message is the user's; after a
tool result it answers in words. Real models decide for themselves.

Parallel calls: where the request allows them (OpenAI's ``parallel_tool_calls``, on by default; Gemini),
a request in several parts joined by "and" ("Is it sunny in Madrid and in Paris?") gets a JSON list with
one call per part (``make_calls``); otherwise exactly one call.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .engine import Generation

TYPE_NAMES = {"STRING": "string", "NUMBER": "number", "INTEGER": "integer", "BOOLEAN": "boolean",
              "ARRAY": "array", "OBJECT": "object", "NULL": "null", "TYPE_UNSPECIFIED": "string"}
KEEP = {"type", "properties", "required", "items", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
        "definitions", "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern",
        "additionalProperties", "description", "format", "nullable", "title", "default"}
SNAKE = {"any_of": "anyOf", "one_of": "oneOf", "all_of": "allOf", "min_items": "minItems", "max_items": "maxItems",
         "min_length": "minLength", "max_length": "maxLength", "additional_properties": "additionalProperties",
         "property_ordering": "propertyOrdering", "defs": "$defs", "ref": "$ref"}


JSON_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


class SchemaError(ValueError):
    """A JSON schema the local server cannot use; ``where`` is a JSON pointer into it ("#/properties/a")."""

    def __init__(self, where: str, what: str):
        super().__init__(f"{what} (at {where})")
        self.where, self.what = where, what


def _kind(value: Any) -> str:
    return ("null" if value is None else "a boolean" if isinstance(value, bool) else "a number"
            if isinstance(value, (int, float)) else "a string" if isinstance(value, str) else "an array"
            if isinstance(value, list) else "an object")


def check_schema(schema: Any) -> None:
    """Raise ``SchemaError`` for a schema that is not a JSON schema the grammar converter can use.

    Checked: every subschema is an object (or true/false); ``type`` names JSON types (Gemini's upper-case
    names too); ``properties``, ``$defs`` hold schemas; ``items``, ``anyOf``, ``oneOf``, ``allOf``,
    ``additionalProperties`` are schemas or lists of them; ``required`` and ``enum`` are lists; sizes are
    whole numbers; local ``$ref`` names exist. Keys are read in camelCase or snake_case (Gemini).
    """
    if not isinstance(schema, dict):
        raise SchemaError("#", f"a schema must be an object, not {_kind(schema)}")
    names = set()
    for key in ("$defs", "definitions", "defs"):
        if isinstance(schema.get(key), dict):
            names |= {f"#/{'$defs' if key == 'defs' else key}/{n}" for n in schema[key]}
    stack: list[tuple[Any, str]] = [(schema, "#")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            raise SchemaError(where, f"a schema must be an object, not {_kind(node)}")
        for raw_key, value in node.items():
            key = SNAKE.get(raw_key, raw_key)
            at = f"{where}/{raw_key}"
            if value is None:
                continue
            if key == "type":
                for t in value if isinstance(value, list) else [value]:
                    if not isinstance(t, str) or TYPE_NAMES.get(t, t).lower() not in JSON_TYPES:
                        raise SchemaError(at, "'type' must name JSON types: string, number, integer, boolean, array, "
                                              "object or null")
            elif key in ("properties", "$defs", "definitions"):
                if not isinstance(value, dict):
                    raise SchemaError(at, f"'{raw_key}' must be an object of schemas, not {_kind(value)}")
                stack.extend((v, f"{at}/{k}") for k, v in value.items())
            elif key in ("items", "additionalProperties"):
                if isinstance(value, list) and key == "items":
                    stack.extend((v, f"{at}/{i}") for i, v in enumerate(value))
                elif isinstance(value, (dict, bool)):
                    stack.append((value, at))
                else:
                    raise SchemaError(at, f"'{raw_key}' must be a schema (an object), not {_kind(value)}")
            elif key in ("anyOf", "oneOf", "allOf"):
                if not isinstance(value, list) or not value:
                    raise SchemaError(at, f"'{raw_key}' must be a non-empty array of schemas")
                stack.extend((v, f"{at}/{i}") for i, v in enumerate(value))
            elif key == "required":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise SchemaError(at, "'required' must be an array of property names")
            elif key == "enum":
                if not isinstance(value, list) or not value:
                    raise SchemaError(at, "'enum' must be a non-empty array")
            elif key in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise SchemaError(at, f"'{raw_key}' must be a whole number >= 0")
            elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise SchemaError(at, f"'{raw_key}' must be a number")
            elif key in ("pattern", "format", "description", "$ref"):
                if not isinstance(value, str):
                    raise SchemaError(at, f"'{raw_key}' must be a string")
                if key == "$ref" and value != "#" and value not in names:
                    raise SchemaError(at, "'$ref' must point to a definition in this schema's $defs "
                                          "(such as '#/$defs/Item')")
            elif key in ("nullable",):
                if not isinstance(value, bool):
                    raise SchemaError(at, f"'{raw_key}' must be true or false")


def normalize_schema(schema: Any) -> Any:
    """A JSON schema in plain JSON-Schema spelling: lower-case types, camelCase keys, no vendor extras."""
    if isinstance(schema, list):
        return [normalize_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        key = SNAKE.get(key, key)
        if key not in KEEP or value is None:
            continue
        if key == "type":
            value = [TYPE_NAMES.get(v, v).lower() for v in value] if isinstance(value, list) else TYPE_NAMES.get(value, str(value)).lower()
        elif key in ("properties", "$defs", "definitions"):
            value = {k: normalize_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            value = normalize_schema(value)
        elif key == "format":
            continue  # formats like "date-time" are not enforced by the grammar; drop them
        out[key] = value
    if out.pop("nullable", False) and "type" in out and isinstance(out["type"], str):
        out["type"] = [out["type"], "null"]
    out.pop("title", None)
    out.pop("default", None)
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["properties"] = {}
    return out


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    """A copy of ``node`` with each local ``$ref`` renamed by ``renames`` (old pointer -> new pointer)."""
    if isinstance(node, list):
        return [_rewrite_refs(n, renames) for n in node]
    if not isinstance(node, dict):
        return node
    return {k: (renames.get(v, v) if k == "$ref" and isinstance(v, str) else _rewrite_refs(v, renames))
            for k, v in node.items()}


def hoist_definitions(schema: dict, prefix: str) -> tuple[dict, dict]:
    """(``schema`` without its ``$defs``/``definitions``, those definitions renamed ``{prefix}{name}``).

    A tool's parameters nested inside the call schema (``properties.arguments``) can no longer reach their
    own ``#/$defs/...``: a ``$ref`` points from the root of the whole document. So the definitions move to
    the root, renamed per tool (two pydantic tools may both define ``Unit``), and every reference follows;
    a ``$ref`` to the parameters' own root ("#", a recursive model) becomes a definition too.
    """
    defs: dict[str, Any] = {}
    renames: dict[str, str] = {}
    for key in ("$defs", "definitions"):
        for name in (schema.get(key) or {}):
            renames[f"#/{key}/{name}"] = f"#/$defs/{prefix}{name}"
    body = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    own_defs = [d for key in ("$defs", "definitions") for d in (schema.get(key) or {}).values()]
    uses_root = any('"$ref": "#"' in json.dumps(node) for node in [body] + own_defs)
    if uses_root:
        renames["#"] = f"#/$defs/{prefix}root"
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            defs[f"{prefix}{name}"] = _rewrite_refs(sub, renames)
    body = _rewrite_refs(body, renames)
    if uses_root:
        defs[f"{prefix}root"] = body
    return body, defs


def call_schema(tools: list[dict], forced: str | None = None, tag: str = "") -> dict:
    """The schema the model must follow to call one of ``tools`` (each ``{name, description, parameters}``).

    Definitions (``$defs``) of every tool's parameters sit at the root, renamed per tool (and per ``tag``,
    when several calls of one list each have their own, see ``hoist_definitions``).
    """
    options, defs = [], {}
    for i, t in enumerate(tools):
        if forced and t["name"] != forced:
            continue
        params = normalize_schema(t.get("parameters") or {"type": "object", "properties": {}})
        params, own = hoist_definitions(params, f"{re.sub(r'[^A-Za-z0-9_]', '_', t['name'])}_{i}{tag}__")
        defs.update(own)
        options.append({"type": "object", "properties": {"name": {"const": t["name"]}, "arguments": params},
                        "required": ["name", "arguments"]})
    if not options:
        raise ValueError(f"tool {forced!r} is not among the tools offered")
    one = options[0] if len(options) == 1 else {"anyOf": options}
    return {**one, "$defs": defs} if defs else one


def tool_instructions(tools: list[dict], parallel: bool = False) -> str:
    """The system text that tells the model which tools exist (and, with ``parallel``, that it may call several)."""
    lines = ["You can call these tools. Choose the one that fits the user's last request and fill in its "
             "arguments with values taken from the request."]
    if parallel:
        lines.append("The request has several parts joined by 'and': answer with a JSON list that holds one call "
                     "for each part, in the order of the request, each with the values of its own part.")
    for t in tools:
        lines.append(f"- {t['name']}: {t.get('description') or ''} Parameters: {json.dumps(t.get('parameters') or {})}")
    return "\n".join(lines)


def should_call(messages: list[dict], tool_choice: str | None) -> bool:
    """The local rule: call a tool when tools are on offer and the user spoke last."""
    if tool_choice == "none":
        return False
    if tool_choice not in (None, "auto"):
        return True  # "required" / "any" or a named tool
    return bool(messages) and messages[-1].get("role") == "user"


MAX_PARALLEL_CALLS = 4  # the most calls the local model makes in one turn
_JOINS = re.compile(r"\s+(?:and|&|as well as|plus)\s+|,\s*(?:and\s+)?", re.IGNORECASE)
_OWN_VALUE = re.compile(r"\b(?!I'|I\b)[A-Z][\w'-]*|\d|[\"“‘]")


def request_parts(messages: list[dict]) -> list[str]:
    """The parts of the user's last request that each ask for one call: "Is it sunny in Madrid and in Paris?"
    is ["Is it sunny in Madrid", "in Paris?"]; at most ``MAX_PARALLEL_CALLS``.

    A part is split off at "and" (or a comma in a sentence that has an "and") only when it holds a value of
    its own: a name (a capitalised word), a number or a quotation. "Is it sunny and warm in Rome?" is one part.
    """
    from .grounding import user_text

    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = user_text([last]) if last else ""
    parts: list[str] = []
    valued = False  # whether the current part holds a value of its own
    for sentence in re.split(r"(?<=[.!?;])\s+|\n+", text):
        joined = re.search(r"\s(?:and|&|as well as|plus)\s", sentence, re.IGNORECASE)
        for j, piece in enumerate(p.strip() for p in (_JOINS.split(sentence) if joined else [sentence])):
            if not piece:
                continue
            own = _OWN_VALUE.search(piece if j else piece.partition(" ")[2])  # a sentence starts capitalised anyway
            if j and own and valued:
                parts.append(piece)
            elif parts:
                parts[-1] += (" and " if j else " ") + piece
                valued = valued or bool(own)
            else:
                parts.append(piece)
                valued = bool(own)
    if len(parts) > MAX_PARALLEL_CALLS:
        parts = parts[:MAX_PARALLEL_CALLS - 1] + [" and ".join(parts[MAX_PARALLEL_CALLS - 1:])]
    return parts or [text]


def call_prompt(messages: list[dict], tools: list[dict], parallel: bool) -> list[dict]:
    """The conversation the model reads to make its calls: the tool list as the system text, then the turns."""
    system = {"role": "system", "content": tool_instructions(tools, parallel)}
    return [system] + [m for m in messages if m["role"] != "system"]


async def _decode(engine: Any, prompt: list[dict], schema: dict, opts: dict) -> tuple[Any, Generation]:
    """The model's JSON answer under ``schema`` (greedy unless the caller chose a temperature)."""
    if opts.get("temperature") is None:
        opts["temperature"] = 0.0  # greedy: the most likely call, and the same call every time
    opts.setdefault("max_tokens", 200)
    if (opts.get("max_tokens") or 0) < 64:
        opts["max_tokens"] = 64
    gen = await engine.generate(prompt, json_schema=schema, **opts)
    try:
        return json.loads(gen.text), gen
    except ValueError:
        # The grammar guarantees valid JSON unless the token limit cut it short: retry once with room.
        room = max(400, 2 * opts["max_tokens"])
        gen = await engine.generate(prompt, json_schema=schema, **{**opts, "max_tokens": room})
        return json.loads(gen.text), gen


async def make_call(engine: Any, messages: list[dict], tools: list[dict], forced: str | None = None,
                    scope: dict | None = None, **opts: Any) -> tuple[str, dict, Generation]:
    """Ask the model for one tool call; returns (tool name, arguments dict, the generation).

    String and number arguments are grounded in the user's words (see ``grounding``); ``scope`` is the
    request's, for the inspector's note.
    """
    calls, gen = await make_calls(engine, messages, tools, forced, scope, parallel=False, **opts)
    name, args = calls[0]
    return name, args, gen


async def make_calls(engine: Any, messages: list[dict], tools: list[dict], forced: str | None = None,
                     scope: dict | None = None, parallel: bool = True, **opts: Any
                     ) -> tuple[list[tuple[str, dict]], Generation]:
    """Ask the model for the tool calls of one turn; returns ([(tool name, arguments dict), ...], the generation).

    Without ``parallel`` (OpenAI's ``parallel_tool_calls=false``), or for a request in one part, exactly one
    call. With it (OpenAI's default; Gemini always) and a request in several parts ("in Madrid and in Paris",
    see ``request_parts``), the model writes a JSON list with one call per part, each grounded in the words
    of its own part, under the grammar; a call repeated word for word counts once. The tool and the
    arguments of every call are the model's; how many calls a request gets is the local server's rule, since
    a 135M model cannot be trusted to stop a list at the right place (it repeats the first call).
    """
    from . import grounding

    parts = request_parts(messages) if parallel else []
    if len(parts) < 2:
        schema = grounding.apply(call_schema(tools, forced), messages, opts, scope, tool_call=True)
        answer, gen = await _decode(engine, call_prompt(messages, tools, False), schema, opts)
        return [(answer["name"], answer.get("arguments") or {})], gen
    items, defs = [], {}
    head = messages[:-1] if messages and messages[-1].get("role") == "user" else messages
    for k, part in enumerate(parts):
        own = call_schema(tools, forced, tag=f"_call{k}")
        grounded = grounding.apply(own, head + [{"role": "user", "content": part}], opts, scope if k == 0 else None,
                                   tool_call=True)
        if grounded is own:  # this part offers no words to choose from: the whole request's words
            grounded = grounding.apply(own, messages, opts, None, tool_call=True)
        defs.update(grounded.pop("$defs", {}))
        items.append(grounded)
    schema = {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if defs:
        schema["$defs"] = defs
    answer, gen = await _decode(engine, call_prompt(messages, tools, True), schema, opts)
    calls: list[tuple[str, dict]] = []
    for obj in answer:
        call = (obj["name"], obj.get("arguments") or {})
        if call not in calls:
            calls.append(call)
    if scope is not None:
        scope.setdefault("course_notes", []).append(
            f"parallel tool calls: the request has {len(parts)} parts joined by 'and', so the local model made one "
            f"call for each, grounded in that part's words ({len(calls)} different; helpers/server/toolcall.py); "
            "real models decide how many calls to make")
    return calls, gen


def bounded(schema: Any, max_string: int = 160, max_items: int = 6) -> Any:
    """A copy of ``schema`` with a length limit on every string and array that has none.

    Still valid for the caller's schema (it is only stricter), and it stops a small model from
    writing one endless string until the token limit cuts the JSON in half.
    """
    if isinstance(schema, list):
        return [bounded(s, max_string, max_items) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (bounded(v, max_string, max_items) if k in ("items", "prefixItems", "anyOf", "oneOf", "allOf",
                                                            "additionalProperties")
               else {n: bounded(p, max_string, max_items) for n, p in v.items()}
               if k in ("properties", "$defs", "definitions") else v) for k, v in schema.items()}
    types = out.get("type") if isinstance(out.get("type"), list) else [out.get("type")]
    if "string" in types and "maxLength" not in out and "enum" not in out and "const" not in out:
        out["maxLength"] = max_string
    if "array" in types and "maxItems" not in out:
        out["maxItems"] = max(max_items, out.get("minItems", 0))
    return out


def count_strings(schema: Any, max_items: int = 6) -> int:
    """How many free strings an answer to ``schema`` may hold (an array's items count ``max_items`` times,
    the most ``bounded`` lets it have when the schema sets no ``maxItems``)."""
    if isinstance(schema, list):
        return sum(count_strings(s, max_items) for s in schema)
    if not isinstance(schema, dict):
        return 0
    types = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    own = 1 if "string" in types and "enum" not in schema and "const" not in schema else 0
    if isinstance(schema.get("items"), dict):
        own += count_strings(schema["items"], max_items) * max(1, schema.get("maxItems", max_items))
    children: list = [schema["additionalProperties"]] if isinstance(schema.get("additionalProperties"), dict) else []
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        children += schema.get(key) or []
    for key in ("properties", "$defs", "definitions"):
        children += list((schema.get(key) or {}).values())
    return own + sum(count_strings(c, max_items) for c in children)


# What JSON mode ({"type": "json_object"}) asks of the local model: a small flat object of short values.
# (Unbounded, the tiny model keeps adding keys until the token limit cuts the JSON in half.)
JSON_OBJECT_SCHEMA = {"type": "object", "maxProperties": 6, "additionalProperties": {
    "anyOf": [{"type": "string", "maxLength": 60}, {"type": "number"}, {"type": "boolean"}]}}
