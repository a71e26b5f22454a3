"""Running an evaluation: ask every turn through an `Assistant`, score, report, gate.

`run_eval_command` is what `assistant eval` calls. It checks its arguments
before anything heavy loads, seeds an empty collection, asks every turn
(conversations keep their history) with a progress bar, writes the reports and
returns 1 when a threshold is missed. It never retrieves or prompts on its own:
everything it scores comes from the `Answer` the core returns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .questions import EvalError, Item, load_question_set
from .reports import summary_table, write_reports
from .scoring import (
    Run,
    TurnScore,
    check_thresholds,
    parse_thresholds,
    score_turn,
    summarize,
)

if TYPE_CHECKING:  # the heavy core is imported only when a run starts
    from ..base.config import Settings
    from ..core import Assistant

Echo = Callable[[str], None]


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


def gate_specs(gate: dict[str, float]) -> list[str]:
    """A file's gate as `METRIC=VALUE` strings (what `--fail-under` takes)."""
    return [f"{name}={value}" for name, value in gate.items()]


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
    fail_under: Sequence[str],
    gate: bool = False,
    echo: Echo = print,
    progress: bool | None = None,
) -> int:
    """`assistant eval`: run a question set, write reports, gate on thresholds.

    The thresholds are the file's own `gate:` (with `gate=True`) and any `--fail-under`
    (which wins for a metric named in both). Returns 0 when every threshold holds, 1
    when one is missed.
    """
    thresholds = parse_thresholds(fail_under)  # fail before any slow work
    question_set = load_question_set(Path(file))
    if gate:
        if not question_set.gate:
            raise EvalError(f"{file}: --gate given, but the file declares no 'gate:'")
        thresholds = {**parse_thresholds(gate_specs(question_set.gate)), **thresholds}
    items = question_set.items
    update: dict[str, Any] = {}
    if llm:
        update["llm"] = llm
    if k is not None:
        if k < 1:
            raise EvalError(f"--k {k}: must be at least 1")
        update["k"] = k
    if update:
        settings = settings.model_copy(update=update)

    from ..core import Assistant

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
