"""The BM25 side of hybrid search: an index that grows with each write, and its saved copy.

`LexicalIndex` is the engine: term-major postings (doc position, term frequency) in
one merged segment plus a small delta of recent documents, with deleted documents
masked. BM25 statistics (live document count, document frequencies, average
length) are computed at query time from the live documents only, so the scores are
those of a fresh bm25s build over the same chunks (Lucene idf, k1 1.2, b 0.75):
adding or removing a chunk costs its own tokens, never a rebuild. The delta is
merged (and deleted rows dropped) when it outgrows an eighth of the index, so the
merge cost is amortised over the writes that caused it.

`LexicalRows` is the index of one collection with what filters need per chunk
(outlet, day) and each chunk's write sequence. Tokens are folded, stopword-free,
stemmed words from `language/text.py` (title + outlet + date + text, so a question
naming an outlet or a month still matches), the same ones the answerer and
verifier use. Filtering happens on the score vector with a boolean mask.

`LexicalCache` keeps a collection's rows current from a `ChunkSource` (the store:
reading Chroma is its business). Chroma is the one source of truth: every chunk
carries the write sequence that stored it and every deletion leaves a tombstone
with its own sequence, so a process catches up with the writes it did not make by
reading only what changed. Writes still in flight when a catch-up starts are read
again by later catch-ups until `SETTLE_S` has passed, and a live-chunk count that
disagrees with Chroma's (a write cut by a crash, chunks from an older version of
this program) is repaired by comparing chunk ids. Old tombstones are pruned: an
index that last caught up before the store's `deleted_floor` cannot know which
deletions it missed, so it compares ids too (once per floor). A saved copy
(`<root>/index/`, written whole into a temporary folder and renamed) lets a new
process start from where an earlier one left off.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..language.text import content_stems_list
from .filters import Filters, date_ord

#: (chunk id, chunk text, chunk metadata), as the store pages them out.
ChunkRows = Iterable[tuple[str, str, dict[str, Any]]]
#: (chunk id, write sequence of its deletion).
Tombstones = Iterable[tuple[str, int]]

K1, B = 1.2, 0.75  # bm25s's defaults as the index used them before (Lucene idf)
_EMPTY = "\u2205"  # an empty document still counts one token, as it did with bm25s
#: A write's chunks land within this many seconds of it taking its sequence number.
SETTLE_S = 120.0
#: The saved copy is rewritten once this share of the chunks changed since it was saved.
_RESAVE_SHARE = 0.02


def tokenize(text: str) -> list[str]:
    return content_stems_list(text)


def chunk_text(doc: str, meta: dict[str, Any]) -> str:
    """What BM25 indexes for one chunk: its article's title, outlet and date, then the text."""
    return f"{meta.get('title', '')} {meta.get('source', '')} {meta.get('date', '')} {doc}"


@dataclass
class _Segment:
    """Postings of some documents, grouped by term: `docs[indptr[t]:indptr[t+1]]` hold term t."""

    indptr: np.ndarray
    docs: np.ndarray
    tfs: np.ndarray

    @classmethod
    def empty(cls) -> _Segment:
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16))

    @classmethod
    def of(cls, terms: np.ndarray, docs: np.ndarray, tfs: np.ndarray, vocab: int) -> _Segment:
        order = np.lexsort((docs, terms))
        indptr = np.zeros(vocab + 1, np.int64)
        np.cumsum(np.bincount(terms, minlength=vocab), out=indptr[1:])
        return cls(indptr, docs[order].astype(np.int32), tfs[order].astype(np.uint16))

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        if term + 1 >= len(self.indptr):
            return self.docs[:0], self.tfs[:0]
        lo, hi = int(self.indptr[term]), int(self.indptr[term + 1])
        return self.docs[lo:hi], self.tfs[lo:hi]

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        terms = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        return terms, self.docs, self.tfs


class LexicalIndex:
    """BM25 over documents addressed by position; `search` returns (position, score) pairs."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.lengths = np.zeros(0, np.int32)
        self.alive = np.zeros(0, bool)
        self.base = _Segment.empty()
        self.base_rows = 0
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (term ids, tfs) per new doc
        self._delta: _Segment | None = None
        self.live = 0
        self.total = 0  # tokens in live documents
        self.indexed = 0  # documents tokenised by this object (tests count rebuilds with it)

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        index = cls()
        index.add([tokenize(t) for t in texts])
        index.merge()
        return index

    @property
    def size(self) -> int:
        return len(self.lengths)

    def add(self, token_lists: Sequence[list[str]]) -> None:
        """Append documents (positions `size`, `size + 1`, ...)."""
        lengths = []
        for tokens in token_lists:
            tokens = tokens or [_EMPTY]
            ids = np.fromiter((self.vocab.setdefault(t, len(self.vocab)) for t in tokens), np.int64)
            terms, tfs = np.unique(ids, return_counts=True)
            self._pending.append((terms, tfs))
            lengths.append(len(tokens))
        self.lengths = np.concatenate([self.lengths, np.array(lengths, np.int32)])
        self.alive = np.concatenate([self.alive, np.ones(len(lengths), bool)])
        self.live += len(lengths)
        self.total += int(sum(lengths))
        self.indexed += len(lengths)
        self._delta = None

    @property
    def wants_merge(self) -> bool:
        """The delta outgrew an eighth of the index (or deleted rows did)."""
        dead = self.size - self.live
        return max(len(self._pending), dead) > max(1024, self.base_rows // 8)

    def remove(self, positions: Sequence[int]) -> None:
        for pos in positions:
            if self.alive[pos]:
                self.alive[pos] = False
                self.live -= 1
                self.total -= int(self.lengths[pos])

    def merge(self) -> np.ndarray:
        """Fold the delta into the base and drop deleted documents; returns the kept mask
        over the old positions (the caller drops the same rows from its own arrays)."""
        keep = self.alive.copy()
        terms, docs, tfs = self.base.triples()
        if self._pending:
            start = self.base_rows
            terms = np.concatenate([terms, *(t for t, _ in self._pending)])
            docs = np.concatenate(
                [
                    docs,
                    *(
                        np.full(len(t), start + i, np.int32)
                        for i, (t, _) in enumerate(self._pending)
                    ),
                ]
            )
            tfs = np.concatenate([tfs, *(f.astype(np.uint16) for _, f in self._pending)])
        survive = keep[docs]
        renumber = np.cumsum(keep) - 1
        self.base = _Segment.of(
            terms[survive], renumber[docs[survive]], tfs[survive], len(self.vocab)
        )
        self.lengths, self.alive = self.lengths[keep], self.alive[keep]
        self.base_rows = len(self.lengths)
        self._pending, self._delta = [], None
        return keep

    def _segments(self) -> list[_Segment]:
        if self._pending and self._delta is None:
            start = self.base_rows
            terms = np.concatenate([t for t, _ in self._pending])
            docs = np.concatenate(
                [np.full(len(t), start + i, np.int32) for i, (t, _) in enumerate(self._pending)]
            )
            tfs = np.concatenate([f for _, f in self._pending])
            self._delta = _Segment.of(terms, docs, tfs, len(self.vocab))
        return [self.base] if self._delta is None else [self.base, self._delta]

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every position (0 for deleted ones), as bm25s scores a fresh build."""
        return self.token_scores(tokenize(query))

    def token_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """`scores` of a query already tokenised."""
        scores = np.zeros(self.size, dtype=np.float32)
        terms = [self.vocab[t] for t in tokens if t in self.vocab]
        if not terms or self.live == 0:
            return scores
        segments = self._segments()
        # The same float operations, in the same order, as bm25s at index time: idf rounded
        # to float32, the term part in float64, their product rounded to float32, then
        # summed in float32 per query token in query order. Scores are bm25s's to the bit.
        avgdl = self.total / self.live
        norm = K1 * ((1 - B) + B * self.lengths.astype(np.float64) / avgdl)
        for term in terms:
            found = [seg.postings(term) for seg in segments]
            docs = np.concatenate([d for d, _ in found])
            tfs = np.concatenate([f for _, f in found]).astype(np.float64)
            live = self.alive[docs]
            docs, tfs = docs[live], tfs[live]
            if not len(docs):
                continue
            idf = float(np.float32(math.log(1 + (self.live - len(docs) + 0.5) / (len(docs) + 0.5))))
            part = (idf * (tfs / (norm[docs] + tfs))).astype(np.float32)
            scores[docs] += part  # a term's postings hold each document once
        return scores

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

    def save(self, folder: Path) -> None:
        """Write the index (merged first) into `folder` as numpy arrays and a term list."""
        self.merge()
        for name in ("indptr", "docs", "tfs"):
            np.save(folder / f"{name}.npy", getattr(self.base, name))
        np.save(folder / "lengths.npy", self.lengths)
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "terms.json").write_text(json.dumps(terms), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        index = cls()
        arrays = {n: np.load(folder / f"{n}.npy") for n in ("indptr", "docs", "tfs", "lengths")}
        terms = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
        index.vocab = {t: i for i, t in enumerate(terms)}
        index.base = _Segment(arrays["indptr"], arrays["docs"], arrays["tfs"])
        index.lengths = arrays["lengths"].astype(np.int32)
        if len(index.base.indptr) != len(terms) + 1 or index.base.indptr[-1] != len(
            index.base.docs
        ):
            raise ValueError("postings and terms disagree")
        index.alive = np.ones(len(index.lengths), bool)
        index.base_rows = index.live = len(index.lengths)
        index.total = int(index.lengths.sum())
        return index


@dataclass(frozen=True)
class SourceState:
    """What a catch-up reads first: which collection, its revision (renewed by every write),
    its chunk count, the last write sequence handed out, and the sequence up to which
    tombstones may have been pruned (-1: none)."""

    collection: str
    revision: str
    count: int
    sequence: int
    deleted_floor: int = -1


class ChunkSource(Protocol):
    """What the store supplies: the collection's state and its chunks, whole or changed."""

    def lexical_state(self) -> SourceState: ...

    def chunks_since(self, sequence: int) -> ChunkRows:
        """Chunks written with a sequence above `sequence` (every chunk when it is -1)."""
        ...

    def deleted_since(self, sequence: int) -> Tombstones: ...

    def chunk_ids(self) -> list[str]: ...

    def chunks_by_id(self, ids: Sequence[str]) -> ChunkRows: ...


@dataclass
class LexicalRows:
    """The BM25 index of one collection, with outlet, day and write sequence per chunk."""

    collection: str
    index: LexicalIndex = field(default_factory=LexicalIndex)
    all_ids: list[str] = field(default_factory=list)
    sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))
    days: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    seqs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    revision: str = ""
    floor: int = -1  # every write with a sequence up to this one is in the index
    # The store's deleted_floor that an id comparison has already accounted for.
    horizon: int = -1
    pending: list[tuple[float, int]] = field(default_factory=list)  # (time, sequence) not settled
    changed: int = 0  # chunks added or removed since the saved copy
    _where: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.index.live

    @property
    def ids(self) -> list[str]:
        """Live chunk ids, in index order."""
        return [self.all_ids[i] for i in np.flatnonzero(self.index.alive)]

    def seq_of(self, chunk_id: str) -> int | None:
        pos = self._where.get(chunk_id)
        return None if pos is None else int(self.seqs[pos])

    def add(self, chunks: ChunkRows) -> None:
        """Index chunks, replacing older copies of the same ids (a newer sequence wins)."""
        new: dict[str, tuple[str, dict[str, Any], int]] = {}
        for cid, doc, meta in chunks:
            seq = int(meta.get("seq", -1))
            held = self.seq_of(cid)
            if held is not None and held >= seq:
                continue  # this copy (or a newer one) is indexed already
            if cid not in new or seq >= new[cid][2]:
                new[cid] = (doc, meta, seq)
        if not new:
            return
        self.remove(list(new))
        start = len(self.all_ids)
        self.index.add([tokenize(chunk_text(doc, meta)) for doc, meta, _ in new.values()])
        self.all_ids.extend(new)
        metas = [meta for _, meta, _ in new.values()]
        self.sources = np.concatenate(
            [self.sources, np.array([str(m.get("source", "")) for m in metas], dtype=str)]
        )
        self.days = np.concatenate(
            [self.days, np.array([int(m.get("date_ord", 0)) for m in metas], np.int64)]
        )
        self.seqs = np.concatenate([self.seqs, np.array([s for *_, s in new.values()], np.int64)])
        self._where.update((cid, start + i) for i, cid in enumerate(new))
        self.changed += len(new)
        if self.index.wants_merge:
            self.compact()

    def remove(self, ids: Iterable[str], before: int | None = None) -> None:
        """Forget chunks (only copies older than sequence `before`, when it is given)."""
        gone = []
        for cid in ids:
            pos = self._where.get(cid)
            if pos is not None and (before is None or self.seqs[pos] < before):
                gone.append(pos)
                del self._where[cid]
        self.index.remove(gone)
        self.changed += len(gone)

    def compact(self) -> None:
        keep = self.index.merge()
        self.all_ids = [cid for cid, k in zip(self.all_ids, keep, strict=True) if k]
        self.sources, self.days, self.seqs = self.sources[keep], self.days[keep], self.seqs[keep]
        self._where = {cid: i for i, cid in enumerate(self.all_ids)}

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Chunks the filters keep (None: all); an unknown date fails any date bound."""
        if filters.empty:
            return None
        keep = np.ones(len(self.all_ids), dtype=bool)
        if filters.sources:
            keep &= np.isin(self.sources, list(filters.sources))
        if filters.since:
            keep &= (self.days != 0) & (self.days >= date_ord(filters.since))
        if filters.until:
            keep &= (self.days != 0) & (self.days <= date_ord(filters.until))
        return keep

    def live_sources(self) -> set[str]:
        return {str(s) for s in self.sources[self.index.alive] if s}

    def search(self, query: str, n: int, filters: Filters) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first, among the chunks the filters keep."""
        return [(self.all_ids[i], s) for i, s in self.index.search(query, n, self.mask(filters))]

    def save(self, folder: Path) -> None:
        self.compact()
        self.index.save(folder)
        rows = {
            "collection": self.collection,
            "revision": self.revision,
            "floor": self.floor,
            "horizon": self.horizon,
            "pending": self.pending,
            "ids": self.all_ids,
            "sources": self.sources.tolist(),
            "days": self.days.tolist(),
            "seqs": self.seqs.tolist(),
        }
        (folder / "rows.json").write_text(json.dumps(rows), encoding="utf-8")
        self.changed = 0

    @classmethod
    def load(cls, folder: Path) -> LexicalRows:
        """Read a saved copy; raises on anything missing or inconsistent."""
        rows = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
        index = LexicalIndex.load(folder)
        ids = [str(x) for x in rows["ids"]]
        loaded = cls(
            collection=str(rows["collection"]),
            index=index,
            all_ids=ids,
            sources=np.array(rows["sources"], dtype=str),
            days=np.array(rows["days"], dtype=np.int64),
            seqs=np.array(rows["seqs"], dtype=np.int64),
            revision=str(rows["revision"]),
            floor=int(rows["floor"]),
            horizon=int(rows.get("horizon", -1)),  # saved before tombstones were pruned
            pending=[(float(t), int(s)) for t, s in rows["pending"]],
        )
        if (
            not len(ids)
            == len(loaded.sources)
            == len(loaded.days)
            == len(loaded.seqs)
            == index.size
        ):
            raise ValueError("rows of unequal length")
        loaded._where = {cid: i for i, cid in enumerate(ids)}
        return loaded


class LexicalCache:
    """The current `LexicalRows` of one collection: kept, loaded from disk, caught up.

    `root` is where the saved copy lives (`<root>/index/`); None keeps the index in
    memory only. One catch-up at a time: a question arriving meanwhile waits for it, and
    searches hold the same lock (a catch-up may renumber rows when it merges).
    `full_builds` and `repairs` count the slow paths, so tests can assert they were
    not taken.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._rows: LexicalRows | None = None
        self.full_builds = 0
        self.repairs = 0

    def get(self, source: ChunkSource) -> LexicalRows:
        """The index of the collection as it is now."""
        with self._lock:
            state = source.lexical_state()
            rows = self._rows
            if rows is None or rows.collection != state.collection:
                rows = self._load(state.collection)
            if rows is not None and (rows.revision, rows.count) == (state.revision, state.count):
                self._rows = rows
                return rows
            read_from = None
            if rows is None:
                rows = self._build(source, state)
            else:
                read_from = rows.floor
                self._catch_up(rows, source, state)
            after = source.lexical_state()
            # Read after the tombstones: the store raises its floor before pruning, so any
            # tombstone this catch-up missed is below the floor read now.
            pruned = after.deleted_floor
            if read_from is not None and pruned > max(read_from, rows.horizon):
                # Tombstones of deletions this index has not seen may be gone: only ids can
                # tell which of its chunks Chroma no longer holds.
                self._repair(rows, source)
                rows.horizon = pruned
            elif rows.count != state.count and after == state:
                # Nothing landed meanwhile, yet the counts differ: a gap only ids can find.
                # (When something did land, the next question catches up with it first.)
                self._repair(rows, source)
            rows.revision = state.revision
            self._rows = rows
            if rows.changed > max(64, _RESAVE_SHARE * rows.count):
                self._save(rows)
            return rows

    def search(
        self, source: ChunkSource, query: str, n: int, filters: Filters
    ) -> list[tuple[str, float]]:
        """Search the current index; under the lock, since a catch-up may renumber rows."""
        with self._lock:
            return self.get(source).search(query, n, filters)

    def sources(self, source: ChunkSource) -> set[str]:
        with self._lock:
            return self.get(source).live_sources()

    def _build(self, source: ChunkSource, state: SourceState) -> LexicalRows:
        self.full_builds += 1
        rows = LexicalRows(state.collection)
        rows.add(source.chunks_since(-1))
        rows.floor = state.sequence  # a write in flight now is found by the count check
        rows.changed = max(rows.changed, 1_000_000)  # a first build is always saved
        return rows

    @staticmethod
    def _catch_up(rows: LexicalRows, source: ChunkSource, state: SourceState) -> None:
        """Read what changed since the settled sequence, then settle what is old enough:
        every write that had its sequence `SETTLE_S` before this catch-up began has landed,
        so this catch-up read it and later ones need not."""
        started = time.time()
        rows.add(source.chunks_since(rows.floor))
        for cid, seq in sorted(source.deleted_since(rows.floor), key=lambda t: t[1]):
            rows.remove([cid], before=seq)
        rows.pending.append((started, state.sequence))
        settled = [s for t, s in rows.pending if t + SETTLE_S <= started]
        rows.floor = max([rows.floor, *settled])
        rows.pending = [(t, s) for t, s in rows.pending if t + SETTLE_S > started]

    def _repair(self, rows: LexicalRows, source: ChunkSource) -> None:
        """Make the live chunks Chroma's own by comparing ids (rare: a cut write, chunks
        written by an older version of this program, two writers in a race)."""
        self.repairs += 1
        stored = set(source.chunk_ids())
        live = set(rows.ids)
        rows.remove(live - stored)
        missing = [cid for cid in stored if cid not in live]
        if missing:
            rows.add(source.chunks_by_id(missing))

    def _save(self, rows: LexicalRows) -> None:
        """Write into a temporary folder renamed into place (a reader never sees half an
        index). A folder that cannot be written only costs the next process a catch-up."""
        if self.root is None:
            return
        folder = self.root / "index"
        partial = self.root / f".index.{os.getpid()}.{threading.get_ident()}"
        old = self.root / f".old.{os.getpid()}.{threading.get_ident()}"
        try:
            partial.mkdir(parents=True, exist_ok=True)
            rows.save(partial)
            if folder.exists():
                os.rename(folder, old)
            os.rename(partial, folder)
        except OSError:  # read-only data folder, or another process saved at the same time
            shutil.rmtree(partial, ignore_errors=True)
            return
        shutil.rmtree(old, ignore_errors=True)
        for stray in self.root.iterdir():  # copies in the layout of earlier versions
            if stray.name != "index" and not stray.name.startswith("."):
                shutil.rmtree(stray, ignore_errors=True)

    def _load(self, collection: str) -> LexicalRows | None:
        folder = None if self.root is None else self.root / "index"
        if folder is None or not folder.is_dir():
            return None
        try:
            rows = LexicalRows.load(folder)
        except Exception:  # a damaged save is rebuilt, never trusted
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return rows if rows.collection == collection else None
