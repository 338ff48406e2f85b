"""Tool (function) calls made by the local model under a JSON schema.

SmolLM2 has no native tool-call format, so the gateway asks it for
``{"name": <one of the tool names>, "arguments": <that tool's parameter schema>}`` with
schema-constrained decoding: the arguments are the model's own and always valid JSON for the schema.

When to call (the local server's rule, stated in the lessons): with tools offered and
``tool_choice`` not "none", the model calls a tool when the last message is the user's; after a
tool result it answers in words. Real models decide for themselves.
"""
from __future__ import annotations

import json
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


def call_schema(tools: list[dict], forced: str | None = None) -> dict:
    """The schema the model must follow to call one of ``tools`` (each ``{name, description, parameters}``)."""
    options = []
    for t in tools:
        if forced and t["name"] != forced:
            continue
        params = normalize_schema(t.get("parameters") or {"type": "object", "properties": {}})
        options.append({"type": "object", "properties": {"name": {"const": t["name"]}, "arguments": params},
                        "required": ["name", "arguments"]})
    if not options:
        raise ValueError(f"tool {forced!r} is not among the tools offered")
    return options[0] if len(options) == 1 else {"anyOf": options}


def tool_instructions(tools: list[dict]) -> str:
    """The system text that tells the model which tools exist."""
    lines = ["You can call these tools. Choose the one that fits the user's last request and fill in its "
             "arguments with values taken from the request."]
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


async def make_call(engine: Any, messages: list[dict], tools: list[dict], forced: str | None = None,
                    scope: dict | None = None, **opts: Any) -> tuple[str, dict, Generation]:
    """Ask the model for a tool call; returns (tool name, arguments dict, the generation).

    String and number arguments are grounded in the user's words (see ``grounding``); ``scope`` is the
    request's, for the inspector's note.
    """
    from . import grounding

    schema = grounding.apply(call_schema(tools, forced), messages, opts, scope, tool_call=True)
    prompt = [{"role": "system", "content": tool_instructions(tools)}] + [m for m in messages if m["role"] != "system"]
    if opts.get("temperature") is None:
        opts["temperature"] = 0.0  # greedy: the most likely call, and the same call every time
    opts.setdefault("max_tokens", 200)
    if (opts.get("max_tokens") or 0) < 64:
        opts["max_tokens"] = 64
    gen = await engine.generate(prompt, json_schema=schema, **opts)
    try:
        obj = json.loads(gen.text)
        return obj["name"], obj.get("arguments") or {}, gen
    except (ValueError, KeyError, TypeError):
        # The grammar guarantees valid JSON unless the token limit cut it short: retry once with room.
        gen = await engine.generate(prompt, json_schema=schema, **{**opts, "max_tokens": 400})
        obj = json.loads(gen.text)
        return obj["name"], obj.get("arguments") or {}, gen


def bounded(schema: Any, max_string: int = 160, max_items: int = 6) -> Any:
    """A copy of ``schema`` with a length limit on every string and array that has none.

    Still valid for the caller's schema (it is only stricter), and it stops a small model from
    writing one endless string until the token limit cuts the JSON in half.
    """
    if isinstance(schema, list):
        return [bounded(s, max_string, max_items) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (bounded(v, max_string, max_items) if k in ("items", "anyOf", "oneOf", "allOf", "additionalProperties")
               else {n: bounded(p, max_string, max_items) for n, p in v.items()}
               if k in ("properties", "$defs", "definitions") else v) for k, v in schema.items()}
    types = out.get("type") if isinstance(out.get("type"), list) else [out.get("type")]
    if "string" in types and "maxLength" not in out and "enum" not in out and "const" not in out:
        out["maxLength"] = max_string
    if "array" in types and "maxItems" not in out:
        out["maxItems"] = max(max_items, out.get("minItems", 0))
    return out


def count_strings(schema: Any) -> int:
    """How many string fields a schema has (an array's items count once)."""
    if isinstance(schema, list):
        return sum(count_strings(s) for s in schema)
    if not isinstance(schema, dict):
        return 0
    types = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    own = 1 if "string" in types and "enum" not in schema and "const" not in schema else 0
    children: list = [schema[k] for k in ("items", "additionalProperties") if isinstance(schema.get(k), dict)]
    for key in ("anyOf", "oneOf", "allOf"):
        children += schema.get(key) or []
    for key in ("properties", "$defs", "definitions"):
        children += list((schema.get(key) or {}).values())
    return own + sum(count_strings(c) for c in children)


# What JSON mode ({"type": "json_object"}) asks of the local model: a small flat object of short values.
# (Unbounded, the tiny model keeps adding keys until the token limit cuts the JSON in half.)
JSON_OBJECT_SCHEMA = {"type": "object", "maxProperties": 6, "additionalProperties": {
    "anyOf": [{"type": "string", "maxLength": 60}, {"type": "number"}, {"type": "boolean"}]}}
