"""Hugging Face inference tasks computed by the local model (SmolLM2-135M) and the local embedder.

Each function does the task for real and returns plain Python values; ``hf_api`` wraps them in the
response shapes of Hugging Face's ``hf-inference`` API.

* ``classify_sentiment``: the model reads the text after eight labelled examples and answers with
  one word; the probabilities of its first token ("good"/"bad", "positive"/"negative") become the
  POSITIVE/NEGATIVE scores. Two phrasings are averaged, which evens out the small model's habits.
* ``find_entities``: candidate names are found by rule (runs of capitalised words, leading function
  words such as "The" dropped; all-capital acronyms), then the model labels each one person,
  organization, place or other (PER/ORG/LOC/MISC) with the same first-token probabilities.
* ``summarize``: the sentence of the text the model picks (extractive); ``translate``: the model, instructed;
  ``continue_text``: raw continuation.
* ``zero_shot``: the embedding model's similarity to "This example is {label}." averaged with the model's
  pointwise mutual information between the text and each label.
* ``fill_mask``: the model's most likely next words after the text before the gap, re-ranked by the word after it.
* ``answer_question``: extractive; the model picks a stretch of the context (held to the candidates by JSON-schema
  decoding), so ``context[start:end] == answer``.
* Images and sound: ``media_kind`` and ``image_size`` read file headers; the model sees and hears nothing.
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

CHARS_PER_TOKEN = 4  # about, in English: a sentence of a summary must fit the caller's token budget


async def summarize(engine: Any, text: str, max_tokens: int) -> tuple[Generation, bool]:
    """A short summary of ``text`` (at most ``max_tokens`` tokens), and whether it is one of its sentences.

    Extractive when the text has two sentences or more that fit: the model picks the sentence that says the
    most, held to the text's own sentences by JSON-schema decoding (an ``enum``), so the summary is always
    faithful (written freely, the 135M model often reversed an article's meaning). News summarisers such as
    bart-large-cnn mostly copy the text's leading sentences too. Otherwise the model writes one sentence.
    """
    import json

    sentences = list(dict.fromkeys(text[s:e].strip() for s, e in _sentences(text)))
    fitting = [s for s in sentences if s and len(s) <= max_tokens * CHARS_PER_TOKEN]
    if len(fitting) >= 2:
        # (this wording picked the leading sentence of 3 of 4 news texts, as a news summariser would)
        msgs = [{"role": "user", "content": f"Text: {text}\n\nThe most important sentence of the text is:"}]
        gen = await engine.generate(msgs, max_tokens=max_tokens + 16, temperature=0.0,
                                    json_schema={"type": "object", "required": ["sentence"],
                                                 "properties": {"sentence": {"enum": fitting}}})
        try:
            chosen = json.loads(gen.text).get("sentence")
        except (ValueError, AttributeError):
            chosen = None
        if chosen in fitting:
            return Generation(chosen, gen.prompt_tokens, gen.completion_tokens, "stop", timings=gen.timings), True
    # An instruction in the user turn works better with this small model than a system message (which
    # it tends to answer by copying the text).
    msgs = [{"role": "user", "content": f"Summarize this text in one sentence:\n\n{text}"}]
    return await engine.generate(msgs, max_tokens=max_tokens, temperature=0.0), False


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


# ---------------------------------------------------------------------- the model's next-token probabilities

NEXT_TOKEN_CANDIDATES = 100  # how many next tokens the engine lists (llama.cpp's n_probs)


async def next_tokens(engine: Any, prompt: str, n: int = NEXT_TOKEN_CANDIDATES) -> list[dict]:
    """The model's ``n`` most likely next tokens after raw ``prompt`` (no chat template), best first.

    Each is ``{"id", "token", "logprob"}``, read from llama.cpp's ``/completion`` with ``n_probs``. Only the
    real model has them: with the fallback responder this raises ``EngineError`` (503) saying so.
    """
    from .engine import EngineError

    post = getattr(engine, "_post", None)
    if post is None:
        raise EngineError(503, "this task reads the local model's token probabilities, and the model is not running "
                               "on this machine (the labelled fallback responder has none)", "engine_down")
    engine._check_size([prompt])
    data = await post("/completion", {"prompt": prompt, "n_predict": 1, "n_probs": int(n), "temperature": 0.0,
                                      "cache_prompt": True})
    first = (data.get("completion_probabilities") or [{}])[0]
    return [{"id": t.get("id"), "token": t.get("token", ""), "logprob": float(t.get("logprob", -50.0))}
            for t in first.get("top_logprobs") or []]


async def continuation_logprob(engine: Any, prompt: str, continuation: str) -> float:
    """log P(``continuation`` | ``prompt``) under the model, token by token.

    A token outside the model's top ``NEXT_TOKEN_CANDIDATES`` counts as one nat less likely than the last listed.
    """
    total, context = 0.0, prompt
    for token_id, piece in await engine.tokenize(continuation):
        listed = await next_tokens(engine, context)
        by_id = {t["id"]: t["logprob"] for t in listed}
        total += by_id.get(token_id, (min(by_id.values()) if by_id else -20.0) - 1.0)
        context += piece
    return total


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


# ---------------------------------------------------------------------- zero-shot classification

ZERO_SHOT_TEMPLATE = "This example is {}."  # transformers' default hypothesis_template
EMBED_SHARPNESS = 0.02  # multilingual-e5-small's cosines sit close together (about 0.74-0.86): spread them


async def zero_shot(engine: Any, embed: Any, text: str, labels: list[str], multi_label: bool = False,
                    template: str = ZERO_SHOT_TEMPLATE) -> list[tuple[str, float]]:
    """(label, score) for each candidate label, best first: how well ``labels`` fit ``text``.

    Two real estimates, averaged: the local embedding model's similarity between the text and each hypothesis
    (``template`` with the label), and the language model's pointwise mutual information between the text and
    the label: log P(label | "<text> This text is about") - log P(label | the same with no text), which
    cancels the model's liking for some words whatever the text. With ``multi_label`` each label is scored
    on its own (0 to 1, the scores need not add up to 1), as transformers' zero-shot pipeline does.
    """
    hypotheses = [template.format(label) if "{}" in template else f"{template} {label}" for label in labels]
    vecs = await embed([text] + hypotheses)
    sims = [float(vecs[0] @ v) for v in vecs[1:]]
    with_text = f"Text: {text}\nThis text is about"
    without = "Text: N/A\nThis text is about"
    pmi = []
    for label in labels:
        pmi.append(await continuation_logprob(engine, with_text, " " + label.strip())
                   - await continuation_logprob(engine, without, " " + label.strip()))
    if multi_label:
        mean_sim = sum(sims) / len(sims)
        scores = [0.5 / (1 + math.exp(-p)) + 0.5 / (1 + math.exp(-(s - mean_sim) / EMBED_SHARPNESS))
                  for p, s in zip(pmi, sims)] if len(labels) > 1 else [1 / (1 + math.exp(-pmi[0]))]
    else:
        by_embedding = _softmax([s / EMBED_SHARPNESS for s in sims])
        by_model = _softmax(pmi)
        scores = [(a + b) / 2 for a, b in zip(by_embedding, by_model)]
    return sorted(zip(labels, scores), key=lambda pair: -pair[1])


# ---------------------------------------------------------------------- fill-mask

MASK_TOKENS = ("[MASK]", "<mask>")  # BERT-style and RoBERTa-style models


def find_mask(text: str) -> str | None:
    """The mask token ``text`` uses ("[MASK]" or "<mask>"), or None when it has none."""
    return next((m for m in MASK_TOKENS if m in text), None)


async def fill_mask(engine: Any, text: str, mask: str, top_k: int = 5, targets: list[str] | None = None) -> list[dict]:
    """The model's most likely words for the gap, as ``{score, token, token_str, sequence}``.

    The gap is filled from the words before it: the local model is a left-to-right model (a BERT-style
    model reads both sides). Its most likely next words are then re-ranked by how well the first token after
    the gap follows each. ``score`` is a probability from the model's own; with ``targets``, only those words
    are scored (from the words before the gap).
    """
    before, after = text.split(mask, 1)
    before = before.rstrip()
    if not before:
        raise ValueError(f"the local model fills the gap from the words before it: put some words before {mask}")
    listed = await next_tokens(engine, before)
    out = []
    if targets:
        by_id = {t["id"]: t["logprob"] for t in listed}
        floor = (min(by_id.values()) if by_id else -20.0) - 1.0
        for word in targets:
            pieces = await engine.tokenize(" " + word.strip())
            tid = pieces[0][0] if pieces else 0
            out.append((tid, word.strip(), by_id.get(tid, floor)))
    else:
        for t in listed:
            word = t["token"].strip()
            if word and word[0].isalnum() and all(ch.isalnum() or ch in "'-" for ch in word):
                out.append((t["id"], word, t["logprob"]))
    out.sort(key=lambda item: -item[2])
    if after.strip() and not targets:
        out = await _agree_with_what_follows(engine, before, after, out[:max(2 * top_k, FILL_MASK_RERANK)])
    return [{"score": round(math.exp(logprob), 6), "token": int(tid), "token_str": word,
             "sequence": " ".join(f"{before} {word}{after}".split())} for tid, word, logprob in out[:top_k]]


FILL_MASK_RERANK = 10  # candidates re-scored with the first token after the gap


async def _agree_with_what_follows(engine: Any, before: str, after: str, out: list[tuple]) -> list[tuple]:
    """Re-score gap candidates with what follows the gap: P(word | before) x P(next token | before + word),
    renormalised over the candidates (so "the" loses to "Paris" before a full stop). Scores stay probabilities."""
    pieces = await engine.tokenize(after if after[:1] in " .,;:!?)'\"" else " " + after)
    if not pieces or not out:
        return out
    following, joined = pieces[0][0], []
    for tid, word, logprob in out:
        listed = await next_tokens(engine, f"{before} {word}")
        by_id = {t["id"]: t["logprob"] for t in listed}
        joined.append((tid, word, logprob + by_id.get(following, (min(by_id.values()) if by_id else -20.0) - 1.0)))
    mass = sum(math.exp(lp) for _, _, lp in out)  # the share of the model's probability these candidates hold
    total = sum(math.exp(lp) for _, _, lp in joined)
    return sorted(((tid, word, math.log(mass * math.exp(lp) / total)) for tid, word, lp in joined),
                  key=lambda item: -item[2])


# ---------------------------------------------------------------------- question answering

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0).lower(), m.start(), m.end()) for m in re.finditer(r"\w+", text)]


def best_span(context: str, answer: str) -> tuple[int, int, float] | None:
    """(start, end, overlap) of the stretch of ``context`` that best matches ``answer`` word for word (F1)."""
    want = [w for w, _, _ in _words(answer)]
    if not want:
        return None
    low = context.lower()
    exact = low.find(answer.strip().lower().rstrip(".!?"))
    if exact >= 0 and answer.strip():
        return exact, exact + len(answer.strip().rstrip(".!?")), 1.0
    words = _words(context)
    best: tuple[int, int, float] | None = None
    for i in range(len(words)):
        for j in range(i, min(len(words), i + len(want) + 4)):
            span = [w for w, _, _ in words[i:j + 1]]
            common = sum(min(span.count(w), want.count(w)) for w in set(span))
            if not common:
                continue
            precision, recall = common / len(span), common / len(want)
            f1 = 2 * precision * recall / (precision + recall)
            if best is None or f1 > best[2]:
                best = (words[i][1], words[j][2], f1)
    return best


_FILLER = {"a", "an", "the", "is", "am", "are", "was", "were", "and", "i", "in", "at", "as", "of", "to", "on", "my",
           "it", "he", "she", "they", "we", "you", "his", "her", "their", "our", "your", "has", "have", "had", "about",
           "but", "which", "who", "that", "this", "with", "for", "by", "from", "so", "or", "very", "much", "me"}
MAX_SPAN_WORDS = 4


def candidate_answers(context: str, start: int, end: int, question: str) -> list[tuple[int, int]]:
    """Every stretch of 1 to ``MAX_SPAN_WORDS`` words of ``context[start:end]`` that neither starts nor ends with a
    little word or a word of the question (an answer does not repeat the question), as (start, end) offsets."""
    asked = {w for w, _, _ in _words(question)} | _FILLER
    words = [(m.group(0), m.start() + start, m.end() + start)
             for m in re.finditer(r"[\w%$€£'’.,-]*\w[%]?", context[start:end])]
    spans: list[tuple[int, int]] = []
    seen: set[str] = set()
    for i in range(len(words)):
        for j in range(i, min(len(words), i + MAX_SPAN_WORDS)):
            first, last = words[i][0].lower().strip(".,"), words[j][0].lower().strip(".,")
            if first in asked or last in asked:
                continue
            text = context[words[i][1]:words[j][2]]
            if text not in seen:
                seen.add(text)
                spans.append((words[i][1], words[j][2]))
    return spans


def _sentences(context: str) -> list[tuple[int, int]]:
    out = []
    for m in _SENTENCE.finditer(context):
        text = m.group(0)
        if text.strip():
            out.append((m.start() + len(text) - len(text.lstrip()), m.end() - (len(text) - len(text.rstrip()))))
    return out


def expected_kind(question: str) -> str | None:
    """What kind of answer the question wants: "number" (how many, when, what year), "name" (who, where, which
    country ...), or None (anything). Classic question answering narrows candidates this way."""
    q = question.lower()
    if re.search(r"\b(how (many|much|old|long|far|tall)|when|what year|which year|what date|how often)\b", q):
        return "number"
    if re.search(r"\b(who|whom|whose|where|which (country|city|town|state|company|person|place)|what is (his|her|"
                 r"their|my|your) name)\b", q):
        return "name"
    return None


def _fits(text: str, kind: str | None) -> bool:
    if kind == "number":
        return bool(re.search(r"\d", text)) or bool(re.search(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|"
                                                             r"hundred|thousand|million|billion)\b", text.lower()))
    if kind == "name":
        return text[:1].isupper()
    return True


MAX_QA_SENTENCES = 3  # a long context: the answer is looked for in its sentences closest to the question
MAX_CANDIDATES = 400  # the enum the engine decodes against stays small (a sentence without full stops can be long)


async def answer_question(engine: Any, embed: Any, question: str, context: str, top_k: int = 1) -> list[dict]:
    """Answer spans of ``context`` for ``question``: ``{answer, score, start, end}``, best first.

    Extractive, as a real question-answering model is. Candidates are the context's stretches of one to four
    words (from the sentences the embedding model finds closest to the question), narrowed to the kind of
    answer the question asks for (a number for "how many", a name for "who"/"where"); the language model
    picks one, its choice held to exactly those stretches by the engine's JSON-schema decoding (an ``enum``).
    So ``answer == context[start:end]`` always. ``score``: the model's average probability for the answer's
    tokens times its sentence's share of the similarity. With ``top_k`` > 1 the model picks again among the
    rest. A 135M model often picks wrong on hard questions.
    """
    import json

    sentences = _sentences(context) or [(0, len(context))]
    vecs = await embed([question] + [context[s:e] for s, e in sentences])
    probs = _softmax([float(vecs[0] @ v) / EMBED_SHARPNESS for v in vecs[1:]])
    closest = sorted(zip(sentences, probs), key=lambda pair: -pair[1])[:MAX_QA_SENTENCES]
    spans = [(sp, p) for (s, e), p in closest for sp in candidate_answers(context, s, e, question)][:MAX_CANDIDATES]
    kept = sorted(closest)
    kind = expected_kind(question)
    typed = [(sp, p) for sp, p in spans if _fits(context[sp[0]:sp[1]], kind)]
    spans = typed or spans
    shown = " ".join(context[s:e] for (s, e), _ in kept)
    msgs = [{"role": "user", "content": f"{shown}\n\nQuestion: {question}\nAnswer with words from the text."}]
    answers: list[dict] = []
    while spans and len(answers) < top_k:
        texts = [context[s:e] for (s, e), _ in spans]
        gen: Generation = await engine.generate(msgs, max_tokens=80, temperature=0.0, top_logprobs=1,
                                                json_schema={"type": "object", "required": ["answer"],
                                                             "properties": {"answer": {"enum": texts}}})
        try:
            chosen = json.loads(gen.text).get("answer")
        except (ValueError, AttributeError):
            chosen = None
        if chosen not in texts:
            break
        (s, e), p = spans.pop(texts.index(chosen))
        inside = [float(t.get("logprob", 0.0)) for t in (gen.logprobs or [])
                  if str(t.get("token", "")).strip() and str(t.get("token", "")).strip() in chosen]
        confidence = math.exp(sum(inside) / len(inside)) if inside else 0.0
        answers.append({"answer": chosen, "score": round(p * confidence, 6), "start": s, "end": e})
    return answers or [{"answer": context[s:e], "score": round(p, 6), "start": s, "end": e}
                       for (s, e), p in sorted(kept, key=lambda pair: -pair[1])[:top_k]]


# ---------------------------------------------------------------------- images and sound (not seen, not heard)

CANNOT_SEE = "local server: its model cannot see images, so this is no classification"
CANNOT_SEE_OBJECTS = "local server: its model cannot see images, so no objects were detected"
CANNOT_HEAR = ("[local server: the course's model cannot hear audio, so there is no transcript. A real speech "
               "recognition model returns the words spoken here.]")


def media_kind(data: bytes) -> str | None:
    """"image" or "audio" from a file's first bytes (PNG, JPEG, GIF, WebP, BMP; WAV, FLAC, Ogg, MP3, M4A), or None."""
    head = data[:16]
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")) or \
            (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head.startswith((b"fLaC", b"OggS", b"ID3")) or \
            head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2") or head[4:8] == b"ftyp":
        return "audio"
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG image, read from its header; None for other formats."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
            i += 2 + length
    return None
