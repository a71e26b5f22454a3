"""BM25 parity: the incremental index ranks RealTime QA chunks as a bm25s build does.

For every week under the given folders, the week's chunks (as `assistant ingest` cuts
them, via `embedders.week_chunks`) are indexed twice: by bm25s (the index before the
incremental one: k1 1.2, b 0.75, Lucene idf) and by `assistant.retrieval.lexical`,
built in two halves with a merge between (a merged base and a delta segment, as writes
leave it). Every question is searched in both; the figures are the
largest score difference and, per depth, the share of questions whose top-d chunk
texts differ (compared as texts: a week holds some chunks twice, word for word, and
which twin wins a tie is arbitrary in both engines; 0.0 means recall@d cannot move,
whatever the labels).

    .venv/bin/python benchmarks/bm25_parity.py ../shared/benchmarks/realtimeqa \
        ../shared/benchmarks/realtimeqa-check

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import common
import numpy as np
import realtimeqa as rq
from embedders import week_chunks

from assistant.retrieval.lexical import LexicalIndex, tokenize

DEPTHS = (1, 2, 4, 10, 20, 40)


def grown(texts: list[str]) -> LexicalIndex:
    """The index as writes leave it: half merged into the base, the rest as a delta."""
    index = LexicalIndex()
    half = len(texts) // 2
    index.add([tokenize(t) for t in texts[:half]])
    index.merge()
    index.add([tokenize(t) for t in texts[half:]])
    return index


def top(scores: np.ndarray, n: int) -> list[int]:
    """The best `n` positions as the product chose them from bm25s's scores (ties too)."""
    n = min(n, int(np.count_nonzero(scores > 0)))
    if n <= 0:
        return []
    best = np.argpartition(-scores, n - 1)[:n]
    return [int(i) for i in best[np.argsort(-scores[best], kind="stable")]]


def week_figures(week: rq.Week, count_tokens: Any) -> dict[str, Any]:
    import bm25s

    texts = week_chunks(week, count_tokens)
    old = bm25s.BM25(k1=1.2, b=0.75)
    old.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
    new = grown(texts)
    differs = dict.fromkeys(DEPTHS, 0)
    worst = 0.0
    for q in week.questions:
        known = [t for t in tokenize(q["question"]) if t in old.vocab_dict]
        want = np.zeros(len(texts), np.float32)
        if known:
            want = np.asarray(old.get_scores(known), dtype=np.float32)
        got = new.scores(q["question"])
        worst = max(worst, float(np.abs(want - got).max(initial=0.0)))
        for d in DEPTHS:
            top_old = {texts[i] for i in top(want, d)}
            top_new = {texts[i] for i, _ in new.search(q["question"], d)}
            differs[d] += top_old != top_new
    n = max(1, len(week.questions))
    return {
        "chunks": len(texts),
        "questions": len(week.questions),
        "max_score_diff": worst,
        "topd_sets_differ": {str(d): round(v / n, 4) for d, v in differs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    from assistant.base.config import Settings
    from assistant.models.embedders import make_embedder

    counter = make_embedder(Settings(_env_file=None)).count_tokens  # type: ignore[call-arg]
    figures: dict[str, Any] = {"benchmark": "bm25_parity", "weeks": {}}
    rows = []
    for folder in args.folders:
        for week in rq.load_weeks(folder, None):
            got = week_figures(week, counter)
            figures["weeks"][f"{folder.name}/{week.name}"] = got
            differ = got["topd_sets_differ"]
            rows.append(
                [f"{folder.name}/{week.name}", got["chunks"], f"{got['max_score_diff']:.1e}"]
            )
            rows[-1] += [differ[str(d)] for d in DEPTHS]
    print(common.table(rows, ["week", "chunks", "max |Δscore|", *(f"≠@{d}" for d in DEPTHS)]))
    common.emit(figures)


if __name__ == "__main__":
    main()
