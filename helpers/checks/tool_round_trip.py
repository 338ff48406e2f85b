"""The tool-calling round-trip check shared by the OpenAI (04) and Groq (06) lessons.

Both SDKs speak the same chat-completions shape, so one check serves both: the learner's
``ask_with_tools(client, model, question, tools, functions)`` must call the model, run each
requested function, send the results back as ``tool`` messages and return ``(answer, messages)``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import parameter_advice
from .base import Verdict, call_learner, raised, verdict

CURRENCY_TOOL = {"type": "function", "function": {
    "name": "convert_currency", "description": "Convert an amount of US dollars into another currency.",
    "parameters": {"type": "object", "properties": {
        "amount": {"type": "number", "description": "the amount in US dollars"},
        "currency": {"type": "string", "enum": ["EUR", "GBP", "JPY"]}},
        "required": ["amount", "currency"]}}}
RATES = {"EUR": 0.92, "GBP": 0.79, "JPY": 151.0}
QUESTION = "How much is 20 US dollars in euros?"


def _as_dict(message: Any) -> dict:
    """A message as a plain dict (the SDK's message objects are Pydantic models)."""
    if isinstance(message, dict):
        return message
    return message.model_dump(exclude_none=True)


def check(exercise: str, provider: str, ask_with_tools: Callable, client: Any, model: str) -> Verdict:
    """Run the learner's round trip with a currency tool and judge its structure (never the wording)."""
    from .. import course, server

    calls: list[dict] = []

    def convert_currency(amount: float, currency: str) -> dict:
        calls.append({"amount": amount, "currency": currency})
        return {"amount": round(float(amount) * RATES[currency], 2), "currency": currency}

    local = course.is_local(provider)
    if local:
        server.clear_requests()
    got, err = call_learner(ask_with_tools, client, model, QUESTION, [CURRENCY_TOOL],
                            {"convert_currency": convert_currency})
    if err:  # a parameter the model refuses gets its own advice (e.g. reasoning_effort with tools)
        return raised(exercise, "ask_with_tools", err, parameter_advice(err) or "Follow the lesson's round trip: "
                      "call, run each tool call, send the results as role 'tool' messages, call again.")
    answer, messages = got if isinstance(got, tuple) and len(got) == 2 else (None, None)
    msgs = [_as_dict(m) for m in messages] if isinstance(messages, list) else []
    asked = [m for m in msgs if m.get("role") == "assistant" and m.get("tool_calls")]
    ids = [c["id"] for m in asked for c in m["tool_calls"]]
    answered = {m.get("tool_call_id"): m for m in msgs if m.get("role") == "tool"}
    sent = [r for r in server.last_requests(20) if str(r.get("path", "")).endswith("/chat/completions")] \
        if local else []
    last_body = sent[-1]["body"] if sent and isinstance(sent[-1].get("body"), dict) else {}
    tests = [
        (lambda: isinstance(got, tuple) and len(got) == 2, "`ask_with_tools` must return (answer, messages).",
         "End with `return answer, messages`."),
        (lambda: msgs and msgs[0] == {"role": "user", "content": QUESTION}, "messages[0] is not the user's question.",
         'Start the list with {"role": "user", "content": question}.'),
        (lambda: asked, "No assistant message with tool_calls is in the messages.",
         "Append the model's first reply (response.choices[0].message) before the tool results."),
        (lambda: calls, "Your convert_currency function was never called.",
         "For each tool call, look the function up by name in `functions` and call it with json.loads(arguments)."),
        (lambda: all(isinstance(c["amount"], (int, float)) and c["currency"] in RATES for c in calls),
         f"The function was called with arguments that do not fit its schema: {calls}.",
         "Pass the model's arguments as keywords: functions[name](**json.loads(call.function.arguments))."),
        (lambda: all(i in answered for i in ids), "A tool call has no 'tool' message with its tool_call_id.",
         'Append {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)} for each call.'),
        (lambda: all(isinstance(answered[i].get("content"), str) for i in ids), "A tool message's content is not a string.",
         "Turn the function's result into text with json.dumps(result)."),
        (lambda: msgs.index(asked[0]) < min(msgs.index(answered[i]) for i in ids),
         "The tool results come before the assistant's tool call.", "Append the assistant message first, then the results."),
        (lambda: not local or any(m.get("role") == "tool" for m in last_body.get("messages", [])),
         "The last request sent to the model did not include the tool results.",
         "Call the model a second time with the whole list, tool messages included."),
        (lambda: isinstance(answer, str) and answer.strip(), "The final answer is not a non-empty string.",
         "Return the second response's message.content."),
    ]
    return verdict(exercise, tests, f"the model called convert_currency{tuple(calls[0].values()) if calls else ''}, "
                                    "got the result and answered in words.")
