"""Hybrid retrieval: dense (Chroma) + lexical (BM25), fused, date-aware, diversified.

Reciprocal rank fusion merges the two rankings, so neither score scale has to
be calibrated against the other. A question that names a year or month, or
asks for the latest/earliest, adds a third ranking by the articles' dates.
An optional cross-encoder (`rerank.py`) re-orders the best fused candidates; with a
late-interaction model as well, that model orders a deeper set first and the
cross-encoder re-orders the head of its order (a cascade, the two orders fused). The
final pick spreads passages across articles instead of returning k chunks of one
article. Each stage can be switched off (`Components`) and is measured on its
own by the benchmark's ablation. This module embeds the question and may call
the reranker; it never calls a chat model.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from ..base.schema import Passage
from ..language.dates import DateIntent, date_intent
from ..models.embedders import Embedder
from ..models.judge import Reranker, judged_order, rounded
from .filters import Filters
from .store import Store

_RRF_K = 60
T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Components:
    """Which stages of retrieval run (each can be switched off in the settings and is
    measured on its own by benchmarks/realtimeqa.py's ablation)."""

    lexical: bool = True  # BM25 beside dense search, fused by RRF
    dates: bool = True  # a date-ordered ranking for questions that name a time
    diversify: bool = True  # spread the k passages across articles
    rerank_depth: int = 0  # fused candidates the reranker re-orders (0: none)
    # Fused candidates the late-interaction judge (if any) orders first; the cross-encoder
    # then re-orders the top `rerank_depth` of its order (never fewer than that).
    late_depth: int = 0
    # How the judges' order is used: "fuse" (RRF with the fused order, so the lexical match
    # still counts) or "replace" (the judges' order alone).
    rerank_mode: str = "replace"
    # The cross-encoder reads its head `rerank_step` passages at a time and stops once its
    # best score so far reaches `rerank_enough`; the unread keep their order after the
    # read ones. 0: the whole head at once.
    rerank_step: int = 0
    rerank_enough: float = math.inf


class Retriever:
    """Finds the k passages most likely to answer a question."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        fetch_k: int,
        max_per_article: int,
        components: Components = Components(),
        reranker: Reranker | None = None,
        late: Reranker | None = None,
    ):
        self.store = store
        self.embedder = embedder
        self.fetch_k = fetch_k
        self.max_per_article = max_per_article
        self.components = components
        self.reranker = reranker
        self.late = late

    def retrieve(
        self,
        question: str,
        k: int,
        filters: Filters | None = None,
        *,
        per_article: int | None = None,
        dates: DateIntent | None = None,
    ) -> list[Passage]:
        """The k best passages, best first (fewer when fewer match the filters), at most
        `per_article` from one article (the setting by default). `dates` is what the
        question says about time, when the caller has analysed it already."""
        ranked = self.rank(question, filters or Filters(), dates)
        if self.components.diversify:
            return diversify(ranked, k, per_article or self.max_per_article)
        return ranked[:k]

    def rank(
        self, question: str, filters: Filters, dates: DateIntent | None = None
    ) -> list[Passage]:
        """Every candidate, fused, date-aware and re-ordered by the reranker, best first;
        `Passage.score` is the fused score and `Passage.dense` the cosine to the question."""
        vector = self.embedder.embed_query(question)
        dense = self.store.dense_search(vector, self.fetch_k, filters)
        lexical = (
            self.store.lexical_search(question, self.fetch_k, filters)
            if self.components.lexical
            else []
        )
        sims = {p.chunk_id: sim for p, sim in dense}
        pool = {p.chunk_id: p for p, _ in dense} | {p.chunk_id: p for p, _ in lexical}
        missing = [cid for cid in pool if cid not in sims]
        sims.update(self.store.similarities(vector, missing))
        rankings = [[p.chunk_id for p, _ in dense], [p.chunk_id for p, _ in lexical]]
        fused = rrf([r for r in rankings if r])
        ranked = [
            replace(pool[cid], score=score, dense=sims.get(cid, 0.0))
            for cid, score in sorted(fused.items(), key=lambda kv: -kv[1])
        ]
        ranked = self._rerank(question, ranked)
        intent = dates or date_intent(question)
        if self.components.dates and (intent.year or intent.order):
            # Last, so neither fusion nor the judge (which cannot see dates) undoes it.
            ranked = _by_date_intent(intent, ranked)
        return ranked

    def _rerank(self, question: str, ranked: list[Passage]) -> list[Passage]:
        """The candidates re-ordered by the judges, as a cascade: the late-interaction model
        (if any) orders the first `late_depth`; the cross-encoder re-orders the first
        `rerank_depth` of that order, RRF-fused with it (and, mode "fuse", with the
        retrieval order); the rest keep their order after them. Ties (at the judges'
        precision) keep the order they had."""
        depth = self.components.rerank_depth
        ordered = self._late_order(question, ranked)
        head, tail = ordered[:depth], ordered[depth:]
        orders = []
        if self.reranker is not None and head:
            scores = self._judge_head(question, head)
            read = [head[i].chunk_id for i in judged_order(scores)]
            orders.append(read + [p.chunk_id for p in head[len(scores) :]])
        if ordered is not ranked and head:
            orders.append([p.chunk_id for p in head])  # the late-interaction order
        if not orders:
            return ranked if ordered is ranked else _rank_scored(ordered)
        if self.components.rerank_mode == "fuse":
            in_head = {p.chunk_id for p in head}
            orders.append([p.chunk_id for p in ranked if p.chunk_id in in_head])
        fused = rrf(orders)  # ties: the first judge's order (dicts keep insertion order)
        by_id = {p.chunk_id: p for p in head}
        order = [by_id[cid] for cid in sorted(fused, key=lambda cid: -fused[cid])]
        return _rank_scored(order + tail)

    def _judge_head(self, question: str, head: list[Passage]) -> np.ndarray:
        """The cross-encoder's scores of the head's first passages: all of them, or
        `rerank_step` at a time until the best (at the judge's precision) reaches
        `rerank_enough`. A passage that clearly answers is usually among the first few
        fused ones; the judge's cost is mostly the passages it reads (docs/scale.md)."""
        assert self.reranker is not None
        step = self.components.rerank_step or len(head)
        scores = np.zeros(0, dtype=np.float32)
        while len(scores) < len(head):
            part = head[len(scores) : len(scores) + step]
            scores = np.concatenate([scores, self.reranker.score(question, [p.text for p in part])])
            if rounded(scores).max() >= self.components.rerank_enough:
                break
        return scores

    def _late_order(self, question: str, ranked: list[Passage]) -> list[Passage]:
        """The first `late_depth` (at least `rerank_depth`) candidates in the late-interaction
        judge's order, the rest after them; `ranked` itself when there is no such judge."""
        depth = max(self.components.late_depth, self.components.rerank_depth)
        if self.late is None or not depth or not ranked:
            return ranked
        head = ranked[:depth]
        order = judged_order(self.late.score(question, [p.text for p in head]))
        return [head[i] for i in order] + ranked[depth:]


def _rank_scored(order: list[Passage]) -> list[Passage]:
    """Rank-based scores on the RRF scale, so diversification weighs a second passage of
    one article against the next article's the same way as without a judge."""
    return [replace(p, score=1.0 / (_RRF_K + rank + 1)) for rank, p in enumerate(order)]


def rrf(rankings: Sequence[Sequence[T]]) -> dict[T, float]:
    """Reciprocal rank fusion: sum of 1/(60 + rank) over the rankings an id appears in."""
    scores: dict[T, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (_RRF_K + rank + 1)
    return scores


def _by_date_intent(intent: DateIntent, ranked: list[Passage]) -> list[Passage]:
    """The ranking fused (RRF) with the same passages ordered by what the question says
    about time: the named year/month's passages, or the newest/oldest first."""
    by_id = {p.chunk_id: p for p in ranked}
    order = [p.chunk_id for p in ranked]
    scores = rrf([order, _date_ranking(intent, ranked)])
    return [
        replace(by_id[cid], score=scores[cid]) for cid in sorted(order, key=lambda c: -scores[c])
    ]


def _date_ranking(intent: DateIntent, ranked: list[Passage]) -> list[str]:
    """The better half of the candidates re-ordered by what the question says about time."""
    relevant = ranked[: max(10, len(ranked) // 2)]
    if intent.year:
        return [p.chunk_id for p in relevant if p.date.startswith(intent.prefix)]
    dated = [p for p in relevant if p.date[:4].isdigit()]
    newest_first = intent.order == "latest"
    return [p.chunk_id for p in sorted(dated, key=lambda p: p.date, reverse=newest_first)]


#: Priority kept by a passage per passage already picked from its article. RRF scores of
#: neighbouring ranks differ by ~1-2 %, so 0.93 is worth a few ranks: a strong second chunk
#: of one article still beats a weak first chunk of another.
_SAME_ARTICLE_DECAY = 0.93


def diversify(ranked: list[Passage], k: int, max_per_article: int) -> list[Passage]:
    """Greedy pick that lowers a passage's priority for each pick from its article (capped)."""
    chosen: list[Passage] = []
    per_article: dict[str, int] = {}
    remaining = list(ranked)
    while remaining and len(chosen) < k:
        best = max(
            (p for p in remaining if per_article.get(p.article_id, 0) < max_per_article),
            key=lambda p: p.score * _SAME_ARTICLE_DECAY ** per_article.get(p.article_id, 0),
            default=None,
        )
        if best is None:
            break
        chosen.append(best)
        remaining.remove(best)
        per_article[best.article_id] = per_article.get(best.article_id, 0) + 1
    return chosen
