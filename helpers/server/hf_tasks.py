"""Hugging Face inference tasks computed by the local model (SmolLM2-135M) and the local embedder.

Each function does the task for real and returns plain Python values; ``hf_api`` wraps them in the
response shapes of Hugging Face's ``hf-inference`` API.

* ``classify_sentiment``: the model reads the text after eight labelled examples and answers with
  one word; the probabilities of its first token ("good"/"bad", "positive"/"negative") become the
  POSITIVE/NEGATIVE scores. Two phrasings are averaged, which evens out the small model's habits.
* ``find_entities``: candidate names are found by rule (runs of capitalised words, leading function
  words such as "The" dropped; all-capital acronyms), then the model labels each one person,
  organization, place or other (PER/ORG/LOC/MISC) with the same first-token probabilities.
* ``summarize``, ``translate``: the model, instructed; ``continue_text``: raw continuation.
* Embeddings come from multilingual-e5-small (``embeddings.Embedder``).

A 135M-parameter model is small: expect the right answer on clear cases and mistakes on subtle ones.
"""
from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from typing import Any

from .engine import Generation

# ---------------------------------------------------------------------- label probabilities

FEW_SHOT_TEMPERATURE = 0.0


async def label_probabilities(engine: Any, messages: list[dict], labels: list[str], top: int = 20) -> dict[str, float]:
    """P(label) for each one-word ``labels``, read from the model's first answer token, renormalised.

    The model answers freely (no grammar): its top-``top`` first tokens are matched against the
    start of each label ("pos" counts for "positive"). A label the model did not consider gets a
    tiny probability instead of zero.
    """
    gen: Generation = await engine.generate(messages, max_tokens=1, temperature=FEW_SHOT_TEMPERATURE,
                                            top_logprobs=top)
    mass = {lab: 0.0 for lab in labels}
    first = (gen.logprobs or [{}])[0]
    for cand in first.get("top_logprobs") or [{"token": first.get("token", gen.text), "logprob": 0.0}]:
        tok = str(cand.get("token", "")).strip().lower()
        if len(tok) < 2:
            continue
        for lab in labels:
            if lab.startswith(tok):
                mass[lab] += math.exp(float(cand.get("logprob", -50.0)))
    floor = 1e-4
    total = sum(max(v, floor) for v in mass.values())
    return {lab: max(v, floor) / total for lab, v in mass.items()}


def _few_shot(system: str, shots: list[tuple[str, str]], text: str) -> list[dict]:
    msgs = [{"role": "system", "content": system}]
    for q, a in shots:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    msgs.append({"role": "user", "content": text})
    return msgs


# ---------------------------------------------------------------------- sentiment

_SENTIMENT_SHOTS = [  # (text, is positive); the order matters to a small model: keep it alternating
    ("I really enjoyed this, it was great.", True), ("This was awful and I hated it.", False),
    ("Wonderful service, very happy!", True), ("Terrible quality, a waste of money.", False),
    ("The delivery was late and the box was damaged.", False), ("Such a lovely gift, thank you!", True),
    ("I'm angry, it doesn't work at all.", False), ("Great value and fast shipping.", True),
]
_SENTIMENT_PROMPTS = [  # (system text, word for positive, word for negative)
    ("Is the text good news or bad news? Answer good or bad.", "good", "bad"),
    ("You label the sentiment of a text. Answer with one word: positive or negative.", "positive", "negative"),
]


async def classify_sentiment(engine: Any, text: str) -> dict[str, float]:
    """``{"POSITIVE": p, "NEGATIVE": 1 - p}`` for ``text``, from the model's own probabilities."""
    asks = [label_probabilities(engine, _few_shot(system, [(t, pos if good else neg) for t, good in _SENTIMENT_SHOTS],
                                                  text), [pos, neg]) for system, pos, neg in _SENTIMENT_PROMPTS]
    probs = await asyncio.gather(*asks)
    log_odds = [math.log(p[pos]) - math.log(p[neg]) for p, (_, pos, neg) in zip(probs, _SENTIMENT_PROMPTS)]
    z = sum(log_odds) / len(log_odds)
    positive = 1.0 / (1.0 + math.exp(-z))
    return {"POSITIVE": positive, "NEGATIVE": 1.0 - positive}


# ---------------------------------------------------------------------- named entities

@dataclass
class Span:
    """A candidate name in the text: ``text[start:end] == word``."""

    word: str
    start: int
    end: int


# Words that start a sentence or a capitalised run without being part of a name.
_FUNCTION_WORDS = {
    "a", "an", "the", "this", "that", "these", "those", "i", "he", "she", "it", "we", "you", "they", "my", "his",
    "her", "its", "our", "your", "their", "in", "on", "at", "to", "from", "for", "with", "by", "of", "as", "after",
    "before", "during", "since", "until", "and", "but", "or", "so", "yet", "if", "when", "while", "because",
    "although", "yesterday", "today", "tomorrow", "then", "there", "here", "what", "who", "where", "why", "how",
    "which", "mr", "mrs", "ms", "dr", "prof", "sir", "dear", "hello", "hi", "thanks", "yes", "no", "not", "every",
    "all", "some", "many", "most", "last", "next", "first", "also", "however", "meanwhile", "later", "once",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
}
_CONNECTORS = {"of", "de", "du", "da", "del", "della", "van", "von", "der", "den", "la", "le", "al", "bin", "y"}
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper()


def candidate_spans(text: str) -> list[Span]:
    """Name candidates: runs of capitalised words (with inner "of", "van", ...) and all-capital acronyms.

    Leading function words ("The", "In", "Yesterday") are dropped, so "The United Nations" gives
    "United Nations" and a sentence that starts with "She" gives nothing. Offsets are exact.
    """
    words = [(m.group(0).rstrip("'’-"), m.start()) for m in _WORD.finditer(text)]
    words = [(w, s) for w, s in words if w]
    spans: list[Span] = []
    i = 0
    while i < len(words):
        w, s = words[i]
        if not _is_capitalised(w):
            i += 1
            continue
        j = i
        run = [i]
        while j + 1 < len(words):
            nxt, ns = words[j + 1]
            gap = text[words[j][1] + len(words[j][0]):ns]
            if gap.strip() not in ("", "-") or "\n" in gap:
                break  # punctuation (a comma, a full stop) ends a name
            if _is_capitalised(nxt):
                run.append(j + 1)
                j += 1
            else:
                k = j + 1  # "Bank of England", "Jane van der Berg": lower-case connectors between capitals
                while k < len(words) and k - j <= 3 and words[k][0].lower() in _CONNECTORS \
                        and text[words[k - 1][1] + len(words[k - 1][0]):words[k][1]].strip() == "":
                    k += 1
                if k == j + 1 or k >= len(words) or not _is_capitalised(words[k][0]) \
                        or text[words[k - 1][1] + len(words[k - 1][0]):words[k][1]].strip() != "":
                    break
                run += list(range(j + 1, k + 1))
                j = k
        while run and words[run[0]][0].lower() in _FUNCTION_WORDS:
            run.pop(0)
        while run and words[run[-1]][0].lower() in _CONNECTORS:
            run.pop()
        if len(run) == 1 and _starts_sentence(text, words[run[0]][1]) and not _looks_like_name(words[run[0]][0], text):
            run = []  # "Researchers found ...": a lone capitalised first word is usually an ordinary word
        if run:
            start = words[run[0]][1]
            end = words[run[-1]][1] + len(words[run[-1]][0])
            spans.append(Span(text[start:end], start, end))
        i = j + 1
    return spans


def _starts_sentence(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".!?:\n"


def _looks_like_name(word: str, text: str) -> bool:
    """An acronym ("NASA"), or a word that is capitalised again later inside a sentence."""
    if len(word) >= 2 and word.isupper():
        return True
    for m in re.finditer(rf"\b{re.escape(word)}\b", text):
        if not _starts_sentence(text, m.start()):
            return True
    return False


_ENTITY_LABELS = {"person": "PER", "organization": "ORG", "place": "LOC", "other": "MISC"}
_ENTITY_SHOTS = [("Marie Curie", "person"), ("Siemens", "organization"), ("Warsaw", "place"), ("Olympics", "other"),
                 ("BBC", "organization"), ("Japan", "place"), ("Spanish", "other"), ("Angela Merkel", "person")]
_ENTITY_SYSTEM = ("Say what kind of name the quoted words are. "
                  "Answer with one word: person, organization, place or other.")


async def label_entity(engine: Any, word: str) -> tuple[str, float]:
    """(PER/ORG/LOC/MISC, probability) for one name, as the model sees it."""
    shots = [(f'Name: "{n}"', lab) for n, lab in _ENTITY_SHOTS]
    p = await label_probabilities(engine, _few_shot(_ENTITY_SYSTEM, shots, f'Name: "{word}"'), list(_ENTITY_LABELS))
    best = max(p, key=p.get)
    return _ENTITY_LABELS[best], p[best]


async def find_entities(engine: Any, text: str) -> list[dict]:
    """Named entities as ``{entity_group, score, word, start, end}`` (Hugging Face's aggregated shape)."""
    spans = candidate_spans(text)
    labels = await asyncio.gather(*(label_entity(engine, span.word) for span in spans))
    return [{"entity_group": group, "score": round(score, 4), "word": span.word, "start": span.start, "end": span.end}
            for span, (group, score) in zip(spans, labels)]


# ---------------------------------------------------------------------- generation tasks

async def summarize(engine: Any, text: str, max_tokens: int) -> Generation:
    """A short summary of ``text`` written by the model (at most ``max_tokens`` tokens)."""
    # An instruction in the user turn works better with this small model than a system message (which
    # it tends to answer by copying the text).
    msgs = [{"role": "user", "content": f"Summarize this text in one sentence:\n\n{text}"}]
    return await engine.generate(msgs, max_tokens=max_tokens, temperature=0.0)


LANGUAGES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ru": "Russian", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ar": "Arabic",
    "hi": "Hindi", "tr": "Turkish", "pl": "Polish", "sv": "Swedish", "uk": "Ukrainian", "ro": "Romanian",
    "cs": "Czech", "el": "Greek", "da": "Danish", "fi": "Finnish", "no": "Norwegian", "hu": "Hungarian",
}
_ISO3 = {"eng": "en", "fra": "fr", "deu": "de", "spa": "es", "ita": "it", "por": "pt", "nld": "nl", "rus": "ru",
         "zho": "zh", "jpn": "ja", "kor": "ko", "arb": "ar", "ara": "ar", "hin": "hi", "tur": "tr", "pol": "pl",
         "swe": "sv", "ukr": "uk", "ron": "ro", "ces": "cs", "ell": "el", "dan": "da", "fin": "fi", "nob": "no",
         "hun": "hu"}


def language_name(code: str | None) -> str | None:
    """"French" for "fr", "fr_XX", "fra_Latn" or "French"; None when unknown."""
    if not code:
        return None
    c = str(code).strip()
    if c.title() in LANGUAGES.values():
        return c.title()
    c = re.split(r"[_-]", c.lower())[0]
    return LANGUAGES.get(_ISO3.get(c, c))


def languages_from_model(model_id: str) -> tuple[str | None, str | None]:
    """(source, target) language names from ids such as ``Helsinki-NLP/opus-mt-en-fr``."""
    m = re.search(r"opus-mt-(?:tc-big-)?([a-z]{2,3})-([a-z]{2,3})\b", model_id.lower()) \
        or re.search(r"\b([a-z]{2})-to-([a-z]{2})\b", model_id.lower())
    if not m:
        return None, None
    return language_name(m.group(1)), language_name(m.group(2))


async def translate(engine: Any, text: str, target: str, source: str | None = None) -> Generation:
    """``text`` translated into ``target`` (a language name) by the model."""
    src = f"{source} " if source else ""
    msgs = [{"role": "user", "content": f"Translate this {src}text into {target}:\n\n{text}"}]
    gen = await engine.generate(msgs, max_tokens=max(32, min(400, 3 * len(text.split()) + 16)), temperature=0.0)
    gen.text = gen.text.strip().split("\n\n", 1)[0]  # the translation, without any comment the model adds after it
    return gen


async def continue_text(engine: Any, prompt: str, **opts: Any) -> Generation:
    """The model's continuation of ``prompt`` (no chat template), as a base model would write it."""
    return await engine.complete(prompt, **opts)
