"""Embedding models compared on the product's own chunks: alone, with BM25, with the judge.

    python benchmarks/embedders.py ../shared/benchmarks/realtimeqa-check --cache /tmp/emb-check
    python benchmarks/embedders.py DATA --cache DIR --models local:bge-small-en-v1.5

Every week's articles are read, cleaned and chunked as `assistant ingest` does (the
chunks are the same for every model), each model embeds them once into `--cache`, and
every question is answered by exact search over those vectors, so only the model
differs. For each model: dense search alone; fused with BM25 by RRF (the product's
first stage); and that fusion with the cross-encoder re-ordering its top 20 (the shipped
second stage). BM25 alone is the baseline that needs no model. The figures are
benchmarks/realtimeqa.py's: answer_recall@d and mc_acc from the top 4, scored for every
variant by the same fixed scorer (all-MiniLM-L6-v2 similarity breaks its ties). The
judge's scores are kept per (question, passage) in the cache, as judge_inputs.py does.
Each model's embedding rate over the same chunks is printed beside its figures (one run:
the ratio is what to read, the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository on sys.path, offline settings)
import numpy as np
import realtimeqa as rq
from common import log
from judge_inputs import Judge

DEPTHS = (1, 2, 4, 10, 40)
JUDGED = 20  # the shipped rerank depth
SCORER = "local:all-MiniLM-L6-v2"  # the mc scorer's tie-breaker, whatever the models


def week_chunks(week: rq.Week, count_tokens: Any) -> list[str]:
    """The week's chunk texts as ingest makes them: cleaned, deduplicated, sentence-packed."""
    from assistant.base.config import Settings
    from assistant.ingest.chunking import chunk_article
    from assistant.ingest.pipeline import text_hash
    from assistant.ingest.sources import load

    base = Settings(_env_file=None)  # type: ignore[call-arg]
    loaded = load(week.folder / "articles.jsonl", max_bytes=10**10, timeout=1)
    seen: set[str] = set()
    texts: list[str] = []
    for article in loaded.articles:
        if text_hash(article) in seen:
            continue
        seen.add(text_hash(article))
        chunks = chunk_article(
            article,
            max_tokens=base.chunk_tokens,
            overlap_tokens=base.chunk_overlap_tokens,
            count_tokens=count_tokens,
        )
        texts += [c.text for c in chunks]
    return texts


def embedder(spec: str, cache: Path) -> Any:
    from assistant.base.config import Settings
    from assistant.models.embedders import make_embedder

    return make_embedder(Settings(_env_file=None, embeddings=spec, data_dir=cache / "data"))  # type: ignore[call-arg]


def week_vectors(
    week: rq.Week, models: Sequence[str], cache: Path, rates: dict[str, list[float]]
) -> dict[str, Any]:
    """Chunks, and per model the chunk and question vectors, cached per week."""
    saved = cache / f"{week.name}.pkl"
    data: dict[str, Any] = pickle.loads(saved.read_bytes()) if saved.is_file() else {}
    if "chunks" not in data:
        data["chunks"] = week_chunks(week, embedder(SCORER, cache).count_tokens)
    for spec in models:
        if spec in data:
            continue
        model = embedder(spec, cache)
        started = time.perf_counter()
        vectors = model.embed(data["chunks"])
        took = time.perf_counter() - started
        rates.setdefault(spec, []).extend([len(data["chunks"]), took])
        asked = np.array([model.embed_query(q["question"]) for q in week.questions])
        data[spec] = (vectors, asked)
        log(f"week {week.name}: {spec} embedded {len(vectors)} chunks in {took:.0f} s")
        cache.mkdir(parents=True, exist_ok=True)
        saved.write_bytes(pickle.dumps(data))
    return data


def orders(
    week: rq.Week, data: dict[str, Any], models: Sequence[str]
) -> list[dict[str, list[int]]]:
    """Per question, every variant's order of chunk indices (top 40), best first."""
    from assistant.retrieval.lexical import LexicalIndex
    from assistant.retrieval.retriever import rrf

    lexical = LexicalIndex.build(data["chunks"])
    out = []
    for i, q in enumerate(week.questions):
        found = {"bm25": [j for j, _ in lexical.search(q["question"], 40)]}
        for spec in models:
            vectors, asked = data[spec]
            dense = [int(j) for j in np.argsort(-(vectors @ asked[i]), kind="stable")[:40]]
            fused = rrf([dense, found["bm25"]])
            found[f"{short(spec)} dense"] = dense
            found[f"{short(spec)} +bm25"] = sorted(fused, key=lambda j: -fused[j])[:40]
        out.append(found)
    return out


def short(spec: str) -> str:
    return spec.split(":", 1)[1]


def judged(question: str, texts: list[str], judge: Judge) -> list[str]:
    from assistant.models.judge import judged_order

    head = texts[:JUDGED]
    return [head[i] for i in judged_order(judge(question, head))] + texts[JUDGED:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder of <week>/{articles,questions}.jsonl")
    parser.add_argument("--cache", type=Path, required=True, help="folder for vectors and scores")
    parser.add_argument(
        "--models", nargs="+", default=["local:all-MiniLM-L6-v2", "local:bge-small-en-v1.5"]
    )
    parser.add_argument("--weeks", nargs="+", help="only these week folders")
    args = parser.parse_args(argv)
    if not args.data_dir.is_dir():
        parser.error(f"{args.data_dir} is not a folder")
    from assistant.base.config import Settings
    from assistant.models.providers import split_spec

    try:
        for spec in args.models:
            split_spec(spec, ("local",), "embedding model")
            Settings(_env_file=None, embeddings=spec)  # type: ignore[call-arg]
    except Exception as exc:  # a bad spec: one line, before anything loads
        parser.error(str(exc))

    weeks = rq.load_weeks(args.data_dir, args.weeks)
    judge = Judge(args.cache / "judge-scores.pkl")
    mc = rq.Scorer(embedder(SCORER, args.cache), None)
    rates: dict[str, list[float]] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for week in weeks:
        data = week_vectors(week, args.models, args.cache, rates)
        texts = data["chunks"]
        for q, found in zip(week.questions, orders(week, data, args.models), strict=True):
            for name, order in found.items():
                ranked = [texts[j] for j in order]
                variants = {name: ranked}
                if name != "bm25" and not name.endswith("dense"):
                    variants[f"{name} +judge"] = judged(q["question"], ranked, judge)
                for label, got in variants.items():
                    picked = mc.mc_extractive(q["choices"], got[:4])
                    rows.setdefault(label, []).append(rq._row(q, got[:4], picked, got))
        judge.save()  # a stopped run keeps the scores it paid for
    result: dict[str, Any] = {
        "data": str(args.data_dir),
        "questions": sum(len(w.questions) for w in weeks),
        "variants": {n: rq.figures(r, 4, DEPTHS) for n, r in rows.items()},
        "chunks_per_s": {
            s: round(sum(v[0::2]) / max(sum(v[1::2]), 1e-9), 1) for s, v in rates.items()
        },
    }
    header = f"{'variant':<34}" + "".join(f"{'@' + str(d):>7}" for d in DEPTHS) + f"{'mc_acc':>8}"
    log(header)
    for name, fig in result["variants"].items():
        cells = "".join(f"{fig[f'answer_recall@{d}']:>7.3f}" for d in DEPTHS)
        log(f"{name:<34}{cells}{fig['mc_acc']:>8.3f}")
    for spec, rate in result["chunks_per_s"].items():
        log(f"{spec}: {rate} chunks/s (this run's uncached weeks)")
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
