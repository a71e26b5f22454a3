"""Freshness of the lexical index: how soon one new article is searchable, at scale.

For each size (10k and 100k chunks by default) and each mode (embedded Chroma, and a
`chroma run` server shared by two app processes) it fills a collection with
synthetic chunks carrying precomputed vectors (as `retrieval.py` builds them), lets
an already running reader build its BM25 index once (`first_build_s`: what every
write used to cost), then ingests ONE real article (RealTime QA text plus a made-up
word only it contains) through the product's ingest path and measures:

* `write_s`: the ingest of that article (chunk, embed, write), in the writer;
* `visible_s`: from the end of that write until a hybrid search in the already
  running reader returns the new article for its word (embedded: a second store
  object in the same process writes; server: a second process writes);
* `new_process_first_search_s`: a fresh process's first hybrid search after the
  write, model load and store opening excluded (it loads the saved BM25 copy and
  catches up);
* `reader_index_mb`: the BM25 arrays the reader holds, and `bm25s_index_mb`: what
  a bm25s build of the same chunks holds (the index before this change);
* `new_process_rss_mb`: resident memory of that fresh process after its search.

    .venv/bin/python benchmarks/freshness.py                        # 10k and 100k
    .venv/bin/python benchmarks/freshness.py --sizes 10000 --modes embedded

Prints a table, and as the last line one JSON object:
`{"sizes": {"10000": {"embedded": {...}, "server": {...}}, ...}}`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import common
import numpy as np
import retrieval
from common import log

from assistant.base.schema import Article
from assistant.ingest.pipeline import Ingestor, open_store
from assistant.models.embedders import make_embedder
from assistant.retrieval.retriever import Retriever

WORD = "Quillorbant"  # made up: no chunk but the new article's contains it
VISIBLE_TIMEOUT_S = 120.0
EXITING: list[subprocess.Popen[str]] = []  # helpers that printed and are still exiting


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def new_article(tag: str) -> Article:
    """A real article's text with one sentence naming the made-up word."""
    article = common.load_articles([common.weeks(None, 1)[0] / "articles.jsonl"])[0]
    text = f"{article.text}\n\nThe harbour pilot {WORD}{tag} confirmed the schedule."
    return replace(article, id=f"fresh-{tag}", text=text, title=f"{article.title} ({tag})")


def found(retriever: Retriever, tag: str, k: int) -> bool:
    return any(p.article_id == f"fresh-{tag}" for p in retriever.retrieve(f"{WORD}{tag}", k))


def settings_for(data: Path, url: str | None) -> Any:
    return common.settings(data, chroma_url=url) if url else common.settings(data)


# --- the helper processes ----------------------------------------------------------------
def write_one(data: Path, url: str | None, tag: str) -> dict[str, float]:
    """(In a writer process or object) ingest the new article; returns write_s and end."""
    settings = settings_for(data, url)
    embedder = make_embedder(settings)
    embedder.embed(["warm up"])
    store = open_store(settings)
    start = time.perf_counter()
    Ingestor(settings, store, embedder).ingest_articles([new_article(tag)])
    return {"write_s": time.perf_counter() - start, "end": time.time()}


def first_search(data: Path, url: str | None, tag: str) -> dict[str, float]:
    """(In a fresh process) the first hybrid search, model load and store opening excluded."""
    settings = settings_for(data, url)
    embedder = make_embedder(settings)
    embedder.embed(["warm up"])
    store = open_store(settings)
    retriever = Retriever(
        store, embedder, fetch_k=settings.fetch_k, max_per_article=settings.max_per_article
    )
    start = time.perf_counter()
    ok = found(retriever, tag, settings.k)
    return {"first_search_s": time.perf_counter() - start, "found": float(ok), "rss_mb": rss_mb()}


def helper(kind: str, data: Path, url: str | None, tag: str) -> dict[str, float]:
    """Run a helper process; returns its figures as soon as it prints them (a writer's
    exit, which takes a while, is not counted against the reader)."""
    command = [sys.executable, __file__, f"--{kind}", str(data), url or "", tag]
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            proc.wait(timeout=600)
            errors.seek(0)
            raise SystemExit(f"{kind} helper failed:\n{errors.read()[-3000:]}")
    EXITING.append(proc)
    return dict(json.loads(line))


# --- a Chroma server -----------------------------------------------------------------------
class Server:
    def __init__(self, folder: Path, port: int) -> None:
        chroma = Path(sys.executable).with_name("chroma")
        self.url = f"http://127.0.0.1:{port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log = (folder.parent / "chroma.log").open("w")
        self.proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit("chroma run did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- one case -------------------------------------------------------------------------------
def bm25s_mb(store: Any) -> float:
    import bm25s

    from assistant.retrieval.lexical import chunk_text, tokenize

    old = bm25s.BM25(k1=1.2, b=0.75)
    texts = [tokenize(chunk_text(doc, meta)) or ["\u2205"] for _, doc, meta in store.iter_chunks()]
    old.index(texts, show_progress=False)
    arrays = [old.scores[k] for k in ("data", "indices", "indptr")]
    return round(sum(a.nbytes for a in arrays) / 1e6, 1)


def index_mb(store: Any) -> float:
    rows = store._lexical_index()
    index = rows.index
    arrays = [index.base.indptr, index.base.docs, index.base.tfs, index.lengths, index.alive]
    arrays += [rows.sources, rows.days, rows.seqs]
    return round(sum(a.nbytes for a in arrays) / 1e6, 1)


def run_case(
    size: int, mode: str, base: tuple[list[dict[str, Any]], np.ndarray], args: Any, tmp: Path
) -> dict[str, Any]:
    folder = tmp / f"{mode}-{size}"
    data = folder / "data"
    server = Server(folder / "chroma", free_port()) if mode == "server" else None
    url = server.url if server else None
    try:
        settings = settings_for(data, url)
        embedder = make_embedder(settings)
        store = open_store(settings)
        rng, nrng = random.Random(args.seed), np.random.default_rng(args.seed)
        start = time.perf_counter()
        for at in range(0, size, 5000):
            ids, vecs, texts, metas = retrieval.synthesise(
                *base, at, min(5000, size - at), rng, nrng, 0.03
            )
            store.upsert(ids, vecs, texts, metas)
        fill = time.perf_counter() - start
        log(f"{mode} {size}: filled in {fill:.1f} s")
        reader = Retriever(
            store, embedder, fetch_k=settings.fetch_k, max_per_article=settings.max_per_article
        )
        start = time.perf_counter()
        reader.retrieve("harbour schedule", settings.k)
        first_build = time.perf_counter() - start
        tag = f"{mode}{size}"
        # Server: a second app process writes; embedded: a second store object, same process.
        wrote = helper("write", data, url, tag) if server else write_one(data, None, tag)
        while not found(reader, tag, settings.k):
            if time.time() - wrote["end"] > VISIBLE_TIMEOUT_S:
                raise SystemExit(f"{mode} {size}: the new article never became visible")
        visible = time.time() - wrote["end"]
        catch_ups = store._lexical.full_builds
        fresh = helper("first", data, url, tag)
        result = {
            "chunks": store.count(),
            "fill_s": round(fill, 1),
            "first_build_s": round(first_build, 3),
            "write_s": round(wrote["write_s"], 3),
            "visible_s": round(visible, 3),
            "new_process_first_search_s": round(fresh["first_search_s"], 3),
            "new_process_found": bool(fresh["found"]),
            "new_process_rss_mb": fresh["rss_mb"],
            "reader_full_builds": catch_ups,
            "reader_index_mb": index_mb(store),
        }
        if args.compare:
            result["bm25s_index_mb"] = bm25s_mb(store)
        return result
    finally:
        while EXITING:
            EXITING.pop().wait(timeout=120)
        if server:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] in ("--write", "--first"):
        kind, data, url, tag = sys.argv[1][2:], Path(sys.argv[2]), sys.argv[3] or None, sys.argv[4]
        out = write_one(data, url, tag) if kind == "write" else first_search(data, url, tag)
        print(json.dumps(out), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--modes", nargs="+", default=["embedded", "server"])
    parser.add_argument("--base", type=int, default=300, help="real chunks embedded once")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-compare", dest="compare", action="store_false", help="skip the bm25s memory figure"
    )
    args = parser.parse_args()
    os.environ.setdefault("ASSISTANT_RERANKER", "none")
    figures: dict[str, Any] = {"benchmark": "freshness", **common.machine(), "sizes": {}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as name:
        tmp = Path(name)
        settings = common.settings(tmp / "base")
        base = retrieval.base_chunks(
            make_embedder(settings), settings, common.weeks(None, 1), args.base
        )
        for size in args.sizes:
            for mode in args.modes:
                got = run_case(size, mode, base, args, tmp)
                log(f"{mode} {size}: {json.dumps(got)}")
                figures["sizes"].setdefault(str(size), {})[mode] = got
                rows.append(
                    [
                        f"{size:,}",
                        mode,
                        got["write_s"],
                        got["visible_s"],
                        got["new_process_first_search_s"],
                        got["first_build_s"],
                        got["reader_index_mb"],
                        got.get("bm25s_index_mb", ""),
                        got["new_process_rss_mb"],
                    ]
                )
    headers = [
        "chunks",
        "mode",
        "write s",
        "visible s",
        "new process first s",
        "first build s",
        "index MB",
        "bm25s MB",
        "new process RSS MB",
    ]
    print(common.table(rows, headers))
    common.emit(figures)


if __name__ == "__main__":
    main()
