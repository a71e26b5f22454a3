"""A BM25 index over the stored chunks (names, places and dates matter in news).

Built from the chunks the store holds (title + date + outlet + text, so a
question naming an outlet or a month still matches), with bm25s's sparse
scoring. Tokens are folded, stopword-free, lightly stemmed words from
`text.py`, the same ones the answerer and verifier use. Filtering happens on
the score vector with a boolean mask, so filters cost no second index.
`save`/`load` write and read bm25s's own files (JSON and numpy, no pickle);
when to reuse a saved index is the store's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .text import content_words, stem


def tokenize(text: str) -> list[str]:
    return [stem(w) for w in content_words(text)]


class LexicalIndex:
    """BM25 over a fixed list of documents; `search` returns (position, score) pairs."""

    def __init__(self, bm25: Any, size: int) -> None:
        self._bm25 = bm25
        self.size = size
        self._vocab: set[str] = set(bm25.vocab_dict) if size else set()

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        if texts:  # bm25s cannot index an empty corpus; an empty store matches nothing
            # bm25s rejects empty documents
            bm25.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
        return cls(bm25, len(texts))

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        """An index written by `save` for `size` documents (memory-mapped: loads in moments)."""
        import bm25s

        if size == 0:
            return cls(bm25s.BM25(), 0)
        return cls(bm25s.BM25.load(str(folder), mmap=True, show_progress=False), size)

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (an empty index has nothing to write)."""
        if self.size:
            self._bm25.save(str(folder), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        known = [t for t in tokenize(query) if t in self._vocab]
        if not known or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        scores = self.scores(query)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        positive = int(np.count_nonzero(scores > 0))
        n = min(n, positive)
        if n <= 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top]
