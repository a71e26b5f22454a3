"""Scripted evaluation: question sets in, scores, reports and a gate out.

One module per job: `questions` (reading and validating question files),
`scoring` (pure per-turn and overall figures, thresholds), `runner` (asking
every turn through an `Assistant`; what `assistant eval` calls) and `reports`
(terminal table, JSONL, Markdown with charts, HTML). Every figure is computed
from the `Answer` objects the core returns: nothing here retrieves or prompts.
"""

from .questions import (
    EvalError,
    EvalFileError,
    Item,
    QuestionSet,
    Turn,
    load_question_set,
    load_questions,
)
from .reports import summary_table, write_reports
from .runner import evaluate, run_eval_command, run_items
from .scoring import (
    METRICS,
    Run,
    TurnScore,
    answer_correct,
    check_thresholds,
    citation_scores,
    matches,
    normalize,
    parse_thresholds,
    percentile,
    retrieval_scores,
    score_turn,
    summarize,
)

__all__ = [
    "METRICS",
    "EvalError",
    "EvalFileError",
    "Item",
    "QuestionSet",
    "Run",
    "Turn",
    "TurnScore",
    "answer_correct",
    "check_thresholds",
    "citation_scores",
    "evaluate",
    "load_question_set",
    "load_questions",
    "matches",
    "normalize",
    "parse_thresholds",
    "percentile",
    "retrieval_scores",
    "run_eval_command",
    "run_items",
    "score_turn",
    "summarize",
    "summary_table",
    "write_reports",
]
