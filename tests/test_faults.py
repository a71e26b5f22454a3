"""Faults: a Chroma server that dies, hangs or comes back; a model server killed while it
streams; questions asked while an ingest writes.

Real servers on 127.0.0.1 (`chroma run`, llama.cpp's OpenAI-protocol server), each
outage bounded in time. What a user must see: one line naming the server that went
away (never an httpx traceback), the page's `/ask` handler answering with that line
instead of failing, and the next question after the server is back answered by the
same `Assistant`, without a restart. An ingest that met the outage is finished by a
re-run with nothing duplicated. The lexical index read while a write was landing is
never kept as the collection's state.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS, make_settings
from servers import (
    ChromaServer,
    LlamaServer,
    StallingProxy,
    real_llama_server,
)

from assistant.base.errors import ModelError, StoreError
from assistant.base.schema import Answer
from assistant.core import Assistant
from assistant.retrieval.filters import Filters
from assistant.retrieval.lexical import LexicalCache, LexicalRows

QUESTION = "At whose invitation did Zarif come to Baghdad?"


def _feed(path: Path, n: int, prefix: str = "extra") -> str:
    rows = [
        {
            "id": f"{prefix}-{i:03d}",
            "title": f"Border post {i} reopens",
            "text": f"Border post number {i} ({prefix}) between Iraq and Iran reopened after "
            f"{i % 9 + 2} days of repairs. Traders said queues of trucks formed at post {i}.",
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return str(path)


def _consistent(assistant: Assistant) -> dict[str, int]:
    """Article id -> chunk count; fails when an article holds two versions or is partial."""
    versions: dict[str, Counter[str]] = {}
    expected: dict[str, int] = {}
    for _, _, meta in assistant.store.iter_chunks():
        versions.setdefault(meta["article_id"], Counter())[meta["version"]] += 1
        expected[meta["article_id"]] = int(meta["n_chunks"])
    for article_id, found in versions.items():
        assert len(found) == 1, f"{article_id} has several versions: {found}"
        assert next(iter(found.values())) == expected[article_id], f"{article_id} is partial"
    return {a: sum(v.values()) for a, v in versions.items()}


def _one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message
    return message


# --- the lexical index and concurrent writes (no server) ----------------------------------


def test_a_write_landing_during_a_catch_up_is_read_by_the_next_question() -> None:
    """Another process writes while this one reads the changes: the index served is whole
    (each live chunk once), and the next question reads the finished write."""
    from test_lexical import MemorySource

    source = MemorySource()
    source.write({f"c{i}": f"Border post near {town} reopened" for i, town in enumerate(_TOWNS)})
    cache = LexicalCache(None)
    cache.get(source)
    reading = source.chunks_since

    def landing(sequence: int) -> list[tuple[str, str, dict[str, Any]]]:
        rows = list(reading(sequence))
        source.write({"late": "Border post near Zakho reopened"})  # lands mid-catch-up
        return rows

    source.write({"mid": "Border post near Duhok reopened"})
    source.chunks_since = landing  # type: ignore[method-assign]
    during = cache.get(source)
    assert len(during.ids) == len(set(during.ids)) == during.count
    source.chunks_since = reading  # type: ignore[method-assign]
    after = cache.get(source)
    assert after.count == len(source.chunks) == len(_TOWNS) + 2
    assert [cid for cid, _ in after.search("Zakho", 1, Filters())] == ["late"]


_TOWNS = ["Basra", "Mosul", "Erbil", "Najaf", "Karbala", "Kirkuk"]


@pytest.mark.slow
def test_questions_keep_being_answered_while_an_ingest_writes(
    seeded_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(seeded_dir, data)
    assistant = Assistant(make_settings(data), chat_model=None)
    assistant.store.warm()
    served: list[tuple[str, int, list[str]]] = []  # (revision, count, ids) as served
    original = assistant.store._lexical.get

    def spy(*args: Any, **kwargs: Any) -> LexicalRows:
        rows = original(*args, **kwargs)
        served.append((rows.revision, rows.count, rows.ids))
        return rows

    assistant.store._lexical.get = spy  # type: ignore[method-assign]
    assert "Hakim" in assistant.ask(QUESTION).text  # warm: the judge model loads once
    feeds = [_feed(tmp_path / f"batch{b}.jsonl", 20, prefix=f"b{b}") for b in range(6)]
    failures: list[BaseException] = []
    answered = threading.Event()

    def ingest() -> None:
        try:
            for feed in feeds:  # six writes, one after the other
                assistant.ingest([feed])
                # Let a question land between this write and the next (bounded wait).
                answered.wait(timeout=30)
                answered.clear()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    writer = threading.Thread(target=ingest, name="ingest")
    writer.start()
    answers: list[Answer] = []
    deadline = time.monotonic() + 240
    while writer.is_alive() and time.monotonic() < deadline and len(answers) < 200:
        answers.append(assistant.ask(QUESTION))
        answered.set()
    writer.join(timeout=240)
    assert not writer.is_alive() and not failures, failures
    assert len(answers) >= len(feeds), "questions stopped while the ingest wrote"
    for answer in answers:
        assert not answer.refused and "Hakim" in answer.text, answer.text
    for _, count, held in served:
        assert len(held) == count == len(set(held)), "a half-read index served"
    counts = _consistent(assistant)
    assert len(counts) == 5 + 120
    last = assistant.store._lexical_index()
    assert last.count == assistant.store.count() == len(last.ids)
    hits = assistant.store.lexical_search("border post 17 b5", 10, Filters())
    assert any(p.article_id == "b5-017" for p, _ in hits)


# --- a Chroma server that goes away --------------------------------------------------------


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    with ChromaServer(tmp_path / "chroma") as server:
        yield server


def _client(url: str, tmp_path: Path, **extra: Any) -> Assistant:
    values: dict[str, Any] = {"chroma_url": url, "chroma_timeout": 5.0, **extra}
    settings = make_settings(tmp_path / "unused", **values)
    return Assistant(settings, chat_model=None)


@pytest.mark.slow
def test_chroma_server_killed_then_restarted(chroma: ChromaServer, tmp_path: Path) -> None:
    from assistant.web.app import Handlers

    assistant = _client(chroma.url, tmp_path)
    assert sorted(assistant.ingest([str(SEEDS)]).ingested)
    assert "Hakim" in assistant.ask(QUESTION).text
    page = Handlers(assistant)

    chroma.kill()
    started = time.monotonic()
    with pytest.raises(StoreError) as asked:
        assistant.ask(QUESTION)
    assert time.monotonic() - started < 30
    assert _one_line(asked.value).startswith(f"the Chroma server at {chroma.url} is not reachable")
    assert page.ask_api(QUESTION)["error"] == str(asked.value), "the /ask API answers the line"
    extra = _feed(tmp_path / "extra.jsonl", 12)
    with pytest.raises(StoreError) as ingested:
        assistant.ingest([extra, str(SEEDS)])
    assert _one_line(ingested.value).startswith(f"the Chroma server at {chroma.url}")

    chroma.start()  # the same folder on the same port
    answer = assistant.ask(QUESTION)
    assert "Hakim" in answer.text, "the next question works without a new Assistant"
    assert "error" not in page.ask_api(QUESTION)
    report = assistant.ingest([extra, str(SEEDS)])
    assert len(report.ingested) == 12 and len(report.unchanged) == 5
    counts = _consistent(assistant)
    assert len(counts) == 17
    again = assistant.ingest([extra, str(SEEDS)])
    assert not again.ingested and len(again.unchanged) == 17
    assert _consistent(assistant) == counts


@pytest.mark.slow
def test_questions_keep_being_answered_while_another_client_ingests_into_the_server(
    chroma: ChromaServer, tmp_path: Path
) -> None:
    """Server mode: one client asks while another writes four batches into the same Chroma
    server. Every question is answered (never an error), every BM25 index the asking
    client serves is whole (each counted chunk read once), and once the writes end its
    index is the collection's, found by the new articles' words."""
    asker = _client(chroma.url, tmp_path)
    asker.ingest([str(SEEDS)])
    writer_side = Assistant(asker.settings, embedder=asker.embedder, chat_model=None)
    served: list[tuple[str, int, list[str]]] = []  # (revision, count, ids) as served
    original = asker.store._lexical.get

    def spy(*args: Any, **kwargs: Any) -> LexicalRows:
        rows = original(*args, **kwargs)
        served.append((rows.revision, rows.count, rows.ids))
        return rows

    asker.store._lexical.get = spy  # type: ignore[method-assign]
    assert "Hakim" in asker.ask(QUESTION).text
    feeds = [_feed(tmp_path / f"batch{b}.jsonl", 10, prefix=f"s{b}") for b in range(4)]
    failures: list[BaseException] = []
    answered, asking_over = threading.Event(), threading.Event()

    def ingest() -> None:
        try:
            for feed in feeds:
                writer_side.ingest([feed])
                if not asking_over.is_set():  # a question between this write and the next
                    answered.wait(timeout=20)
                    answered.clear()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    writer = threading.Thread(target=ingest, name="server-ingest")
    started = time.monotonic()
    writer.start()
    answers: list[Answer] = []
    errors: list[BaseException] = []
    while writer.is_alive() and time.monotonic() - started < 45 and len(answers) < 200:
        try:
            answers.append(asker.ask(QUESTION))
        except Exception as exc:  # must not happen: counted and shown below
            errors.append(exc)
        answered.set()
    asking_over.set()
    answered.set()
    writer.join(timeout=60)
    assert not writer.is_alive() and not failures, failures
    assert not errors, [str(e) for e in errors]
    assert len(answers) >= len(feeds), "questions stopped while the other client wrote"
    for answer in answers:
        assert not answer.refused and "Hakim" in answer.text, answer.text
    revisions = {revision for revision, _, _ in served}
    assert len(revisions) >= 2, "the asking client never saw a write land"
    for _, count, held in served:
        assert len(held) == count == len(set(held)), "a half-read index served"
    counts = _consistent(asker)
    assert len(counts) == 5 + 4 * 10
    ids = {cid for cid, _, _ in asker.store.iter_chunks()}
    last = asker.store._lexical_index()
    assert last.count == asker.store.count() == len(ids) and set(last.ids) == ids
    hits = asker.store.lexical_search("border post 7 s3", 10, Filters())
    assert any(p.article_id == "s3-007" for p, _ in hits)


@pytest.mark.slow
def test_an_ingest_cut_by_the_server_is_finished_by_a_rerun(
    chroma: ChromaServer, tmp_path: Path
) -> None:
    """The server dies while an ingest writes: the run ends in one line, and after the
    server returns a re-run leaves every article complete and none twice."""
    assistant = _client(chroma.url, tmp_path)
    feed = _feed(tmp_path / "many.jsonl", 400)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            assistant.ingest([feed])
        except BaseException as exc:  # checked below
            errors.append(exc)

    writer = threading.Thread(target=ingest)
    writer.start()
    deadline = time.monotonic() + 120
    probe = _client(chroma.url, tmp_path)
    while writer.is_alive() and time.monotonic() < deadline and probe.store.count() == 0:
        time.sleep(0.05)
    chroma.kill()
    writer.join(timeout=120)
    assert not writer.is_alive()
    if errors:  # the usual case: the kill landed during the run
        assert isinstance(errors[0], StoreError), repr(errors[0])
        assert chroma.url in _one_line(errors[0])
    chroma.start()
    report = assistant.ingest([feed])
    assert not report.skipped
    counts = _consistent(assistant)
    assert len(counts) == 400
    assert assistant.store.count() == sum(counts.values())


@pytest.mark.slow
def test_a_hung_chroma_server_is_one_line_within_the_timeout(
    chroma: ChromaServer, tmp_path: Path
) -> None:
    with StallingProxy(chroma.port) as proxy:
        assistant = _client(proxy.url, tmp_path, chroma_timeout=2.0)
        assistant.ingest([str(SEEDS)])
        assert "Hakim" in assistant.ask(QUESTION).text
        proxy.stalled.set()
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            assistant.ask(QUESTION)
        elapsed = time.monotonic() - started
        assert elapsed < 15, f"a 2 s timeout took {elapsed:.1f} s"
        assert _one_line(info.value).startswith(f"the Chroma server at {proxy.url}")
        proxy.stalled.clear()
        assert "Hakim" in assistant.ask(QUESTION).text


# --- a model server killed while it streams -----------------------------------------------


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with real_llama_server(tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.mark.slow
def test_model_server_killed_mid_stream(llama: LlamaServer, seeded_dir: Path) -> None:
    settings = make_settings(
        seeded_dir,
        llm="openai:smollm2-135m",
        OPENAI_API_KEY="sk-test-local",
        OPENAI_BASE_URL=llama.base_url,
        request_timeout=60.0,
        max_retries=0,
        k=3,  # a shorter prompt: the small model answers sooner
    )
    assistant = Assistant(settings)
    question = "Describe in detail everything the articles say about Zarif's visit to Baghdad."
    deltas: list[str] = []
    with pytest.raises(ModelError) as info:
        for item in assistant.stream(question):
            assert not isinstance(item, Answer), "the stream finished before the kill"
            deltas.append(item)
            if len(deltas) == 1:
                llama.kill()
    assert "".join(deltas).strip(), "the partial text reached the caller first"
    message = _one_line(info.value)
    assert message.startswith("answerer openai:smollm2-135m failed"), message

    with pytest.raises(ModelError) as down:
        assistant.ask(QUESTION)
    assert "cannot reach the model server" in _one_line(down.value)
    llama.start()  # the same port: the same Assistant reaches it again
    answer = assistant.ask(QUESTION)
    assert answer.passages and answer.text.strip()


@pytest.mark.slow
def test_web_chat_keeps_the_cut_off_answer_when_the_model_server_dies(
    llama: LlamaServer, seeded_dir: Path
) -> None:
    """The page's chat handler over the real server: killed after the first text showed,
    the message keeps that text marked as cut off with the error line under it; the next
    question, once the server is back, is answered in the same session."""
    from assistant.web.app import CUT_OFF, Handlers, Session

    if llama.proc is None or llama.proc.poll() is not None:
        llama.start()
    settings = make_settings(
        seeded_dir,
        llm="openai:smollm2-135m",
        OPENAI_API_KEY="sk-test-local",
        OPENAI_BASE_URL=llama.base_url,
        request_timeout=60.0,
        max_retries=0,
        k=3,
    )
    page, session = Handlers(Assistant(settings)), Session()
    question = "Describe in detail everything the articles say about Zarif's visit to Baghdad."
    shown: list[str] = []
    started = time.monotonic()
    for messages, *_ in page.chat(question, session, [], "", ""):
        shown.append(messages[-1]["content"])
        if shown[-1].endswith(" ▌") and llama.proc is not None and llama.proc.poll() is None:
            llama.kill()  # the first streamed text is on the page
        assert time.monotonic() - started < 90
    streamed = [s for s in shown if s.endswith(" ▌")]
    assert streamed, "no text streamed before the kill"
    final = shown[-1]
    text, sep, error = final.partition(CUT_OFF)
    assert sep, f"the partial answer is not marked as cut off: {final!r}"
    assert text and streamed[-1].startswith(text), (text, streamed[-1])
    assert error.startswith("\n\n⚠️ answerer openai:smollm2-135m failed"), final
    assert "\n" not in error.strip() and "Traceback" not in error

    llama.start()
    messages, session, *_ = list(page.chat(QUESTION, session, [], "", ""))[-1]
    assert len(messages) == 4 and messages[1]["content"] == final
    reply = messages[-1]["content"]
    assert reply.strip() and "⚠️" not in reply and CUT_OFF not in reply, reply
    assert len(session.history) == 1
