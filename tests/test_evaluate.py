"""Evaluation: pure scoring, question-file errors, reports, and a full seeds.yaml run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.base.errors import AssistantError
from assistant.base.schema import Answer, Citation, Evidence, Passage, SentenceCheck
from assistant.evaluate import (
    METRICS,
    EvalError,
    EvalFileError,
    Item,
    Run,
    Turn,
    answer_correct,
    check_thresholds,
    citation_scores,
    load_question_set,
    load_questions,
    matches,
    parse_thresholds,
    percentile,
    retrieval_scores,
    score_turn,
    summarize,
    write_reports,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS_YAML = ROOT / "evals" / "seeds.yaml"

# The gate CI applies to evals/seeds.yaml in extractive mode (default k) is declared in
# the file itself; a retriever that ranks the wrong articles first misses mrr and
# answer_accuracy (see test_broken_retriever_misses_the_gate).
SEED_GATE = load_question_set(SEEDS_YAML).gate


# --- pure scoring ------------------------------------------------------------------------------
def test_matching_ignores_case_accents_quotes_and_spacing():
    assert matches("Prime Minister AL-SUDANI said", "al-Sudani")
    assert matches("Jurgen Klopp resigned", "Jürgen Klopp")
    assert matches("Iran’s  foreign\nminister", "Iran's foreign minister")
    assert not matches("Sudan", "al-Sudani")
    assert not matches("anything", "")


def test_answer_correct_both_expectation_kinds():
    text = "Zarif met President Rashid and Prime Minister al-Sudani."
    assert answer_correct(text, False, ["Hakim", "Rashid"], [], True) is True
    assert answer_correct(text, False, ["Hakim"], [], True) is False
    assert answer_correct(text, False, [], ["Rashid", "Sudani"], True) is True
    assert answer_correct(text, False, [], ["Rashid", "Mashhadani"], True) is False
    assert answer_correct(text, False, ["Rashid"], ["Mashhadani"], True) is False
    # a refusal is wrong for an answerable question even if it echoes a name
    assert answer_correct("I cannot say what Rashid did.", True, ["Rashid"], [], True) is False
    # nothing to judge
    assert answer_correct(text, False, [], [], True) is None
    # a drifted answer names what it must not
    assert answer_correct(text, False, ["Rashid"], [], True, ["Mashhadani"]) is True
    assert answer_correct(text, False, ["Rashid"], [], True, ["Sudani"]) is False


def test_answer_correct_unanswerable_wants_a_refusal():
    assert answer_correct("Not covered.", True, [], [], False) is True
    assert answer_correct("Basra has 1.4 million people.", False, [], [], False) is False


def test_retrieval_recall_and_reciprocal_rank():
    ranked = ["a", "b", "a", "c"]
    assert retrieval_scores(ranked, ["c"]) == (1.0, 0.25)
    assert retrieval_scores(ranked, ["b", "z"]) == (0.5, 0.5)
    assert retrieval_scores(ranked, ["a", "c"]) == (1.0, 1.0)
    assert retrieval_scores(ranked, ["z"]) == (0.0, 0.0)
    assert retrieval_scores(ranked, []) is None


def test_citation_precision_and_recall():
    assert citation_scores(["a", "b", "a", "x"], ["a", "b", "c"]) == (0.75, pytest.approx(2 / 3))
    assert citation_scores([], ["a"]) == (None, 0.0)
    assert citation_scores(["a"], []) == (None, None)


def test_percentile_interpolates():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None


def _passage(n: int, article: str, text: str = "text") -> Passage:
    return Passage(f"{article}:{n}", article, text, "t", "unknown", "", "", 0, len(text))


def _answer(
    text: str, passages: list[Passage], cited: list[int], refused: bool = False, total: float = 0.5
) -> Answer:
    articles = list(dict.fromkeys(passages[n - 1].article_id for n in cited))
    citations = [
        Citation(
            n=i,
            article_id=article,
            title="t",
            source="",
            date="unknown",
            url="",
            evidence=tuple(Evidence(p, ((0, 1),)) for p in passages if p.article_id == article),
            supported=True,
        )
        for i, article in enumerate(articles, 1)
    ]
    sentences = [
        SentenceCheck("one", 0, 3, (1,), 0.9, True),
        SentenceCheck("two", 4, 7, (2,), 0.1, False),
    ]
    return Answer(
        "q",
        text,
        refused,
        "extractive",
        citations=citations,
        passages=passages,
        sentences=[] if refused else sentences,
        phantom_citations=1,
        timings={"total": total},
    )


def test_score_turn_uses_top_k_passages_and_distinct_citations():
    passages = [_passage(1, "x"), _passage(2, "a"), _passage(3, "b"), _passage(4, "a")]
    turn = Turn(question="Who?", expect_any=("Rashid",), sources=("a", "b"))
    answer = _answer("Rashid met him [2][2][3][1].", passages, [2, 2, 3, 1])
    s = score_turn(answer, turn, item_id="q", index=1, turns=1, k=2, latency=9.0)
    assert s.id == "q" and s.correct is True
    assert (s.recall, s.rr) == (0.5, 0.5)  # only x, a in the top 2
    assert s.citations == 3  # articles a, b, x: one source each
    assert s.citation_precision == pytest.approx(2 / 3)
    assert s.citation_recall == 1.0
    assert s.supported_share == 0.5
    assert s.phantoms == 1
    assert s.latency == 0.5  # the answer's own timing wins


def test_score_turn_refusal_of_answerable_question():
    passages = [_passage(1, "a")]
    turn = Turn(question="Who?", expect_any=("Rashid",), sources=("a",))
    s = score_turn(
        _answer("Not covered.", passages, [], refused=True),
        turn,
        item_id="c",
        index=2,
        turns=3,
        k=6,
        latency=1.0,
    )
    assert s.id == "c#2"
    assert s.correct is False and s.outcome == "refused (should answer)"
    assert s.citation_precision is None and s.citation_recall == 0.0
    assert s.supported_share is None


def test_summarize_counts_refusals_both_ways():
    passages = [_passage(1, "a")]
    ok = score_turn(
        _answer("Rashid [1].", passages, [1], total=1.0),
        Turn(question="q", expect_any=("Rashid",), sources=("a",)),
        item_id="1",
        index=1,
        turns=1,
        k=6,
        latency=1.0,
    )
    wrong = score_turn(
        _answer("Hakim [1].", passages, [1], total=2.0),
        Turn(question="q", expect_any=("Rashid",), sources=("a",)),
        item_id="2",
        index=1,
        turns=1,
        k=6,
        latency=2.0,
    )
    refused_right = score_turn(
        _answer("No.", passages, [], True, total=3.0),
        Turn(question="q", answerable=False),
        item_id="3",
        index=1,
        turns=1,
        k=6,
        latency=3.0,
    )
    answered_wrongly = score_turn(
        _answer("Yes [1].", passages, [1], total=4.0),
        Turn(question="q", answerable=False),
        item_id="4",
        index=1,
        turns=1,
        k=6,
        latency=4.0,
    )
    s = summarize([ok, wrong, refused_right, answered_wrongly])
    m = s["metrics"]
    assert m["answer_accuracy"] == 0.5
    assert m["refused_when_should"] == 0.5
    assert m["answered_when_should"] == 1.0
    assert m["refusal_accuracy"] == 0.75
    assert m["recall_at_k"] == 1.0 and s["counts"]["recall_at_k"] == 2
    assert m["citation_precision"] == 1.0
    assert s["latency_p50"] == 2.5
    assert s["phantom_citations"] == 4


def test_thresholds_parse_and_check():
    assert parse_thresholds(["mrr=0.8", "recall@k=0.5"]) == {"mrr": 0.8, "recall_at_k": 0.5}
    with pytest.raises(EvalError) as err:
        parse_thresholds(["precision=0.5"])
    assert "unknown metric 'precision'" in str(err.value)
    for name in METRICS:
        assert name in str(err.value)
    with pytest.raises(EvalError, match="METRIC=VALUE"):
        parse_thresholds(["mrr"])
    with pytest.raises(EvalError, match="not a number"):
        parse_thresholds(["mrr=high"])
    summary = {"metrics": {"mrr": 0.7, "citation_precision": None}}
    assert check_thresholds(summary, {"mrr": 0.7}) == []
    assert check_thresholds(summary, {"mrr": 0.75}) == ["mrr 0.700 < 0.750"]
    assert "no question" in check_thresholds(summary, {"citation_precision": 0.5})[0]


# --- question files ------------------------------------------------------------------------------
def _write(tmp_path: Path, text: str, name: str = "q.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "- id: a\n  question: Q?\n- id: zarif-host\n  question: Who?\n  expect_any: Hakim\n",
            "entry 2 (zarif-host): 'expect_any' must be a list of strings",
        ),
        ("- id: a\n  question: Q?\n  sources: [1, [2]]\n", "entry 1 (a): 'sources' must be a list"),
        ("- id: a\n  question: Q?\n  expect_al: [x]\n", "entry 1 (a): unknown field 'expect_al'"),
        ("- id: a\n  expect_any: [x]\n", "entry 1 (a): missing 'question'"),
        ("- id: a\n  question: ''\n", "entry 1 (a): 'question' must be a non-empty string"),
        (
            "- id: a\n  question: Q?\n  answerable: maybe\n",
            "entry 1 (a): 'answerable' must be true",
        ),
        (
            "- id: a\n  question: Q?\n  answerable: false\n  expect_any: [x]\n",
            "entry 1 (a): 'expect_any' makes no sense with 'answerable: false'",
        ),
        ("- id: a\n  question: Q?\n- id: a\n  question: R?\n", "entry 2 (a): duplicate id"),
        ("- id: c\n  turns: []\n", "entry 1 (c): 'turns' must be a non-empty list"),
        (
            "- id: c\n  turns:\n    - question: Q?\n    - expect_any: [x]\n",
            "entry 1 (c): turn 2: 'question' must be a non-empty string",
        ),
        (
            "- id: c\n  question: Q?\n  turns:\n    - question: Q?\n",
            "entry 1 (c): 'question' belongs inside each turn",
        ),
        ("- just a string\n", "entry 1: expected a mapping"),
        ("id: a\nquestion: Q?\n", "expected a list of questions"),
        ("- id: a\n  question: [unclosed\n", "invalid YAML"),
        ("[]\n", "no questions"),
    ],
)
def test_malformed_yaml_names_entry_and_field(tmp_path, body, message):
    path = _write(tmp_path, body)
    with pytest.raises(EvalFileError) as err:
        load_questions(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert isinstance(err.value, AssistantError)
    assert "\n" not in str(err.value)


def test_jsonl_questions_and_errors(tmp_path):
    good = _write(
        tmp_path,
        '{"id": "a", "question": "Q?", "expect_any": ["x"], "sources": ["s1"]}\n'
        "\n"
        '{"id": "c", "turns": [{"question": "Q1?"}, {"question": "Q2?", "answerable": false}]}\n',
        "q.jsonl",
    )
    items = load_questions(good)
    assert items == [
        Item(id="a", turns=(Turn(question="Q?", expect_any=("x",), sources=("s1",)),)),
        Item(
            id="c",
            turns=(Turn(question="Q1?"), Turn(question="Q2?", answerable=False)),
            conversation=True,
        ),
    ]
    bad = _write(tmp_path, '{"id": "a", "question": "Q?"}\n{"id": \n', "bad.jsonl")
    with pytest.raises(EvalFileError, match=r"bad\.jsonl:2: invalid JSON"):
        load_questions(bad)
    with pytest.raises(EvalFileError, match="no such question file"):
        load_questions(tmp_path / "missing.yaml")


def test_seed_question_set_is_complete():
    items = load_questions(SEEDS_YAML)
    singles = [i for i in items if not i.conversation]
    conversations = [i for i in items if i.conversation]
    assert len(items) >= 30
    assert sum(not i.turns[0].answerable for i in singles) >= 5
    assert len(conversations) >= 3
    assert sum(len(i.turns[0].sources) >= 2 for i in singles) >= 3
    seed_ids = {p.stem for p in (ROOT / "seeds").glob("*.txt")}
    cited = {s for i in items for t in i.turns for s in t.sources}
    assert cited <= seed_ids
    assert cited == seed_ids  # every seed article is asked about


# --- reports -----------------------------------------------------------------------------------
def _synthetic_run() -> Run:
    passages = [_passage(1, "a", "Rashid met Zarif."), _passage(2, "b")]
    answers = [
        _answer("Rashid [1].", passages, [1]),
        _answer("No <b>idea</b>.", passages, [], refused=True),
    ]
    turns = [
        Turn(question="Who | met?", expect_any=("Rashid",), sources=("a",)),
        Turn(question="Basra?", answerable=False),
    ]
    scores = [
        score_turn(a, t, item_id=f"q{i}", index=1, turns=1, k=2, latency=0.1)
        for i, (a, t) in enumerate(zip(answers, turns, strict=True))
    ]
    return Run(
        "x.yaml", "extractive", 2, 2, scores, [a.to_dict() for a in answers], summarize(scores), 1.0
    )


def test_reports_are_written(tmp_path):
    paths = write_reports(_synthetic_run(), tmp_path / "out")
    out = tmp_path / "out"
    assert {p.name for p in paths} == {"results.jsonl", "report.md", "report.html"}
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q0", "q1"]
    assert rows[0]["answer"]["citations"][0]["article_id"] == "a"
    assert rows[1]["outcome"] == "refused (right)"
    md = (out / "report.md").read_text()
    for chart in ("metrics.png", "questions.png", "latency.png"):
        assert f"]({chart})" in md
        assert (out / chart).read_bytes().startswith(b"\x89PNG")
    assert "Who \\| met?" in md  # table cells escaped
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "No &lt;b&gt;idea&lt;/b&gt;." in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["answer_accuracy"] == 1.0


# --- end to end: evals/seeds.yaml, extractive, real embedding model ------------------------------
@pytest.fixture(scope="module")
def seeded_settings(tmp_path_factory):
    from assistant.base.config import Settings

    data = tmp_path_factory.mktemp("eval-data")
    return Settings(
        data_dir=data,
        seeds_dir=ROOT / "seeds",
        llm="extractive",
        collection="eval_test",
        chroma_url=None,
        chroma_host=None,
    )


def _stable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not k.startswith("latency") and k != "seconds"}


def test_seed_eval_end_to_end_is_deterministic_and_passes_the_gate(seeded_settings, tmp_path):
    from assistant.evaluate import run_eval_command

    lines: list[str] = []
    runs = []
    for name in ("one", "two"):
        code = run_eval_command(
            seeded_settings,
            SEEDS_YAML,
            llm=None,
            k=None,
            out=tmp_path / name,
            fail_under=[],
            gate=True,
            echo=lines.append,
            progress=False,
        )
        assert code == 0, "\n".join(lines)
        for f in (
            "results.jsonl",
            "report.md",
            "report.html",
            "metrics.png",
            "questions.png",
            "latency.png",
        ):
            assert (tmp_path / name / f).stat().st_size > 0
        runs.append(json.loads((tmp_path / name / "summary.json").read_text()))
    assert _stable(runs[0]) == _stable(runs[1])
    first = [json.loads(x) for x in (tmp_path / "one" / "results.jsonl").read_text().splitlines()]
    second = [json.loads(x) for x in (tmp_path / "two" / "results.jsonl").read_text().splitlines()]
    assert [r["answer"]["answer"] for r in first] == [r["answer"]["answer"] for r in second]
    assert runs[0]["questions"] == sum(len(i.turns) for i in load_questions(SEEDS_YAML))
    assert runs[0]["mode"] == "extractive"
    table = "\n".join(lines)  # the terminal summary
    assert "answer_accuracy" in table and "latency_p95" in table

    # a missed threshold makes the command fail, naming the metric
    small = tmp_path / "small.yaml"
    small.write_text(
        "- id: impossible\n  question: Who invited Zarif to Baghdad?\n"
        "  expect_any: [nobody-writes-this]\n",
        encoding="utf-8",
    )
    lines.clear()
    code = run_eval_command(
        seeded_settings,
        small,
        llm=None,
        k=None,
        out=tmp_path / "three",
        fail_under=["answer_accuracy=0.5"],
        echo=lines.append,
        progress=False,
    )
    assert code == 1
    assert any(line.startswith("FAIL answer_accuracy 0.000 < 0.500") for line in lines)


def test_broken_retriever_misses_the_gate(seeded_settings, tmp_path):
    """The thresholds above mean something: ranking the worst passages first fails them."""
    from assistant.core import Assistant
    from assistant.evaluate import evaluate

    assistant = Assistant(seeded_settings)
    assistant.ensure_seeded()
    real = assistant.retriever.retrieve

    def worst_first(question, k, filters=None, **options):
        return real(question, 40, filters, **options)[::-1][:k]

    assistant.retriever.retrieve = worst_first  # type: ignore[method-assign]
    run = evaluate(assistant, load_questions(SEEDS_YAML), progress=False)
    missed = check_thresholds(run.summary, SEED_GATE)
    assert any(m.startswith("mrr") for m in missed), run.summary["metrics"]
    assert any(m.startswith("answer_accuracy") for m in missed), run.summary["metrics"]


def test_unknown_fail_under_metric_fails_before_any_work(seeded_settings, tmp_path):
    from assistant.evaluate import run_eval_command

    with pytest.raises(EvalError, match="valid: answer_accuracy, recall_at_k"):
        run_eval_command(
            seeded_settings,
            tmp_path / "does-not-exist.yaml",
            llm=None,
            k=None,
            out=tmp_path,
            fail_under=["f1=0.5"],
            echo=lambda _l: None,
        )
