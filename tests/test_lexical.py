"""The incremental BM25 index: scores equal to a fresh bm25s build, writes applied without
a rebuild, deletions never served, a saved copy picked up by the next process, and the
repair path for a write it could not see in order (a source in memory); then pruned
tombstones, over a real embedded Chroma store: the side collection stays bounded, and a
follower behind the pruned ones compares ids while one ahead of them does not."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_settings

from assistant.retrieval import lexical
from assistant.retrieval.filters import Filters
from assistant.retrieval.lexical import (
    ChunkRows,
    LexicalCache,
    LexicalIndex,
    SourceState,
    Tombstones,
    tokenize,
)
from assistant.retrieval.store import Store


class MemorySource:
    """A collection in memory that writes like the store: a sequence per write, stamped
    on chunks and on tombstones, and a revision renewed by every write."""

    def __init__(self) -> None:
        self.chunks: dict[str, tuple[str, dict[str, Any]]] = {}
        self.tombstones: dict[str, int] = {}
        self.sequence = 0
        self.revision = "r0"
        self.full_reads = 0

    def write(self, rows: dict[str, str], source: str = "Wire", day: int = 1) -> int:
        self.sequence += 1
        for cid, text in rows.items():
            meta = {"source": source, "date_ord": day, "title": "", "seq": self.sequence}
            self.chunks[cid] = (text, meta)
        self.revision = uuid.uuid4().hex
        return self.sequence

    def delete(self, ids: Sequence[str]) -> None:
        self.sequence += 1
        for cid in ids:
            self.chunks.pop(cid, None)
            self.tombstones[cid] = self.sequence
        self.revision = uuid.uuid4().hex

    def lexical_state(self) -> SourceState:
        return SourceState("c1", self.revision, len(self.chunks), self.sequence)

    def chunks_since(self, sequence: int) -> ChunkRows:
        if sequence < 0:
            self.full_reads += 1
        return [
            (cid, text, meta)
            for cid, (text, meta) in self.chunks.items()
            if int(meta.get("seq", -1)) > sequence or sequence < 0
        ]

    def deleted_since(self, sequence: int) -> Tombstones:
        return [(cid, seq) for cid, seq in self.tombstones.items() if seq > sequence]

    def chunk_ids(self) -> list[str]:
        return list(self.chunks)

    def chunks_by_id(self, ids: Sequence[str]) -> ChunkRows:
        return [(cid, *self.chunks[cid]) for cid in ids if cid in self.chunks]


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [f"term{i}" for i in range(400)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(0, 50))) for _ in range(n)]


def _bm25s_scores(texts: list[str], query: str) -> np.ndarray:
    import bm25s

    old = bm25s.BM25(k1=1.2, b=0.75)
    old.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
    known = [t for t in tokenize(query) if t in old.vocab_dict]
    if not known:
        return np.zeros(len(texts), np.float32)
    return np.asarray(old.get_scores(known), dtype=np.float32)


@pytest.mark.parametrize("query", ["term1 term2", "term7 term7 term300 term9", "absent words"])
def test_scores_equal_a_fresh_bm25s_build(query: str) -> None:
    texts = _corpus(600, seed=1)
    # bit for bit: the same float operations in the same order as bm25s
    np.testing.assert_array_equal(
        LexicalIndex.build(texts).scores(query), _bm25s_scores(texts, query)
    )


def test_an_index_grown_and_pruned_scores_like_a_build_of_what_is_left() -> None:
    texts = _corpus(900, seed=2)
    grown = LexicalIndex()
    grown.add([tokenize(t) for t in texts[:300]])
    grown.merge()
    grown.add([tokenize(t) for t in texts[300:]])  # a delta beside the merged base
    gone = list(range(0, 900, 7))
    grown.remove(gone)
    kept = [t for i, t in enumerate(texts) if i % 7]
    want = _bm25s_scores(kept, "term3 term44 term150")
    got = grown.scores("term3 term44 term150")[np.flatnonzero(grown.alive)]
    np.testing.assert_array_equal(got, want)
    grown.merge()
    np.testing.assert_array_equal(grown.scores("term3 term44 term150"), want)


def _seeded(n: int = 200) -> MemorySource:
    source = MemorySource()
    texts = _corpus(n, seed=3)
    for start in range(0, n, 20):
        source.write({f"a{i}#0": texts[i] for i in range(start, start + 20)})
    return source


def test_a_new_article_is_found_without_a_rebuild() -> None:
    source = _seeded()
    cache = LexicalCache(None)
    first = cache.get(source)
    indexed = first.index.indexed
    source.write({"fresh#0": "the quokkaville ferry reopened", "fresh#1": "term1 term2"})
    rows = cache.get(source)
    assert [cid for cid, _ in rows.search("quokkaville", 3, Filters())] == ["fresh#0"]
    assert rows.index.indexed - indexed == 2, "only the new article's chunks were tokenised"
    assert (cache.full_builds, cache.repairs, source.full_reads) == (1, 0, 1)


def test_a_removed_article_is_never_served_and_filters_hold() -> None:
    source = _seeded()
    cache = LexicalCache(None)
    source.write({"x#0": "zebrafinch harbour strike"}, source="Outlet A", day=5)
    source.write({"y#0": "zebrafinch harbour strike"}, source="Outlet B", day=9)
    rows = cache.get(source)
    assert {c for c, _ in rows.search("zebrafinch", 5, Filters())} == {"x#0", "y#0"}
    only_b = rows.search("zebrafinch", 5, Filters(sources=("Outlet B",)))
    assert [c for c, _ in only_b] == ["y#0"]
    source.delete(["x#0"])
    rows = cache.get(source)
    assert [c for c, _ in rows.search("zebrafinch", 5, Filters())] == ["y#0"]
    assert "Outlet A" not in rows.live_sources()
    source.write({"x#0": "zebrafinch again"}, source="Outlet A", day=5)  # re-added later
    rows = cache.get(source)
    assert {c for c, _ in rows.search("zebrafinch", 5, Filters())} == {"x#0", "y#0"}
    assert cache.full_builds == 1 and cache.repairs == 0


def test_a_new_process_loads_the_saved_copy_and_catches_up(tmp_path: Path) -> None:
    source = _seeded()
    LexicalCache(tmp_path).get(source)  # the first process builds and saves
    source.write({"later#0": "a marmotfield bridge"})
    source.delete(["a5#0"])
    second = LexicalCache(tmp_path)
    rows = second.get(source)
    assert second.full_builds == 0 and source.full_reads == 1
    assert rows.index.indexed == 1, "one chunk read on top of the saved copy"
    assert [c for c, _ in rows.search("marmotfield", 2, Filters())] == ["later#0"]
    assert "a5#0" not in rows.ids and rows.count == len(source.chunks)


def test_a_damaged_saved_copy_is_rebuilt(tmp_path: Path) -> None:
    source = _seeded()
    LexicalCache(tmp_path).get(source)
    (tmp_path / "index" / "rows.json").write_text('{"ids": ', encoding="utf-8")
    again = LexicalCache(tmp_path)
    assert again.get(source).count == len(source.chunks) and again.full_builds == 1


def test_a_write_that_landed_out_of_order_is_repaired_by_count() -> None:
    """Two writers raced: the later sequence was read first, then the earlier one landed
    (its chunks carry a sequence below what the reader has settled). The count differs,
    so the reader compares ids and indexes the missing chunks."""
    source = _seeded()
    cache = LexicalCache(None)
    rows = cache.get(source)
    rows.floor = source.sequence + 5  # as if later writes had been settled already
    source.write({"late#0": "an owlbridge ferry"})
    rows = cache.get(source)
    assert [c for c, _ in rows.search("owlbridge", 2, Filters())] == ["late#0"]
    assert cache.repairs == 1 and rows.count == len(source.chunks)


def test_writes_in_flight_are_read_again_until_they_settle(monkeypatch: Any) -> None:
    source = _seeded()
    cache = LexicalCache(None)
    rows = cache.get(source)
    source.write({"one#0": "term1"})
    cache.get(source)
    floor = rows.floor
    source.write({"two#0": "term2"})
    cache.get(source)
    assert rows.floor == floor, "a write seen less than SETTLE_S ago is not settled"
    now = time.time()
    monkeypatch.setattr(lexical.time, "time", lambda: now + lexical.SETTLE_S + 1)
    source.write({"three#0": "term3"})
    cache.get(source)
    assert rows.floor > floor


# --- pruned tombstones (a real embedded Chroma store) --------------------------------------


def _chroma_store(tmp_path: Path, keep: int) -> Store:
    return Store(make_settings(tmp_path / "data"), "prune", {}, keep_tombstones=keep)


def _ingest(store: Store, chunks: dict[str, str]) -> None:
    """Store chunks with a placeholder vector (BM25 is what is under test)."""
    ids = list(chunks)
    metas = [
        {"article_id": cid.split("#")[0], "title": "", "date": "unknown", "source": "Wire"}
        for cid in ids
    ]
    vectors = np.full((len(ids), 3), 1 / np.sqrt(3), np.float32)
    store.upsert(ids, vectors, [chunks[cid] for cid in ids], metas)


def _found(cache: LexicalCache, store: Store) -> set[str]:
    """Every chunk the cache's index serves (each chunk's text says "harbour")."""
    return {cid for cid, _ in cache.search(store, "harbour", 1000, Filters())}


def test_tombstones_stay_bounded_and_no_deleted_chunk_is_served(tmp_path: Path) -> None:
    keep, batch = 4, 3
    store = _chroma_store(tmp_path, keep)
    reader = LexicalCache(None)  # another process, catching up after every round
    live: set[str] = set()
    gone: set[str] = set()
    for r in range(14):
        fresh = {f"r{r}#{i}": f"harbour strike, round {r}" for i in range(batch)}
        if r >= 3 and r % 3 == 0:
            fresh[f"r{r - 3}#0"] = "harbour strike, back again"  # deleted two rounds ago
        _ingest(store, fresh)
        live |= set(fresh)
        gone -= set(fresh)
        if r:
            old = [f"r{r - 1}#{i}" for i in range(batch)]
            store.delete(old)
            live -= set(old)
            gone |= set(old)
        assert int(store._deleted.count()) <= 2 * keep + batch
        found = _found(reader, store)
        assert not found & gone, "a deleted chunk was served"
        assert found == live
    assert store.lexical_state().deleted_floor > 0, "tombstones were pruned"
    assert reader.repairs >= 1, "the reader fell behind the pruned tombstones and compared ids"


def test_a_follower_behind_pruned_tombstones_repairs_by_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process saved its index, then stopped; eight deletions later (tombstones of the
    first four pruned) a new process loads the saved copy while another write lands. The
    count check cannot run (a write landed), so without the floor check the chunks whose
    tombstones are gone (a0..a3) would be served."""
    store = _chroma_store(tmp_path, keep=3)
    _ingest(store, {f"a{i}#0": f"harbour strike {i}" for i in range(10)})
    LexicalCache(tmp_path / "follower").get(store)  # builds and saves (floor: this write)
    saved_floor = store.lexical_state().sequence
    for i in range(8):
        store.delete([f"a{i}#0"])
    pruned = store.lexical_state().deleted_floor
    assert pruned > saved_floor and len(list(store.deleted_since(saved_floor))) < 8
    reading = store.chunks_since

    def landing(sequence: int) -> ChunkRows:
        rows = list(reading(sequence))
        _ingest(store, {"late#0": "harbour strike, late"})  # lands mid-catch-up
        return rows

    monkeypatch.setattr(store, "chunks_since", landing)
    follower = LexicalCache(tmp_path / "follower")
    found = _found(follower, store)
    assert not found & {f"a{i}#0" for i in range(8)}, "a deleted chunk was served"
    assert found == {"a8#0", "a9#0", "late#0"}
    assert follower.full_builds == 0, "the saved copy was loaded"
    assert follower.repairs == 1
    monkeypatch.setattr(store, "chunks_since", reading)
    _ingest(store, {"later#0": "harbour strike, later"})
    assert _found(follower, store) == {"a8#0", "a9#0", "late#0", "later#0"}
    assert follower.repairs == 1, "one id comparison per floor, not one per question"


def test_a_follower_ahead_of_pruned_tombstones_catches_up_from_them_alone(tmp_path: Path) -> None:
    store = _chroma_store(tmp_path, keep=3)
    _ingest(store, {f"a{i}#0": f"harbour strike {i}" for i in range(12)})
    for i in range(8):
        store.delete([f"a{i}#0"])
    before = store.lexical_state().deleted_floor
    follower = LexicalCache(None)
    floor = follower.get(store).floor
    assert 0 < before < floor
    for i in range(8, 11):  # enough tombstones to prune again, up to the follower's floor
        store.delete([f"a{i}#0"])
    _ingest(store, {"late#0": "harbour strike, late"})
    assert before < store.lexical_state().deleted_floor <= floor
    assert _found(follower, store) == {"a11#0", "late#0"}
    assert (follower.full_builds, follower.repairs) == (1, 0)
