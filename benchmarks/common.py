"""Shared helpers for the speed benchmarks: data, settings, timing, reporting.

The RealTime QA data is read in place from ../shared/benchmarks/realtimeqa/
(never copied). Every benchmark works in temporary data folders and ends its
output with one JSON line holding all its figures.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as `python benchmarks/x.py` from anywhere

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from assistant.base.config import Settings  # noqa: E402
from assistant.base.schema import Article  # noqa: E402
from assistant.evaluate.scoring import percentile  # noqa: E402

SEEDS = REPO / "seeds"
REALTIMEQA = (REPO.parent / "shared" / "benchmarks" / "realtimeqa").resolve()


def settings(data_dir: Path, **overrides: Any) -> Settings:
    """Default settings in `data_dir`, ignoring the environment's model server and .env."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(name, None)
    return Settings(
        _env_file=None, data_dir=data_dir, seeds_dir=SEEDS, llm="extractive", **overrides
    )  # type: ignore[call-arg]


def weeks(selected: Sequence[str] | None, limit: int | None = None) -> list[Path]:
    """Week folders of RealTime QA, all or the named ones (or the first `limit`)."""
    if not REALTIMEQA.is_dir():
        raise SystemExit(f"RealTime QA data not found at {REALTIMEQA}")
    found = sorted(p for p in REALTIMEQA.iterdir() if (p / "articles.jsonl").is_file())
    if selected:
        wanted = set(selected)
        found = [p for p in found if p.name in wanted]
        missing = wanted - {p.name for p in found}
        if missing:
            raise SystemExit(f"unknown week(s): {', '.join(sorted(missing))}")
    return found[:limit] if limit else found


def raw_records(week_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """The raw JSONL records (what a tutorial pipeline would read), first occurrence of each id."""
    seen: set[str] = set()
    rows = []
    for week in week_dirs:
        with (week / "articles.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    if row["id"] not in seen:
                        seen.add(row["id"])
                        rows.append(row)
    return rows


def load_articles(paths: Sequence[Path]) -> list[Article]:
    """Read and clean inputs with the product's own reader (files, folders, JSONL)."""
    from assistant.ingest.sources import expand, load

    articles: list[Article] = []
    seen: set[str] = set()
    for item in expand([str(p) for p in paths]):
        if isinstance(item, Exception):
            continue
        for article in load(item, max_bytes=200_000_000, timeout=20).articles:
            if article.id not in seen:
                seen.add(article.id)
                articles.append(article)
    return articles


def replicate(articles: Sequence[Article], copies: int) -> list[Article]:
    """`copies` versions of each article with distinct ids and (slightly) distinct text.

    The text must differ, or ingestion rightly skips the copies as duplicates.
    """
    out: list[Article] = []
    for i in range(copies):
        for a in articles:
            if i == 0:
                out.append(a)
            else:
                out.append(
                    replace(a, id=f"{a.id}-r{i}", text=f"{a.text}\n\nReplica {i} of {a.id}.")
                )
    return out


def realtimeqa_questions(week_dirs: Sequence[Path], limit: int | None = None) -> list[str]:
    questions: list[str] = []
    for week in week_dirs:
        path = week / "questions.jsonl"
        if path.is_file():
            for line in path.open(encoding="utf-8"):
                if line.strip():
                    questions.append(json.loads(line)["question"])
    return questions[:limit] if limit else questions


# --- timing and reporting ------------------------------------------------------------


@contextmanager
def timer(out: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        out[key] = out.get(key, 0.0) + time.perf_counter() - start


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 2),
        "p95_ms": round(pct(ms, 95), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (the evaluator's definition); NaN for no values."""
    value = percentile(values, q)
    return math.nan if value is None else value


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(load[0], 2),
    }


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if n and _numeric(c) else c.ljust(w)
                for c, w in zip(row, widths, strict=True)
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).replace("-", "", 1).isdigit()


def add_threads_option(parser: Any) -> None:
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own, = cores); 1 is often faster under load",
    )


def apply_threads(n: int | None) -> int:
    """Set torch's thread count when asked; return the count in use."""
    import torch

    if n:
        torch.set_num_threads(n)
    return int(torch.get_num_threads())


def emit(figures: dict[str, Any]) -> None:
    """The last output line: one JSON object with every figure."""
    print(json.dumps(figures, sort_keys=False), flush=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start
