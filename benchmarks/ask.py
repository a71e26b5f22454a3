"""Answering speed on the seed articles, extractive mode (no language model).

* warm: `Assistant.ask` in one process over the questions of evals/seeds.yaml,
  after one warm-up pass; p50/p95 (target p50 < 150 ms), with the pipeline's
  own per-stage timings (condense, retrieve, answer, verify).
* cold: `python -m assistant ask "QUESTION"` as a fresh process, from start to
  exit with the answer printed (target < 8 s); plus where a cold start spends
  its time (imports, model load, store open, first answer) measured in a child
  process.

    .venv/bin/python benchmarks/ask.py
    .venv/bin/python benchmarks/ask.py --rounds 3 --cold-runs 5

The last output line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import yaml
from common import log

COLD_QUESTION = "Who did Zarif meet in Baghdad?"
WARM_TARGET_MS = 150.0
COLD_TARGET_S = 8.0

PROFILE_CHILD = r"""
import json, sys, time
t0 = time.perf_counter(); marks = {}
def mark(name):
    marks[name] = round(time.perf_counter() - t0, 3)
import torch; mark("import_torch")
import transformers; mark("import_transformers")
import chromadb; mark("import_chromadb")
import langchain_core.prompts, langchain_openai; mark("import_langchain")
from assistant.answer import Assistant
from assistant.config import Settings
from assistant.ingest import open_store
from assistant.models import make_embedder
mark("import_assistant")
settings = Settings(_env_file=None, data_dir=sys.argv[1], llm="extractive")
embedder = make_embedder(settings); mark("load_embedding_model")
store = open_store(settings); mark("open_store")
assistant = Assistant(settings, store=store, embedder=embedder); mark("build_assistant")
answer = assistant.ask(sys.argv[2]); mark("first_answer")
answer = assistant.ask(sys.argv[2]); mark("second_answer")
print(json.dumps({"marks": marks, "first_answer_timings": answer.timings}))
"""


def questions() -> list[str]:
    data = yaml.safe_load((common.REPO / "evals" / "seeds.yaml").read_text(encoding="utf-8"))
    items = data.get("questions", data) if isinstance(data, dict) else data
    return [item["question"] for item in items if isinstance(item, dict) and item.get("question")]


def child_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ASSISTANT_") and k not in {"OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.update(
        ASSISTANT_DATA_DIR=str(data_dir),
        ASSISTANT_SEEDS_DIR=str(common.SEEDS),
        ASSISTANT_LLM="extractive",
        PYTHONPATH=str(common.REPO),
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="warm passes over the questions")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true")
    common.add_threads_option(parser)
    args = parser.parse_args()

    from assistant.answer import Assistant

    figures: dict[str, Any] = {
        "benchmark": "ask",
        **common.machine(),
        "torch_threads": common.apply_threads(args.torch_threads),
    }
    qs = questions()
    with tempfile.TemporaryDirectory(prefix="bench-ask-") as tmp:
        data = Path(tmp) / "data"
        settings = common.settings(data)
        assistant = Assistant(settings, chat_model=None)
        start = time.perf_counter()
        assistant.ingest([str(common.SEEDS)])
        log(f"seeds ingested in {time.perf_counter() - start:.1f} s; {len(qs)} questions")

        for q in qs:  # warm-up: model, BM25 index, sentence-vector cache
            assistant.ask(q)
        samples: list[float] = []
        refused: list[float] = []
        stages: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for q in qs:
                start = time.perf_counter()
                answer = assistant.ask(q)
                elapsed = time.perf_counter() - start
                (refused if answer.refused else samples).append(elapsed)
                for stage, value in answer.timings.items():
                    stages.setdefault(stage, []).append(value * 1000)
        everything = samples + refused
        warm: dict[str, Any] = {**common.summary_ms(everything)}
        warm["answered"] = common.summary_ms(samples)
        warm["refused"] = common.summary_ms(refused)
        warm["stages_p50_ms"] = {k: round(common.pct(v, 50), 2) for k, v in stages.items()}
        warm["target_p50_ms"] = WARM_TARGET_MS
        warm["meets_target"] = warm["p50_ms"] < WARM_TARGET_MS
        figures["warm"] = warm
        del assistant

        rows = [
            [
                "warm ask (all)",
                warm["n"],
                warm["p50_ms"],
                warm["p95_ms"],
                f"< {WARM_TARGET_MS:.0f} ms",
            ],
            [
                "warm ask (answered)",
                warm["answered"]["n"],
                warm["answered"]["p50_ms"],
                warm["answered"]["p95_ms"],
                "",
            ],
            [
                "warm ask (refused)",
                warm["refused"]["n"],
                warm["refused"]["p50_ms"],
                warm["refused"]["p95_ms"],
                "",
            ],
        ]

        if not args.skip_cold:
            env = child_env(data)
            cold: list[float] = []
            for i in range(args.cold_runs):
                start = time.perf_counter()
                result = subprocess.run(
                    [sys.executable, "-m", "assistant", "ask", COLD_QUESTION],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=tmp,
                    timeout=300,
                )
                cold.append(time.perf_counter() - start)
                if result.returncode != 0 or "[" not in result.stdout:
                    raise SystemExit(
                        f"cold run failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                    )
                log(f"cold run {i + 1}: {cold[-1]:.2f} s")
            ms = common.summary_ms(cold)
            figures["cold"] = {
                "runs_s": [round(c, 3) for c in cold],
                "p50_s": round(ms["p50_ms"] / 1000, 3),
                "max_s": round(ms["max_ms"] / 1000, 3),
                "target_s": COLD_TARGET_S,
                "meets_target": ms["p50_ms"] / 1000 < COLD_TARGET_S,
            }
            rows.append(
                [
                    "cold `assistant ask` (s)",
                    len(cold),
                    figures["cold"]["p50_s"],
                    figures["cold"]["max_s"],
                    f"< {COLD_TARGET_S:.0f} s",
                ]
            )
            profile = subprocess.run(
                [sys.executable, "-c", PROFILE_CHILD, str(data), COLD_QUESTION],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
                timeout=300,
            )
            if profile.returncode == 0:
                figures["cold_breakdown_s"] = json.loads(profile.stdout.strip().splitlines()[-1])[
                    "marks"
                ]
            else:
                log(profile.stderr[-2000:])

    print(common.table(rows, ["measure", "n", "p50", "p95 / max", "target"]))
    print(f"\nwarm stage p50 (ms): {warm['stages_p50_ms']}")
    if "cold_breakdown_s" in figures:
        marks = figures["cold_breakdown_s"]
        previous = 0.0
        steps = []
        for name, at in marks.items():
            steps.append(f"{name} +{at - previous:.2f}")
            previous = at
        print("cold start, cumulative marks (s): " + ", ".join(steps))
    common.emit(figures)


if __name__ == "__main__":
    main()
