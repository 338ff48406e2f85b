"""How often the local model fills in tool arguments, structured outputs and recalled facts correctly.

Runs tool-call and structured-output prompts of the lessons' kind (most of them not the lessons' own),
conversations whose facts are then read back from the history as fields (lessons 03 and 05), and answers
in words after a tool result (lessons 03-06: does the answer state the result's values?), through
the real SDKs (openai, google-genai, groq, huggingface_hub) against the course's local server, and prints
the share of answers whose values are right, per SDK and per kind. Issue 13 aims at 90 % or
more. The answers are the model's: the server only narrows free strings to the user's words
(``helpers/server/grounding.py``) and helps it use a tool's data (``helpers/server/tool_answer.py``).

    python benchmarks/demo_accuracy_bench.py            # starts the local server if it is not running
    python benchmarks/demo_accuracy_bench.py --verbose  # every answer
    python benchmarks/demo_accuracy_bench.py --kind recall --kind "after a tool"   # only these kinds
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _has(value: Any, *words: str) -> bool:
    text = json.dumps(value).lower() if not isinstance(value, str) else value.lower()
    return all(w.lower() in text for w in words)


@dataclass
class ToolCase:
    question: str
    name: str
    description: str
    properties: dict
    expect: Callable[[dict], bool]
    what: str   # the right answer, for the report


@dataclass
class ExtractCase:
    text: str
    instruction: str
    properties: dict
    expect: Callable[[dict], bool]
    what: str


@dataclass
class RecallCase:
    turns: list[str]   # what the user says first, one message each; the model answers each in its own words
    asked: str         # the facts asked back, in words ("Extract {asked} from our conversation.")
    properties: dict   # the same facts, as fields
    expect: Callable[[dict], bool]
    what: str


@dataclass
class AnswerCase:
    question: str
    name: str         # the tool the model called
    arguments: dict   # what it called it with
    result: dict      # what the tool returned
    said: list[str]   # what the answer in words must state (each as a whole word or number; 717710 as 717,710 too)
    what: str

    def expect(self, text: str) -> bool:
        plain = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # "717,710" is 717710
        return all(re.search(rf"(?<![\w.]){re.escape(w)}(?![\w]|\.\d)", plain, re.IGNORECASE) for w in self.said)


RECALL_QUESTION = "Extract {} from our conversation."


STRING, INTEGER, NUMBER = {"type": "string"}, {"type": "integer"}, {"type": "number"}
UNIT = {"type": "string", "enum": ["celsius", "fahrenheit"]}

TOOL_CASES = [
    ToolCase("What's the weather like in Madrid right now, in celsius?", "get_weather", "The current weather in a city",
             {"city": STRING, "unit": UNIT}, lambda a: a.get("city") == "Madrid" and a.get("unit") == "celsius",
             "Madrid, celsius"),
    ToolCase("Is it sunny in Madrid?", "get_weather", "The current weather in a city",
             {"city": STRING, "unit": UNIT}, lambda a: a.get("city") == "Madrid", "Madrid"),
    ToolCase("What is the temperature in Oslo?", "get_temperature", "The current temperature in a city, in Celsius",
             {"city": STRING}, lambda a: a.get("city") == "Oslo", "Oslo"),
    ToolCase("How hot is it in Cairo, in fahrenheit?", "get_weather", "The current weather in a city",
             {"city": STRING, "unit": UNIT}, lambda a: a.get("city") == "Cairo" and a.get("unit") == "fahrenheit",
             "Cairo, fahrenheit"),
    ToolCase("Is it raining in Buenos Aires today?", "get_weather", "The current weather in a city",
             {"city": STRING, "unit": UNIT}, lambda a: a.get("city") == "Buenos Aires", "Buenos Aires"),
    ToolCase("Set a timer for 15 minutes.", "set_timer", "Start a countdown timer",
             {"minutes": INTEGER}, lambda a: a.get("minutes") == 15, "15"),
    ToolCase("Convert 50 euros to dollars.", "convert_currency", "Convert an amount of money",
             {"amount": NUMBER, "from_currency": STRING, "to_currency": STRING},
             lambda a: a.get("amount") == 50 and _has(a.get("from_currency", ""), "euro")
             and _has(a.get("to_currency", ""), "dollar"), "50, euros -> dollars"),
    ToolCase("What does the word serendipity mean?", "define_word", "Look a word up in the dictionary",
             {"word": STRING}, lambda a: a.get("word", "").lower() == "serendipity", "serendipity"),
    ToolCase("Book a table for 4 people at Luigi's.", "book_table", "Reserve a table at a restaurant",
             {"restaurant": STRING, "people": INTEGER},
             lambda a: a.get("people") == 4 and _has(a.get("restaurant", ""), "luigi"), "Luigi's, 4"),
    ToolCase("Send an email to Maria saying the meeting moved to Friday.", "send_email", "Send an email",
             {"to": STRING, "message": STRING},
             lambda a: a.get("to") == "Maria" and _has(a.get("message", ""), "friday"), "to Maria, ...Friday"),
    ToolCase("Find flights from Paris to Tokyo.", "search_flights", "Search for flights between two cities",
             {"origin": STRING, "destination": STRING},
             lambda a: a.get("origin") == "Paris" and a.get("destination") == "Tokyo", "Paris -> Tokyo"),
    ToolCase("Translate 'good morning' into Italian.", "translate", "Translate a text",
             {"text": STRING, "language": STRING},
             lambda a: a.get("text", "").lower() == "good morning" and a.get("language") == "Italian",
             "good morning, Italian"),
]

EXTRACT_CASES = [
    ExtractCase("Pancakes take about 20 minutes: mix flour, milk and two eggs, then fry.", "Extract the recipe from the text.",
                {"title": STRING, "minutes": INTEGER, "ingredients": {"type": "array", "items": STRING}},
                lambda d: _has(d.get("title", ""), "pancake") and d.get("minutes") == 20
                and _has(d.get("ingredients", []), "flour", "milk", "egg"), "Pancakes, 20, flour/milk/eggs"),
    ExtractCase("Team lunch on Friday at 12:30 in the canteen.", "Extract the event from the text.",
                {"name": STRING, "day": STRING, "time": STRING, "place": STRING},
                lambda d: d.get("day") == "Friday" and d.get("time") == "12:30" and _has(d.get("place", ""), "canteen"),
                "Friday, 12:30, canteen"),
    ExtractCase("Nineteen Eighty-Four is a novel by George Orwell, published in 1949.", "Extract the book from the text.",
                {"title": STRING, "author": STRING, "year": INTEGER},
                lambda d: d.get("author") == "George Orwell" and d.get("year") == 1949
                and _has(d.get("title", ""), "eighty-four"), "Nineteen Eighty-Four, George Orwell, 1949"),
    ExtractCase("Ada Lovelace was born in London in 1815.", "Extract the person from the text.",
                {"name": STRING, "birthplace": STRING, "born": INTEGER},
                lambda d: d.get("name") == "Ada Lovelace" and d.get("birthplace") == "London" and d.get("born") == 1815,
                "Ada Lovelace, London, 1815"),
    ExtractCase("You can reach Tom Baker at tom.baker@example.com or on 555-0142.", "Extract the contact from the text.",
                {"name": STRING, "email": STRING, "phone": STRING},
                lambda d: d.get("name") == "Tom Baker" and d.get("email") == "tom.baker@example.com"
                and d.get("phone") == "555-0142", "Tom Baker, tom.baker@example.com, 555-0142"),
    ExtractCase("I'd like 3 large pizzas delivered to 12 Baker Street.", "Extract the order from the text.",
                {"quantity": INTEGER, "size": STRING, "item": STRING, "address": STRING},
                lambda d: d.get("quantity") == 3 and d.get("size") == "large" and _has(d.get("item", ""), "pizza")
                and _has(d.get("address", ""), "baker street"), "3, large, pizzas, 12 Baker Street"),
]

RECALL_CASES = [
    RecallCase(["Hello! My name is Ada.", "I live in Lisbon."], "my name and the city I live in",
               {"name": STRING, "city": STRING},
               lambda d: d.get("name") == "Ada" and d.get("city") == "Lisbon", "Ada, Lisbon"),
    RecallCase(["Hi, I'm Tom.", "I work as a nurse."], "my name and my job", {"name": STRING, "job": STRING},
               lambda d: d.get("name") == "Tom" and _has(d.get("job", ""), "nurse"), "Tom, nurse"),
    RecallCase(["I'm planning a trip to Kyoto.", "I leave on Monday."], "where I am going and the day I leave",
               {"destination": STRING, "day": STRING},
               lambda d: d.get("destination") == "Kyoto" and d.get("day") == "Monday", "Kyoto, Monday"),
]

# Answers in words after a tool result: none of these is a lesson's own call.
ANSWER_CASES = [
    AnswerCase("When does the next train to Porto leave?", "next_train", {"destination": "Porto"},
               {"departs": "14:35", "platform": 3}, ["14:35"], "14:35"),
    AnswerCase("How many people live in Oslo?", "city_population", {"city": "Oslo"}, {"population": 717710},
               ["717710"], "717,710"),
    AnswerCase("What's the weather in Paris?", "get_weather", {"city": "Paris"}, {"temperature": 12, "conditions": "rain"},
               ["12", "rain"], "12, rain"),
    AnswerCase("How far is it from Berlin to Munich by road?", "road_distance", {"origin": "Berlin", "destination": "Munich"},
               {"km": 585}, ["585"], "585 km"),
    AnswerCase("Who wrote Dune, and when?", "book_info", {"title": "Dune"},
               {"title": "Dune", "author": "Frank Herbert", "year": 1965}, ["Frank Herbert", "1965"], "Frank Herbert, 1965"),
    AnswerCase("How much is a large coffee?", "menu_price", {"item": "large coffee"}, {"price": 3.2, "currency": "EUR"},
               ["3.2"], "3.2 EUR"),
]


def recall_question(case: RecallCase) -> str:
    return RECALL_QUESTION.format(case.asked)


def schema_of(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


# ---------------------------------------------------------------------- one call per SDK

def openai_like_tool(client, model: str, case: ToolCase, **extra) -> dict:
    tool = {"type": "function", "function": {"name": case.name, "description": case.description,
                                             "parameters": schema_of(case.properties)}}
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": case.question}],
                                           tools=[tool], **extra)
    calls = reply.choices[0].message.tool_calls or []
    return json.loads(calls[0].function.arguments) if calls else {}


def openai_like_extract(client, model: str, case: ExtractCase, **extra) -> dict:
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "system", "content": case.instruction}, {"role": "user", "content": case.text}],
        response_format={"type": "json_schema", "json_schema": {"name": "output", "strict": True,
                                                                "schema": schema_of(case.properties)}}, **extra)
    return json.loads(reply.choices[0].message.content)


def openai_like_recall(client, model: str, case: RecallCase, **extra) -> dict:
    history = [{"role": "system", "content": "You are a friendly assistant. Answer in one short sentence."}]
    for text in case.turns:
        history.append({"role": "user", "content": text})
        reply = client.chat.completions.create(model=model, messages=history, **extra)
        history.append({"role": "assistant", "content": reply.choices[0].message.content or ""})
    history.append({"role": "user", "content": recall_question(case)})
    reply = client.chat.completions.create(
        model=model, messages=history, **extra,
        response_format={"type": "json_schema", "json_schema": {"name": "facts", "strict": True,
                                                                "schema": schema_of(case.properties)}})
    return json.loads(reply.choices[0].message.content)


def answer_history(case: AnswerCase) -> tuple[dict, list[dict]]:
    """(the tool, the chat history of a finished call: the question, the model's call, the tool's result)."""
    tool = {"type": "function", "function": {"name": case.name, "description": "",
                                             "parameters": schema_of({k: STRING for k in case.arguments})}}
    call = {"id": "call_1", "type": "function", "function": {"name": case.name, "arguments": json.dumps(case.arguments)}}
    return tool, [{"role": "user", "content": case.question}, {"role": "assistant", "content": None, "tool_calls": [call]},
                  {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(case.result)}]


def openai_like_answer(client, model: str, case: AnswerCase, **extra) -> str:
    tool, history = answer_history(case)
    reply = client.chat.completions.create(model=model, messages=history, tools=[tool], **extra)
    return reply.choices[0].message.content or ""


def gemini_tool(client, model: str, case: ToolCase) -> dict:
    from google.genai import types

    decl = {"name": case.name, "description": case.description, "parameters": schema_of(case.properties)}
    decl["parameters"].pop("additionalProperties")
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[decl])], max_output_tokens=80,
                                         thinking_config=types.ThinkingConfig(thinking_level="minimal"))
    response = client.models.generate_content(model=model, contents=case.question, config=config)
    calls = response.function_calls or []
    return dict(calls[0].args or {}) if calls else {}


def gemini_extract(client, model: str, case: ExtractCase) -> dict:
    from google.genai import types

    config = types.GenerateContentConfig(system_instruction=case.instruction, response_mime_type="application/json",
                                         response_json_schema=schema_of(case.properties), max_output_tokens=200,
                                         thinking_config=types.ThinkingConfig(thinking_level="minimal"))
    return json.loads(client.models.generate_content(model=model, contents=case.text, config=config).text)


def gemini_recall(client, model: str, case: RecallCase) -> dict:
    from google.genai import types

    minimal = types.ThinkingConfig(thinking_level="minimal")
    chat = client.chats.create(model=model, config=types.GenerateContentConfig(
        system_instruction="You are a friendly assistant. Keep answers short.", max_output_tokens=60,
        thinking_config=minimal))
    for text in case.turns:
        chat.send_message(text)
    schema = schema_of(case.properties)
    schema.pop("additionalProperties")
    response = chat.send_message(recall_question(case), config=types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=schema, thinking_config=minimal))
    return json.loads(response.text)


def gemini_answer(client, model: str, case: AnswerCase) -> str:
    from google.genai import types

    decl = {"name": case.name, "description": "", "parameters": schema_of({k: STRING for k in case.arguments})}
    decl["parameters"].pop("additionalProperties")
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[decl])], max_output_tokens=120,
                                         thinking_config=types.ThinkingConfig(thinking_level="minimal"),
                                         automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    asked = types.Content(role="user", parts=[types.Part.from_text(text=case.question)])
    called = client.models.generate_content(model=model, contents=[asked], config=config)  # the call, as Gemini 3
    answer = types.Content(role="user", parts=[types.Part.from_function_response(name=case.name,  # signs it
                                                                                 response=case.result)])
    contents = [asked, called.candidates[0].content, answer]
    return client.models.generate_content(model=model, contents=contents, config=config).text or ""


def hf_tool(client, model: str, case: ToolCase) -> dict:
    tool = {"type": "function", "function": {"name": case.name, "description": case.description,
                                             "parameters": schema_of(case.properties)}}
    reply = client.chat_completion([{"role": "user", "content": case.question}], model=model, tools=[tool],
                                   max_tokens=80)
    calls = reply.choices[0].message.tool_calls or []
    args = calls[0].function.arguments if calls else {}
    return json.loads(args) if isinstance(args, str) else dict(args)


def hf_extract(client, model: str, case: ExtractCase) -> dict:
    reply = client.chat_completion(
        [{"role": "system", "content": case.instruction}, {"role": "user", "content": case.text}], model=model,
        response_format={"type": "json_schema", "json_schema": {"name": "output", "schema": schema_of(case.properties)}},
        max_tokens=200)
    return json.loads(reply.choices[0].message.content)


def hf_recall(client, model: str, case: RecallCase) -> dict:
    history = [{"role": "system", "content": "You are a friendly assistant. Answer in one short sentence."}]
    for text in case.turns:
        history.append({"role": "user", "content": text})
        reply = client.chat_completion(history, model=model, max_tokens=60)
        history.append({"role": "assistant", "content": reply.choices[0].message.content or ""})
    history.append({"role": "user", "content": recall_question(case)})
    reply = client.chat_completion(history, model=model, max_tokens=200, response_format={
        "type": "json_schema", "json_schema": {"name": "facts", "schema": schema_of(case.properties)}})
    return json.loads(reply.choices[0].message.content)


def hf_answer(client, model: str, case: AnswerCase) -> str:
    tool, history = answer_history(case)
    reply = client.chat_completion(history, model=model, tools=[tool], max_tokens=120)
    return reply.choices[0].message.content or ""


def sdks() -> dict[str, tuple[Callable, Callable, Callable, Callable]]:
    """Per SDK: (tool call, extraction, recall, answer after a tool result), each taking a case and returning what
    the model gave."""
    import helpers
    from google import genai
    from groq import Groq
    from huggingface_hub import InferenceClient
    from openai import OpenAI

    models = helpers.models
    oa, gm, gq, hf = OpenAI(), genai.Client(), Groq(), InferenceClient()
    oa_extra = {"max_completion_tokens": 200, "reasoning_effort": "none"}
    gq_extra = {"max_completion_tokens": 400, "reasoning_effort": "low"}
    return {
        "openai": (lambda c: openai_like_tool(oa, models.get("openai", "tools"), c, **oa_extra),
                   lambda c: openai_like_extract(oa, models.chat("openai"), c, **oa_extra),
                   lambda c: openai_like_recall(oa, models.chat("openai"), c, **oa_extra),
                   lambda c: openai_like_answer(oa, models.get("openai", "tools"), c, **oa_extra)),
        "google-genai": (lambda c: gemini_tool(gm, models.get("gemini", "tools"), c),
                         lambda c: gemini_extract(gm, models.chat("gemini"), c),
                         lambda c: gemini_recall(gm, models.chat("gemini"), c),
                         lambda c: gemini_answer(gm, models.get("gemini", "tools"), c)),
        "groq": (lambda c: openai_like_tool(gq, models.get("groq", "tools"), c, **gq_extra),
                 lambda c: openai_like_extract(gq, models.chat("groq"), c, **gq_extra),
                 lambda c: openai_like_recall(gq, models.chat("groq"), c, **gq_extra),
                 lambda c: openai_like_answer(gq, models.get("groq", "tools"), c, **gq_extra)),
        "huggingface_hub": (lambda c: hf_tool(hf, models.get("huggingface", "tools"), c),
                            lambda c: hf_extract(hf, models.chat("huggingface"), c),
                            lambda c: hf_recall(hf, models.chat("huggingface"), c),
                            lambda c: hf_answer(hf, models.get("huggingface", "tools"), c)),
    }


KINDS = ("tool call", "structured", "recall", "after a tool")


def run(verbose: bool = False, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """Run every case (of ``kinds``) through every SDK; returns the counts and the share correct."""
    import helpers

    with contextlib.redirect_stdout(io.StringIO()):
        helpers.setup("local")
    results: dict[str, list[bool]] = {}
    wrong: list[str] = []
    t0 = time.perf_counter()
    for sdk, (tool, extract, recall, answer) in sdks().items():
        for kind, cases, call in (("tool call", TOOL_CASES, tool), ("structured", EXTRACT_CASES, extract),
                                  ("recall", RECALL_CASES, recall), ("after a tool", ANSWER_CASES, answer)):
            if kind not in kinds:
                continue
            for case in cases:
                prompt = getattr(case, "question", None) or getattr(case, "text", None) or " / ".join(case.turns)
                try:
                    got = call(case)
                    ok = bool(case.expect(got))
                except Exception as e:  # an error is a wrong answer, reported with its type
                    got, ok = f"{type(e).__name__}: {e}"[:160], False
                if isinstance(got, str):
                    got = " ".join(got.split())[:160]
                results.setdefault(sdk, []).append(ok)
                results.setdefault(kind, []).append(ok)
                if not ok:
                    wrong.append(f"  {sdk:<16} {prompt[:48]:<48} wanted {case.what}; got {got}")
                if verbose:
                    print(f"{'ok ' if ok else 'BAD'} {sdk:<16} {prompt[:48]:<48} {got}")
    everything = [ok for sdk in sdks_names() for ok in results.get(sdk, [])]
    return {"by": {k: (sum(v), len(v)) for k, v in results.items()}, "correct": sum(everything),
            "total": len(everything), "share": sum(everything) / max(1, len(everything)), "wrong": wrong,
            "seconds": time.perf_counter() - t0}


def sdks_names() -> list[str]:
    return ["openai", "google-genai", "groq", "huggingface_hub"]


def report(result: dict[str, Any]) -> str:
    """The figures, a line each."""
    lines = [f"local demo accuracy: {result['correct']}/{result['total']} correct = {result['share']:.0%} "
             f"(aim: 90 % or more; {result['seconds']:.0f} s)"]
    for key, (good, total) in result["by"].items():
        lines.append(f"  {key:<16} {good}/{total}")
    if result["wrong"]:
        lines.append("wrong answers:")
        lines.extend(result["wrong"])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every answer")
    parser.add_argument("--kind", action="append", choices=KINDS, help="only these kinds of case (repeatable)")
    args = parser.parse_args()
    os.environ["COURSE_MODE"] = "local"
    print(report(run(args.verbose, tuple(args.kind or KINDS))))


if __name__ == "__main__":
    main()
