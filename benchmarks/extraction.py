"""Main-text and date accuracy of the article reader on a labelled set of real web pages.

The labels follow trafilatura's evaluation set (`tests/evaldata.py` in its repository:
`EVAL_PAGES = {url: {"file": ..., "with": [...], "without": [...], "date": ...}}`, or the
same mapping as JSON): for each page, snippets that belong to the article text (`with`)
and snippets that do not (`without`). Scoring is trafilatura's: a `with` snippet found is
a true positive, missed a false negative; a `without` snippet found is a false positive,
absent a true negative. Dates: the exact day, on pages whose label has one.

Two readers are compared: the product's (`sources.from_html`: trafilatura + htmldate) and
the previous hand-written one (`sources._visible_text`). The pages are read from a local
copy given by a path; nothing is downloaded and nothing is copied into the repository.

    .venv/bin/python benchmarks/extraction.py --labels DIR/evaldata.py --pages DIR/cache
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.base.errors import IngestError
from assistant.base.schema import Article
from assistant.ingest.sources import _visible_text, decode, from_html

Reader = Callable[[str, str], Article]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    dated: int = 0
    right_day: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)

    def row(self, name: str, pages: int) -> dict[str, Any]:
        precision = self.tp / max(1, self.tp + self.fp)
        recall = self.tp / max(1, self.tp + self.fn)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        return {
            "reader": name,
            "pages": pages,
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "date_exact": round(self.right_day / max(1, self.dated), 3),
            "dated_pages": self.dated,
            "s_per_page": round(self.seconds / max(1, pages), 4),
            "failed": len(self.failed),
        }


def load_labels(path: Path) -> dict[str, dict[str, Any]]:
    """The label mapping from trafilatura's `evaldata.py` (read as data, never executed)
    or from a JSON file of the same shape."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return dict(json.loads(text))
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "EVAL_PAGES" for t in node.targets
        ):
            return dict(ast.literal_eval(node.value))
    raise SystemExit(f"{path}: no EVAL_PAGES mapping found")


def product(html: str, url: str) -> Article:
    return from_html(html, article_id="page", origin=url, url=url)


def previous(html: str, url: str) -> Article:
    return _visible_text(html, article_id="page", origin=url, url=url)


def score_page(reader: Reader, html: str, url: str, label: dict[str, Any], score: Score) -> None:
    started = time.perf_counter()
    try:
        article = reader(html, url)
        text, date = " ".join(article.text.split()), article.date
    except (IngestError, RecursionError) as exc:
        text, date = "", "unknown"
        score.failed.append(f"{url}: {exc}")
    score.seconds += time.perf_counter() - started
    for snippet in label.get("with", []):
        if " ".join(str(snippet).split()) in text:
            score.tp += 1
        else:
            score.fn += 1
    for snippet in label.get("without", []):
        if " ".join(str(snippet).split()) in text:
            score.fp += 1
        else:
            score.tn += 1
    if label.get("date"):
        score.dated += 1
        score.right_day += date == str(label["date"])[:10]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=Path, required=True, help="evaldata.py or .json")
    parser.add_argument("--pages", type=Path, required=True, help="folder of the HTML files")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages")
    args = parser.parse_args(argv)
    if not args.labels.is_file() or not args.pages.is_dir():
        print(f"error: need a local copy: {args.labels} and {args.pages}/", file=sys.stderr)
        return 2
    labels = list(load_labels(args.labels).items())[: args.limit or None]
    readers: dict[str, Reader] = {"trafilatura+htmldate": product, "previous": previous}
    scores = {name: Score() for name in readers}
    pages = 0
    for url, label in labels:
        path = args.pages / str(label.get("file", ""))
        if not path.is_file():
            continue
        html, _ = decode(path.read_bytes(), str(path))
        pages += 1
        for name, reader in readers.items():
            score_page(reader, html, url, label, scores[name])
    for name, score in scores.items():
        print(json.dumps(score.row(name, pages)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
