"""Ingestion speed: the pipeline against raw embedding and the LangChain tutorial.

Two corpora, each ingested into a fresh temporary store:
  * seeds: the five seed articles replicated --copies times (distinct ids, and a
    distinct last line so the copies are not skipped as duplicates);
  * realtimeqa: the articles of the chosen RealTime QA weeks, read in place
    from ../shared/benchmarks/realtimeqa/ with the product's own reader.
For each: chunks/s of the whole pipeline (read, clean, dedupe, chunk, embed,
write Chroma + metadata) next to the raw embedding rate of exactly the same
chunk texts with the same model in the same run (measured right before and right
after the pipeline, averaged), and their ratio (goal >= 0.9).

Then the LangChain tutorial pipeline on the same RealTime QA records:
RecursiveCharacterTextSplitter(1000, 200) + the same embedding model +
langchain_chroma.Chroma. Goal: our time <= 0.8 of its time.

    .venv/bin/python benchmarks/ingest.py                 # all weeks (slow: ~12 MB of text)
    .venv/bin/python benchmarks/ingest.py --weeks 20240405 --articles 60 --copies 10

The last output line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import common
from common import log

import assistant.ingest.pipeline as ingest_module
from assistant.ingest.pipeline import Ingestor, open_store
from assistant.models.embedders import make_embedder


class TimedEmbedder:
    """Delegates to the real embedder; records the texts it embeds and the time spent."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.texts: list[str] = []
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed(self, texts: Any, progress: Any = None) -> Any:
        start = time.perf_counter()
        out = self._inner.embed(texts, progress=progress)
        self.seconds += time.perf_counter() - start
        self.texts.extend(texts)
        return out


def run_pipeline(embedder: Any, articles_fn: Any, root: Path, name: str) -> dict[str, Any]:
    """Read (via `articles_fn`) and ingest into a fresh store; time each phase."""
    data = root / name
    settings = common.settings(data)
    timed = TimedEmbedder(embedder)
    phases: dict[str, float] = {}
    original_chunker = ingest_module.chunk_article

    def chunk_timed(*args: Any, **kwargs: Any) -> Any:
        with common.timer(phases, "chunk"):
            return original_chunker(*args, **kwargs)

    ingest_module.chunk_article = chunk_timed
    try:
        start = time.perf_counter()
        with common.timer(phases, "read_clean"):
            articles = articles_fn()
        store = open_store(settings)
        original_upsert = store.upsert

        def upsert_timed(*args: Any, **kwargs: Any) -> None:
            with common.timer(phases, "store_write"):
                original_upsert(*args, **kwargs)

        store.upsert = upsert_timed  # type: ignore[method-assign]
        report = Ingestor(settings, store, timed).ingest_articles(articles)
        total = time.perf_counter() - start
    finally:
        ingest_module.chunk_article = original_chunker
    phases["embed"] = timed.seconds
    phases["other"] = total - sum(phases.values())
    return {
        "articles": len(articles),
        "ingested": len(report.ingested),
        "duplicates": len(report.duplicates),
        "chunks": report.chunks,
        "chars_embedded": sum(len(t) for t in timed.texts),
        "tokens_embedded": model_tokens(embedder, timed.texts),
        "seconds": total,
        "chunks_per_s": report.chunks / total if total else 0.0,
        "phases_s": {k: round(v, 3) for k, v in phases.items()},
        "texts": timed.texts,
    }


def model_tokens(embedder: Any, texts: list[str]) -> int:
    """Word pieces the model actually reads: text + [CLS]/[SEP], cut at its window."""
    window = embedder.max_tokens + 2
    return sum(min(n + 2, window) for n in embedder.count_tokens(texts)) if texts else 0


def chunk_texts(embedder: Any, articles: list[Any]) -> list[str]:
    """The chunk texts ingestion will embed (same chunker, same settings), computed untimed."""
    settings = common.settings(Path(tempfile.gettempdir()) / "unused")
    return [
        c.text
        for a in articles
        for c in ingest_module.chunk_article(
            a,
            max_tokens=min(settings.chunk_tokens, embedder.max_tokens),
            overlap_tokens=settings.chunk_overlap_tokens,
            count_tokens=embedder.count_tokens,
        )
    ]


def raw_embedding(embedder: Any, texts: list[str]) -> float:
    start = time.perf_counter()
    embedder.embed(texts)
    return time.perf_counter() - start


def bracketed_run(embedder: Any, articles_fn: Any, root: Path, name: str) -> tuple[Any, Any]:
    """Raw embedding of the same chunks right before and right after the pipeline run.

    Other processes share the 2 cores; bracketing cancels slow drifts in their load.
    """
    before_texts = chunk_texts(embedder, articles_fn())
    before = raw_embedding(embedder, before_texts)
    run = run_pipeline(embedder, articles_fn, root, name)
    texts = run.pop("texts")
    if sorted(texts) != sorted(before_texts):
        log(f"warning: {name}: the pipeline embedded other texts than the chunker preview")
    after = raw_embedding(embedder, texts)
    seconds = (before + after) / 2
    raw = {
        "chunks": len(texts),
        "seconds": seconds,
        "seconds_before_after": [round(before, 3), round(after, 3)],
        "chunks_per_s": len(texts) / seconds if seconds else 0.0,
    }
    return run, raw


def langchain_tutorial(embedder: Any, records: list[dict[str, Any]], root: Path) -> dict[str, Any]:
    """The tutorial pipeline: split 1000/200, embed with the same model, store in Chroma."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    class Counting:
        """The same LocalEmbeddings object, counting what LangChain asks it to embed."""

        def __init__(self) -> None:
            self.chunks = 0
            self.seconds = 0.0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            start = time.perf_counter()
            out = embedder.embed_documents(texts)
            self.seconds += time.perf_counter() - start
            self.chunks += len(texts)
            return out

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text)

    counting = Counting()
    start = time.perf_counter()
    docs = [
        Document(
            page_content=r["text"],
            metadata={"id": r["id"], "title": r.get("title", ""), "url": r.get("url", "")},
        )
        for r in records
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    Chroma.from_documents(
        documents=splits,
        embedding=counting,  # type: ignore[arg-type]
        persist_directory=str(root / "langchain"),
        collection_name="tutorial",
    )
    seconds = time.perf_counter() - start
    return {
        "chunks": len(splits),
        "chars_embedded": sum(len(d.page_content) for d in splits),
        "tokens_embedded": model_tokens(embedder, [d.page_content for d in splits]),
        "tokens_truncated": sum(
            max(0, n - embedder.max_tokens)
            for n in embedder.count_tokens([d.page_content for d in splits])
        ),
        "seconds": seconds,
        "embed_seconds": counting.seconds,
        "chunks_per_s": len(splits) / seconds if seconds else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", nargs="*", help="RealTime QA week folders (default: all)")
    parser.add_argument("--n-weeks", type=int, help="only the first N weeks")
    parser.add_argument("--articles", type=int, help="only the first N RealTime QA articles")
    parser.add_argument("--copies", type=int, default=20, help="seed replicas (default 20)")
    parser.add_argument("--skip-langchain", action="store_true")
    common.add_threads_option(parser)
    args = parser.parse_args()

    week_dirs = common.weeks(args.weeks, args.n_weeks)
    figures: dict[str, Any] = {
        "benchmark": "ingest",
        **common.machine(),
        "torch_threads": common.apply_threads(args.torch_threads),
    }
    figures["weeks"] = [w.name for w in week_dirs]

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        base = common.settings(root / "probe")
        start = time.perf_counter()
        embedder = make_embedder(base)
        embedder.embed(["warm up the model", "a second short text"] * 8)
        figures["model_load_s"] = round(time.perf_counter() - start, 3)
        log(f"model loaded in {figures['model_load_s']} s")

        seeds = common.load_articles([common.SEEDS])
        corpus = common.replicate(seeds, args.copies)
        log(f"seeds x{args.copies}: {len(corpus)} articles")
        seeds_run, seeds_raw = bracketed_run(embedder, lambda: corpus, root, "seeds")
        gc.collect()

        records = common.raw_records(week_dirs)
        if args.articles:
            records = records[: args.articles]
        wanted = {r["id"] for r in records}
        paths = [w / "articles.jsonl" for w in week_dirs]

        def read_rtqa() -> list[Any]:
            return [a for a in common.load_articles(paths) if a.id in wanted]

        log(f"realtimeqa: {len(records)} records from {len(week_dirs)} week(s)")
        rtqa_run, rtqa_raw = bracketed_run(embedder, read_rtqa, root, "realtimeqa")
        gc.collect()
        tutorial = None if args.skip_langchain else langchain_tutorial(embedder, records, root)

    rows = []
    for name, run, raw in (("seeds", seeds_run, seeds_raw), ("realtimeqa", rtqa_run, rtqa_raw)):
        run["raw_embed_chunks_per_s"] = raw["chunks_per_s"]
        run["raw_embed_seconds"] = raw["seconds"]
        run["raw_embed_seconds_before_after"] = raw["seconds_before_after"]
        run["ratio_to_raw"] = (
            run["chunks_per_s"] / raw["chunks_per_s"] if raw["chunks_per_s"] else 0.0
        )
        figures[name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}
        rows.append(
            [
                f"{name} pipeline",
                run["articles"],
                run["chunks"],
                run["seconds"],
                run["chunks_per_s"],
                raw["chunks_per_s"],
                run["ratio_to_raw"],
            ]
        )
    if tutorial:
        figures["langchain_tutorial"] = {
            k: round(v, 3) if isinstance(v, float) else v for k, v in tutorial.items()
        }
        ratio = rtqa_run["seconds"] / tutorial["seconds"]
        figures["realtimeqa_time_vs_langchain"] = round(ratio, 3)
        rows.append(
            [
                "realtimeqa LangChain tutorial",
                len(records),
                tutorial["chunks"],
                tutorial["seconds"],
                tutorial["chunks_per_s"],
                "",
                "",
            ]
        )
    print(
        table_text := common.table(
            rows,
            [
                "run",
                "articles",
                "chunks",
                "seconds",
                "chunks/s",
                "raw embed chunks/s",
                "pipeline/raw",
            ],
        )
    )
    del table_text
    print()
    for name in ("seeds", "realtimeqa"):
        print(f"{name} phases (s): {figures[name]['phases_s']}")
    print(
        f"goal pipeline/raw >= 0.9: seeds {figures['seeds']['ratio_to_raw']:.2f}, "
        f"realtimeqa {figures['realtimeqa']['ratio_to_raw']:.2f}"
    )
    if tutorial:
        print(
            "goal realtimeqa time <= 0.8 x LangChain tutorial: "
            f"{figures['realtimeqa_time_vs_langchain']:.2f} "
            f"({rtqa_run['seconds']:.1f} s vs {tutorial['seconds']:.1f} s; "
            f"chars embedded {rtqa_run['chars_embedded']:,} vs {tutorial['chars_embedded']:,}; "
            f"model tokens {rtqa_run['tokens_embedded']:,} vs {tutorial['tokens_embedded']:,}, "
            f"the tutorial's chunks lose {tutorial['tokens_truncated']:,} tokens to truncation)"
        )
    common.emit(figures)


if __name__ == "__main__":
    main()
