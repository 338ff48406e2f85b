"""helpers/server/engine.py: an answer asked for with log-probabilities always has them."""
from __future__ import annotations

import asyncio
from pathlib import Path

from helpers.server.engine import LlamaEngine

WITH = {"choices": [{"message": {"content": " Paris"}, "finish_reason": "length",
                     "logprobs": {"content": [{"token": " Paris", "logprob": -0.2, "top_logprobs": []}]}}],
        "usage": {"prompt_tokens": 35, "completion_tokens": 1}}
# What llama.cpp answers when the one sampled token is only part of a UTF-8 character: no log-probabilities at all.
WITHOUT = {"choices": [{"message": {"content": "\ufffd"}, "finish_reason": "length"}],
           "usage": {"prompt_tokens": 35, "completion_tokens": 1}}


class ScriptedEngine(LlamaEngine):
    """The engine with llama.cpp's whole answers scripted, in order."""

    def __init__(self, answers: list[dict]):
        super().__init__(Path("."))
        self.answers, self.asked = answers, 0

    def _check_size(self, texts):
        pass

    async def _post(self, path: str, body: dict) -> dict:
        self.asked += 1
        return self.answers.pop(0)


def logprobs_of(answers: list[dict]) -> tuple[list | None, int]:
    engine = ScriptedEngine(answers)
    gen = asyncio.run(engine.generate([{"role": "user", "content": "The capital of France is"}], max_tokens=1,
                                      top_logprobs=5))
    return gen.logprobs, engine.asked


def test_a_token_without_log_probabilities_is_drawn_again():
    logprobs, asked = logprobs_of([WITHOUT, WITH])
    assert asked == 2 and logprobs[0]["token"] == " Paris"


def test_an_answer_with_log_probabilities_is_kept_and_the_draws_are_bounded():
    assert logprobs_of([WITH]) == (WITH["choices"][0]["logprobs"]["content"], 1)
    assert logprobs_of([WITHOUT, WITHOUT, WITHOUT]) == (None, 3)  # at most three draws
