"""Metadata at ingest: how many articles get a date, an outlet and a headline-like title.

    .venv/bin/python benchmarks/metadata.py            # seeds + both RealTime QA sets

Reads each corpus with the product's own reader (`assistant.sources`), exactly as
`assistant ingest` would, and counts per corpus the share of articles with:
  date      an ISO publication date (never guessed: "unknown" otherwise)
  outlet    a non-empty outlet
  headline  a title that reads like a headline: not cut off ("…"), not the first
            sentence of the body, at most 20 words
The RealTime QA data is read where it lies (../shared/benchmarks/), never copied.
A table, then one JSON line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import common

from assistant.base.schema import Article
from assistant.ingest.sources import expand, load

SHARED = common.REPO.parent / "shared" / "benchmarks"


def corpora() -> dict[str, list[Path]]:
    found = {"seeds": [common.SEEDS]}
    for name in ("realtimeqa", "realtimeqa-check"):
        weeks = sorted((SHARED / name).glob("*/articles.jsonl"))
        if weeks:
            found[name] = weeks
    return found


def read(paths: list[Path]) -> list[Article]:
    out: dict[str, Article] = {}
    for item in expand([str(p) for p in paths]):
        if isinstance(item, Exception):
            continue
        for article in load(item, max_bytes=200_000_000, timeout=5).articles:
            out.setdefault(article.id, article)
    return list(out.values())


def headline_like(article: Article) -> bool:
    title = article.title.strip()
    body = article.text[len(title) :].lstrip() if article.text.startswith(title) else article.text
    first = body.split("\n", 1)[0]
    return bool(
        title
        and not title.endswith("…")
        and len(title.split()) <= 20
        and not first.startswith(title.rstrip("."))
    )


def shares(articles: list[Article]) -> dict[str, Any]:
    n = len(articles) or 1
    return {
        "articles": len(articles),
        "date": round(sum(a.date != "unknown" for a in articles) / n, 3),
        "outlet": round(sum(bool(a.source.strip()) for a in articles) / n, 3),
        "headline": round(sum(headline_like(a) for a in articles) / n, 3),
    }


def main() -> int:
    figures = {name: shares(read(paths)) for name, paths in corpora().items()}
    print(f"{'corpus':<18}{'articles':>9}{'date':>8}{'outlet':>8}{'headline':>10}")
    for name, f in figures.items():
        print(
            f"{name:<18}{f['articles']:>9}{f['date']:>8.3f}{f['outlet']:>8.3f}{f['headline']:>10.3f}"
        )
    if "--seeds" in sys.argv:
        for a in read([common.SEEDS]):
            print(f"  {a.id}: {a.date} | {a.source or '-'} | {a.title}")
    common.emit({"benchmark": "metadata", **figures})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
