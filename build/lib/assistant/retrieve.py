"""Hybrid retrieval: dense (Chroma) + lexical (BM25), fused, date-aware, diversified.

Reciprocal rank fusion merges the two rankings, so neither score scale has to
be calibrated against the other. A question that names a year or month, or
asks for the latest/earliest, adds a third ranking by the articles' dates.
The final pick spreads passages across articles instead of returning k chunks
of one article. This module embeds the question but never calls a chat model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .filters import Filters
from .models import Embedder
from .schema import Passage
from .store import Store

_RRF_K = 60
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_LATEST = re.compile(
    r"\b(latest|most recent|newest|last|recently|recent|current|this (?:week|month)|today"
    r"|yesterday)\b",
    re.I,
)
_EARLIEST = re.compile(r"\b(first|earliest|oldest|initial)\b", re.I)


@dataclass(frozen=True)
class DateIntent:
    """What the question says about time."""

    year: int | None = None
    month: int | None = None
    order: str | None = None  # "latest" or "earliest"


def date_intent(question: str) -> DateIntent:
    years = re.findall(r"\b((?:19|20)\d{2})\b", question)
    month = next(
        (i for i, m in enumerate(_MONTHS, 1) if re.search(rf"\b{m}\b", question, re.I)), None
    )
    order = (
        "latest" if _LATEST.search(question) else "earliest" if _EARLIEST.search(question) else None
    )
    return DateIntent(int(years[0]) if years else None, month if years else None, order)


class Retriever:
    """Finds the k passages most likely to answer a question."""

    def __init__(self, store: Store, embedder: Embedder, *, fetch_k: int, max_per_article: int):
        self.store = store
        self.embedder = embedder
        self.fetch_k = fetch_k
        self.max_per_article = max_per_article

    def retrieve(self, question: str, k: int, filters: Filters | None = None) -> list[Passage]:
        filters = filters or Filters()
        vector = self.embedder.embed_query(question)
        dense = self.store.dense_search(vector, self.fetch_k, filters)
        lexical = self.store.lexical_search(question, self.fetch_k, filters)
        sims = {p.chunk_id: sim for p, sim in dense}
        pool = {p.chunk_id: p for p, _ in dense} | {p.chunk_id: p for p, _ in lexical}
        missing = [cid for cid in pool if cid not in sims]
        sims.update(self.store.similarities(vector, missing))
        rankings = [[p.chunk_id for p, _ in dense], [p.chunk_id for p, _ in lexical]]
        fused = rrf(rankings)
        intent = date_intent(question)
        if intent.year or intent.order:
            fused = rrf([*rankings, _date_ranking(intent, fused, pool)])
        ranked = [
            replace(pool[cid], score=score, dense=sims.get(cid, 0.0))
            for cid, score in sorted(fused.items(), key=lambda kv: -kv[1])
        ]
        return diversify(ranked, k, self.max_per_article)


def rrf(rankings: list[list[str]]) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1/(60 + rank) over the rankings an id appears in."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (_RRF_K + rank + 1)
    return scores


def _date_ranking(
    intent: DateIntent, fused: dict[str, float], pool: dict[str, Passage]
) -> list[str]:
    """The fused candidates re-ordered by what the question says about time."""
    relevant = sorted(fused, key=lambda cid: -fused[cid])[: max(10, len(fused) // 2)]
    if intent.year:
        prefix = f"{intent.year:04d}" + (f"-{intent.month:02d}" if intent.month else "")
        return [cid for cid in relevant if pool[cid].date.startswith(prefix)]
    dated = [cid for cid in relevant if pool[cid].date[:4].isdigit()]
    return sorted(dated, key=lambda cid: pool[cid].date, reverse=intent.order == "latest")


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
