"""Reasoning before the answer, done for real by the local model.

Reasoning models (OpenAI's gpt-6-luna, Groq's gpt-oss, Gemini 3) think before they answer; the
thinking is billed as output tokens and counts against the token limit. The local server does the
same with its small model: ``think`` writes short notes (real model output, never canned text), and
``remaining`` is what is left of the caller's limit for the answer. With a small limit nothing is
left, and the answer comes back empty with ``finish_reason`` "length", exactly the surprise a learner
meets live.
"""
from __future__ import annotations

from typing import Any

from .engine import Generation

THINK_PROMPT = ("Before answering, think. Write short notes about what the user is asking and how to answer "
                "it well. Do not write the final answer.")


async def think(engine: Any, messages: list[dict], tokens: int, limit: Any = None) -> Generation | None:
    """Up to ``tokens`` of notes about the conversation, never more than the caller's ``limit`` (None: none)."""
    if limit is not None:
        tokens = min(tokens, max(0, int(limit)))
    if tokens <= 0:
        return None
    convo = [m for m in messages if m["role"] != "system"]
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    prompt = [{"role": "system", "content": (system + "\n\n" if system else "") + THINK_PROMPT}] + convo
    return await engine.generate(prompt, max_tokens=tokens, temperature=0.0, data_help=False)  # notes, not the answer


def remaining(limit: Any, thought: Generation | None) -> int | None:
    """The caller's token limit less the thinking (None: no limit was set)."""
    if limit is None:
        return None
    return int(limit) - (thought.completion_tokens if thought else 0)


def used_up(thought: Generation | None) -> Generation:
    """The 'answer' when thinking used the whole limit: no text, cut by the length limit."""
    prompt = thought.prompt_tokens if thought else 0
    return Generation("", prompt, 0, "length")
