"""The timeline under the web chat: the articles behind an answer on a date axis.

What it does: `timeline_points(answer)` lists the articles of the retrieved passages
with the source numbers citing them; `timeline_figure(points)` draws a matplotlib
`Figure`, one row per dated article (its title on the row, left-aligned, and its date
beside its dot, so labels never overlap and stay at `LABEL_PT` however many articles
there are), cited articles in colour, undated ones named underneath. The figure is `FIG_WIDTH_IN`
wide at `DPI`, so the page can scale it to a phone's column and keep labels at
least 11 CSS pixels high (`label_px`).

What it leaves to others: which passages and citations an answer has is the
core's; showing the figure is `web.py`'s (Gradio's Plot). No gradio here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..base.schema import Answer
from ..language.dates import to_date

#: Figure width (inches) and resolution: 4.4 in at 100 dpi is 440 image pixels.
FIG_WIDTH_IN = 4.4
DPI = 100
FIG_WIDTH_PX = round(FIG_WIDTH_IN * DPI)
#: Font size of every label and tick, in points (1 pt = DPI/72 image pixels).
LABEL_PT = 12.0
CITED, OTHER = "#d97706", "#9ca3af"
ROW_IN = 0.62  # height of one article's row: its title above, its dot and date below
#: Characters of a title on its row: at LABEL_PT a row holds ~40 (bold) in FIG_WIDTH_IN.
TITLE_CHARS = 34


@dataclass(frozen=True)
class TimelinePoint:
    day: date | None
    title: str
    source: str
    cited: tuple[int, ...]  # citation numbers pointing at this article


def timeline_points(answer: Answer) -> list[TimelinePoint]:
    """The articles behind an answer (retrieved passages), with the citations naming them."""
    cited: dict[str, set[int]] = {}
    for c in answer.citations:
        cited.setdefault(c.article_id, set()).add(c.n)
    seen: dict[str, TimelinePoint] = {}
    for p in answer.passages:
        if p.article_id not in seen:
            seen[p.article_id] = TimelinePoint(
                to_date(p.date), p.title, p.source, tuple(sorted(cited.get(p.article_id, ())))
            )
    return sorted(seen.values(), key=lambda t: (t.day is None, t.day or date.min))


def label_px(shown_width_px: float) -> float:
    """Label height in CSS pixels when the figure is shown `shown_width_px` wide."""
    return LABEL_PT * DPI / 72 * shown_width_px / FIG_WIDTH_PX


def label(point: TimelinePoint, width: int = TITLE_CHARS) -> str:
    """ "[1] Title…": the numbers citing an article and its title, cut to fit a row."""
    numbers = "".join(f"[{n}]" for n in point.cited)
    return " ".join(x for x in (numbers, short(point.title, width)) if x)


def short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def timeline_figure(points: Sequence[TimelinePoint]) -> Any:
    """A matplotlib Figure: one row per dated article at its date, cited ones coloured."""
    from matplotlib.figure import Figure

    dated = [p for p in points if p.day is not None]
    undated = [p for p in points if p.day is None]
    notes = _undated_lines(undated)
    height = 0.9 + ROW_IN * max(1, len(dated)) + 0.25 * len(notes)
    fig = Figure(figsize=(FIG_WIDTH_IN, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    if dated:
        _rows(ax, dated)
    else:
        ax.set_xticks([])
        ax.text(
            0.5,
            0.5,
            "No dated articles behind this answer",
            ha="center",
            fontsize=LABEL_PT,
            transform=ax.transAxes,
        )
    ax.tick_params(axis="x", labelsize=LABEL_PT)
    if notes:
        ax.set_xlabel("\n".join(notes), fontsize=LABEL_PT, loc="left")
    return fig


def _rows(ax: Any, dated: Sequence[TimelinePoint]) -> None:
    """Each article its own row, oldest at the top: its title on the row's left, a dot at
    its date with the date written beside it."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.transforms import blended_transform_factory

    days = [float(date2num(p.day)) for p in dated]
    pad = max(20.0, (max(days) - min(days)) * 0.08)
    low, high = min(days) - pad, max(days) + pad
    on_row = blended_transform_factory(ax.transAxes, ax.transData)
    for i, (p, x) in enumerate(zip(dated, days, strict=True)):
        y = len(dated) - i
        color = CITED if p.cited else OTHER
        ink = "#111" if p.cited else "#4b5563"
        ax.axhline(y, color="#e5e7eb", linewidth=0.8, zorder=0)
        ax.plot([x], [y], "o", color=color, markersize=8 if p.cited else 6, zorder=2)
        weight = "bold" if p.cited else "normal"
        ax.text(0.0, y + 0.2, label(p), transform=on_row, fontsize=LABEL_PT, color=ink,
                fontweight=weight, va="bottom", ha="left")  # fmt: skip
        left = (x - low) / (high - low) > 0.6  # near the right edge: the date goes left
        ax.annotate(p.day.isoformat() if p.day else "", (x, y), xytext=(-9 if left else 9, 0),
                    textcoords="offset points", fontsize=LABEL_PT, color=ink, va="center",
                    ha="right" if left else "left")  # fmt: skip
    ax.set_ylim(0.6, len(dated) + 1.1)
    ax.set_xlim(low, high)
    locator = AutoDateLocator(minticks=2, maxticks=5)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _undated_lines(undated: Sequence[TimelinePoint]) -> list[str]:
    if not undated:
        return []
    names = "; ".join(label(p, 30) for p in undated)
    return textwrap.wrap(f"Undated: {names}", width=40)
