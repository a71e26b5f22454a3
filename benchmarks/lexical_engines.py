"""Lexical engines compared at one size: the in-process incremental index, tantivy, FTS5.

All three are fed the same pre-stemmed tokens (`language.text.content_stems_list`, so
tokenisation stays the product's): synthetic chunks mixing sentences of RealTime QA
articles plus rare tokens (as `retrieval.py` synthesises them). Per engine: the time
to index them, the time to add one article of 8 chunks and have it searchable, the
p50 of 50 RealTime QA questions (top 40), and how many of those questions' top 10 sets
(as texts: word-for-word twins tie) equal a bm25s build's over the same chunks (the
index before this change: k1 1.2, b 0.75, Lucene idf). tantivy is optional (`pip
install 'tantivy>=0.27,<0.28'`, or PYTHONPATH to a copy installed with --target);
SQLite's FTS5 ships with Python.

    .venv/bin/python benchmarks/lexical_engines.py --size 100000

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any

import common
import numpy as np
from common import log

from assistant.language.text import sentence_spans
from assistant.retrieval.lexical import LexicalIndex, tokenize


def corpus(size: int, seed: int) -> list[list[str]]:
    articles = common.load_articles([w / "articles.jsonl" for w in common.weeks(None, 2)])
    pool = [a.text[s:e] for a in articles for s, e in sentence_spans(a.text)]
    rng = random.Random(seed)
    texts = []
    for _ in range(size):
        picks = " ".join(pool[rng.randrange(len(pool))] for _ in range(rng.randint(3, 6)))
        rare = " ".join(f"x{rng.randrange(200_000):05d}" for _ in range(3))
        texts.append(tokenize(f"{picks} {rare}") or ["\u2205"])
    return texts


Searcher = Callable[[list[str], int], list[int]]


def ours(docs: list[list[str]]) -> tuple[Searcher, Callable[[list[list[str]]], None]]:
    index = LexicalIndex()
    index.add(docs)
    index.merge()

    def search(query: list[str], n: int) -> list[int]:
        scores = index.token_scores(query)
        top = np.argsort(-scores, kind="stable")[:n]
        return [int(i) for i in top if scores[i] > 0]

    return search, index.add


def tantivy_engine(docs: list[list[str]]) -> tuple[Searcher, Callable[[list[list[str]]], None]]:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", stored=False, tokenizer_name="whitespace")
    builder.add_integer_field("pos", stored=True, fast=True)
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    count = [0]

    def add(more: list[list[str]]) -> None:
        for tokens in more:
            writer.add_document(tantivy.Document(body=" ".join(tokens), pos=count[0]))
            count[0] += 1
        writer.commit()
        index.reload()

    add(docs)

    def search(query: list[str], n: int) -> list[int]:
        terms = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t)) for t in query]
        if not terms:
            return []
        searcher = index.searcher()
        hits = searcher.search(tantivy.Query.boolean_query(terms), n).hits
        return [int(searcher.doc(addr)["pos"][0]) for _, addr in hits]

    return search, add


def fts5_engine(docs: list[list[str]]) -> tuple[Searcher, Callable[[list[list[str]]], None]]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE chunks USING fts5(body, tokenize='unicode61')")

    def add(more: list[list[str]]) -> None:
        db.executemany("INSERT INTO chunks(body) VALUES (?)", [(" ".join(t),) for t in more])
        db.commit()

    add(docs)

    def search(query: list[str], n: int) -> list[int]:
        words = [t for t in query if t.isalnum()]
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        sql = "SELECT rowid FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT ?"
        return [int(r[0]) - 1 for r in db.execute(sql, (match, n))]

    return search, add


def reference(docs: list[list[str]], queries: list[list[str]]) -> list[set[int]]:
    import bm25s

    old = bm25s.BM25(k1=1.2, b=0.75)
    old.index(docs, show_progress=False)
    out = []
    for q in queries:
        known = [t for t in q if t in old.vocab_dict]
        scores = np.asarray(old.get_scores(known)) if known else np.zeros(len(docs))
        out.append({int(i) for i in np.argsort(-scores, kind="stable")[:10] if scores[i] > 0})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    docs = corpus(args.size, args.seed)
    queries = [tokenize(q) for q in common.realtimeqa_questions(common.weeks(None), 50)]
    fresh = corpus(8, args.seed + 1)
    every = docs + fresh
    want = [{" ".join(every[i]) for i in top} for top in reference(every, queries)]
    figures: dict[str, Any] = {"benchmark": "lexical_engines", "size": args.size, "engines": {}}
    rows = []
    makers = {"incremental (ours)": ours, "tantivy": tantivy_engine, "sqlite fts5": fts5_engine}
    for name, make in makers.items():
        try:
            start = time.perf_counter()
            search, add = make(docs)
        except ImportError as exc:
            log(f"{name}: skipped ({exc})")
            continue
        build = time.perf_counter() - start
        start = time.perf_counter()
        add(fresh)
        added = time.perf_counter() - start
        samples, same = [], 0
        for q, w in zip(queries, want, strict=True):
            start = time.perf_counter()
            search(q, 40)
            samples.append(time.perf_counter() - start)
            same += {" ".join(every[i]) for i in search(q, 10)} == w  # twins tie
        got = {
            "index_s": round(build, 2),
            "add_article_s": round(added, 4),
            "p50_ms": round(statistics.median(samples) * 1000, 2),
            "top10_same_as_bm25s": round(same / len(queries), 3),
        }
        figures["engines"][name] = got
        rows.append([name, *got.values()])
        log(f"{name}: {got}")
    print(common.table(rows, ["engine", "index s", "add 8 chunks s", "p50 ms", "top10 = bm25s"]))
    common.emit(figures)


if __name__ == "__main__":
    main()
