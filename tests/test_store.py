"""The Chroma store's dense search over a real Chroma (embedded, and a `chroma run` server):
the exact nearest chunks, so the same articles give the same passages however the index
happened to be built."""

from __future__ import annotations

from pathlib import Path

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from conftest import make_settings

from assistant.ingest.pipeline import open_store
from assistant.retrieval.filters import Filters
from assistant.retrieval.store import Store

DIM = 384  # the embedding model's width


def _unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _searched_exactly(store: Store, seed: int) -> None:
    """1,500 random chunks stored; 20 random questions each get their exact 40 nearest."""
    chunks = _unit(1500, seed=seed)
    ids = [f"a{i}#v#0" for i in range(len(chunks))]
    metas = [{"article_id": f"a{i}", "title": "t", "date": "2024-01-01"} for i in range(len(ids))]
    store.upsert(ids, chunks, ["text"] * len(ids), metas)
    for query in _unit(20, seed=seed + 1):
        found = {p.chunk_id for p, _ in store.dense_search(query.tolist(), 40, Filters())}
        assert found == {ids[i] for i in np.argsort(-(chunks @ query))[:40]}


def test_dense_search_returns_the_exact_nearest_chunks(tmp_path: Path) -> None:
    # Random directions are the hardest case for a graph index: at Chroma's default
    # breadth (100) nearly every query here misses some of its exact 40 neighbours.
    _searched_exactly(open_store(make_settings(tmp_path)), seed=1)


def test_an_older_collection_is_searched_at_the_configured_breadth(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, search_ef=321)
    name = open_store(make_settings(tmp_path)).name
    client = chromadb.PersistentClient(
        path=str(tmp_path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.get_collection(name).modify(configuration={"hnsw": {"ef_search": 100}})
    open_store(settings)  # an older collection, made at Chroma's default, opened again
    hnsw = client.get_collection(name).configuration.get("hnsw") or {}
    assert hnsw.get("ef_search") == 321


def test_a_chroma_server_searches_the_products_collection_exactly(
    tmp_path: Path, chroma_server: str
) -> None:
    settings = make_settings(tmp_path, chroma_url=chroma_server, collection="exact")
    _searched_exactly(open_store(settings), seed=3)


# --- the BM25 side follows every write without a rebuild ---------------------------------


def _write(store: Store, article: str, texts: list[str], seed: int) -> list[str]:
    ids = [f"{article}#v1#{i}" for i in range(len(texts))]
    metas = [
        {"article_id": article, "title": article, "date": "2024-05-01", "source": "Wire"}
        for _ in ids
    ]
    store.upsert(ids, _unit(len(ids), seed=seed), texts, metas)
    return ids


def _lexical_articles(store: Store, query: str) -> list[str]:
    return [p.article_id for p, _ in store.lexical_search(query, 10, Filters())]


def _follows_writes(reader: Store, writer: Store) -> None:
    """`writer` adds and removes articles; `reader`, which built its index once, finds each
    new one by a word only it contains and never serves a removed one, tokenising only
    the chunks that changed."""
    for n in range(30):
        _write(writer, f"base{n}", [f"Harbour report number {n}", "Ferry timetable"], seed=n)
    assert _lexical_articles(reader, "harbour") and reader._lexical.full_builds == 1
    indexed = reader._lexical_index().index.indexed
    new_ids = _write(writer, "fresh", ["The Quillorbant bridge opened", "Ferry"], seed=99)
    assert _lexical_articles(reader, "Quillorbant") == ["fresh"]
    assert reader._lexical_index().index.indexed - indexed == len(new_ids)
    writer.delete(new_ids)
    assert _lexical_articles(reader, "Quillorbant") == []
    assert not set(new_ids) & set(reader._lexical_index().ids)
    assert reader._lexical.full_builds == 1 and reader._lexical.repairs == 0
    assert reader._lexical_index().count == reader.count() == 60


def test_the_bm25_index_follows_writes_without_a_rebuild(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    _follows_writes(open_store(settings), open_store(settings))


def test_a_second_process_on_a_chroma_server_catches_up_with_writes_it_did_not_make(
    tmp_path: Path, chroma_server: str
) -> None:
    """Two app processes (two stores with their own data folders) on one Chroma server."""
    reader = open_store(make_settings(tmp_path / "a", chroma_url=chroma_server, collection="two"))
    writer = open_store(make_settings(tmp_path / "b", chroma_url=chroma_server, collection="two"))
    _follows_writes(reader, writer)
    third = open_store(make_settings(tmp_path / "a", chroma_url=chroma_server, collection="two"))
    assert _lexical_articles(third, "harbour") and third._lexical.full_builds == 0, (
        "a new process on the same host starts from the saved copy"
    )
