"""Scripted evaluation: question sets in, scores and reports out.

A question set is YAML or JSONL, one entry per question (or per conversation,
with `turns`). Every turn is asked through an `Assistant` and scored from the
`Answer` it returns: this module never retrieves or prompts on its own.

Scores per turn (pure functions below, tested one by one):
  - retrieval recall@k and reciprocal rank of the expected articles among the
    retrieved passages;
  - answer correctness: expect_any (one of) and expect_all (every one of),
    case- and accent-insensitive; for an unanswerable question, a refusal;
  - citation precision (citations pointing to an expected article) and recall
    (expected articles cited); phantom citations the verifier removed;
  - the share of answer sentences the verifier found supported;
  - refusal both ways: refused when it should, answered when it should;
  - latency.

`run_eval_command` is what `assistant eval` calls: it writes results.jsonl,
summary.json, report.md (with PNG charts beside it) and a self-contained
report.html, prints a summary table and gates on `--fail-under`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AssistantError
from .text import fold

if TYPE_CHECKING:  # the heavy core is imported only when a run starts
    from .answer import Assistant
    from .config import Settings
    from .schema import Answer

Echo = Callable[[str], None]


class EvalError(AssistantError):
    """A problem with an evaluation run (bad --fail-under, unwritable output)."""


class EvalFileError(EvalError):
    """A question file that cannot be read or has a malformed entry."""


# --- question sets -------------------------------------------------------------------------
@dataclass(frozen=True)
class Turn:
    """One question with what a good answer looks like."""

    question: str
    expect_any: tuple[str, ...] = ()
    expect_all: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    answerable: bool = True


@dataclass(frozen=True)
class Item:
    """An entry of a question set: a single question, or a conversation of turns."""

    id: str
    turns: tuple[Turn, ...]
    conversation: bool = False


_TURN_KEYS = {"question", "expect_any", "expect_all", "sources", "answerable"}
_ENTRY_KEYS = _TURN_KEYS | {"id", "turns"}


def load_questions(path: Path) -> list[Item]:
    """Read a YAML (.yaml/.yml) or JSONL (.jsonl/.json lines) question set."""
    path = Path(path)
    if not path.is_file():
        raise EvalFileError(f"{path}: no such question file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{path}: cannot read ({exc})") from None
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        records: list[Any] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise EvalFileError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise EvalFileError(f"{path}{where}: invalid YAML ({problem})") from None
        if isinstance(data, dict) and "questions" in data:
            data = data["questions"]
        if data is None:
            data = []
        if not isinstance(data, list):
            raise EvalFileError(f"{path}: expected a list of questions at the top level")
        records = data
    return parse_items(records, str(path))


def parse_items(records: Sequence[Any], origin: str = "questions") -> list[Item]:
    """Validate raw entries; errors name the file, the entry and the field."""
    items: list[Item] = []
    seen: set[str] = set()
    for index, record in enumerate(records, 1):
        items.append(_parse_entry(record, index, origin))
        if items[-1].id in seen:
            raise EvalFileError(f"{origin}: entry {index} ({items[-1].id}): duplicate id")
        seen.add(items[-1].id)
    if not items:
        raise EvalFileError(f"{origin}: no questions")
    return items


def _parse_entry(record: Any, index: int, origin: str) -> Item:
    label = f"{origin}: entry {index}"
    if not isinstance(record, dict):
        raise EvalFileError(f"{label}: expected a mapping with 'question' or 'turns'")
    raw_id = record.get("id", f"q{index}")
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool) or not str(raw_id).strip():
        raise EvalFileError(f"{label}: 'id' must be a non-empty string")
    item_id = str(raw_id).strip()
    label = f"{origin}: entry {index} ({item_id})"
    unknown = sorted(set(record) - _ENTRY_KEYS)
    if unknown:
        raise EvalFileError(
            f"{label}: unknown field '{unknown[0]}' (known: {', '.join(sorted(_ENTRY_KEYS))})"
        )
    if "turns" in record:
        extra = sorted(set(record) & _TURN_KEYS)
        if extra:
            raise EvalFileError(
                f"{label}: '{extra[0]}' belongs inside each turn when 'turns' is given"
            )
        turns = record["turns"]
        if not isinstance(turns, list) or not turns:
            raise EvalFileError(f"{label}: 'turns' must be a non-empty list of questions")
        parsed = []
        for t, turn in enumerate(turns, 1):
            if not isinstance(turn, dict):
                raise EvalFileError(f"{label}: turn {t} must be a mapping with 'question'")
            bad = sorted(set(turn) - _TURN_KEYS)
            if bad:
                raise EvalFileError(
                    f"{label}: turn {t}: unknown field '{bad[0]}' "
                    f"(known: {', '.join(sorted(_TURN_KEYS))})"
                )
            parsed.append(_parse_turn(turn, f"{label}: turn {t}"))
        return Item(item_id, tuple(parsed), conversation=True)
    if "question" not in record:
        raise EvalFileError(f"{label}: missing 'question' (or 'turns')")
    return Item(item_id, (_parse_turn(record, label),))


def _parse_turn(record: dict[str, Any], label: str) -> Turn:
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise EvalFileError(f"{label}: 'question' must be a non-empty string")
    lists = {
        name: _strings(record.get(name), name, label)
        for name in ("expect_any", "expect_all", "sources")
    }
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise EvalFileError(f"{label}: 'answerable' must be true or false")
    if not answerable:
        for name, values in lists.items():
            if values:
                raise EvalFileError(
                    f"{label}: '{name}' makes no sense with 'answerable: false' "
                    "(a refusal is expected)"
                )
    return Turn(
        question.strip(),
        lists["expect_any"],
        lists["expect_all"],
        lists["sources"],
        answerable,
    )


def _strings(value: Any, name: str, label: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip()
        for v in value
    ):
        raise EvalFileError(f"{label}: '{name}' must be a list of strings")
    return tuple(str(v).strip() for v in value)


# --- pure scoring ----------------------------------------------------------------------------
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
    text: str, refused: bool, expect_any: Sequence[str], expect_all: Sequence[str], answerable: bool
) -> bool | None:
    """Right answer? Unanswerable: a refusal. Answerable: not refused and expectations met.

    None when an answerable question states no expectation (nothing to judge).
    """
    if not answerable:
        return refused
    if not expect_any and not expect_all:
        return None
    if refused:
        return False
    if expect_any and not any(matches(text, e) for e in expect_any):
        return False
    return all(matches(text, e) for e in expect_all)


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
    distinct: dict[int, str] = {}
    for c in answer.citations:
        distinct.setdefault(c.n, c.passage.article_id)
    cited = [] if answer.refused else list(distinct.values())
    precision, recall = citation_scores(cited, turn.sources) if turn.answerable else (None, None)
    correct = answer_correct(
        answer.text, answer.refused, turn.expect_any, turn.expect_all, turn.answerable
    )
    missing: list[str] = []
    if turn.answerable and not answer.refused:
        if turn.expect_any and not any(matches(answer.text, e) for e in turn.expect_any):
            missing.append("any of: " + " | ".join(turn.expect_any))
        missing += [e for e in turn.expect_all if not matches(answer.text, e)]
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


# --- running ----------------------------------------------------------------------------------
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


def run_items(
    assistant: Assistant, items: Sequence[Item], *, k: int, progress: bool | None = None
) -> tuple[list[TurnScore], list[dict[str, Any]]]:
    """Ask every turn (conversations keep their history) and score the answers."""
    from tqdm import tqdm

    total = sum(len(i.turns) for i in items)
    show = sys.stderr.isatty() if progress is None else progress
    scores: list[TurnScore] = []
    answers: list[dict[str, Any]] = []
    with tqdm(total=total, file=sys.stderr, disable=not show, unit="q", desc="eval") as bar:
        for item in items:
            history: list[tuple[str, str]] = []
            for index, turn in enumerate(item.turns, 1):
                started = time.perf_counter()
                answer = assistant.ask(turn.question, history=list(history))
                elapsed = time.perf_counter() - started
                score = score_turn(
                    answer,
                    turn,
                    item_id=item.id,
                    index=index,
                    turns=len(item.turns),
                    k=k,
                    latency=elapsed,
                )
                scores.append(score)
                answers.append(answer.to_dict())
                history.append((turn.question, answer.text))
                bar.update(1)
    return scores, answers


def evaluate(
    assistant: Assistant, items: Sequence[Item], *, file: str = "", progress: bool | None = None
) -> Run:
    started = time.perf_counter()
    k = assistant.settings.k
    scores, answers = run_items(assistant, items, k=k, progress=progress)
    return Run(
        file=file,
        mode=assistant.mode,
        k=k,
        articles=len(assistant.store.articles()),
        scores=scores,
        answers=answers,
        summary=summarize(scores),
        seconds=time.perf_counter() - started,
    )


def unknown_sources(items: Sequence[Item], known: set[str]) -> list[str]:
    """Expected article ids that the collection does not hold (they would score 0)."""
    wanted = {s for i in items for t in i.turns for s in t.sources}
    return sorted(wanted - known)


def run_eval_command(
    settings: Settings,
    file: Path,
    *,
    llm: str | None,
    k: int | None,
    out: Path,
    fail_under: list[str],
    echo: Echo = print,
    progress: bool | None = None,
) -> int:
    """`assistant eval`: run a question set, write reports, gate on thresholds.

    Returns 0 when every threshold holds, 1 when one is missed.
    """
    thresholds = parse_thresholds(fail_under)  # fail before any slow work
    items = load_questions(Path(file))
    update: dict[str, Any] = {}
    if llm:
        update["llm"] = llm
    if k is not None:
        if k < 1:
            raise EvalError(f"--k {k}: must be at least 1")
        update["k"] = k
    if update:
        settings = settings.model_copy(update=update)

    from .answer import Assistant

    assistant = Assistant(settings)
    if not assistant.store.count() and settings.seeds_dir.is_dir():
        echo(f"the collection is empty: ingesting the seed articles from {settings.seeds_dir}")
        assistant.ensure_seeded(report=echo)
    known = {a.id for a in assistant.store.articles()}
    if not known:
        raise EvalError("the collection is empty: ingest articles first (assistant ingest …)")
    missing = unknown_sources(items, known)
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        echo(f"warning: {len(missing)} expected source(s) not in the collection: {shown}")

    run = evaluate(assistant, items, file=str(file), progress=progress)
    paths = write_reports(run, Path(out))
    echo(summary_table(run))
    echo(f"wrote {', '.join(str(p) for p in paths)}")
    missed = check_thresholds(run.summary, thresholds)
    for line in missed:
        echo(f"FAIL {line}")
    if thresholds and not missed:
        echo(f"all {len(thresholds)} threshold(s) met")
    return 1 if missed else 0


# --- reports ------------------------------------------------------------------------------
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


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;
text-align:left;vertical-align:top}td.n{text-align:right}th{background:#f5f5f5}
img{max-width:100%;display:block;margin:1em 0}.o{font-weight:600;white-space:nowrap}
details{margin:.3em 0}.muted{color:#666}
"""


def html_report(run: Run, charts: dict[str, bytes]) -> str:
    """A self-contained page: charts embedded as base64 PNG."""
    s = run.summary
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Evaluation: {e(run.file)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Evaluation: {e(run.file)}</h1>",
        f"<p class='muted'>{s['questions']} questions · answerer <code>{e(run.mode)}</code> · "
        f"k={run.k} · {run.articles} articles · {run.seconds:.1f} s</p>",
        "<table><tr><th>metric</th><th>value</th><th>questions</th><th>meaning</th></tr>",
    ]
    for name, meaning in METRICS.items():
        parts.append(
            f"<tr><td>{name}</td><td class='n'>{_fmt(s['metrics'][name])}</td>"
            f"<td class='n'>{s['counts'][name]}</td><td>{e(meaning)}</td></tr>"
        )
    parts.append(
        f"<tr><td>phantom_citations</td><td class='n'>{s['phantom_citations']}</td><td></td>"
        "<td>markers naming no passage, removed</td></tr>"
        f"<tr><td>latency p50 / p95</td><td class='n'>{_fmt(s['latency_p50'], 2)} / "
        f"{_fmt(s['latency_p95'], 2)} s</td><td></td><td></td></tr></table>"
    )
    for name, png in charts.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<img alt='{e(name)}' src='data:image/png;base64,{data}'>")
    parts.append(
        "<h2>Per question</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in _HEADERS) + "</tr>"
    )
    for row, sc, answer in zip(_rows(run), run.scores, run.answers, strict=True):
        colour = _OUTCOME_COLOURS.get(sc.outcome, "#222")
        cells = [f"<td>{e(row[0])}</td>"]
        detail = f"<details><summary>{e(row[1])}</summary><p>{e(answer['answer'])}</p>"
        if sc.missing:
            detail += f"<p class='muted'>missing: {e('; '.join(sc.missing))}</p>"
        detail += "</details>"
        cells.append(f"<td>{detail}</td>")
        cells.append(f"<td class='o' style='color:{colour}'>{e(row[2])}</td>")
        cells += [f"<td class='n'>{e(c)}</td>" for c in row[3:]]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"
