"""Main-text and date accuracy of the article reader on a labelled set of real web pages.

The labels follow trafilatura's evaluation set (`tests/evaldata.json` in its repository,
`{url: {"file": ..., "with": [...], "without": [...], "date": ...}}`; older releases had
the same mapping as `EVAL_PAGES` in `tests/evaldata.py`): for each page, snippets that
belong to the article text (`with`)
and snippets that do not (`without`). Scoring is trafilatura's: a `with` snippet found is
a true positive, missed a false negative; a `without` snippet found is a false positive,
absent a true negative. The main text is scored without the title line the product puts
first in every article (trafilatura's scoring has no title; a title is often a `without`
snippet); the `+title` rows score the stored text as it is. Dates: the exact day, on pages
whose label has one.

Two readers are compared: the product's (`sources.from_html`: trafilatura + htmldate) and
the previous hand-written one (`sources._visible_text`). The pages are read from a local
copy given by a path; nothing is downloaded and nothing is copied into the repository.
Each page's file is looked for in the `--pages` folders in the order given (trafilatura's
own benchmark looks in `tests/cache` then `tests/eval`).

    .venv/bin/python benchmarks/extraction.py --labels DIR/tests/evaldata.json \
        --pages DIR/tests/cache DIR/tests/eval
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


def library(html: str, url: str) -> Article:
    """trafilatura's `extract` and htmldate's `find_date` called bare, as their own
    benchmarks call them: the reference the product's reader is held to."""
    from htmldate import find_date
    from trafilatura import extract

    text = extract(html, include_comments=False, include_tables=True) or ""
    try:
        date = find_date(html, url=url, original_date=True) or "unknown"
    except ValueError:
        date = "unknown"
    return Article(id="page", title="", text=text, date=date[:10], origin=url, url=url)


def previous(html: str, url: str) -> Article:
    return _visible_text(html, article_id="page", origin=url, url=url)


def read(reader: Reader, html: str, url: str, score: Score) -> Article | None:
    started = time.perf_counter()
    try:
        return reader(html, url)
    except (IngestError, RecursionError) as exc:
        score.failed.append(f"{url}: {exc}")
        return None
    finally:
        score.seconds += time.perf_counter() - started


def body(article: Article) -> str:
    """The stored text without its first line when that line is the title."""
    first, _, rest = article.text.partition("\n")
    return rest if article.title and first.strip() == article.title.strip() else article.text


def count(text: str, date: str, label: dict[str, Any], score: Score) -> None:
    text = " ".join(text.split())
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
    parser.add_argument(
        "--pages", type=Path, nargs="+", required=True, help="folders of the HTML files"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages")
    args = parser.parse_args(argv)
    absent = [str(p) for p in [args.labels] if not p.is_file()]
    absent += [f"{p}/" for p in args.pages if not p.is_dir()]
    if absent:
        print(f"error: need a local copy: {', '.join(absent)}", file=sys.stderr)
        return 2
    labels = list(load_labels(args.labels).items())[: args.limit or None]
    readers: dict[str, Reader] = {
        "trafilatura+htmldate": product,
        "previous": previous,
        "bare libraries": library,
    }
    scores = {name + tail: Score() for name in readers for tail in ("", " +title")}
    pages = missing = 0
    for url, label in labels:
        path = find_page(args.pages, str(label.get("file", "")))
        if path is None:
            missing += 1
            continue
        html, _ = decode(path.read_bytes(), str(path))
        pages += 1
        for name, reader in readers.items():
            article = read(reader, html, url, scores[name])
            date = article.date if article else "unknown"
            count(body(article) if article else "", date, label, scores[name])
            count(article.text if article else "", date, label, scores[f"{name} +title"])
    for name, score in scores.items():
        print(json.dumps(score.row(name, pages)))
    if missing:
        print(f"{missing} labelled pages not found under the --pages folders", file=sys.stderr)
    return 0


def find_page(folders: list[Path], name: str) -> Path | None:
    """The first folder's copy of a labelled page's file, or None."""
    for folder in folders:
        if name and (folder / name).is_file():
            return folder / name
    return None


if __name__ == "__main__":
    raise SystemExit(main())
