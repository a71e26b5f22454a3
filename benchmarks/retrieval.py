"""Retrieval latency (hybrid: question embedding + Chroma dense + BM25 + fusion) at scale.

Targets on this 2-core machine: p50 < 50 ms at 10k chunks, < 200 ms at 100k.

A base set of real chunks is cut from RealTime QA articles (read in place from
../shared/benchmarks/realtimeqa/) with the product's chunker and embedded once.
Larger collections are synthesised from it: each synthetic chunk mixes
sentences of random base chunks plus a few rare tokens (so the BM25 vocabulary
and posting lists grow as in a real corpus, not as exact copies), and its vector
is its first source chunk's vector plus Gaussian noise, re-normalised. Vectors go
straight into the store with `Store.upsert` (no re-embedding), with the same
metadata ingestion writes. The store grows from the first size to the next, and
at each size the RealTime QA questions are asked through `Retriever.retrieve`.
"first query s" includes building (and saving) the BM25 index; "reopened first s"
is the first question of a new store object on the same folder, as a next CLI
process would ask it, which loads the saved index instead.

    .venv/bin/python benchmarks/retrieval.py                       # 10k and 100k
    .venv/bin/python benchmarks/retrieval.py --sizes 10000 --queries 30

The last output line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
from common import log

from assistant.ingest.chunking import chunk_article
from assistant.ingest.pipeline import open_store
from assistant.language.text import sentence_spans
from assistant.models.embedders import make_embedder
from assistant.retrieval.filters import date_ord
from assistant.retrieval.retriever import Retriever

OUTLETS = ["Reuters", "AP", "BBC", "CNN", "Al Jazeera", "The Guardian", "NPR", "DW"]
TARGETS_MS = {10_000: 50.0, 100_000: 200.0}


def base_chunks(
    embedder: Any, settings: Any, week_dirs: list[Path], limit: int
) -> tuple[list[dict[str, Any]], np.ndarray]:
    articles = common.load_articles([w / "articles.jsonl" for w in week_dirs])
    rows: list[dict[str, Any]] = []
    for article in articles:
        for chunk in chunk_article(
            article,
            max_tokens=min(settings.chunk_tokens, embedder.max_tokens),
            overlap_tokens=settings.chunk_overlap_tokens,
            count_tokens=embedder.count_tokens,
        ):
            rows.append({"text": chunk.text, "title": article.title, "article": article.id})
            if len(rows) >= limit:
                break
        if len(rows) >= limit:
            break
    start = time.perf_counter()
    vectors = embedder.embed([r["text"] for r in rows])
    log(f"embedded {len(rows)} base chunks in {time.perf_counter() - start:.1f} s")
    return rows, vectors


def synthesise(
    rows: list[dict[str, Any]],
    vectors: np.ndarray,
    start: int,
    count: int,
    rng: random.Random,
    nrng: np.random.Generator,
    noise: float,
) -> tuple[list[str], np.ndarray, list[str], list[dict[str, Any]]]:
    """Chunks number start..start+count-1 (8 chunks per synthetic article)."""
    pool = [(i, r["text"][s:e]) for i, r in enumerate(rows) for s, e in sentence_spans(r["text"])]
    ids, texts, metas, sources = [], [], [], []
    for n in range(start, start + count):
        picks = [pool[rng.randrange(len(pool))] for _ in range(rng.randint(3, 6))]
        rare = " ".join(f"x{rng.randrange(200_000):05d}" for _ in range(3))
        texts.append(" ".join(text for _, text in picks) + f" {rare}")
        sources.append(picks[0][0])
        article = n // 8
        day = f"20{rng.choice(['23', '24'])}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        ids.append(f"syn{article}#v1#{n % 8}")
        metas.append(
            {
                "article_id": f"syn{article}",
                "title": rows[picks[0][0]]["title"],
                "date": day,
                "date_ord": date_ord(day),
                "source": OUTLETS[article % len(OUTLETS)],
                "url": f"https://example.org/{article}",
                "origin": "synthetic",
                "start": 0,
                "end": len(texts[-1]),
                "chunk_index": n % 8,
                "n_chunks": 8,
                "version": "v1",
                "text_hash": f"h{article}",
            }
        )
    base = vectors[np.asarray(sources)]
    jitter = nrng.normal(0.0, noise, size=base.shape).astype(np.float32)
    mixed = base + jitter
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return ids, mixed.astype(np.float32), texts, metas


class Probe:
    """Per-call timings of the retriever's parts (wrapping the real objects)."""

    def __init__(self, store: Any, embedder: Any) -> None:
        self.parts: dict[str, list[float]] = {}
        self.current: dict[str, float] = {}
        for obj, name in (
            (embedder, "embed_query"),
            (store, "dense_search"),
            (store, "lexical_search"),
            (store, "similarities"),
        ):
            self._wrap(obj, name)

    def _wrap(self, obj: Any, name: str) -> None:
        original = getattr(obj, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.current[name] = self.current.get(name, 0.0) + time.perf_counter() - start

        setattr(obj, name, wrapped)
        self._originals = [*getattr(self, "_originals", []), (obj, name, original)]

    def restore(self) -> None:
        for obj, name, _original in self._originals:
            if name in vars(obj):
                delattr(obj, name)

    def commit(self) -> None:
        for name, value in self.current.items():
            self.parts.setdefault(name, []).append(value)
        self.current = {}


def measure(
    store: Any, embedder: Any, settings: Any, questions: list[str], repeats: int
) -> dict[str, Any]:
    retriever = Retriever(
        store, embedder, fetch_k=settings.fetch_k, max_per_article=settings.max_per_article
    )
    start = time.perf_counter()
    retriever.retrieve(questions[0], settings.k)  # builds the BM25 index (first use)
    first = time.perf_counter() - start
    for q in questions[:3]:
        retriever.retrieve(q, settings.k)  # warm caches
    probe = Probe(store, embedder)
    samples: list[float] = []
    try:
        for _ in range(repeats):
            for q in questions:
                probe.current = {}
                start = time.perf_counter()
                passages = retriever.retrieve(q, settings.k)
                samples.append(time.perf_counter() - start)
                probe.commit()
                assert passages, q
    finally:
        probe.restore()
    figures: dict[str, Any] = {"first_query_s": round(first, 3), **common.summary_ms(samples)}
    figures["parts_p50_ms"] = {
        name: round(common.pct([v * 1000 for v in values], 50), 2)
        for name, values in probe.parts.items()
    }
    return figures


def reopened_first_query(settings: Any, embedder: Any, question: str) -> float:
    """Seconds to the first answer of a new store on the same folder (a next process)."""
    reopened = open_store(settings)
    retriever = Retriever(
        reopened, embedder, fetch_k=settings.fetch_k, max_per_article=settings.max_per_article
    )
    start = time.perf_counter()
    retriever.retrieve(question, settings.k)
    return round(time.perf_counter() - start, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--base", type=int, default=400, help="real chunks embedded once (default 400)"
    )
    parser.add_argument("--weeks", nargs="*", help="RealTime QA weeks for base text and questions")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.03, help="per-dimension noise on vectors")
    parser.add_argument("--seed", type=int, default=7)
    common.add_threads_option(parser)
    args = parser.parse_args()

    week_dirs = common.weeks(args.weeks, None if args.weeks else 1)
    questions = common.realtimeqa_questions(common.weeks(None), args.queries)
    rng, nrng = random.Random(args.seed), np.random.default_rng(args.seed)
    figures: dict[str, Any] = {
        "benchmark": "retrieval",
        **common.machine(),
        "torch_threads": common.apply_threads(args.torch_threads),
        "base_chunks": args.base,
    }
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        settings = common.settings(Path(tmp) / "data")
        embedder = make_embedder(settings)
        rows, vectors = base_chunks(embedder, settings, week_dirs, args.base)
        store = open_store(settings)
        have = 0
        for size in sorted(args.sizes):
            start = time.perf_counter()
            step = 5000
            while have < size:
                n = min(step, size - have)
                ids, vecs, texts, metas = synthesise(rows, vectors, have, n, rng, nrng, args.noise)
                store.upsert(ids, vecs, texts, metas)
                have += n
            build = time.perf_counter() - start
            log(
                f"store at {store.count()} chunks (+{build:.1f} s); "
                f"measuring {len(questions)} questions x {args.repeats}"
            )
            result = measure(store, embedder, settings, questions, args.repeats)
            result["insert_s"] = round(build, 2)
            result["reopened_first_query_s"] = reopened_first_query(
                settings, embedder, questions[0]
            )
            target = TARGETS_MS.get(size)
            result["target_p50_ms"] = target
            result["meets_target"] = None if target is None else result["p50_ms"] < target
            figures[str(size)] = result
            parts = result["parts_p50_ms"]
            rows_out.append(
                [
                    f"{size:,}",
                    result["p50_ms"],
                    result["p95_ms"],
                    target or "",
                    result["first_query_s"],
                    result["reopened_first_query_s"],
                    parts.get("embed_query", 0),
                    parts.get("dense_search", 0),
                    parts.get("lexical_search", 0),
                    parts.get("similarities", 0),
                ]
            )
    print(
        common.table(
            rows_out,
            [
                "chunks",
                "p50 ms",
                "p95 ms",
                "target p50",
                "first query s",
                "reopened first s",
                "embed p50",
                "dense p50",
                "bm25 p50",
                "sims p50",
            ],
        )
    )
    common.emit(figures)


if __name__ == "__main__":
    main()
