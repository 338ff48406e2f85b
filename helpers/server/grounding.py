"""Grounded values: how the local server helps its tiny model fill in tool arguments and extractions.

Asked for ``{"city": <any string>}``, a 135M model may write any string at all ("./data.csv"), where a
real model copies the city from the question. So in a tool call, and in a structured output whose
instructions ask to *extract*, the local server narrows each free string of the schema to a phrase of
the user's words (one to four words that neither start nor end with a small word such as "the" or
"in"), and each free number to a number written there. The model still chooses among them, token by
token under the grammar: the answer is the model's own, only its choices are fewer.

An ``enum`` keeps only the choices the user named, when they named any ("in celsius"). A field with its
own ``const``, ``pattern`` or ``format`` is left as the caller wrote it, and so is every field when the
user's words offer nothing to choose from. Real models are not limited like
this; the request inspector says when it happened ("emulation").
"""
from __future__ import annotations

import re
from typing import Any

MAX_WORDS = 4          # the longest phrase offered, in words
MAX_PHRASES = 240      # a grammar with more alternatives gets slow; the newest words win
MAX_ITEMS = 6          # the most items of a grounded list
EXTRACTION_CUE = re.compile(r"\b(extract|pull out|pick out|fill in)\w*|\bfrom (the|this) (text|message|sentence)",
                            re.IGNORECASE)
# Words a phrase may contain but neither start nor end with ("the weather in Madrid" offers "weather",
# "Madrid" and "weather in Madrid", not "in Madrid").
SMALL_WORDS = set("""
a an the and or but nor so yet if then than that this these those there here of in on at to for from by with
about into onto over under after before as is are was were be been am do does did have has had will would can
could should may might must shall it its it's i i'm me my we our you your he she him her they them their what
what's which who whom whose when where why how please tell give show find get like right now today just also
very really some any all each every not no yes ok okay hi hello thanks thank up down out off one mean means
""".split())
# A request's own verb is not one of its values ("Convert 50 euros to dollars", "Translate 'hi' into Italian"):
# these words may stand inside a phrase but not start one.
REQUEST_VERBS = set("""
add ask book buy calculate call check compute convert create define email explain extract find give look make order play
remind reserve schedule search send set show start stop summarise summarize tell translate write
""".split())
# Clause breaks: punctuation followed by a space or the end ("12:30" and "3.5" stay whole), brackets, quotes.
CLAUSE_BREAK = re.compile(r"[.,:;!?]+(?=\s|$)|[()\[\]{}\"\n]|\s[-–—]\s")
TOOL_RESULT_PREFIX = "The tool "  # how the servers hand a tool's result to the model, as a user message
NUMBER = re.compile(r"(?<![\w.:])-?\d+(?:\.\d+)?(?![\w.:]*\w)")  # not a part of "12:30" or "v2.1"


def user_text(messages: list[dict]) -> str:
    """The user's own words in an engine conversation (tool results and the server's hints left out)."""
    return "\n".join(str(m.get("content") or "") for m in messages
                     if m.get("role") == "user" and not str(m.get("content") or "").startswith(TOOL_RESULT_PREFIX))


def _capital(word: str) -> bool:
    return word[:1].isupper()


def phrases(text: str) -> list[str]:
    """The phrases of ``text`` a grounded string may take, newest words first, at most ``MAX_PHRASES``.

    A phrase neither starts nor ends with a small word, does not start with the request's verb, and
    does not cut a run of capitalised words ("Buenos Aires", never "Buenos").
    """
    found: dict[str, None] = {}
    for clause in reversed(CLAUSE_BREAK.split(text)):
        words = [w.strip("'`’‘“”") for w in clause.split()]
        words = [w for w in words if w]
        for start in range(len(words)):
            first = words[start]
            if first.lower() in SMALL_WORDS or first.lower() in REQUEST_VERBS:
                continue
            if start > 0 and _capital(first) and _capital(words[start - 1]) and words[start - 1].lower() not in SMALL_WORDS:
                continue  # inside a name
            for size in range(1, MAX_WORDS + 1):
                span = words[start:start + size]
                end = start + size
                if len(span) < size or span[-1].lower() in SMALL_WORDS:
                    continue
                if end < len(words) and _capital(span[-1]) and _capital(words[end]) and words[end].lower() not in SMALL_WORDS:
                    continue  # a name goes on
                found.setdefault(" ".join(span), None)
        if len(found) >= MAX_PHRASES:
            break
    return list(found)[:MAX_PHRASES]


def _named(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


def enum_words(schema: Any) -> set[str]:
    """Every string choice of every ``enum`` in ``schema``, lower-case."""
    if isinstance(schema, list):
        return set().union(*(enum_words(s) for s in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    own = {v.lower() for v in schema.get("enum") or [] if isinstance(v, str)}
    return own.union(*(enum_words(v) for k, v in schema.items() if isinstance(v, (dict, list)) and k != "enum"))


def numbers(text: str) -> list[float]:
    """The numbers written in ``text`` (digits only: "20", "3.5", "-4"), in order, without repeats."""
    return list(dict.fromkeys(float(n) for n in NUMBER.findall(text)))


def wants_grounding(messages: list[dict]) -> bool:
    """True when the conversation asks to extract something (a cue such as "Extract the recipe from the text")."""
    return any(EXTRACTION_CUE.search(str(m.get("content") or "")) for m in messages if m.get("role") in ("system", "user"))


def ground(schema: Any, messages: list[dict]) -> tuple[Any, bool]:
    """(``schema`` with its free strings and numbers narrowed to the user's words, True when any was)."""
    text = user_text(messages)
    taken = enum_words(schema)  # a word that is another field's choice ("celsius") is not a free string
    found = {"string": [p for p in phrases(text) if p.lower() not in taken], "numbers": numbers(text)}
    changed = [False]

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: (walk(v) if k in ("items", "anyOf", "oneOf", "allOf", "additionalProperties")
                   else {n: walk(p) for n, p in v.items()} if k in ("properties", "$defs", "definitions") and
                   isinstance(v, dict) else v) for k, v in node.items()}
        if isinstance(out.get("enum"), list):
            named = [v for v in out["enum"] if isinstance(v, str) and _named(v, text)]
            if named and len(named) < len(out["enum"]):  # the user named the choice: keep only what was named
                changed[0] = True
                return {**out, "enum": named}
            return out
        if any(k in out for k in ("const", "pattern", "format")):
            return out
        kind = out.get("type")
        choices: list = []
        if kind == "string":
            low, high = out.get("minLength", 0), out.get("maxLength", 10 ** 6)
            choices = [p for p in found["string"] if low <= len(p) <= high]
        elif kind in ("integer", "number"):
            low, high = out.get("minimum", float("-inf")), out.get("maximum", float("inf"))
            choices = [int(n) if kind == "integer" or n.is_integer() else n for n in found["numbers"]
                       if low <= n <= high and (kind == "number" or n.is_integer())]
        elif kind == "array" and isinstance(out.get("items"), dict) and "enum" in out["items"]:
            limit = min(out.get("maxItems", MAX_ITEMS), len(out["items"]["enum"]))
            out["maxItems"] = max(limit, out.get("minItems", 0))
        if choices:
            changed[0] = True
            return {"enum": choices, **{k: v for k, v in out.items() if k in ("description",)}}
        return out

    grounded = walk(schema)
    return (grounded, True) if changed[0] else (schema, False)


def distinct_fields(original: Any, grounded: Any, messages: list[dict]) -> dict | None:
    """For an extraction's top-level fields that were narrowed to the user's phrases: which they are, and the
    phrases the user wrote more than once ("I live in Paris and work in Paris"). Two such fields should not
    take the same phrase unless it was written twice: the engine then decodes the most likely answer whose
    fields differ (``DISTINCT``; the tiny model sometimes gives a second field the first one's value)."""
    props, narrowed = (original or {}).get("properties"), (grounded or {}).get("properties")
    if not isinstance(props, dict) or not isinstance(narrowed, dict):
        return None
    fields = [k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string" and "enum" not in v
              and isinstance(narrowed.get(k), dict) and "enum" in narrowed[k]]
    if len(fields) < 2:
        return None
    text = user_text(messages)
    phrases_used = {p for k in fields for p in narrowed[k]["enum"]}
    repeats = [p for p in phrases_used
               if len(re.findall(rf"(?<!\w){re.escape(p)}(?!\w)", text, re.IGNORECASE)) > 1]
    return {"fields": fields, "repeats": repeats}


DISTINCT = "x-course-distinct"  # the key that carries ``distinct_fields`` to the engine, taken off before decoding


def apply(schema: Any, messages: list[dict], opts: dict, scope: dict | None, *, tool_call: bool = False) -> Any:
    """The schema to decode with: grounded for a tool call, or for a structured output that asks to extract.

    A grounded request is decoded greedily unless the caller chose a temperature (the most likely
    values, the same on every run), and the request inspector notes it.
    """
    if schema is None or not (tool_call or wants_grounding(messages)):
        return schema
    original = schema
    schema, changed = ground(schema, messages)
    if changed and not tool_call and (distinct := distinct_fields(original, schema, messages)):
        schema = {**schema, DISTINCT: distinct}
    if changed:
        if opts.get("temperature") is None:
            opts["temperature"] = 0.0
        if scope is not None:
            what = "tool call" if tool_call else "structured output"
            scope.setdefault("course_notes", []).append(
                f"{what}: free strings and numbers were limited to phrases and numbers of the user's words, "
                "to help the tiny local model (helpers/server/grounding.py); real models are not limited like this")
    return schema
