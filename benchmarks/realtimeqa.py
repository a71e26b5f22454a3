"""RealTime QA benchmark: this product's retrieval against the LangChain tutorial pipeline.

    python benchmarks/realtimeqa.py ../shared/benchmarks/realtimeqa [--k 4] [--weeks 20240105 ...]

DATA_DIR holds one folder per week with `articles.jsonl` (id, url, title, text,
retrieved) and `questions.jsonl` (question, choices, answer_index, answer). The
data is read where it lies and never copied. For every week, both pipelines get
a fresh collection in a temporary folder and answer every question at the same k:

  product   `Assistant.ingest` of the week's articles.jsonl (the path a user takes:
            cleaning, metadata, sentence-aware chunks, hybrid retrieval)
  tutorial  RecursiveCharacterTextSplitter(1000, 200) over the article texts, the
            same embedding model, langchain_chroma.Chroma similarity search

Figures, per week and overall:
  answer_recall@k  the gold choice's text occurs in one of the top-k chunks
  mc_acc           the four choices shown, the answer names the gold choice; with
                   the extractive answerer (the default), the choice best supported
                   by the retrieved passages (the same scorer for both pipelines);
                   with --llm, the model answers from the passages and the choice
                   its reply names is taken
  ceiling          the gold text occurs anywhere in the week's articles
  answer_recall@d  the same at other depths (--depths, default 1 2 4 10 20): how much
                   a better re-ordering of what retrieval already finds could gain at
                   k. One retrieval at the deepest depth serves all: its first k are
                   the k passages (the product's greedy pick and Chroma's nearest
                   neighbours both keep their order as the depth grows)

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.evaluate import normalize  # noqa: E402
from assistant.text import content_stems, sentences  # noqa: E402

TUTORIAL_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved "
    "context to answer the question. If you don't know the answer, just say that you don't know. "
    "Use three sentences maximum and keep the answer concise.\n"
    "Question: {question}\nContext: {context}\nAnswer:"
)
LETTERS = "ABCD"


# --- scoring (pure) ------------------------------------------------------------------------
def gold_text(answer: str) -> str:
    """The gold choice as it would appear in running text (no wrapping quotes or final stop)."""
    return answer.strip().strip("\"'“”‘’«» ").rstrip(".").strip()


def contains(haystack: str, needle: str) -> bool:
    needle = normalize(gold_text(needle))
    return bool(needle) and needle in normalize(haystack)


def lexical_support(choice: str, passages: Sequence[str]) -> float:
    """How strongly the passages mention a choice, weighting higher-ranked passages more.

    Per passage: 1.0 when the choice's text occurs verbatim, else the share of its
    content stems found in the passage's best sentence. Summed with weights 1/rank.
    """
    stems = content_stems(choice)
    text = normalize(gold_text(choice))
    total = 0.0
    for rank, passage in enumerate(passages, 1):
        if text and text in normalize(passage):
            cover = 1.0
        elif stems:
            cover = max(
                (len(stems & content_stems(s)) / len(stems) for s in sentences(passage)),
                default=0.0,
            )
        else:
            cover = 0.0
        total += cover / rank
    return total


def pick_choice(
    choices: Sequence[str], passages: Sequence[str], similarity: Sequence[float] | None = None
) -> int:
    """Index of the choice best supported by the passages (extractive mc answer).

    Lexical support decides; embedding similarity of choice and passages (if
    given) breaks ties, including the all-zero case; then the first choice.
    """
    best, best_key = 0, (-math.inf, -math.inf)
    for i, choice in enumerate(choices):
        key = (round(lexical_support(choice, passages), 6), similarity[i] if similarity else 0.0)
        if key > best_key:
            best, best_key = i, key
    return best


def named_choice(reply: str, choices: Sequence[str]) -> int | None:
    """The choice a model's reply names: a letter like "(B)" or "B)", else the choice text."""
    m = re.search(r"(?:^|[\s(\[])([ABCD])(?:[)\].:]|\s*$)", reply.strip())
    if m:
        return LETTERS.index(m.group(1))
    named = [i for i, c in enumerate(choices) if contains(reply, c)]
    return named[0] if len(named) == 1 else None


def choices_block(question: str, choices: Sequence[str]) -> str:
    lines = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{question}\nChoices:\n{lines}\nName the right choice."


# --- data ------------------------------------------------------------------------------------
@dataclass
class Week:
    name: str
    folder: Path
    articles: list[dict[str, Any]]
    questions: list[dict[str, Any]]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_weeks(data_dir: Path, only: Sequence[str] | None) -> list[Week]:
    folders = sorted(
        p
        for p in data_dir.iterdir()
        if p.is_dir() and (p / "articles.jsonl").is_file() and (p / "questions.jsonl").is_file()
    )
    if only:
        wanted = set(only)
        unknown = wanted - {p.name for p in folders}
        if unknown:
            raise SystemExit(f"error: no such week(s) in {data_dir}: {', '.join(sorted(unknown))}")
        folders = [p for p in folders if p.name in wanted]
    if not folders:
        raise SystemExit(f"error: {data_dir} holds no <week>/articles.jsonl + questions.jsonl")
    return [
        Week(p.name, p, read_jsonl(p / "articles.jsonl"), read_jsonl(p / "questions.jsonl"))
        for p in folders
    ]


# --- pipelines -------------------------------------------------------------------------------
class Scorer:
    """Shared by both pipelines so only retrieval differs."""

    def __init__(self, embedder: Any, chat_model: Any) -> None:
        self.embedder = embedder
        self.chat_model = chat_model

    def mc_extractive(self, choices: Sequence[str], passages: Sequence[str]) -> int:
        import numpy as np

        if not passages:
            return pick_choice(choices, passages)
        c = self.embedder.embed([gold_text(x) for x in choices])
        p = self.embedder.embed(list(passages))
        sims = (np.asarray(c) @ np.asarray(p).T).max(axis=1).tolist()
        return pick_choice(choices, passages, sims)

    def mc_tutorial_llm(
        self, question: str, choices: Sequence[str], passages: Sequence[str]
    ) -> int | None:
        prompt = TUTORIAL_PROMPT.format(
            question=choices_block(question, choices), context="\n\n".join(passages)
        )
        reply = self.chat_model.invoke(prompt)
        return named_choice(str(getattr(reply, "content", reply)), choices)


def run_product(
    week: Week, k: int, depth: int, llm: str, scorer: Scorer, tmp: Path
) -> list[dict[str, Any]]:
    from assistant.answer import Assistant
    from assistant.config import Settings

    settings = Settings(data_dir=tmp / "product", collection=f"rtqa_{week.name}", llm=llm, k=k)
    assistant = Assistant(settings, embedder=scorer.embedder, chat_model=scorer.chat_model)
    started = time.perf_counter()
    problems: list[str] = []
    report = assistant.ingest([str(week.folder / "articles.jsonl")], report=problems.append)
    log(f"  product : {report.summary()} in {time.perf_counter() - started:.0f}s")
    for line in problems[:5]:
        log(f"            {line}")
    rows = []
    for q in week.questions:
        deeper = [p.text for p in assistant.retrieve(q["question"], k=depth)]
        passages = deeper[:k]
        if scorer.chat_model is None:
            picked: int | None = scorer.mc_extractive(q["choices"], passages)
        else:
            answer = assistant.ask(choices_block(q["question"], q["choices"]))
            picked = named_choice(answer.text, q["choices"])
        rows.append(_row(q, passages, picked, deeper))
    return rows


def run_tutorial(week: Week, k: int, depth: int, scorer: Scorer, tmp: Path) -> list[dict[str, Any]]:
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = splitter.create_documents(
        [a["text"] for a in week.articles], metadatas=[{"id": a["id"]} for a in week.articles]
    )
    store = Chroma.from_documents(
        docs,
        embedding=scorer.embedder,
        collection_name=f"tutorial_{week.name}",
        persist_directory=str(tmp / "tutorial"),
    )
    log(f"  tutorial: {len(docs)} chunks in {time.perf_counter() - started:.0f}s")
    rows = []
    for q in week.questions:
        deeper = [d.page_content for d in store.similarity_search(q["question"], k=depth)]
        passages = deeper[:k]
        if scorer.chat_model is None:
            picked: int | None = scorer.mc_extractive(q["choices"], passages)
        else:
            picked = scorer.mc_tutorial_llm(q["question"], q["choices"], passages)
        rows.append(_row(q, passages, picked, deeper))
    return rows


def _row(
    q: dict[str, Any], passages: list[str], picked: int | None, deeper: list[str]
) -> dict[str, Any]:
    gold = q["choices"][q["answer_index"]]
    return {
        "id": q["id"],
        "recall": any(contains(p, gold) for p in passages),
        "mc": picked == q["answer_index"],
        "picked": picked,
        # 1-based rank of the first passage holding the gold text in the deeper list
        "first_hit": next((i for i, p in enumerate(deeper, 1) if contains(p, gold)), None),
    }


def figures(rows: list[dict[str, Any]], k: int, depths: Sequence[int] = ()) -> dict[str, float]:
    n = len(rows) or 1
    out = {
        f"answer_recall@{k}": round(sum(r["recall"] for r in rows) / n, 3),
        "mc_acc": round(sum(r["mc"] for r in rows) / n, 3),
    }
    for d in depths:
        if d != k:
            hits = sum(r["first_hit"] is not None and r["first_hit"] <= d for r in rows)
            out[f"answer_recall@{d}"] = round(hits / n, 3)
    return out


def ceiling(week: Week) -> list[bool]:
    texts = [normalize(a.get("title", "") + "\n" + a["text"]) for a in week.articles]
    out = []
    for q in week.questions:
        needle = normalize(gold_text(q["choices"][q["answer_index"]]))
        out.append(bool(needle) and any(needle in t for t in texts))
    return out


def log(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder of <week>/{articles,questions}.jsonl")
    parser.add_argument("--k", type=int, default=4, help="passages per question, both pipelines")
    parser.add_argument("--weeks", nargs="+", help="only these week folders (e.g. 20240105)")
    parser.add_argument(
        "--llm", default="extractive", help="answerer for mc_acc (default extractive)"
    )
    parser.add_argument("--details", type=Path, help="write per-question rows to this JSONL file")
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=[1, 2, 4, 10, 20],
        help="also report answer_recall at these depths (default 1 2 4 10 20)",
    )
    args = parser.parse_args(argv)
    if args.k < 1 or min(args.depths) < 1:
        parser.error("--k and --depths must be at least 1")
    if not args.data_dir.is_dir():
        parser.error(f"{args.data_dir} is not a folder")

    from assistant.config import Settings
    from assistant.models import make_chat_model, make_embedder

    base = Settings(llm=args.llm)
    scorer = Scorer(make_embedder(base), make_chat_model(base))
    weeks = load_weeks(args.data_dir, args.weeks)
    k = args.k
    key = f"answer_recall@{k}"
    depths = sorted({*args.depths, k})
    result: dict[str, Any] = {"k": k, "mode": args.llm, "weeks": {}}
    all_rows: dict[str, list[dict[str, Any]]] = {"product": [], "tutorial": []}
    all_ceiling: list[bool] = []
    details = args.details.open("w", encoding="utf-8") if args.details else None
    started = time.perf_counter()
    for week in weeks:
        log(f"week {week.name}: {len(week.articles)} articles, {len(week.questions)} questions")
        with tempfile.TemporaryDirectory(prefix=f"rtqa-{week.name}-") as tmp:
            product = run_product(week, k, depths[-1], args.llm, scorer, Path(tmp))
            tutorial = run_tutorial(week, k, depths[-1], scorer, Path(tmp))
        reach = ceiling(week)
        all_rows["product"] += product
        all_rows["tutorial"] += tutorial
        all_ceiling += reach
        fig: dict[str, Any] = {
            "questions": len(week.questions),
            "ceiling": round(sum(reach) / max(1, len(reach)), 3),
            "product": figures(product, k, depths),
            "tutorial": figures(tutorial, k, depths),
        }
        result["weeks"][week.name] = fig
        log(
            f"  {key}: product {fig['product'][key]:.3f}  tutorial {fig['tutorial'][key]:.3f}"
            f"  | mc_acc: product {fig['product']['mc_acc']:.3f}"
            f"  tutorial {fig['tutorial']['mc_acc']:.3f}  | ceiling {fig['ceiling']:.3f}"
        )
        if details:
            for p, t, c in zip(product, tutorial, reach, strict=True):
                details.write(
                    json.dumps({"week": week.name, "product": p, "tutorial": t, "in_articles": c})
                    + "\n"
                )
    if details:
        details.close()
    overall: dict[str, Any] = {
        "questions": len(all_ceiling),
        "ceiling": round(sum(all_ceiling) / max(1, len(all_ceiling)), 3),
        "product": figures(all_rows["product"], k, depths),
        "tutorial": figures(all_rows["tutorial"], k, depths),
    }
    overall["delta"] = {
        m: round(overall["product"][m] - overall["tutorial"][m], 3) for m in overall["product"]
    }
    result["overall"] = overall
    result["seconds"] = round(time.perf_counter() - started, 1)
    log("")
    log(
        f"{'weeks':<10}{'n':>5}  {'product ' + key:>24}{'tutorial ' + key:>25}"
        f"{'product mc':>12}{'tutorial mc':>13}{'ceiling':>9}"
    )
    for name, fig in [*result["weeks"].items(), ("overall", overall)]:
        log(
            f"{name:<10}{fig['questions']:>5}  "
            f"{fig['product'][key]:>24.3f}{fig['tutorial'][key]:>25.3f}"
            f"{fig['product']['mc_acc']:>12.3f}{fig['tutorial']['mc_acc']:>13.3f}{fig['ceiling']:>9.3f}"
        )
    log("")
    log(f"{'answer_recall@d':<16}" + "".join(f"{'@' + str(d):>8}" for d in depths))
    for pipeline in ("product", "tutorial"):
        curve = overall[pipeline]
        log(f"{pipeline:<16}" + "".join(f"{curve[f'answer_recall@{d}']:>8.3f}" for d in depths))
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
