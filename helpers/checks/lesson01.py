"""Checks for lesson 01 (What generative AI is): a first call, next-token probabilities, temperature, tokens.

In the exercise notebook::

    from helpers.checks import lesson01 as check
    check.exercise_1(response)

Each check tests structure and arithmetic, never the model's wording, so it passes with the
local model and with a live provider alike.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from .base import Verdict, require_done, verdict

# Real next-token log probabilities: what the local SmolLM2-135M model returned (top 10) as the first
# token of its answer to "Tell me a short story about a cat." The exercises use them as data.
CAT_STORY_LOGPROBS: dict[str, float] = {
    "One": -1.467, "The": -1.807, "There": -2.049, "Once": -2.298, "A": -2.612,
    "I": -3.053, "In": -3.35, "L": -3.494, "As": -4.356, "It": -4.444,
}  # fmt: skip


def reference_softmax(logprobs: Mapping[str, float], temperature: float) -> dict[str, float]:
    """Probabilities from log probabilities at ``temperature`` (renormalised over the tokens given)."""
    if temperature <= 0:
        raise ValueError("temperature must be greater than 0")
    top = max(logprobs.values())
    weights = {t: math.exp((lp - top) / temperature) for t, lp in logprobs.items()}
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()}


def _close(a: Mapping[str, float], b: Mapping[str, float], tol: float = 1e-6) -> bool:
    return set(a) == set(b) and all(abs(float(a[t]) - b[t]) <= tol for t in b)


# --------------------------------------------------------------------------- exercise 1


def _reasoning_tokens(response: Any) -> int:
    """How many completion tokens went into thinking (0 when the response does not say)."""
    details = getattr(getattr(response, "usage", None), "completion_tokens_details", None)
    return getattr(details, "reasoning_tokens", None) or 0


def exercise_1(response: Any) -> Verdict:
    """Exercise 1: a first chat completion, asked for with ``max_completion_tokens=40`` and reasoning off."""
    require_done(response, exercise="Exercise 1")
    spent = _reasoning_tokens(response)

    def message():
        return response.choices[0].message

    return verdict("Exercise 1 · your first call", [
        (lambda: hasattr(response, "choices") and len(response.choices) >= 1,
         "`response` is not a chat completion (it has no `choices`).",
         "Assign the result of client.chat.completions.create(...) to `response`, not the text."),
        (lambda: message().role == "assistant",
         "the first choice's message does not have the role 'assistant'.",
         "Send messages=[{'role': 'user', 'content': 'your question'}]."),
        (lambda: spent == 0,
         f"the model spent {spent} of your tokens thinking before it answered.",
         "Pass reasoning_effort=\"none\": a reasoning model's thinking counts against max_completion_tokens, "
         "and a live model often thinks for more than 40 tokens, which leaves an empty answer."),
        (lambda: isinstance(message().content, str) and message().content.strip() != "",
         "the answer text is empty.",
         "Ask a real question in the 'content' of your user message."),
        (lambda: 0 < response.usage.completion_tokens <= 40,
         "the answer is longer than 40 tokens.",
         "Pass max_completion_tokens=40 to create(...), so the answer is short and quick."),
    ], f"the model answered in {getattr(getattr(response, 'usage', None), 'completion_tokens', '?')} tokens "
       f"(your question took {getattr(getattr(response, 'usage', None), 'prompt_tokens', '?')}).")


# --------------------------------------------------------------------------- exercise 2


def _fake_response(pairs: list[tuple[str, float]], chosen: str) -> Any:
    """An object shaped like a chat completion with logprobs (only the fields exercise 2 reads)."""
    top = [SimpleNamespace(token=t, logprob=lp, bytes=list(t.encode())) for t, lp in pairs]
    first = SimpleNamespace(token=chosen, logprob=dict(pairs).get(chosen, -9.0), top_logprobs=top)
    choice = SimpleNamespace(index=0, logprobs=SimpleNamespace(content=[first]),
                             message=SimpleNamespace(role="assistant", content=chosen), finish_reason="length")
    return SimpleNamespace(choices=[choice])


def exercise_2(top_choice: Callable[[Any], tuple[str, float]], response: Any) -> Verdict:
    """Exercise 2: the most likely next token and its probability in percent, read from ``response``."""
    require_done(top_choice, response, exercise="Exercise 2")
    top = response.choices[0].logprobs.content[0].top_logprobs
    best = max(top, key=lambda t: t.logprob)
    expected = (best.token, 100 * math.exp(best.logprob))
    # The same list in another order, and a chosen token that is not the most likely one.
    shuffled = sorted(CAT_STORY_LOGPROBS.items())
    fake = _fake_response(shuffled, chosen="The")
    fake_expected = ("One", 100 * math.exp(CAT_STORY_LOGPROBS["One"]))
    result: dict[str, Any] = {}

    def run(obj: Any, key: str) -> Any:
        if key not in result:
            result[key] = top_choice(obj)
        return result[key]

    def is_pair(key: str, obj: Any) -> bool:
        value = run(obj, key)
        return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)

    return verdict("Exercise 2 · the most likely next token", [
        (lambda: is_pair("real", response),
         "top_choice(response) should return a tuple (token, percent), like ('The', 16.4).",
         "End the function with: return token, percent"),
        (lambda: run(response, "real")[0] == expected[0],
         f"the token is not the most likely one in top_logprobs (expected {expected[0]!r}).",
         "Look in response.choices[0].logprobs.content[0].top_logprobs and take the entry with the highest logprob."),
        (lambda: abs(float(run(response, "real")[1]) - expected[1]) < 0.01,
         f"the percentage is wrong (expected about {expected[1]:.2f}).",
         "A log probability becomes a probability with math.exp(logprob); multiply by 100 for percent."),
        (lambda: run(fake, "fake")[0] == fake_expected[0] and abs(float(run(fake, "fake")[1]) - fake_expected[1]) < 0.01,
         "with top_logprobs in alphabetical order, and a sampled token that is not the favourite, "
         "the answer is wrong.",
         "Do not rely on the order of the list or on the token the model printed: use max(..., key=...) on logprob."),
    ], f"the most likely next token is {expected[0]!r} with {expected[1]:.1f}%.")


# --------------------------------------------------------------------------- exercise 3


def exercise_3(softmax_with_temperature: Callable[[Mapping[str, float], float], dict[str, float]]) -> Verdict:
    """Exercise 3: probabilities from log probabilities at a temperature (a softmax)."""
    require_done(softmax_with_temperature, exercise="Exercise 3")
    lp = CAT_STORY_LOGPROBS
    far = {t: v - 800 for t, v in lp.items()}  # the same distribution, far from 0

    def at(t: float, data: Mapping[str, float] = lp) -> dict[str, float]:
        return softmax_with_temperature(dict(data), t)

    def raises_for_zero() -> bool:
        try:
            softmax_with_temperature(dict(lp), 0)
        except ValueError:
            return True
        return False

    return verdict("Exercise 3 · softmax with temperature", [
        (lambda: isinstance(at(1.0), dict) and set(at(1.0)) == set(lp),
         "the result should be a dict with the same tokens as the input.",
         "Build it with a dict comprehension: {token: ... for token, logprob in logprobs.items()}"),
        (lambda: abs(sum(at(1.0).values()) - 1) < 1e-6,
         "the probabilities do not add up to 1.",
         "Divide each weight by the sum of all the weights."),
        (lambda: _close(at(1.0), reference_softmax(lp, 1.0)),
         "at temperature 1 the result is not exp(logprob) renormalised.",
         "The weight of a token is exp(logprob / temperature)."),
        (lambda: _close(at(0.5), reference_softmax(lp, 0.5)) and _close(at(2.0), reference_softmax(lp, 2.0)),
         "at temperatures 0.5 and 2 the result is wrong.",
         "Divide the logprob by the temperature before exp(): exp(logprob / temperature)."),
        (lambda: _close(at(0.5, far), reference_softmax(lp, 0.5)),
         "with log probabilities around -800 the result breaks (exp(-1600) is 0.0 in floating point).",
         "Subtract the largest logprob from every logprob first: it changes nothing mathematically "
         "and keeps exp() away from 0."),
        (raises_for_zero,
         "temperature 0 should raise ValueError (dividing by 0 is not defined).",
         "Start the function with: if temperature <= 0: raise ValueError('temperature must be > 0')"),
    ], "correct: lower temperatures sharpen the distribution, higher ones flatten it.")


# --------------------------------------------------------------------------- exercise 4


def exercise_4(sample_token: Callable[[Mapping[str, float], float], str]) -> Verdict:
    """Exercise 4: choose a token from probabilities with a uniform random number ``u`` in [0, 1)."""
    require_done(sample_token, exercise="Exercise 4")
    probs = {"cat": 0.5, "dog": 0.3, "fish": 0.2}
    cases = [(0.0, "cat"), (0.49, "cat"), (0.5, "dog"), (0.79, "dog"), (0.8, "fish"), (0.999, "fish")]
    rounded = {"a": 0.3333333, "b": 0.3333333, "c": 0.3333333}  # sums to 0.9999999
    real = reference_softmax(CAT_STORY_LOGPROBS, 1.0)
    rng = random.Random(42)
    draws = [rng.random() for _ in range(5000)]

    def frequencies() -> bool:
        counts: dict[str, int] = {}
        for u in draws:
            tok = sample_token(dict(real), u)
            counts[tok] = counts.get(tok, 0) + 1
        return all(abs(counts.get(t, 0) / len(draws) - p) < 0.03 for t, p in real.items())

    def failing_case() -> str:
        for u, want in cases:
            try:
                got = sample_token(dict(probs), u)
            except NotImplementedError:
                raise
            except Exception as e:
                return f"u={u} raised {type(e).__name__}: {e}"
            if got != want:
                return f"u={u} gave {got!r}, expected {want!r}"
        return ""

    problem = failing_case()
    return verdict("Exercise 4 · sampling a token", [
        (lambda: problem == "",
         f"with probabilities {probs}: {problem}.",
         "Walk through the tokens in order, adding up their probabilities; return the first token whose "
         "running total is greater than u."),
        (lambda: sample_token(dict(rounded), 0.99999995) == "c",
         "when the probabilities add up to slightly less than 1 (rounding), a u close to 1 finds no token.",
         "After the loop, return the last token."),
        (frequencies,
         "over 5000 draws, the tokens do not come out as often as their probabilities say.",
         "Each token must be chosen for a slice of [0, 1) as wide as its probability."),
    ], "correct: this is how a model turns probabilities into text, one token at a time.")


# --------------------------------------------------------------------------- exercise 5


def exercise_5(count_tokens: Callable[[str], int]) -> Verdict:
    """Exercise 5: count the tokens of a text with the API's usage numbers."""
    require_done(count_tokens, exercise="Exercise 5")
    short = "Tokens are pieces of words."
    longer = "Tokens are pieces of words, and a longer sentence needs more of them than a short one."
    got: dict[str, Any] = {}
    for text in ("", "Hello", short, longer):
        try:
            got[text] = count_tokens(text)
        except NotImplementedError:
            raise
        except Exception as e:  # shown in the verdict
            got[text] = e

    def count(text: str) -> Any:
        if isinstance(got[text], Exception):
            raise got[text]
        return got[text]

    return verdict("Exercise 5 · counting tokens", [
        (lambda: isinstance(count(short), int),
         "count_tokens should return an int.",
         "Return a difference of two response.usage.prompt_tokens values (both ints)."),
        (lambda: count("") == 0,
         "count_tokens('') should be 0: the chat format's own tokens must not be counted.",
         "Subtract the prompt_tokens of a call whose message content is '' (the overhead of the chat format)."),
        (lambda: 1 <= count("Hello") <= 3,
         f"count_tokens('Hello') gave {got['Hello']!r}; one short common word is 1 to 3 tokens.",
         "Use usage.prompt_tokens (the tokens you sent), not completion_tokens or total_tokens."),
        (lambda: 3 <= count(short) <= 15 and count(longer) > count(short),
         "the counts for a short and a longer sentence are not plausible.",
         "Make one call per text with the same messages shape, and use usage.prompt_tokens."),
    ], f"{short!r} is {got[short]} tokens for this model; the longer sentence is {got[longer]}.")
