"""Answers in words after a tool result: how the local server helps its tiny model use the data it was sent.

After a tool call, your code sends the tool's result back and a real model answers in words from it ("It is
24 °C and sunny in Lisbon."). SmolLM2-135M, shown the conversation as it stands, mostly imitates its own
call note or invents other numbers. So when the conversation ends with tool results, the local server:

1. asks the question again with the data right after it (``Question: ...`` / ``Data: {...}``), in place of
   the question, the call and the result as separate turns (with a short system message if there is none);
2. lets the model write only numbers that were written in the conversation (a grammar: "24" but not "42");
3. decodes greedily, then, while the answer leaves out some of the data's values (or was cut by the token
   limit), up to five more samples with fixed seeds and ``EXTRA_TOKENS`` tokens in all, and keeps the first
   finished answer that states the most of them (so a run repeats itself, up to the small differences
   llama.cpp's reused prompt cache makes).

Every word is still the model's; only its choices are fewer. Real models are not limited like this; the
request inspector says when it happened ("emulation").
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .grounding import TOOL_RESULT_PREFIX
from .inspector import note as inspector_note

ATTEMPTS = 6           # the greedy answer, then up to five samples while values are missing
SAMPLE_TEMPERATURE = 0.5
EXTRA_TOKENS = 256     # the samples after the greedy answer decode at most this many tokens in all
# The servers' request after a result (openai_api after all of them, gemini_api after each part)
CLOSING = re.compile(r"^Use (?:this result|these results) to answer my earlier question in one or two sentences\.$\n?",
                     re.MULTILINE)
RESULT = re.compile(rf"^{re.escape(TOOL_RESULT_PREFIX)}(\S+) returned: ", re.MULTILINE)
NUMBER = re.compile(r"\d+(?:[.:,/-]\d+)*")  # "24", "58.4", "14:35", "2026-11-30", "717,710"
DEFAULT_SYSTEM = "You are a helpful assistant. Answer in one or two sentences."
MAX_VALUE_WORDS = 3    # a string of the data longer than this is not looked for in the answer
MAX_VALUES = 8         # the values looked for: the data's first eight (no answer states fifty)


@dataclass
class Plan:
    """How to answer: the prompt the model reads, its grammar, and the data's values to look for."""

    messages: list[dict]
    grammar: str
    values: list[list[str]]  # per value of the data, the ways it may be written


def _results(content: str) -> list[str]:
    """The tool results in one of the servers' result messages (the text after each "returned: ")."""
    text = CLOSING.sub("", content).strip()
    starts = [m.end() for m in RESULT.finditer(text)] + [len(text)]
    heads = [m.start() for m in RESULT.finditer(text)][1:] + [len(text)]
    return [text[s:h].strip() for s, h in zip(starts, heads)]


def answering_tool_result(messages: list[dict]) -> bool:
    """True when the conversation ends with tool results, so the model's next words should use them."""
    return bool(messages) and messages[-1].get("role") == "user" and \
        RESULT.match(str(messages[-1].get("content") or "")) is not None  # not "The tool I use is ..."


def rewrite(messages: list[dict]) -> tuple[list[dict], list[str]]:
    """(the conversation with its last question, the model's calls and their results as one message, the
    results): ``Question: <the question>``, a ``Data: <result>`` line per result, a request to use the data."""
    results: list[str] = []
    i = len(messages) - 1
    while i >= 0:
        m = messages[i]
        content = str(m.get("content") or "")
        if m.get("role") == "user" and RESULT.match(content):
            results[:0] = _results(content)
        elif m.get("role") != "assistant":  # an assistant turn here holds the calls (and any words said with them)
            break
        i -= 1
    question = messages[i] if i >= 0 and messages[i].get("role") == "user" else None
    head = messages[:i] if question else messages[:i + 1]
    if not any(m.get("role") == "system" for m in head):  # without one, it may answer a Madrid question in Spanish
        head = [{"role": "system", "content": DEFAULT_SYSTEM}] + head
    lines = ([f"Question: {question['content']}"] if question else []) + [f"Data: {r}" for r in results]
    return head + [{"role": "user", "content": "\n".join(lines + ["Answer the question using the data."])}], results


def number_grammar(text: str) -> str:
    """A llama.cpp grammar for free text whose numbers are only those written in ``text``, each whole ("14:35",
    never "14" alone); integers from 1,000 also with thousands separators ("717,710")."""
    allowed: set[str] = set()
    for n in NUMBER.findall(text):
        allowed.add(n)
        if n.isdigit() and len(n) > 3:
            allowed.add(f"{int(n):,}")
    if not allowed:
        return "root ::= [^0-9]*\n"
    alternatives = " | ".join(json.dumps(n) for n in sorted(allowed, key=lambda s: (-len(s), s)))
    return f"root ::= ( [^0-9] | number [^0-9] )* number?\nnumber ::= {alternatives}\n"


def _scalars(value: Any):
    if isinstance(value, dict):
        for v in value.values():
            yield from _scalars(v)
    elif isinstance(value, list):
        for v in value:
            yield from _scalars(v)
    else:
        yield value


def values(results: list[str]) -> list[list[str]]:
    """The values a good answer states, each with the ways it may be written: the numbers and short strings
    of each JSON result (true, false and null are left out: they are said in words), or a text's numbers;
    at most ``MAX_VALUES``."""
    found: list[list[str]] = []
    for text in results:
        try:
            data = json.loads(text)
        except ValueError:
            found += [[n] for n in dict.fromkeys(NUMBER.findall(text))]
            continue
        for v in _scalars(data):
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float)):
                found.append([json.dumps(v)] + ([f"{v:,}"] if isinstance(v, int) and abs(v) >= 1000 else []))
            elif isinstance(v, str) and 0 < len(v.split()) <= MAX_VALUE_WORDS:
                found.append([v])
    return found[:MAX_VALUES]


def score(text: str, wanted: list[list[str]]) -> float:
    """The share of ``wanted`` values that ``text`` states (1.0 when there is nothing to look for)."""
    if not wanted:
        return 1.0
    low = text.lower()
    said = sum(any(re.search(rf"(?<![\w.]){re.escape(w.lower())}(?![\w]|\.\d)", low) for w in ways) for ways in wanted)
    return said / len(wanted)


def plan(messages: list[dict]) -> Plan | None:
    """How to answer ``messages`` when they end with tool results; None otherwise."""
    if not answering_tool_result(messages):
        return None
    prompt, results = rewrite(messages)
    text = "\n".join(str(m.get("content") or "") for m in prompt if m.get("role") in ("system", "user"))
    return Plan(prompt, number_grammar(text), values(results))


def note(attempts: int, kept: int, stated: float) -> None:
    """Tell the request inspector what was done for this answer."""
    inspector_note(f"answer after a tool result: the question was asked again with the data after it, numbers were "
                   f"limited to those of the conversation, and of {attempts} answer(s) the one stating the most of the "
                   f"data's values was kept (#{kept + 1}, {stated:.0%} of them; helpers/server/tool_answer.py); real "
                   "models are not helped like this")
