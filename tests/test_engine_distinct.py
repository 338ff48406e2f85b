"""helpers/server/engine.py: an extraction whose fields took the same words is decoded again with them distinct."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from helpers.server import grounding
from helpers.server.engine import Generation, LlamaEngine

SCHEMA = {"type": "object", "properties": {"name": {"enum": ["Tom", "nurse", "job"]}, "job": {"enum": ["Tom", "nurse", "job"]}},
          "required": ["name", "job"]}
DISTINCT = {"fields": ["name", "job"], "repeats": []}


class ScriptedEngine(LlamaEngine):
    """The engine's decision logic with llama.cpp's answers scripted: each narrowed decode answers the JSON
    that the scripts give for the narrowed field, with the log-probability given."""

    def __init__(self, scripts: dict[str, tuple[dict, float]]):
        super().__init__(Path("."))
        self.scripts, self.asked = scripts, []

    async def _post(self, path: str, body: dict) -> dict:
        schema = body["response_format"]["json_schema"]["schema"]
        narrowed = next(f for f in ("name", "job") if len(schema["properties"][f]["enum"]) < 3)
        self.asked.append((narrowed, schema["properties"][narrowed]["enum"], body["temperature"]))
        answer, logprob = self.scripts[narrowed]
        return {"choices": [{"message": {"content": json.dumps(answer)}, "finish_reason": "stop",
                             "logprobs": {"content": [{"token": "x", "logprob": logprob}]}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5}}


def decide(first: dict, scripts: dict) -> tuple[dict, list]:
    engine = ScriptedEngine(scripts)
    gen = asyncio.run(engine._make_distinct(Generation(json.dumps(first), 10, 5), {"messages": [], "max_tokens": 64},
                                            SCHEMA, DISTINCT))
    return json.loads(gen.text), engine.asked


def test_the_more_likely_distinct_answer_wins():
    scripts = {"name": ({"name": "nurse", "job": "Tom"}, -9.0), "job": ({"name": "Tom", "job": "nurse"}, -2.0)}
    answer, asked = decide({"name": "Tom", "job": "Tom"}, scripts)
    assert answer == {"name": "Tom", "job": "nurse"}
    assert sorted(asked) == [("job", ["nurse", "job"], 0.0), ("name", ["nurse", "job"], 0.0)]  # greedy, "Tom" left out
    scripts = {"name": ({"name": "nurse", "job": "Tom"}, -1.0), "job": ({"name": "Tom", "job": "nurse"}, -2.0)}
    assert decide({"name": "Tom", "job": "Tom"}, scripts)[0] == {"name": "nurse", "job": "Tom"}  # the model's choice


def test_different_fields_or_a_repeated_phrase_are_left_alone():
    assert decide({"name": "Tom", "job": "nurse"}, {}) == ({"name": "Tom", "job": "nurse"}, [])
    engine = ScriptedEngine({})
    gen = asyncio.run(engine._make_distinct(Generation('{"name": "Tom", "job": "Tom"}', 10, 5), {}, SCHEMA,
                                            {"fields": ["name", "job"], "repeats": ["Tom"]}))
    assert json.loads(gen.text) == {"name": "Tom", "job": "Tom"} and engine.asked == []


def test_the_marker_never_reaches_llama_cpp():
    from helpers.server.engine import _take_distinct

    schema, distinct = _take_distinct({**SCHEMA, grounding.DISTINCT: DISTINCT})
    assert grounding.DISTINCT not in schema and distinct == DISTINCT
    assert _take_distinct(SCHEMA) == (SCHEMA, None)


def test_an_answer_that_still_repeats_words_loses():
    # Without "Tom" for the name, the model may give "nurse" to both fields: that answer does not count.
    scripts = {"name": ({"name": "nurse", "job": "nurse"}, -1.0), "job": ({"name": "Tom", "job": "nurse"}, -5.0)}
    assert decide({"name": "Tom", "job": "Tom"}, scripts)[0] == {"name": "Tom", "job": "nurse"}


def test_an_alternative_cut_short_never_wins():
    scripts = {"name": ({"name": "nurse"}, -0.5), "job": ({"name": "Tom", "job": "nurse"}, -5.0)}
    engine = ScriptedEngine(scripts)
    real_post = engine._post

    async def cut(path, body):  # the "name" alternative comes back as JSON cut by the token limit
        data = await real_post(path, body)
        if '"job"' not in data["choices"][0]["message"]["content"]:
            data["choices"][0]["message"]["content"] = '{"name": "nurse", "jo'
        return data

    engine._post = cut
    gen = asyncio.run(engine._make_distinct(Generation('{"name": "Tom", "job": "Tom"}', 10, 5),
                                            {"messages": [], "max_tokens": 64}, SCHEMA, DISTINCT))
    assert json.loads(gen.text) == {"name": "Tom", "job": "nurse"}
