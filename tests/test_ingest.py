"""Ingestion against the real embedding model and real Chroma (embedded and server)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS, free_port, make_settings, run_cli

from assistant.core import Assistant
from assistant.ingest.chunking import chunk_article, chunk_header
from assistant.ingest.sources import from_text
from assistant.retrieval.filters import Filters

SEED_IDS = sorted(p.stem for p in SEEDS.glob("*.txt"))


def _versions(assistant: Assistant) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for _, _, meta in assistant.store.iter_chunks():
        out.setdefault(meta["article_id"], Counter())[meta["version"]] += 1
    return out


def _consistent(assistant: Assistant) -> None:
    """Every article has exactly one version, complete."""
    metas = {m["article_id"]: m for _, _, m in assistant.store.iter_chunks()}
    for article_id, versions in _versions(assistant).items():
        assert len(versions) == 1, f"{article_id} has several versions: {versions}"
        (count,) = versions.values()
        assert count == metas[article_id]["n_chunks"], f"{article_id} is incomplete"


def test_seeds_twice_adds_nothing(fresh: Assistant) -> None:
    first = fresh.ingest([str(SEEDS)])
    assert sorted(first.ingested) == SEED_IDS and not first.failed
    count = fresh.store.count()
    second = fresh.ingest([str(SEEDS)])
    assert sorted(second.unchanged) == SEED_IDS and not second.ingested
    assert fresh.store.count() == count
    listed = {a.id: a for a in fresh.store.articles()}
    assert listed["000_096cb9fdbfc8fb30"].source == "Gulan Media"
    assert listed["004_55e5600d96472930"].date == "unknown"


def test_chunks_fit_the_model_window_and_point_at_the_text(assistant: Assistant) -> None:
    text = (SEEDS / "003_5636c687975dd817.txt").read_text(encoding="utf-8") * 3
    article = from_text(text, article_id="long", origin="long.txt")
    chunks = chunk_article(
        article, max_tokens=200, overlap_tokens=32, count_tokens=assistant.embedder.count_tokens
    )
    sizes = assistant.embedder.count_tokens([c.text for c in chunks])
    assert max(sizes) <= assistant.embedder.max_tokens == 254
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
    covered: set[int] = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    words = [i for i, ch in enumerate(article.text) if not ch.isspace()]
    assert all(i in covered for i in words), "some text is in no chunk"


def test_changed_file_replaces_and_copy_is_duplicate(fresh: Assistant, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    fresh.ingest([str(folder)])
    target = folder / "000_096cb9fdbfc8fb30.txt"
    target.write_text(
        target.read_text(encoding="utf-8") + "\nBagheri later flew to Erbil for talks.\n",
        encoding="utf-8",
    )
    shutil.copy(folder / "003_5636c687975dd817.txt", folder / "zarif-copy.txt")
    report = fresh.ingest([str(folder)])
    assert report.updated == ["000_096cb9fdbfc8fb30"]
    assert report.duplicates == ["zarif-copy"]
    _consistent(fresh)
    # The store now holds exactly what a clean ingest of the changed folder holds.
    clean = Assistant(make_settings(tmp_path / "clean"))
    clean.ingest([str(folder)])
    assert fresh.store.count() == clean.store.count()
    assert fresh.store.articles() == clean.store.articles()
    text, _ = fresh.store.article_text("000_096cb9fdbfc8fb30")
    assert "flew to Erbil" in text
    assert "zarif-copy" not in {a.id for a in fresh.store.articles()}


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/article":
            body = (
                b"<html><head><title>Local page</title><meta name='date' content='2024-05-01'>"
                b"</head><body><article><p>Kataib Hezbollah announced a pause in attacks. "
                b"The group said it acted to avoid embarrassing the Iraqi government.</p>"
                b"</article></body></html>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def web_pages() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_bad_inputs_are_reported_and_never_stop_the_batch(tmp_path: Path, web_pages: str) -> None:
    data = tmp_path / "data"
    env = {"ASSISTANT_DATA_DIR": str(data)}
    assert run_cli("ingest", str(SEEDS), env=env).returncode == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("")
    (bad / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)))
    (bad / "latin.txt").write_bytes(
        "Le ministre a visité Bagdad. Il a rencontré le président.".encode("cp1252")
    )
    (bad / "slides.pdf").write_bytes(b"%PDF-1.4")
    with open(bad / "huge.txt", "wb") as handle:
        handle.write(b"Iraq and Iran signed an accord. " * (50 * 1024 * 1024 // 32))
    (bad / "good.md").write_text(
        "# Border talks\n\nIraqi and Iranian officials discussed the border.\n"
    )
    closed = f"http://127.0.0.1:{free_port()}/gone"
    result = run_cli(
        "ingest",
        str(bad),
        str(tmp_path / "missing.txt"),
        f"{web_pages}/nothing",
        closed,
        f"{web_pages}/article",
        env=env,
    )
    err = result.stderr
    assert result.returncode == 1
    assert "empty.txt: empty file" in err
    assert "image.txt: binary file" in err
    assert "latin.txt: not valid UTF-8" in err and "cp1252" in err
    assert "slides.pdf: unsupported file type '.pdf'" in err
    assert "huge.txt: skipped, 52.4 MB exceeds the 20 MB limit" in err
    assert "missing.txt: no such file or folder" in err
    assert f"{web_pages}/nothing: HTTP 404" in err
    assert f"{closed}: could not fetch" in err
    assert "Traceback" not in err
    summary = result.stdout.splitlines()[0]
    assert summary.startswith("ingested 3, updated 0, unchanged 0, duplicates 0, skipped 7")
    listed = json.loads(run_cli("sources", "--json", env=env).stdout)
    ids = {a["id"] for a in listed}
    assert set(SEED_IDS) <= ids and {"latin", "good"} <= ids
    page = next(a for a in listed if a["id"].startswith("url-"))
    assert page["title"] == "Local page" and page["date"] == "2024-05-01"


def test_sources_and_remove_through_the_cli(seeded_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "copy"
    shutil.copytree(seeded_dir, data)
    env = {"ASSISTANT_DATA_DIR": str(data)}
    listing = run_cli("sources", env=env)
    assert listing.returncode == 0 and "Gulan Media" in listing.stdout
    assert "5 articles" in listing.stdout
    removed = run_cli("remove", "004_55e5600d96472930", env=env)
    assert removed.returncode == 0 and "removed 004_55e5600d96472930" in removed.stdout
    again = run_cli("remove", "004_55e5600d96472930", env=env)
    assert again.returncode == 1 and "no stored article" in again.stderr
    ids = {a["id"] for a in json.loads(run_cli("sources", "--json", env=env).stdout)}
    assert ids == set(SEED_IDS) - {"004_55e5600d96472930"}


def test_other_chunk_settings_use_another_collection(seeded_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "copy"
    shutil.copytree(seeded_dir, data)
    other = Assistant(make_settings(data, chunk_tokens=120), chat_model=None)
    assert other.store.count() == 0
    assert other.store.stale_collections(), "the old collection should be reported"
    result = run_cli(
        "sources", env={"ASSISTANT_DATA_DIR": str(data), "ASSISTANT_CHUNK_TOKENS": "120"}
    )
    assert "re-ingest" in result.stderr


def _corpus(folder: Path, n: int) -> Path:
    path = folder / "many.jsonl"
    base = (SEEDS / "001_96903b644adc0fa3.txt").read_text(encoding="utf-8")
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            text = f"Report number {i} from the border region.\n\n{base}\n\nClosing note {i}."
            handle.write(
                json.dumps({"id": f"a{i:03d}", "title": f"Report {i}", "text": text}) + "\n"
            )
    return path


def test_kill_during_ingest_then_rerun_is_consistent(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path, 60)
    data = tmp_path / "data"
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data)}
    cmd = [sys.executable, "-m", "assistant", "ingest", str(corpus)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checker = Assistant(make_settings(data), chat_model=None)
    deadline = time.monotonic() + 240
    while checker.store.count() == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = checker.store.count()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    store = Assistant(make_settings(data), chat_model=None)
    _consistent(store)
    assert len(_versions(store)) == 60, f"articles missing after rerun (partial count {partial})"
    final = store.store.count()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.stdout.startswith("ingested 0, updated 0, unchanged 60")
    assert Assistant(make_settings(data), chat_model=None).store.count() == final


def test_chroma_server_mode(chroma_server: str, tmp_path: Path) -> None:
    env = {"ASSISTANT_CHROMA_URL": chroma_server, "ASSISTANT_DATA_DIR": str(tmp_path / "unused")}
    result = run_cli("ingest", str(SEEDS), env=env)
    assert result.returncode == 0, result.stderr
    assert chroma_server in result.stdout
    listed = json.loads(run_cli("sources", "--json", env=env).stdout)
    assert sorted(a["id"] for a in listed) == SEED_IDS
    unused = tmp_path / "unused"  # converted models may be kept there, never a store
    left = sorted(p.name for p in unused.iterdir()) if unused.exists() else []
    assert set(left) <= {"models"}, f"server mode wrote a local store: {left}"
    answer = json.loads(
        run_cli("ask", "At whose invitation did Zarif come to Baghdad?", "--json", env=env).stdout
    )
    assert "Hakim" in answer["answer"]
    # Answers across the collection read every article's metadata from the server too.
    timeline = _ask_json("What happened between Iran and Iraq, in order?", env)
    days = [s["date"] for s in timeline["sentences"] if s["date"]]
    assert timeline["intent"] == "timeline" and len(days) >= 3 and days == sorted(days)
    assert len(timeline["answer"].splitlines()) == len(timeline["sentences"])  # one per line
    recent = _ask_json("What is new since January 2025?", env)
    assert recent["intent"] == "recency" and recent["citations"]
    assert all(c["date"] >= "2025-01-01" for c in recent["citations"])
    outlets = _ask_json("Which outlets reported on Bagheri?", env)
    assert outlets["intent"] == "coverage" and "Gulan Media" in outlets["answer"]


def _ask_json(question: str, env: dict[str, str]) -> dict[str, Any]:
    result = run_cli("ask", question, "--json", env=env)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    assert not answer["refused"], answer["answer"]
    return answer


def test_unreachable_chroma_server_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("sources", env={"ASSISTANT_CHROMA_URL": url})
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: the Chroma server at {url} is not reachable")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


_PLANT_FILLER = [
    "The ceremony was attended by provincial officials, engineers and local tribal leaders.",
    "Construction began three years ago after repeated delays over financing and land rights.",
    "A consortium of regional contractors built the intake, the filters and the pumping station.",
    "Officials said the design was chosen to cope with the high salinity of the river in summer.",
    "Residents have complained for years about brackish tap water and frequent outages.",
    "The governor thanked the workers and promised that maintenance would be properly funded.",
    "Critics noted that similar projects elsewhere in the country had stalled after opening.",
    "The ministry said a monitoring team would publish water quality figures every quarter.",
    "Farmers downstream asked for guarantees that irrigation would not be cut as a result.",
    "Power for the site comes from a dedicated line connected to the national grid.",
    "A training programme for local technicians ran alongside the construction work.",
    "The project is part of a wider plan to rehabilitate water infrastructure in the south.",
]


def _plant_article(article_id: str, title: str, late: str) -> dict[str, str]:
    body = " ".join(_PLANT_FILLER) + "\n\n" + " ".join(reversed(_PLANT_FILLER))
    return {"id": article_id, "title": title, "text": f"{body}\n\n{late}"}


def test_embedded_headers_find_a_chunk_by_its_article_title(tmp_path: Path) -> None:
    """With ASSISTANT_EMBED_HEADERS, chunks embed their article's title and date, so a
    passage that never names its subject ("It will provide ...") is still found by it.
    The stored passage text stays the article's own, so citations and spans hold, and
    header plus text still fit the model's window."""
    headed = Assistant(make_settings(tmp_path / "data", embed_headers=True), chat_model=None)
    feed = tmp_path / "plants.jsonl"
    articles = [
        _plant_article(
            "basra",
            "Basra desalination plant opens on the Shatt al-Arab",
            "It will provide 250,000 people with clean water from next month.",
        ),
        # Worded closer to the question, but about another plant: without headers,
        # the dense search ranks Basra's first chunk (with the title, no figure) first.
        _plant_article(
            "najaf",
            "Najaf water treatment plant expansion approved",
            "The facility will supply 180,000 residents with drinking water from next month.",
        ),
    ]
    feed.write_text("\n".join(json.dumps(a) for a in articles), encoding="utf-8")
    assert not headed.ingest([str(feed), str(SEEDS)]).skipped
    question = "How many residents will the Basra desalination plant supply with drinking water?"
    vector = headed.embedder.embed_query(question)
    top, _ = headed.store.dense_search(vector, 1, Filters())[0]
    assert top.article_id == "basra" and "250,000" in top.text
    assert "Basra" not in top.text, "the late chunk should not contain the title itself"
    text, _ = headed.store.article_text("basra")
    assert text[top.start : top.end] == top.text
    for _, chunk, meta in headed.store.iter_chunks():
        embedded = f"{chunk_header(meta['title'], meta['date'])}\n{chunk}"
        size = headed.embedder.count_tokens([embedded])[0]
        assert size <= headed.embedder.max_tokens, meta["article_id"]


def _feed(path: Path, articles: list[dict[str, str]]) -> str:
    path.write_text("\n".join(json.dumps(a) for a in articles), encoding="utf-8")
    return str(path)


def _lexical_ids(assistant: Assistant, query: str, filters: Filters | None = None) -> list[str]:
    return [p.article_id for p, _ in assistant.store.lexical_search(query, 5, filters or Filters())]


def test_the_next_process_loads_the_saved_bm25_index(tmp_path: Path) -> None:
    """A CLI question or eval run after the first one does not re-read every chunk to
    build BM25: it loads the index the first process saved, with the same results and
    the same filters."""
    data = tmp_path / "data"
    first = Assistant(make_settings(data), chat_model=None)
    first.ingest([str(SEEDS)])
    query = "Zarif Hakim invitation Baghdad"
    expected = _lexical_ids(first, query)
    assert expected, "the seeds answer this question lexically"
    assert len(list((data / "bm25").iterdir())) == 1

    second = Assistant(make_settings(data), chat_model=None)

    def no_reading(*_: object) -> Iterator[tuple[str, str, dict[str, str]]]:
        raise AssertionError("the saved index should have been loaded, not rebuilt")

    second.store.iter_chunks = no_reading  # type: ignore[method-assign]
    assert _lexical_ids(second, query) == expected
    outlets = {a.id: a.source for a in first.store.articles()}
    assert len({outlets[k] for k in _lexical_ids(second, "Iraq Iran")}) > 1
    kept = _lexical_ids(second, "Iraq Iran", Filters(sources=("jpost.com",)))
    assert kept and {outlets[k] for k in kept} == {"jpost.com"}, "filters hold on a loaded index"


def test_a_saved_bm25_index_never_outlives_a_write_from_another_process(tmp_path: Path) -> None:
    """An article updated in place (same number of chunks, so the count alone cannot tell)
    by one process is found by its new words in the next process, not by its old ones."""
    data = tmp_path / "data"
    body = " ".join(_PLANT_FILLER[:4])
    old = {"id": "plant", "title": "Basra plant", "text": f"{body} The engineer was Alpharetta."}
    new = {**old, "text": f"{body} The engineer was Omegaville."}
    writer = Assistant(make_settings(data), chat_model=None)
    writer.ingest([_feed(tmp_path / "v1.jsonl", [old])])
    reader = Assistant(make_settings(data), chat_model=None)
    assert _lexical_ids(reader, "Alpharetta") == ["plant"]  # builds and saves the index
    count = writer.store.count()

    report = writer.ingest([_feed(tmp_path / "v2.jsonl", [new])])
    assert len(report.updated) == 1 and writer.store.count() == count

    for process in (reader, Assistant(make_settings(data), chat_model=None)):
        assert _lexical_ids(process, "Omegaville") == ["plant"]
        assert _lexical_ids(process, "Alpharetta") == []


def test_a_damaged_saved_bm25_index_is_rebuilt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Assistant(make_settings(data), chat_model=None)
    first.ingest([str(SEEDS)])
    expected = _lexical_ids(first, "Zarif Hakim invitation Baghdad")
    for rows in (data / "bm25").rglob("rows.json"):
        rows.write_text('{"ids": ', encoding="utf-8")
    again = Assistant(make_settings(data), chat_model=None)
    assert _lexical_ids(again, "Zarif Hakim invitation Baghdad") == expected
