"""Checks for lesson 02 (API keys): recognise, mask, load and diagnose keys.

In the exercise notebook::

    from helpers.checks import lesson02 as check
    check.exercise_2(mask_key)

Every key used here is a fake, built when the check runs (never written out as a literal), and a
message never shows a whole key: only masked forms such as ``gsk_...A1b2``.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..keys import mask
from .base import Verdict, require_done, verdict

# The labels of exercise 4, in the order the checks must be made.
LINE_PROBLEMS = ("commented out", "no equals", "wrong name", "empty", "wrong prefix", "ok")


def fake_keys() -> dict[str, str]:
    """One fake key per provider (and two look-alikes), built at run time: safe to use in examples."""
    return {
        "openai": "sk-proj-" + "Z9y8" * 12,
        "openai (older style)": "sk-" + "P4o3" * 12,
        "gemini": "AQ." + "Ab" + "K7m6" * 9,
        "gemini (older style)": "AIza" + "K7m6" * 9,
        "groq": "gsk_" + "A1b2" * 12,
        "huggingface": "hf_" + "Q2w3" * 9,
        "anthropic": "sk-ant-" + "x1Y2" * 10,
        "unknown": "key-" + "R5t6" * 8,
    }


def _safe(value: Any) -> str:
    """How a test input may be named in a message: masked, never whole."""
    if isinstance(value, str) and len(value) >= 12 and " " not in value:
        return mask(value)
    return repr(value)


# --------------------------------------------------------------------------- exercise 1


def exercise_1(identify_provider: Callable[[str], str | None]) -> Verdict:
    """Exercise 1: which provider a key belongs to, from its prefix."""
    require_done(identify_provider, exercise="Exercise 1")
    k = fake_keys()
    cases = [(k["openai"], "openai"), (k["openai (older style)"], "openai"), (k["gemini"], "gemini"),
             (k["gemini (older style)"], "gemini"), (k["groq"], "groq"), (k["huggingface"], "huggingface"),
             (k["unknown"], None), ("", None)]

    def first_wrong(pairs: list[tuple[str, str | None]]) -> str:
        for key, want in pairs:
            got = identify_provider(key)
            if got != want:
                return f"for {_safe(key)} it returned {got!r}, expected {want!r}"
        return ""

    main = first_wrong(cases)
    return verdict("Exercise 1 · which provider?", [
        (lambda: main == "", f"{main}.",
         "Test the prefixes with key.startswith(...): 'sk-' OpenAI, 'AQ.' (new) or 'AIza' (older) Gemini, "
         "'gsk_' Groq, 'hf_' Hugging Face; return None when none matches."),
        (lambda: identify_provider(k["anthropic"]) is None,
         f"{mask(k['anthropic'])} is an Anthropic key (it starts with 'sk-ant-'), not an OpenAI key.",
         "Check for 'sk-ant-' before 'sk-' and return None for it."),
    ], "correct: the prefix tells you which provider a key is for (and which variable it belongs in).")


# --------------------------------------------------------------------------- exercise 2


def exercise_2(mask_key: Callable[[Any], str]) -> Verdict:
    """Exercise 2: mask a key the way ``helpers.mask`` does."""
    require_done(mask_key, exercise="Exercise 2")
    k = fake_keys()
    full = [k["openai"], k["gemini"], k["gemini (older style)"], k["groq"], k["huggingface"], k["unknown"]]
    odd = ["sk-" + "abc", "gsk_" + "abc def " + "ghijklm", "hf_" + "\u00e4" * 12, None, ""]

    def first_wrong(values: list[Any]) -> str:
        for value in values:
            got = mask_key(value)
            want = mask(value)
            if got != want:
                return f"for {_safe(value)} it returned {got!r}, expected {want!r}"
        return ""

    normal, special = first_wrong(full), first_wrong(odd)
    return verdict("Exercise 2 · masking a key", [
        (lambda: all(isinstance(mask_key(v), str) for v in full), "mask_key should return a string.",
         "Return an f-string such as f'{prefix}...{key[-4:]}'."),
        (lambda: all(v[-5:] not in mask_key(v) and len(mask_key(v)) <= 11 for v in full),
         "the masked form shows too much of the key.",
         "Keep only the known prefix and the last 4 characters."),
        (lambda: normal == "", f"{normal}.",
         "Known prefixes are 'gsk_', 'sk-', 'AQ.', 'AIza' and 'hf_' (check 'gsk_' before 'sk-'); other keys "
         "become '...' plus the last 4 characters."),
        (lambda: special == "", f"{special}.",
         "None or '' gives ''; a key shorter than 12 characters, or with spaces or non-ASCII characters, "
         "gives '****'."),
    ], "correct: this is the only form in which a key may ever be printed.")


# --------------------------------------------------------------------------- exercise 3


def exercise_3(load_key: Callable[[Path, str], str | None]) -> Verdict:
    """Exercise 3: read one value from a ``.env`` file with ``dotenv_values``, without touching the environment."""
    require_done(load_key, exercise="Exercise 3")
    key = fake_keys()["groq"]
    name = "COURSE_EXERCISE_GROQ_KEY"
    files = {
        "plain": f"{name}={key}\n",
        "quoted": f'# a comment line\n{name}="{key}"\n',
        "export": f"export {name}={key}\n",
        "other": "OTHER_VARIABLE=hello\n",
        "empty": f"{name}=\n",
    }
    results: dict[str, Any] = {}
    before = name in os.environ
    with tempfile.TemporaryDirectory() as tmp:
        for label, text in files.items():
            path = Path(tmp) / label / ".env"
            path.parent.mkdir()
            path.write_text(text, encoding="utf-8")
            try:
                results[label] = load_key(path, name)
            except NotImplementedError:
                raise
            except Exception as e:  # reported by the verdict
                results[label] = e
        try:
            results["missing"] = load_key(Path(tmp) / "no-such-folder" / ".env", name)
        except NotImplementedError:
            raise
        except Exception as e:
            results["missing"] = e
    leaked = name in os.environ and not before
    if leaked:
        os.environ.pop(name, None)

    def describe(label: str) -> str:
        value = results[label]
        if isinstance(value, Exception):
            return f"it raised {type(value).__name__}"
        return f"it returned {_safe(value)}"

    return verdict("Exercise 3 · loading a key from .env", [
        (lambda: results["plain"] == key, f"for a line {name}=<key>, {describe('plain')}.",
         "values = dotenv_values(path); return values.get(name)"),
        (lambda: results["quoted"] == key and results["export"] == key,
         "with quotes around the key or 'export' in front, the result is not the bare key "
         f"(quoted: {describe('quoted')}; export: {describe('export')}).",
         "dotenv_values already removes quotes and 'export': do not parse the file yourself."),
        (lambda: results["other"] is None and results["empty"] is None,
         f"when the name is missing or empty, the result should be None (missing: {describe('other')}; "
         f"empty: {describe('empty')}).",
         "Return None for a missing name and for an empty value: `return values.get(name) or None`."),
        (lambda: results["missing"] is None,
         f"for a .env file that does not exist, {describe('missing')}; expected None.",
         "dotenv_values on a missing file gives an empty dict, so .get(name) is already None."),
        (lambda: not leaked, f"load_key put {name} into os.environ.",
         "Use dotenv_values (it only reads) instead of load_dotenv (which changes the environment)."),
    ], "correct: python-dotenv reads the file for you, quotes and all, and leaves the environment alone.")


# --------------------------------------------------------------------------- exercise 4


def broken_lines() -> list[tuple[str, str]]:
    """``(line, expected label)`` pairs for exercise 4, with fake keys built at run time."""
    k = fake_keys()
    return [
        (f"GROQ_API_KEY={k['groq']}", "ok"),
        (f'HF_TOKEN="{k["huggingface"]}"', "ok"),
        (f"GEMINI_API_KEY = {k['gemini']}", "ok"),
        (f"# OPENAI_API_KEY={k['openai']}", "commented out"),
        (f"GROQ_API_KEY {k['groq']}", "no equals"),
        (f"GROQ_KEY={k['groq']}", "wrong name"),
        (f"HUGGINGFACE_API_TOKEN={k['huggingface']}", "wrong name"),
        ("OPENAI_API_KEY=", "empty"),
        ("GROQ_API_KEY=your_key_here", "wrong prefix"),
        (f"OPENAI_API_KEY={k['groq']}", "wrong prefix"),
        (f"GOOGLE_API_KEY={k['gemini']}", "ok"),
    ]


def exercise_4(spot_problem: Callable[[str], str]) -> Verdict:
    """Exercise 4: name the problem of a ``.env`` line (one of ``LINE_PROBLEMS``)."""
    require_done(spot_problem, exercise="Exercise 4")
    lines = broken_lines()
    got: list[Any] = []
    for line, _ in lines:
        try:
            got.append(spot_problem(line))
        except NotImplementedError:
            raise
        except Exception as e:
            got.append(e)
    wrong = [(line, want, g) for (line, want), g in zip(lines, got) if g != want]

    def shown(line: str) -> str:
        name, sep, value = line.partition("=")
        if not sep:
            name, _, value = line.partition(" ")
            return f"{name} {_safe(value)}"
        return f"{name}{sep}{_safe(value.strip().strip(chr(34)))}" if value.strip() else line

    first = wrong[0] if wrong else None
    return verdict("Exercise 4 · spot the problem", [
        (lambda: all(isinstance(g, str) and g in LINE_PROBLEMS for g in got),
         "spot_problem should return one of: " + ", ".join(repr(x) for x in LINE_PROBLEMS) + ".",
         "Return exactly one of the labels listed in the exercise."),
        (lambda: not wrong,
         (f"for the line {shown(first[0])!r} it returned {first[2]!r}, expected {first[1]!r} "
          f"({len(wrong)} of {len(lines)} lines wrong).") if first else "",
         "Check in the order of the labels: '#' first, then '=', then the name, then the value; strip spaces "
         "and quotes around the name and the value."),
    ], f"correct: all {len(lines)} lines diagnosed.")
