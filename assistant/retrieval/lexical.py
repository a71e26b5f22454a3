"""The BM25 side of hybrid search: the index, its filter mask, and its saved copies.

Built from the chunks the store holds (title + outlet + date + text, so a
question naming an outlet or a month still matches), with bm25s's sparse
scoring. Tokens are folded, stopword-free, stemmed words from `text.py`, the
same ones the answerer and verifier use. Filtering happens on the score vector
with a boolean mask, so filters cost no second index.

`LexicalCache` decides which index serves a query: the one kept in memory, else
one saved on disk by any earlier process (bm25s's own JSON and numpy files, no
pickle), else a fresh build that is then saved. It is keyed by the collection's
chunk count and a revision token that every write renews, so an index never
outlives a write from any process. The store supplies count, revision and the
chunks; reading Chroma is its business.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .filters import Filters, date_ord
from ..language.text import content_stems_list

#: (chunk id, chunk text, chunk metadata), as the store pages them out.
ChunkRows = Iterable[tuple[str, str, dict[str, Any]]]


def tokenize(text: str) -> list[str]:
    return content_stems_list(text)


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


@dataclass(frozen=True)
class LexicalRows:
    """The BM25 index of one state of the collection, with what filters need per chunk."""

    count: int
    revision: str
    index: LexicalIndex
    ids: list[str]
    sources: np.ndarray  # outlet per chunk
    days: np.ndarray  # date_ord per chunk, 0 when unknown

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Chunks the filters keep (None: all); an unknown date fails any date bound."""
        if filters.empty:
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        if filters.sources:
            keep &= np.isin(self.sources, list(filters.sources))
        if filters.since:
            keep &= (self.days != 0) & (self.days >= date_ord(filters.since))
        if filters.until:
            keep &= (self.days != 0) & (self.days <= date_ord(filters.until))
        return keep

    def search(self, query: str, n: int, filters: Filters) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first, among the chunks the filters keep."""
        return [(self.ids[i], s) for i, s in self.index.search(query, n, self.mask(filters))]

    @classmethod
    def build(cls, count: int, revision: str, chunks: ChunkRows) -> LexicalRows:
        ids: list[str] = []
        sources: list[str] = []
        days: list[int] = []
        texts: list[str] = []
        for cid, doc, meta in chunks:
            ids.append(cid)
            sources.append(str(meta.get("source", "")))
            days.append(int(meta.get("date_ord", 0)))
            texts.append(
                f"{meta.get('title', '')} {meta.get('source', '')} {meta.get('date', '')} {doc}"
            )
        index = LexicalIndex.build(texts)
        return cls(count, revision, index, ids, np.array(sources, dtype=str), np.array(days))

    def save(self, folder: Path) -> None:
        self.index.save(folder)
        rows = {"ids": self.ids, "sources": self.sources.tolist(), "days": self.days.tolist()}
        (folder / "rows.json").write_text(json.dumps(rows), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, count: int, revision: str) -> LexicalRows:
        """Read a saved copy; raises on anything missing or inconsistent."""
        rows = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
        ids = [str(x) for x in rows["ids"]]
        sources = np.array(rows["sources"], dtype=str)
        days = np.array(rows["days"], dtype=np.int64)
        if not len(ids) == len(sources) == len(days):
            raise ValueError("rows of unequal length")
        return cls(count, revision, LexicalIndex.load(folder, len(ids)), ids, sources, days)


class LexicalCache:
    """The current `LexicalRows` of one collection: kept, loaded from disk, or built.

    `root` is where saved copies live (`<root>/<revision>-<count>/`); None keeps the
    index in memory only (a Chroma server: nothing is written locally). One build at a
    time: a question arriving while `warm` builds waits for it. An index is kept or
    saved only when the collection's state is the same after reading its chunks as
    before, and every counted chunk was read.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._rows: LexicalRows | None = None

    def get(
        self, state: Callable[[], tuple[int, str]], chunks: Callable[[], ChunkRows]
    ) -> LexicalRows:
        """The index of the collection's current (count, revision), as `state()` reads it."""
        with self._lock:
            count, rev = state()
            kept = self._rows
            if kept is None or (kept.count, kept.revision) != (count, rev):
                loaded = self._load(count, rev)
                if loaded is not None:
                    self._rows = loaded
                    return loaded
                built = LexicalRows.build(count, rev, chunks())
                if len(built.ids) != count or state() != (count, rev):
                    # A write (another thread's or process's ingest) landed while the
                    # chunks were read. The last whole index answers this question
                    # (its deleted chunks are skipped by the store); the half-read one
                    # is neither kept nor saved, so the next question reads the
                    # finished write. Only a process with no index at all uses it.
                    return kept if kept is not None else built
                self._save(built)
                self._rows = kept = built
            return kept

    def _folder(self, count: int, revision: str) -> Path | None:
        return None if self.root is None else self.root / f"{revision}-{count}"

    def _save(self, rows: LexicalRows) -> None:
        """Write into a temporary folder renamed into place (a reader never sees half an
        index), then drop older revisions. A folder that cannot be written only costs the
        next process a rebuild."""
        folder = self._folder(rows.count, rows.revision)
        if folder is None:
            return
        partial = folder.with_name(f".{folder.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            partial.mkdir(parents=True, exist_ok=True)
            rows.save(partial)
            os.rename(partial, folder)
        except OSError:  # read-only data folder, or another process saved it first
            shutil.rmtree(partial, ignore_errors=True)
            return
        for old in folder.parent.iterdir():
            if old != folder and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)

    def _load(self, count: int, revision: str) -> LexicalRows | None:
        folder = self._folder(count, revision)
        if folder is None or not folder.is_dir():
            return None
        try:
            return LexicalRows.load(folder, count, revision)
        except Exception:  # a damaged save is rebuilt, never trusted
            shutil.rmtree(folder, ignore_errors=True)
            return None
