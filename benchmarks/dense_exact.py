"""Is Chroma's dense search exact? Its top k against the exact top k, per HNSW breadth.

    python benchmarks/dense_exact.py /tmp/jc-check --data ../shared/benchmarks/realtimeqa-check
    python benchmarks/dense_exact.py CACHE --data DATA --ef 100 400 800 --k 40

Reads the stores that `benchmarks/judge_inputs.py` built under CACHE (one embedded Chroma
per week), embeds each week's questions with the product's embedder, and for every
search breadth (`ef_search`) counts the questions whose Chroma top k is not the exact
top k (cosine over every stored vector with numpy) and the exact neighbours it missed,
with the mean query time. An inexact search also varies from one ingest to the next
(Chroma's index build is not reproducible), which is why `ASSISTANT_SEARCH_EF` exists.
The stores' breadth is left as the product sets it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path, offline settings)
import numpy as np
from common import log


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path, help="a judge_inputs.py --cache folder")
    parser.add_argument("--data", type=Path, required=True, help="the weeks' questions")
    parser.add_argument("--ef", type=int, nargs="+", default=[100, 400, 800])
    parser.add_argument("--k", type=int, default=40)
    args = parser.parse_args(argv)
    weeks = sorted(p for p in args.cache.iterdir() if (p / "chroma.sqlite3").is_file())
    if not weeks:
        parser.error(f"{args.cache} holds no week stores: run benchmarks/judge_inputs.py first")
    if bad := [w.name for w in weeks if not (args.data / w.name / "questions.jsonl").is_file()]:
        parser.error(f"{args.data} has no questions for {', '.join(bad)}")

    import chromadb
    from chromadb.api.client import SharedSystemClient

    from assistant.base.config import Settings
    from assistant.models.embedders import make_embedder

    embedder = make_embedder(Settings(_env_file=None))  # type: ignore[call-arg]
    totals: dict[int, list[float]] = {ef: [0, 0, 0.0] for ef in args.ef}  # inexact, missed, s
    asked = 0
    for week in weeks:
        client = chromadb.PersistentClient(path=str(week))
        # The chunks' collection, not its side collection of deletions (`<name>.deleted`).
        names = [c.name for c in client.list_collections() if not c.name.endswith(".deleted")]
        collection = client.get_collection(names[0])
        kept = (collection.configuration.get("hnsw") or {}).get("ef_search", 100)
        got = collection.get(include=["embeddings"])
        ids, stored = got["ids"], np.asarray(got["embeddings"], dtype=np.float64)
        stored /= np.linalg.norm(stored, axis=1, keepdims=True)
        lines = (args.data / week.name / "questions.jsonl").read_text(encoding="utf-8")
        questions = [json.loads(line)["question"] for line in lines.splitlines() if line]
        vectors = [np.asarray(embedder.embed_query(q), dtype=np.float64) for q in questions]
        asked += len(questions)
        for ef in args.ef:
            collection.modify(configuration={"hnsw": {"ef_search": ef}})
            # A loaded index keeps the breadth it was loaded with: drop it and reopen.
            SharedSystemClient.clear_system_cache()
            client = chromadb.PersistentClient(path=str(week))
            collection = found = client.get_collection(collection.name)
            for v in vectors:
                exact = {ids[i] for i in np.argsort(-(stored @ (v / np.linalg.norm(v))))[: args.k]}
                started = time.perf_counter()
                top = found.query(query_embeddings=[v.tolist()], n_results=args.k)["ids"][0]
                totals[ef][2] += time.perf_counter() - started
                lost = len(exact - set(top))
                totals[ef][0] += lost > 0
                totals[ef][1] += lost
        collection.modify(configuration={"hnsw": {"ef_search": kept}})
        log(f"week {week.name}: {len(ids)} chunks, {len(questions)} questions")
    log(f"{'ef_search':>9} {'inexact':>8} {'of':>4} {'missed':>7} {'ms/query':>9}")
    for ef, (inexact, missed, seconds) in totals.items():
        log(f"{ef:>9} {inexact:>8.0f} {asked:>4} {missed:>7.0f} {1000 * seconds / asked:>9.1f}")
    result = {str(ef): {"inexact": int(t[0]), "missed": int(t[1])} for ef, t in totals.items()}
    print(json.dumps({"k": args.k, "questions": asked, "ef": result}, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
