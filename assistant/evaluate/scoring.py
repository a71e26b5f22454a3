"""Scoring of one evaluation: pure functions from an `Answer` and its expectations to figures.

Per turn: retrieval recall@k and reciprocal rank of the expected articles,
answer correctness (expect_any / expect_all / expect_none, case- and
accent-insensitive; a refusal for an unanswerable question), citation precision and recall, phantom
citations, the verifier's supported share, refusal both ways and latency.
`summarize` turns a run's turn scores into the overall figures; the gate
(`parse_thresholds`, `check_thresholds`) compares them with minimums. Asking
the questions is `runner.py`'s; writing reports is `reports.py`'s.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..language.text import fold
from .questions import EvalError, Turn

if TYPE_CHECKING:
    from ..base.schema import Answer

_QUOTES = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "‐": "-", "‑": "-", "–": "-", "—": "-"}
)


def normalize(text: str) -> str:
    """Case-, accent-, quote- and whitespace-insensitive form used for matching."""
    return re.sub(r"\s+", " ", fold(text).translate(_QUOTES)).strip()


def matches(text: str, expected: str) -> bool:
    """`expected` occurs in `text`, ignoring case, accents, quote styles and spacing."""
    needle = normalize(expected)
    return bool(needle) and needle in normalize(text)


def answer_correct(
    text: str,
    refused: bool,
    expect_any: Sequence[str],
    expect_all: Sequence[str],
    answerable: bool,
    expect_none: Sequence[str] = (),
) -> bool | None:
    """Right answer? Unanswerable: a refusal. Answerable: not refused, expectations met,
    and nothing of `expect_none` (a drifted follow-up names the wrong person) in it.

    None when an answerable question states no expectation (nothing to judge).
    """
    if not answerable:
        return refused
    if not (expect_any or expect_all or expect_none):
        return None
    if refused:
        return False
    if expect_any and not any(matches(text, e) for e in expect_any):
        return False
    if any(matches(text, e) for e in expect_none):
        return False
    return all(matches(text, e) for e in expect_all)


def shape_misses(answer: Answer, turn: Turn) -> list[str]:
    """What an answer drawn from many articles gets wrong in its shape: the intent
    recognised, the order of its dated lines, how many articles it cites, their dates."""
    misses = []
    if turn.intent and answer.intent != turn.intent:
        misses.append(f"intent {answer.intent}, not {turn.intent}")
    days = [s.date for s in answer.sentences if s.date]
    if turn.dates_ascending and (len(days) < 2 or days != sorted(days)):
        misses.append("dated lines not in ascending order")
    cited = {c.article_id: c.date for c in answer.citations}
    if turn.min_articles and len(cited) < turn.min_articles:
        misses.append(f"cites {len(cited)} articles, fewer than {turn.min_articles}")
    if turn.cited_since and any(
        not d[:1].isdigit() or d < turn.cited_since for d in cited.values()
    ):
        misses.append(f"cites an article dated before {turn.cited_since}")
    if turn.newest_first and answer.citations:
        dates = [c.date for c in answer.citations if c.date[:1].isdigit()]
        if not dates or answer.citations[0].date != max(dates):
            misses.append("the first citation is not the newest")
    return misses


def retrieval_scores(
    ranked_ids: Sequence[str], expected: Sequence[str]
) -> tuple[float, float] | None:
    """(recall, reciprocal rank) of the expected articles in a ranked list of passage articles.

    Recall is the share of expected articles among the passages; the reciprocal
    rank is 1/position of the first passage from an expected article (0 if none).
    None when no article is expected.
    """
    wanted = set(expected)
    if not wanted:
        return None
    found = wanted & set(ranked_ids)
    rank = next((i for i, a in enumerate(ranked_ids, 1) if a in wanted), None)
    return len(found) / len(wanted), (1.0 / rank if rank else 0.0)


def citation_scores(
    cited_ids: Sequence[str], expected: Sequence[str]
) -> tuple[float | None, float | None]:
    """(precision, recall) of the articles an answer cites against the expected ones.

    `cited_ids` holds one article id per distinct citation marker. Precision is
    None when nothing is cited (judged by recall instead); both are None when no
    article is expected.
    """
    wanted = set(expected)
    if not wanted:
        return None, None
    precision = sum(a in wanted for a in cited_ids) / len(cited_ids) if cited_ids else None
    recall = len(wanted & set(cited_ids)) / len(wanted)
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Iterable[float | bool | None]) -> tuple[float | None, int]:
    """Mean of the values that are not None, and how many there were."""
    kept = [float(v) for v in values if v is not None]
    return (sum(kept) / len(kept) if kept else None), len(kept)


@dataclass
class TurnScore:
    """Scores of one asked turn (a single question is a conversation of one)."""

    id: str
    item_id: str
    turn: int
    question: str
    answerable: bool
    refused: bool
    correct: bool | None
    recall: float | None
    rr: float | None
    citation_precision: float | None
    citation_recall: float | None
    citations: int
    phantoms: int
    supported_share: float | None
    latency: float
    missing: list[str] = field(default_factory=list)  # expectations the answer lacks
    category: str = "lookup"  # "collection" for turns that check an answer's shape
    held_out: bool = False  # scored, never tuned on

    @property
    def outcome(self) -> str:
        """One word for the per-question chart and tables."""
        if not self.answerable:
            return "refused (right)" if self.refused else "answered (should refuse)"
        if self.refused:
            return "refused (should answer)"
        if self.correct is None:
            return "answered (unjudged)"
        return "correct" if self.correct else "wrong"

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["outcome"] = self.outcome
        return data


def score_turn(
    answer: Answer, turn: Turn, *, item_id: str, index: int, turns: int, k: int, latency: float
) -> TurnScore:
    """Score one `Answer` against its `Turn`; pure given the answer."""
    ranked = [p.article_id for p in answer.passages[:k]]
    retrieval = retrieval_scores(ranked, turn.sources) if turn.answerable else None
    cited = [] if answer.refused else [c.article_id for c in answer.citations]
    precision, recall = citation_scores(cited, turn.sources) if turn.answerable else (None, None)
    correct = answer_correct(
        answer.text,
        answer.refused,
        turn.expect_any,
        turn.expect_all,
        turn.answerable,
        turn.expect_none,
    )
    missing: list[str] = []
    if turn.answerable and not answer.refused:
        if turn.expect_any and not any(matches(answer.text, e) for e in turn.expect_any):
            missing.append("any of: " + " | ".join(turn.expect_any))
        missing += [e for e in turn.expect_all if not matches(answer.text, e)]
        missing += [f"not: {e}" for e in turn.expect_none if matches(answer.text, e)]
    if turn.answerable and turn.structural:
        shape = shape_misses(answer, turn) if not answer.refused else ["refused"]
        missing += [m for m in shape if m not in missing]
        correct = bool(correct is not False and not shape)
    return TurnScore(
        id=item_id if turns == 1 else f"{item_id}#{index}",
        item_id=item_id,
        turn=index,
        question=turn.question,
        answerable=turn.answerable,
        refused=answer.refused,
        correct=correct,
        recall=retrieval[0] if retrieval else None,
        rr=retrieval[1] if retrieval else None,
        citation_precision=precision,
        citation_recall=recall,
        citations=len(cited),
        phantoms=answer.phantom_citations,
        supported_share=None if answer.refused else answer.supported_share,
        latency=float(answer.timings.get("total", latency)),
        missing=missing,
        category="collection" if turn.structural else "lookup",
        held_out=turn.held_out,
    )


# Metrics a --fail-under gate may name: all are "higher is better", in 0..1.
METRICS: dict[str, str] = {
    "answer_accuracy": "right answers (refusals count as right for unanswerable questions)",
    "recall_at_k": "expected articles among the k retrieved passages",
    "mrr": "1/rank of the first passage from an expected article",
    "citation_precision": "citations pointing to an expected article",
    "citation_recall": "expected articles cited",
    "supported_share": "answer sentences the verifier found supported",
    "refusal_accuracy": "refusal decision right, both ways",
    "refused_when_should": "unanswerable questions refused",
    "answered_when_should": "answerable questions answered",
    "collection_accuracy": "right answers to questions about the collection (order, dates, spread)",
    "collection_held_out_accuracy": "the same, on the held-out questions only",
}
_ALIASES = {"recall@k": "recall_at_k", "accuracy": "answer_accuracy"}


def summarize(scores: Sequence[TurnScore]) -> dict[str, Any]:
    """Overall figures: each metric's mean over the turns it applies to, with its count."""
    metrics: dict[str, tuple[float | None, int]] = {
        "answer_accuracy": mean(s.correct for s in scores),
        "recall_at_k": mean(s.recall for s in scores),
        "mrr": mean(s.rr for s in scores),
        "citation_precision": mean(s.citation_precision for s in scores),
        "citation_recall": mean(s.citation_recall for s in scores),
        "supported_share": mean(s.supported_share for s in scores),
        "refusal_accuracy": mean(s.refused != s.answerable for s in scores),
        "refused_when_should": mean(s.refused for s in scores if not s.answerable),
        "answered_when_should": mean(not s.refused for s in scores if s.answerable),
        "collection_accuracy": mean(s.correct for s in scores if s.category == "collection"),
        "collection_held_out_accuracy": mean(
            s.correct for s in scores if s.category == "collection" and s.held_out
        ),
    }
    latencies = [s.latency for s in scores]
    return {
        "metrics": {name: value for name, (value, _) in metrics.items()},
        "counts": {name: n for name, (_, n) in metrics.items()},
        "questions": len(scores),
        "phantom_citations": sum(s.phantoms for s in scores),
        "citations": sum(s.citations for s in scores),
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
        "outcomes": _count(s.outcome for s in scores),
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def parse_thresholds(specs: Sequence[str]) -> dict[str, float]:
    """'METRIC=VALUE' strings -> {metric: value}; unknown names list the valid ones."""
    out: dict[str, float] = {}
    valid = ", ".join(METRICS)
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = _ALIASES.get(name.strip().lower(), name.strip().lower())
        if not sep:
            raise EvalError(f"--fail-under '{spec}': write METRIC=VALUE, e.g. answer_accuracy=0.6")
        if name not in METRICS:
            raise EvalError(f"--fail-under: unknown metric '{name}' (valid: {valid})")
        try:
            value = float(raw)
        except ValueError:
            raise EvalError(f"--fail-under '{spec}': '{raw}' is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise EvalError(f"--fail-under '{spec}': metrics run from 0 to 1")
        out[name] = value
    return out


def check_thresholds(summary: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """One line per missed threshold (a metric no question measures counts as missed)."""
    missed = []
    for name, floor in thresholds.items():
        value = summary["metrics"].get(name)
        if value is None:
            missed.append(f"{name}: no question in the set measures it (needed {floor:.3f})")
        elif value + 1e-9 < floor:
            missed.append(f"{name} {value:.3f} < {floor:.3f}")
    return missed


@dataclass
class Run:
    """Everything one evaluation produced."""

    file: str
    mode: str
    k: int
    articles: int
    scores: list[TurnScore]
    answers: list[dict[str, Any]]
    summary: dict[str, Any]
    seconds: float
