"""Ablation of the hand-written language rules: does each one earn its place?

Runs the seed evaluation (`evals/seeds.yaml`, extractive, default settings) once as
shipped and once with each rule switched off, in one process over one seeded store, and
prints a table: answer accuracy overall, on lookups, on the collection-level questions and
their held-out part, refusal accuracy and citation precision. A rule whose removal
changes nothing on any question does not help and is a candidate for deletion; one that
helps is kept with its figure. Two rules were deleted after this ablation showed they
changed no answer (2026-12-06): noun phrases ("the visit", "the talks") as follow-up
pronouns, and "what day of the week" as an exception to "what day ... = when".
(RealTime QA does not exercise these rules: they shape the
extractive answer and the refusal gate, which its retrieval benchmark does not score.
Irregular verb stems are not ablated here: the lexical index is built with them.)

    .venv/bin/python benchmarks/rules.py [--data DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answer import extractive  # noqa: E402
from assistant.base.config import Settings  # noqa: E402
from assistant.core import Assistant  # noqa: E402
from assistant.evaluate import evaluate, load_questions  # noqa: E402
from assistant.language import text  # noqa: E402

Variant = Callable[[], Iterator[None]]


@contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _without(pattern: re.Pattern[str], *alternatives: str) -> re.Pattern[str]:
    source = pattern.pattern
    for alt in alternatives:
        source = source.replace(alt, "")
    return re.compile(source, pattern.flags)


@contextmanager
def shipped() -> Iterator[None]:
    yield


@contextmanager
def no_noun_anaphora() -> Iterator[None]:
    """Openings like "The visit ...", "The talks ..." no longer read as leaning on the
    sentence before (pronouns still do)."""
    nouns = ("|the visit", "|the meeting|the talks|the move|the group|the minister")
    pattern = _without(extractive._ANAPHORIC, *nouns)
    assert pattern.pattern != extractive._ANAPHORIC.pattern, "the rule's text moved"
    with _patched(extractive, "_ANAPHORIC", pattern):
        yield


@contextmanager
def no_light_verbs() -> Iterator[None]:
    """The refusal gate's word check counts "take part", "hold talks" like other words."""
    lists = text.english()
    saved = lists["light_verbs"]
    lists["light_verbs"] = []
    try:
        yield
    finally:
        lists["light_verbs"] = saved


VARIANTS: dict[str, Callable[[], Any]] = {
    "shipped": shipped,
    "no noun anaphora": no_noun_anaphora,
    "no light verbs": no_light_verbs,
}


def _row(name: str, run: Any, baseline: dict[str, bool] | None) -> tuple[str, dict[str, bool]]:
    scores = run.scores
    correct = {s.id: bool(s.correct) if s.answerable else s.refused for s in scores}

    def share(keep: Callable[[Any], bool]) -> str:
        picked = [correct[s.id] for s in scores if keep(s)]
        return f"{sum(picked)}/{len(picked)}"

    metrics = run.summary["metrics"]
    changed = sorted(i for i, ok in correct.items() if baseline and baseline.get(i) != ok)
    line = (
        f"| {name} | {share(lambda s: True)} | {share(lambda s: s.category == 'lookup')} "
        f"| {share(lambda s: s.category == 'collection' and not s.held_out)} "
        f"| {share(lambda s: s.category == 'collection' and s.held_out)} "
        f"| {metrics['refusal_accuracy']:.3f} | {metrics['citation_precision']:.3f} "
        f"| {', '.join(changed) or '-'} |"
    )
    return line, correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="data folder (a temporary one by default)")
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), default=None)
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="rules-"))
    assistant = Assistant(Settings(data_dir=data, llm="extractive", seeds_dir=ROOT / "seeds"))
    assistant.ensure_seeded()
    items = load_questions(ROOT / "evals" / "seeds.yaml")
    print("| variant | all | lookups | collection | held out | refusal acc | cit. prec | changed |")
    print("|---|---|---|---|---|---|---|---|")
    baseline: dict[str, bool] | None = None
    for name in ["shipped", *(args.only or [v for v in VARIANTS if v != "shipped"])]:
        with VARIANTS[name]():
            run = evaluate(assistant, items, progress=False)
        line, correct = _row(name, run, baseline)
        baseline = baseline or correct
        print(line, flush=True)


if __name__ == "__main__":
    main()
