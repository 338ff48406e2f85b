"""Checks for lesson 10 · Comparing providers.

In the exercise notebook::

    from helpers.checks import lesson10 as check
    check.exercise_1(speed)

Exercises 1 to 3 are checked on made-up numbers and the catalogue's prices; exercise 4 streams two
short answers through the client you pass (the notebook passes one pointed at the local server): one
with the parameters of OpenAI's reasoning model, one with LM Studio's ``max_tokens``.
"""
from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Any

from .base import Verdict, verdict
from .base import call_learner as _call, raised as _raised

COLUMNS = ["latency_s", "ttft_s", "tokens_per_s", "output_tokens", "cost_usd"]


def _same(got: Any, want: float | None) -> bool:
    if want is None:
        return got is None
    return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(got, want, rel_tol=1e-9,
                                                                                         abs_tol=1e-9)


# --------------------------------------------------------------------------- exercise 1

SPEED_CASES = [  # (start, first, end, tokens) -> (ttft, latency, tokens per second)
    ((100.0, 100.5, 102.5, 40), (0.5, 2.5, 20.0)),
    ((0.0, 1.25, 1.75, 11), (1.25, 1.75, 22.0)),
    ((5.0, 5.2, 5.2, 1), (0.2, 0.2, None)),          # the whole answer in one piece
    ((7.0, None, 9.0, 0), (None, 2.0, None)),        # no text at all
]


def exercise_1(speed: Callable) -> Verdict:
    """``speed(start, first_token_at, end, output_tokens)`` returns ttft_s, latency_s and tokens_per_s."""
    ex = "Exercise 1 · speeds from timings"
    bad = None
    for args, want in SPEED_CASES:
        got, err = _call(speed, *args)
        if err:
            return _raised(ex, "speed", f"{err} for speed{args}",
                           "Handle first_token_at None and a zero writing time before dividing.")
        if not isinstance(got, dict):
            bad = (args, got, "not a dict")
            break
        missing = [k for k in ("ttft_s", "latency_s", "tokens_per_s") if k not in got]
        if missing:
            bad = (args, got, f"missing {missing}")
            break
        names = ("ttft_s", "latency_s", "tokens_per_s")
        wrong = [n for n, w in zip(names, want) if not _same(got[n], w)]
        if wrong:
            bad = (args, got, f"{wrong[0]} is {got[wrong[0]]!r}, expected {want[names.index(wrong[0])]!r}")
            break
    hint = "ttft = first - start; latency = end - start; tokens/s = tokens / (end - first)."
    if bad and args[1] is None:
        hint = "When first_token_at is None, return None for ttft_s and tokens_per_s (latency is still end - start)."
    elif bad and args[1] == args[2]:
        hint = "When end == first_token_at, the writing time is 0: return None for tokens_per_s instead of dividing."
    elif bad and "tokens_per_s" in bad[2]:
        hint = "Divide by the writing time, end - first_token_at, not by the whole latency."
    tests = [(lambda: bad is None, f"speed{bad[0]}: {bad[2]}." if bad else "", hint)]
    return verdict(ex, tests, "TTFT, latency and tokens per second right, including the edge cases.")


# --------------------------------------------------------------------------- exercise 2

def _records() -> list[dict]:
    rows = [("groq", 0.2, 0.9, 80.0, 40, 0.00003), ("groq", 0.3, 1.1, 70.0, 38, 0.00003),
            ("groq", 2.0, 5.0, 10.0, 40, 0.00003),                       # one slow outlier
            ("openai", 0.6, 2.0, 30.0, 40, 0.00008), ("openai", 0.5, 1.8, 31.0, 39, 0.00008),
            ("openai", 0.7, 2.2, 29.0, 41, 0.00009),
            ("gemini", 0.4, 1.5, 40.0, 40, 0.00011), ("gemini", 0.5, 1.3, 45.0, 37, 0.00010),
            ("gemini", 0.45, 1.4, 42.0, 38, 0.00012),
            ("lmstudio", 1.0, 4.0, 13.0, 40, 0.0), ("lmstudio", 1.2, 4.4, 12.5, 40, 0.0),
            ("lmstudio", 0.9, 3.9, 13.5, 40, 0.0)]
    return [{"provider": p, "prompt": f"prompt {i % 3}", "route": "live", "ttft_s": t, "latency_s": lat,
             "tokens_per_s": s, "output_tokens": o, "cost_usd": c, "answer": "..."}
            for i, (p, t, lat, s, o, c) in enumerate(rows)]


def _expected_table(records: list[dict]) -> dict[str, dict[str, float]]:
    import statistics

    out: dict[str, dict[str, float]] = {}
    for p in dict.fromkeys(r["provider"] for r in records):
        mine = [r for r in records if r["provider"] == p]
        out[p] = {c: statistics.median(r[c] for r in mine) for c in COLUMNS}
    return dict(sorted(out.items(), key=lambda kv: kv[1]["latency_s"]))


def exercise_2(to_table: Callable) -> Verdict:
    """``to_table(records)``: one row per provider, median columns, sorted by latency."""
    ex = "Exercise 2 · the comparison table"
    import pandas as pd

    records = _records()
    got, err = _call(to_table, [dict(r) for r in records])
    if err:
        return _raised(ex, "to_table", err, "pd.DataFrame(records).groupby('provider')[columns].median()")
    want = _expected_table(records)
    is_df = isinstance(got, pd.DataFrame)
    index = list(got.index) if is_df else []
    missing = [c for c in COLUMNS if is_df and c not in got.columns]
    means = {p: sum(r["latency_s"] for r in records if r["provider"] == p) / 3 for p in want}
    wrong = None
    if is_df and not missing and sorted(index) == sorted(want):
        for p in want:
            for c in COLUMNS:
                if not math.isclose(float(got.loc[p, c]), want[p][c], rel_tol=1e-9, abs_tol=1e-12):
                    wrong = (p, c, float(got.loc[p, c]), want[p][c])
                    break
            if wrong:
                break
    used_mean = bool(wrong and wrong[1] == "latency_s" and math.isclose(wrong[2], means[wrong[0]]))
    tests = [
        (lambda: is_df, f"`to_table` returned a {type(got).__name__}, not a DataFrame.",
         "Build pd.DataFrame(records), then group it."),
        (lambda: not missing, f"Missing column(s): {missing}.", f"Keep these columns: {COLUMNS}."),
        (lambda: sorted(index) == sorted(want), f"The index is {index[:6]}; expected one row per provider.",
         "Group by 'provider': groupby('provider') makes the provider the index."),
        (lambda: wrong is None, f"{wrong[0]}'s {wrong[1]} is {wrong[2]:.6g}; expected {wrong[3]:.6g}." if wrong else "",
         "Use .median(), not .mean(): Groq's slow outlier should not move its row." if used_mean
         else "Take the median of each column per provider."),
        (lambda: index == list(want), f"The rows are in the order {index}; expected {list(want)}.",
         "Sort with .sort_values('latency_s') (lowest latency first)."),
        (lambda: got.index.name == "provider", f"The index is named {got.index.name!r}, not 'provider'.",
         "groupby('provider') names the index for you."),
    ]
    return verdict(ex, tests, f"{len(want)} providers, medians per column, fastest first ({index[0] if index else ''}).")


# --------------------------------------------------------------------------- exercise 3

def _options(providers: list[str], tokens_in: int, tokens_out: int) -> list[tuple[float, str, str]]:
    from .. import models

    out = []
    for p in providers:
        entry = models.catalogue()[p]
        for m in [entry["chat"], *entry.get("fallbacks", [])]:
            cost = models.estimate_cost(p, m, tokens_in, tokens_out)
            if cost is not None:
                out.append((cost, p, m))
    return sorted(out)


def exercise_3(cheapest: Callable) -> Verdict:
    """``cheapest(input_tokens, output_tokens, providers)`` returns (provider, model, cost) or None."""
    ex = "Exercise 3 · the cheapest model for a token budget"
    from .. import models

    everyone = list(models.PROVIDERS)
    cases = [(1_000_000, 200_000, everyone), (2_000_000, 100_000, ["openai", "gemini"]),
             (10_000, 3_000_000, ["openai", "gemini", "huggingface"]), (500_000, 500_000, ["gemini"]),
             (1_000, 1_000, ["lmstudio"])]
    problem, hint = None, ""
    for tokens_in, tokens_out, providers in cases:
        got, err = _call(cheapest, tokens_in, tokens_out, list(providers))
        if err:
            return _raised(ex, "cheapest", f"{err} for providers {providers}",
                           "Read entry['chat'] and entry.get('fallbacks', []); skip models whose cost is None.")
        options = _options(providers, tokens_in, tokens_out)
        label = f"cheapest({tokens_in:,}, {tokens_out:,}, {providers})"
        if not options:
            if got is not None:
                problem, hint = f"{label} returned {got!r}; no model there has a price.", "Return None when nothing has a price."
                break
            continue
        best = options[0][0]
        ok_pairs = {(p, m) for c, p, m in options if math.isclose(c, best, rel_tol=1e-12)}
        if not (isinstance(got, tuple) and len(got) == 3):
            problem, hint = f"{label} returned {got!r}.", "Return a tuple (provider, model, cost)."
            break
        if (got[0], got[1]) not in ok_pairs:
            named = next(((c, p, m) for c, p, m in options if (p, m) == (got[0], got[1])), None)
            problem = (f"{label} chose {got[0]}/{got[1]}"
                       + (f" at ${named[0]:.4f}" if named else " (not a chat model or fallback with a price)")
                       + f"; {options[0][1]}/{options[0][2]} costs ${best:.4f}.")
            hint = ("Compare every chat model and fallback of every provider given, by estimate_cost(...)."
                    if named else "Only consider entry['chat'] and entry['fallbacks'], and only the providers given.")
            break
        if not _same(got[2], best):
            problem, hint = (f"{label} gave the cost {got[2]!r}; expected {best!r}.",
                             "Use helpers.models.estimate_cost(provider, model, input_tokens, output_tokens).")
            break
    tests = [(lambda: problem is None, problem or "", hint)]
    return verdict(ex, tests, "the cheapest priced model found for each budget, and None where nothing has a price.")


# --------------------------------------------------------------------------- exercise 4

def _streamed_usage(item: dict) -> dict | None:
    """The usage in the last chunk of a streamed answer, as the request inspector recorded it."""
    import json

    found = None
    for line in str(item.get("response") or "").splitlines():
        if not line.startswith("data: ") or line.strip() == "data: [DONE]":
            continue
        try:
            chunk = json.loads(line[6:])
        except ValueError:
            continue
        if isinstance(chunk, dict) and chunk.get("usage"):
            found = chunk["usage"]
    return found


def _options_for(model: str, limit: int) -> dict:
    """The parameters this model wants, from the catalogue: its limit's name, and a low reasoning effort."""
    from .. import models

    m = models.info("openai", model)
    options: dict[str, Any] = {(m.token_limit if m and m.token_limit else "max_tokens"): limit}
    if m and m.reasoning_param == "reasoning_effort" and "low" in m.reasoning_levels:
        options["reasoning_effort"] = "low"
    return options


def exercise_4(measure: Callable, client: Any, model: str) -> Verdict:
    """``measure(client, model, prompt, **options)`` streams one answer and returns timings, tokens and text.

    Called twice through ``client``: with ``model`` and the parameters it wants (for OpenAI's reasoning models
    ``max_completion_tokens`` and ``reasoning_effort``), then with a model the server accepts ``max_tokens`` for,
    as LM Studio does. ``client`` must point at the course's local server, whose inspector the check reads.
    """
    ex = "Exercise 4 · time a streamed call"
    import time

    from .. import models, server

    keys = ("ttft_s", "latency_s", "tokens_per_s", "output_tokens", "reasoning_tokens", "text")
    runs = []
    for name, limit in ((model, 60), (models.chat("lmstudio"), 12)):
        options = _options_for(name, limit)
        prompt = f"Name one colour. (check {secrets.token_hex(3)})"  # unique, to find this request in the inspector
        before = time.perf_counter()
        got, err = _call(measure, client, name, prompt, **options)
        elapsed = time.perf_counter() - before
        if err:
            return _raised(ex, "measure", f"{err} (called with {options})",
                           "Pass **options on to create(...), with stream=True and stream_options={'include_usage': "
                           "True}; only the last chunk has usage, and it has no choices.")
        sent = [r for r in server.last_requests(30) if isinstance(r.get("body"), dict)
                and any(isinstance(m, dict) and m.get("content") == prompt for m in r["body"].get("messages", []))]
        runs.append({"options": options, "got": got, "elapsed": elapsed, "sent": sent[-1] if sent else None})

    def problem(run: dict) -> tuple[str, str] | None:
        got, options, item, elapsed = run["got"], run["options"], run["sent"], run["elapsed"]
        where = f"With {options}: "
        if not isinstance(got, dict):
            return (f"{where}`measure` returned a {type(got).__name__}, not a dict.",
                    "Return {**speed(...), 'output_tokens': ..., 'reasoning_tokens': ..., 'text': ...}.")
        missing = [k for k in keys if k not in got]
        if missing:
            return f"{where}missing key(s): {missing}.", f"Return the keys {list(keys)}."
        if item is None:
            return (f"{where}the request did not reach the course's local server.",
                    "Use the client you are given: client.chat.completions.create(...).")
        body = item["body"]
        sent_options = {k: body.get(k) for k in options}
        extra = sorted(({"max_tokens", "max_completion_tokens"} - set(options)) & set(body))
        if sent_options != options or extra:
            return (f"{where}the request carried {sent_options}" + (f" and also {extra}." if extra else "."),
                    "Pass the keyword arguments on unchanged: create(..., **options). Do not add a token limit "
                    "of your own: OpenAI's reasoning models reject max_tokens, LM Studio documents max_tokens.")
        if body.get("stream") is not True:
            return f"{where}the request was not streamed.", "Pass stream=True, then loop over the chunks."
        if (body.get("stream_options") or {}).get("include_usage") is not True:
            return f"{where}the request did not ask for usage in the stream.", \
                   "Pass stream_options={'include_usage': True}."
        usage = _streamed_usage(item) or {}
        if not (isinstance(got["text"], str) and got["text"].strip()):
            return (f"{where}the text is empty.",
                    "Join every chunk's choices[0].delta.content (skip None and chunks without choices).")
        if got["output_tokens"] != usage.get("completion_tokens"):
            return (f"{where}output_tokens is {got['output_tokens']!r}; the usage said "
                    f"{usage.get('completion_tokens')!r}.",
                    "Read chunk.usage.completion_tokens from the last chunk: it counts every output token billed, "
                    "reasoning included.")
        reported = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        if got["reasoning_tokens"] != reported:
            return (f"{where}reasoning_tokens is {got['reasoning_tokens']!r}; the usage said {reported!r}.",
                    "Read chunk.usage.completion_tokens_details.reasoning_tokens (None when there are no details).")
        ttft, latency, tps = got["ttft_s"], got["latency_s"], got["tokens_per_s"]
        if not (isinstance(ttft, float) and isinstance(latency, float) and 0 < ttft <= latency <= elapsed + 0.01):
            return (f"{where}ttft_s={ttft!r}, latency_s={latency!r}: expected 0 < ttft <= latency <= "
                    f"{elapsed:.2f} s (the time the check waited).",
                    "Read time.perf_counter() before the call, at the first text and after the loop.")
        answer = got["output_tokens"] - (reported or 0)
        writing = latency - ttft
        if tps is not None and not (writing > 0 and math.isclose(tps, answer / writing, rel_tol=1e-3)):
            wrong = ("counts the reasoning tokens too" if reported and writing > 0
                     and math.isclose(tps, got["output_tokens"] / writing, rel_tol=1e-3) else "does not match")
            return (f"{where}tokens_per_s is {tps:.1f}, which {wrong}: the answer had {answer} token(s) "
                    f"written in {writing:.3f} s.",
                    "Give speed() the answer tokens, output_tokens - reasoning_tokens: the thinking is over "
                    "before the first text.")
        return None

    found = next((p for p in (problem(r) for r in runs) if p), None)
    tests = [(lambda: found is None, found[0] if found else "", found[1] if found else "")]
    first = runs[0]["got"] if isinstance(runs[0]["got"], dict) else {}
    return verdict(ex, tests, f"{first.get('output_tokens')} output tokens ({first.get('reasoning_tokens')} of them "
                              f"reasoning), first text after {first.get('ttft_s') or 0:.2f} s, all after "
                              f"{first.get('latency_s') or 0:.2f} s; options passed on unchanged.")
