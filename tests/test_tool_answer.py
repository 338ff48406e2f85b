"""helpers/server/tool_answer.py: the answer in words after a tool result uses the tool's data."""
from __future__ import annotations

import json
import re

from helpers.server import tool_answer
from helpers.server.openai_api import to_engine_messages

WEATHER = {"temperature_c": 24, "sky": "sunny"}


def chat_history(*results: dict, system: str | None = None) -> list[dict]:
    """An OpenAI chat history that ends with the results of the model's calls, as the engine reads it."""
    calls = [{"id": f"call_{k}", "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps({"city": "Lisbon"})}} for k in range(len(results))]
    history = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Is it warm in Lisbon right now?"},
        {"role": "assistant", "content": None, "tool_calls": calls}]
    history += [{"role": "tool", "tool_call_id": f"call_{k}", "content": json.dumps(r)} for k, r in enumerate(results)]
    return to_engine_messages(history)


def test_the_question_is_asked_again_with_the_data_after_it():
    plan = tool_answer.plan(chat_history(WEATHER, system="Answer like a pirate."))
    assert plan is not None
    *earlier, last = plan.messages
    assert earlier == [{"role": "system", "content": "Answer like a pirate."}, {"role": "user", "content": "Hi!"},
                       {"role": "assistant", "content": "Hello! How can I help?"}]  # the learner's system is kept
    assert last["content"].splitlines() == ["Question: Is it warm in Lisbon right now?", f"Data: {json.dumps(WEATHER)}",
                                            "Answer the question using the data."]
    assert not any("I called the tool" in m["content"] for m in plan.messages)


def test_several_results_give_a_data_line_each_and_a_system_message_is_added_when_there_is_none():
    plan = tool_answer.plan(chat_history(WEATHER, {"temperature_c": 12, "sky": "rain"}))
    assert plan.messages[0] == {"role": "system", "content": tool_answer.DEFAULT_SYSTEM}
    assert [ln for ln in plan.messages[-1]["content"].splitlines() if ln.startswith("Data: ")] == [
        f"Data: {json.dumps(WEATHER)}", 'Data: {"temperature_c": 12, "sky": "rain"}']
    assert plan.values == [["24"], ["sunny"], ["12"], ["rain"]]


def test_no_plan_unless_the_conversation_ends_with_a_tool_result():
    assert tool_answer.plan([{"role": "user", "content": "Is it warm in Lisbon?"}]) is None
    assert tool_answer.plan([{"role": "user", "content": "The tool I like best is a hammer."}]) is None
    assert tool_answer.plan(chat_history(WEATHER) + [{"role": "assistant", "content": "It is."},
                                                     {"role": "user", "content": "Thanks!"}]) is None


def test_the_grammar_allows_only_the_numbers_written_and_each_whole():
    grammar = tool_answer.number_grammar("Question: When does it leave?\nData: {\"departs\": \"14:35\", \"people\": 717710}")
    allowed = set(re.findall(r'"([^"]+)"', grammar.split("number ::=")[1]))
    assert allowed == {"14:35", "717710", "717,710"}  # not "14" or "35" alone: a time is written whole
    assert tool_answer.number_grammar("No numbers here.") == "root ::= [^0-9]*\n"


def test_values_and_how_many_an_answer_states():
    wanted = tool_answer.values(['{"city": "Oslo", "population": 717710, "capital": true, "note": "a long text of words"}'])
    assert wanted == [["Oslo"], ["717710", "717,710"]]  # booleans are said in words; long strings are not looked for
    assert tool_answer.score("Oslo has 717,710 people.", wanted) == 1.0
    assert tool_answer.score("Oslo has 7177100 people.", wanted) == 0.5  # a longer number is not the value
    assert tool_answer.score("Anything.", []) == 1.0


def test_the_local_answer_states_the_result_and_writes_no_other_number(local_mode):
    import helpers
    from openai import OpenAI

    tool = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    history = [{"role": "user", "content": "Is it warm in Lisbon right now?"},
               {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                   "name": "get_weather", "arguments": '{"city": "Lisbon"}'}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(WEATHER)}]
    client = OpenAI()
    answers = []
    for stream in (False, True):
        reply = client.chat.completions.create(model=helpers.models.get("openai", "tools"), messages=history,
                                               tools=[tool], max_completion_tokens=80, reasoning_effort="none",
                                               stream=stream)
        answers.append("".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream
                       else reply.choices[0].message.content)
    for answer in answers:  # streamed or not (llama.cpp's reused prompt cache can shift a sample a little)
        assert re.search(r"\b24\b", answer) or "sunny" in answer.lower(), answer  # it uses the data
        assert set(re.findall(r"\d+", answer)) <= {"24"}, answer  # and writes no number the data does not hold
    notes = helpers.server.last_requests()[-1].get("emulation") or []
    assert any("answer after a tool result" in n for n in notes), notes


def test_a_models_thinking_after_a_tool_result_gets_no_help():
    import asyncio

    from helpers.server import thinking

    class Recorder:
        async def generate(self, messages, **options):
            self.options = options

    engine = Recorder()
    asyncio.run(thinking.think(engine, chat_history(WEATHER), 16))
    assert engine.options["data_help"] is False  # its notes are not the answer, so not held to the data


def test_geminis_results_in_one_turn_give_a_data_line_each():
    from helpers.server.gemini_api import normalize_contents
    from helpers.server.gemini_api import to_engine_messages as gemini_messages

    paris = {"city": "Paris", "temperature": 14, "sky": "cloudy"}
    contents = [{"role": "user", "parts": [{"text": "Is it sunny in Lisbon and in Paris?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": c}}}
                                            for c in ("Lisbon", "Paris")]},
                {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": r}}
                                           for r in (WEATHER, paris)]}]
    plan = tool_answer.plan(gemini_messages(normalize_contents(contents)))
    assert plan.messages[-1]["content"].splitlines() == [
        "Question: Is it sunny in Lisbon and in Paris?", f"Data: {json.dumps(WEATHER)}", f"Data: {json.dumps(paris)}",
        "Answer the question using the data."]
    assert plan.values == [["24"], ["sunny"], ["Paris"], ["14"], ["cloudy"]]


def test_the_cost_benchmark_compares_plain_and_helped_answers():
    import asyncio
    import importlib

    bench = importlib.import_module("benchmarks.tool_answer_bench")
    rows = asyncio.run(bench.measure())
    print(bench.report(rows))
    assert len(rows) == 6 and all(r["plain"]["attempts"] == 1 for r in rows)
    assert sum(r["helped"]["right"] for r in rows) > sum(r["plain"]["right"] for r in rows)
    assert all(1 <= r["helped"]["attempts"] <= tool_answer.ATTEMPTS for r in rows)


def test_the_samples_after_the_greedy_answer_share_a_token_budget():
    import asyncio
    from pathlib import Path

    from helpers.server.engine import Generation, LlamaEngine

    class Rambling(LlamaEngine):  # every answer long and without the data's values
        def __init__(self):
            super().__init__(Path("."))
            self.limits = []

        async def _chat(self, body):
            self.limits.append(body["max_tokens"])
            return Generation("It is a nice day somewhere.", 40, min(200, body["max_tokens"]), "stop")

    engine = Rambling()
    gen = asyncio.run(engine.generate(chat_history(WEATHER), max_tokens=256))
    assert engine.limits == [256, 256, 56]  # greedy, then samples until EXTRA_TOKENS (256) are spent
    assert gen.text == "It is a nice day somewhere."
