"""Crash safety of ingestion: `kill -9` an ingest at random points, re-run it, compare.

One RealTime QA week (`../shared/benchmarks/realtimeqa/20240105/articles.jsonl` by
default, read where it lies; with `--articles N` its first N records are written to
a temporary file outside the repository) is ingested by the real command,
`python -m assistant ingest <file>`, into a store that already holds the five seed
articles and a saved BM25 index of them (so every trial also checks that an index
saved before a write is never served after it).

  * clean: the week ingested once to completion; its store is the reference. Then
    the same command again (a no-op: everything unchanged), which also times the
    start-up before the first write.
  * each of `--trials` trials: a copy of the seeded store; the ingest is started and
    sent SIGKILL after a random delay (seeded by `--seed`, uniform between half the
    no-op run's time and the clean run's time, so most kills land while chunks are
    being embedded and written); then the ingest is run again to completion.

After every re-run the store is compared with the clean one: article ids, chunks per
article, chunk ids, every article held in one complete version, and the BM25 index
the next question would use (its saved copy caught up with Chroma's write sequence,
or rebuilt) has the collection's revision and chunk count and exactly its chunk ids,
and is the only copy saved. Printed: a table (trial, killed after s, chunks stored when killed,
re-run result, re-run s, equal?), then one JSON line with every figure.

    .venv/bin/python benchmarks/crash.py                       # 20 trials of the whole week
    .venv/bin/python benchmarks/crash.py --trials 8 --articles 40 --seed 7
    .venv/bin/python benchmarks/crash.py --articles 40 --group 64   # more write rounds

`--group N` runs the same command with N chunks per embed+write round instead of the
product's 512 (a small input is otherwise one round: a kill lands before or after
its only write), so more kills land between writes.

What it leaves to others: reading, chunking and writing are the product's
(`assistant.ingest`, `assistant.store`); the index rules are `assistant.retrieval.lexical`'s.
Only 127.0.0.1 is ever involved (nothing here uses the network); every wait is
bounded by `--timeout`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import log

from assistant.ingest.pipeline import open_store
from assistant.retrieval.store import Store

DEFAULT_WEEK = common.REALTIMEQA / "20240105" / "articles.jsonl"


@dataclass
class Snapshot:
    """What a store holds, as far as the comparison goes."""

    chunks: dict[str, int]  # article id -> chunks stored
    chunk_ids: set[str]
    problems: list[str] = field(default_factory=list)  # partial or doubled articles, BM25


def environment(data_dir: Path) -> dict[str, str]:
    """The CLI's environment: this data folder, extractive, offline, nothing inherited
    that could point it elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ASSISTANT_") and k not in {"OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.update(
        ASSISTANT_DATA_DIR=str(data_dir),
        ASSISTANT_SEEDS_DIR=str(common.SEEDS),
        ASSISTANT_LLM="extractive",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=str(common.REPO),
    )
    return env


#: `assistant ingest` with another number of chunks per embed+write round (`--group`).
GROUPED = (
    "import sys, assistant.ingest.pipeline as ingest; ingest._EMBED_GROUP = int(sys.argv.pop(1)); "
    "from assistant.cli import main; sys.exit(main(['ingest', *sys.argv[1:]]))"
)
#: Chunks per embed+write round in the child (None: the product's own).
GROUP: list[int | None] = [None]


def start_ingest(data_dir: Path, inputs: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m assistant ingest` in its own folder (no `.env` is read)."""
    group = GROUP[0]
    command = ["-m", "assistant", "ingest"] if group is None else ["-c", GROUPED, str(group)]
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *command, *inputs],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment(data_dir),
            cwd=data_dir.parent,
        )


def run_ingest(data_dir: Path, inputs: list[str], timeout: float) -> tuple[int, str, float]:
    """Run an ingest to completion: (exit status, its summary line, seconds)."""
    log_path = data_dir.parent / f"{data_dir.name}.log"
    log_path.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = start_ingest(data_dir, inputs, log_path)
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        raise SystemExit(f"an ingest took longer than {timeout:.0f} s; see {log_path}") from None
    seconds = time.perf_counter() - started
    lines = log_path.read_text(errors="replace").splitlines()
    summary = next((x for x in reversed(lines) if x.startswith("ingested ")), "")
    if not summary:
        raise SystemExit(f"the ingest printed no summary (status {status}):\n" + "\n".join(lines))
    return status, summary, seconds


def kill_after(
    data_dir: Path, inputs: list[str], delay: float
) -> tuple[bool, float]:  # (killed while running, seconds it ran)
    log_path = data_dir.parent / f"{data_dir.name}-killed.log"
    started = time.perf_counter()
    proc = start_ingest(data_dir, inputs, log_path)
    try:
        proc.wait(timeout=delay)
        return False, time.perf_counter() - started  # it finished first
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return True, time.perf_counter() - started


def open_at(data_dir: Path) -> Store:
    return open_store(common.settings(data_dir))


def close(store: Store) -> None:
    """Let go of the embedded Chroma system of one folder (each trial has its own)."""
    store._client.clear_system_cache()


def stored_chunks(data_dir: Path) -> int:
    store = open_at(data_dir)
    try:
        return store.count()
    finally:
        close(store)


def snapshot(data_dir: Path) -> Snapshot:
    """Articles, chunk ids and the checks that need no reference: one complete version per
    article, and the BM25 index the next question gets is the collection's own."""
    store = open_at(data_dir)
    try:
        versions: dict[str, Counter[str]] = {}
        expected: dict[str, int] = {}
        ids: set[str] = set()
        problems: list[str] = []
        for cid, _, meta in store.iter_chunks():
            ids.add(cid)
            versions.setdefault(meta["article_id"], Counter())[meta["version"]] += 1
            expected[meta["article_id"]] = int(meta["n_chunks"])
        for article_id, found in versions.items():
            if len(found) != 1:
                problems.append(f"{article_id}: {len(found)} versions")
            elif next(iter(found.values())) != expected[article_id]:
                problems.append(f"{article_id}: partial")
        problems += bm25_problems(store, ids)
        chunks = {a: sum(v.values()) for a, v in versions.items()}
        return Snapshot(chunks, ids, problems)
    finally:
        close(store)


def bm25_problems(store: Store, ids: set[str]) -> list[str]:
    """The index served now must match the collection's revision and hold exactly its
    chunks, and the only copy saved must be the current layout's."""
    state = store.lexical_state()
    rows = store._lexical_index()
    problems = []
    if (rows.count, rows.revision) != (state.count, state.revision):
        problems.append(
            f"bm25 state {rows.count}/{rows.revision} != {state.count}/{state.revision}"
        )
    if len(rows.ids) != state.count or set(rows.ids) != ids:
        problems.append(f"bm25 holds {len(rows.ids)} chunks, the collection {state.count}")
    root = store._lexical.root
    saved = (
        sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
        if root and root.is_dir()
        else []
    )
    if saved != ["index"]:
        problems.append(f"bm25 saved copies {saved}, expected ['index']")
    return problems


def differences(got: Snapshot, clean: Snapshot) -> list[str]:
    out = list(got.problems)
    if set(got.chunks) != set(clean.chunks):
        missing = sorted(set(clean.chunks) - set(got.chunks))
        extra = sorted(set(got.chunks) - set(clean.chunks))
        out.append(f"articles: {len(missing)} missing, {len(extra)} extra")
    counts = [a for a in clean.chunks if a in got.chunks and got.chunks[a] != clean.chunks[a]]
    if counts:
        out.append(f"chunk counts differ for {len(counts)} articles")
    if got.chunk_ids != clean.chunk_ids:
        out.append(
            f"chunk ids: {len(clean.chunk_ids - got.chunk_ids)} missing, "
            f"{len(got.chunk_ids - clean.chunk_ids)} extra"
        )
    return out


def week_input(week: Path, articles: int | None, tmp: Path) -> Path:
    """The week's file itself, or its first `articles` records in a temporary file."""
    if not week.is_file():
        raise SystemExit(f"no articles file at {week}")
    if not articles:
        return week
    with week.open(encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()][:articles]
    part = tmp / f"{week.parent.name}-first-{len(lines)}.jsonl"
    part.write_text("".join(lines), encoding="utf-8")
    return part


def seeded_base(tmp: Path, timeout: float) -> Path:
    """A store with the seed articles and a saved BM25 index of them."""
    base = tmp / "base"
    status, summary, _ = run_ingest(base, [str(common.SEEDS)], timeout)
    if status != 0:
        raise SystemExit(f"seeding failed: {summary}")
    store = open_at(base)
    try:
        store.warm()  # builds and saves the index of this state
    finally:
        close(store)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", type=Path, default=DEFAULT_WEEK, help="an articles.jsonl")
    parser.add_argument("--articles", type=int, default=None, help="only its first N records")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per ingest")
    parser.add_argument(
        "--group",
        type=int,
        default=None,
        help="chunks per embed+write round in the ingest (default: the product's 512); "
        "smaller means more write boundaries for a kill to land between",
    )
    args = parser.parse_args()
    GROUP[0] = args.group
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"benchmark": "crash", **common.machine(), "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp_name:
        tmp = Path(tmp_name)
        week = week_input(args.week.resolve(), args.articles, tmp)
        inputs = [str(week)]
        log(f"seeding a base store; week input {week}")
        base = seeded_base(tmp, args.timeout)

        clean_dir = tmp / "clean"
        shutil.copytree(base, clean_dir)
        status, summary, clean_s = run_ingest(clean_dir, inputs, args.timeout)
        log(f"clean ingest: {summary} in {clean_s:.1f} s (status {status})")
        _, noop_summary, noop_s = run_ingest(clean_dir, inputs, args.timeout)
        log(f"the same again: {noop_summary} in {noop_s:.1f} s")
        clean = snapshot(clean_dir)
        if clean.problems:
            raise SystemExit(f"the clean store itself is inconsistent: {clean.problems}")
        out.update(
            week=str(args.week),
            articles_in_input=args.articles,
            group=args.group,
            trials=args.trials,
            clean={
                "summary": summary,
                "seconds": round(clean_s, 1),
                "articles": len(clean.chunks),
                "chunks": len(clean.chunk_ids),
            },
            noop={"summary": noop_summary, "seconds": round(noop_s, 1)},
            noop_adds_nothing=noop_summary.startswith("ingested 0, updated 0,"),
            results=[],
        )
        low, high = 0.5 * noop_s, clean_s
        for trial in range(1, args.trials + 1):
            delay = rng.uniform(low, high)
            folder = tmp / f"trial-{trial:02d}"
            shutil.copytree(base, folder)
            killed, ran = kill_after(folder, inputs, delay)
            at_kill = stored_chunks(folder)
            status, rerun, rerun_s = run_ingest(folder, inputs, args.timeout)
            diff = differences(snapshot(folder), clean)
            row = {
                "trial": trial,
                "killed_after_s": round(ran, 1),
                "killed": killed,
                "chunks_at_kill": at_kill,
                "rerun": rerun,
                "rerun_status": status,
                "rerun_s": round(rerun_s, 1),
                "equal": not diff,
                "differences": diff,
            }
            out["results"].append(row)
            log(f"trial {trial}: killed after {ran:.1f} s -> {rerun}; equal: {not diff} {diff}")
            shutil.rmtree(folder, ignore_errors=True)
    results = out["results"]
    out["equal"] = sum(r["equal"] for r in results)
    out["killed_mid_run"] = sum(r["killed"] for r in results)
    out["all_equal"] = bool(results) and out["equal"] == len(results)
    rows = [
        [
            r["trial"],
            r["killed_after_s"] if r["killed"] else f"{r['killed_after_s']} (done first)",
            f"{r['chunks_at_kill']}/{out['clean']['chunks']}",
            _short(r["rerun"]),
            r["rerun_s"],
            "yes" if r["equal"] else "NO: " + "; ".join(r["differences"]),
        ]
        for r in results
    ]
    header = ["trial", "killed after s", "chunks at kill", "re-run result", "re-run s", "equal?"]
    print(common.table(rows, header))
    print(
        f"clean: {out['clean']['summary']} in {out['clean']['seconds']} s; "
        f"again: {out['noop']['summary']}; equal after re-run: {out['equal']}/{len(results)}"
    )
    print(json.dumps(out))


def _short(summary: str) -> str:
    """'ingested 41, updated 0, unchanged 24, ...' without the zero counts."""
    head, _, tail = summary.partition(" (")
    parts = [p for p in head.split(", ") if not p.endswith(" 0")]
    return ", ".join(parts) + (f" ({tail}" if tail else "")


if __name__ == "__main__":
    main()
