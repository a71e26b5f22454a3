"""Reports of an evaluation run: terminal table, results.jsonl, summary.json, Markdown
with PNG charts beside it, and a self-contained HTML page (charts inlined).

Only rendering: the figures come from `scoring.summarize`, the run from
`runner.py`. The HTML is a jinja2 template with autoescaping on, so answer text
and questions are escaped by default.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..base.templates import render
from .questions import EvalError
from .scoring import METRICS, Run, percentile


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_table(run: Run) -> str:
    """The terminal summary: one metric a line, with how many questions it covers."""
    s = run.summary
    lines = [
        f"{run.file}: {s['questions']} questions, {run.mode}, k={run.k}, {run.articles} articles",
        f"{'metric':<22}{'value':>8}{'n':>6}",
    ]
    for name in METRICS:
        lines.append(f"{name:<22}{_fmt(s['metrics'][name]):>8}{s['counts'][name]:>6}")
    lines.append(f"{'phantom_citations':<22}{s['phantom_citations']:>8}{s['citations']:>6}")
    lines.append(f"{'latency_p50 (s)':<22}{_fmt(s['latency_p50'], 2):>8}")
    lines.append(f"{'latency_p95 (s)':<22}{_fmt(s['latency_p95'], 2):>8}")
    lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()))
    return "\n".join(lines)


def write_reports(run: Run, out: Path) -> list[Path]:
    """results.jsonl, summary.json, report.md (+ PNG charts) and report.html in `out`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        results = out / "results.jsonl"
        with results.open("w", encoding="utf-8") as fh:
            for score, answer in zip(run.scores, run.answers, strict=True):
                fh.write(
                    json.dumps({**score.to_dict(), "answer": answer}, ensure_ascii=False) + "\n"
                )
        summary = out / "summary.json"
        summary.write_text(json.dumps(_summary_record(run), indent=2, ensure_ascii=False) + "\n")
        charts = render_charts(run)
        for name, png in charts.items():
            (out / name).write_bytes(png)
        md = out / "report.md"
        md.write_text(markdown_report(run, list(charts)), encoding="utf-8")
        page = out / "report.html"
        page.write_text(html_report(run, charts), encoding="utf-8")
    except OSError as exc:
        raise EvalError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return [results, md, page]


def _summary_record(run: Run) -> dict[str, Any]:
    return {
        "file": run.file,
        "mode": run.mode,
        "k": run.k,
        "articles": run.articles,
        "seconds": round(run.seconds, 2),
        **run.summary,
    }


_OUTCOME_COLOURS = {
    "correct": "#2e7d32",
    "refused (right)": "#66bb6a",
    "answered (unjudged)": "#9e9e9e",
    "wrong": "#c62828",
    "refused (should answer)": "#ef6c00",
    "answered (should refuse)": "#6a1b9a",
}


def render_charts(run: Run) -> dict[str, bytes]:
    """PNG bytes: metric bars, per-question outcomes, latency distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, bytes] = {}
    metrics = run.summary["metrics"]

    names = list(METRICS)
    values = [metrics[n] if metrics[n] is not None else 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.barh(names[::-1], values[::-1], color="#1565c0")
    for bar, name in zip(bars, names[::-1], strict=True):
        label = _fmt(metrics[name], 2)
        inside = bar.get_width() > 0.9
        ax.text(
            bar.get_width() - 0.01 if inside else bar.get_width() + 0.01,
            bar.get_y() + bar.get_height() / 2,
            label,
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else "black",
            fontsize=8,
        )
    ax.set_xlim(0, 1)
    ax.set_title(f"Metrics ({run.mode}, k={run.k}, {run.summary['questions']} questions)")
    fig.tight_layout()
    charts["metrics.png"] = _png(fig, plt)

    columns = [
        ("answer", lambda s: None if s.correct is None else float(s.correct)),
        ("refusal ok", lambda s: float(s.refused != s.answerable)),
        ("recall@k", lambda s: s.recall),
        ("RR", lambda s: s.rr),
        ("cite P", lambda s: s.citation_precision),
        ("cite R", lambda s: s.citation_recall),
        ("supported", lambda s: s.supported_share),
    ]
    import numpy as np

    grid = np.array(
        [[np.nan if f(s) is None else f(s) for _, f in columns] for s in run.scores], dtype=float
    )
    height = max(3.0, 0.22 * len(run.scores) + 1.2)
    fig, ax = plt.subplots(figsize=(7.5, height))
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#e0e0e0")
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(columns)), [c for c, _ in columns], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(run.scores)), [s.id for s in run.scores], fontsize=7)
    ax.set_title("Per question (green = good, grey = not applicable)", fontsize=9, pad=22)
    fig.tight_layout()
    charts["questions.png"] = _png(fig, plt)

    fig, ax = plt.subplots(figsize=(7, 3))
    latencies = [s.latency for s in run.scores]
    ax.hist(latencies, bins=min(20, max(5, len(latencies) // 2)), color="#5c6bc0")
    for q, style in ((50, "--"), (95, ":")):
        value = percentile(latencies, q)
        if value is not None:
            ax.axvline(value, color="black", linestyle=style, label=f"p{q} {value:.2f}s")
    ax.set_xlabel("seconds per question")
    ax.set_ylabel("questions")
    ax.legend(fontsize=8)
    ax.set_title("Latency")
    fig.tight_layout()
    charts["latency.png"] = _png(fig, plt)
    return charts


def _png(fig: Any, plt: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rows(run: Run) -> list[list[str]]:
    return [
        [
            s.id,
            s.question,
            s.outcome,
            _fmt(s.recall, 2),
            _fmt(s.rr, 2),
            _fmt(s.citation_precision, 2),
            _fmt(s.citation_recall, 2),
            _fmt(s.supported_share, 2),
            str(s.phantoms),
            f"{s.latency:.2f}",
        ]
        for s in run.scores
    ]


_HEADERS = [
    "id",
    "question",
    "outcome",
    "recall@k",
    "RR",
    "cite P",
    "cite R",
    "supported",
    "phantoms",
    "s",
]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(run: Run, charts: Sequence[str]) -> str:
    s = run.summary
    out = [
        f"# Evaluation: {run.file}",
        "",
        f"{s['questions']} questions · answerer `{run.mode}` · k={run.k} · {run.articles} articles"
        f" · {run.seconds:.1f} s",
        "",
        "| metric | value | questions | meaning |",
        "|---|---:|---:|---|",
    ]
    for name, meaning in METRICS.items():
        out.append(f"| {name} | {_fmt(s['metrics'][name])} | {s['counts'][name]} | {meaning} |")
    out += [
        f"| phantom_citations | {s['phantom_citations']} | | markers naming no passage, removed |",
        f"| latency p50 / p95 | {_fmt(s['latency_p50'], 2)} / {_fmt(s['latency_p95'], 2)} s | | |",
        "",
    ]
    out += [f"![{name}]({name})" for name in charts]
    out += [
        "",
        "## Per question",
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "|" + "---|" * len(_HEADERS),
    ]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in _rows(run)]
    problems = [
        (sc, a)
        for sc, a in zip(run.scores, run.answers, strict=True)
        if sc.outcome not in {"correct", "refused (right)"}
    ]
    if problems:
        out += ["", "## Answers to look at", ""]
        for sc, a in problems:
            out.append(f"- **{sc.id}** ({sc.outcome}): {_md_cell(sc.question)}")
            out.append(f"  - answer: {_md_cell(_short(a['answer'], 300))}")
            if sc.missing:
                out.append(f"  - missing: {_md_cell('; '.join(sc.missing))}")
    return "\n".join(out) + "\n"


def html_report(run: Run, charts: dict[str, bytes]) -> str:
    """A self-contained page (charts embedded as base64 PNG), escaped by the template."""
    s = run.summary
    rows = [
        {
            "cells": row,
            "answer": answer["answer"],
            "missing": "; ".join(score.missing),
            "colour": _OUTCOME_COLOURS.get(score.outcome, "#222"),
        }
        for row, score, answer in zip(_rows(run), run.scores, run.answers, strict=True)
    ]
    metrics = [
        {"name": n, "value": _fmt(s["metrics"][n]), "count": s["counts"][n], "meaning": m}
        for n, m in METRICS.items()
    ]
    return render(
        "eval_report.html",
        run=run,
        summary=s,
        metrics=metrics,
        latency=f"{_fmt(s['latency_p50'], 2)} / {_fmt(s['latency_p95'], 2)} s",
        charts=[
            {"name": name, "data": base64.b64encode(png).decode("ascii")}
            for name, png in charts.items()
        ],
        headers=_HEADERS,
        rows=rows,
    )
