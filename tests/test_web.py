"""The web page's rendering and handlers, over a real seeded Assistant; a bounded load test.

Rendering tests build `Answer`s by hand (they are plain records) and check the
HTML the page shows: escaping of hostile article text, citation links, marks
on unsupported sentences, highlighted support. Handler tests drive the real
core (temp Chroma folder, the real embedder, the extractive answerer). The load
test starts the app on 127.0.0.1 and sends 20 questions at once through
gradio_client.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from web_helpers import free_port, make_settings, running_app, seeded_assistant

from assistant.answer import Assistant
from assistant.errors import AssistantError, ConfigError
from assistant.phrases import EXTRACTIVE_LABEL, REFUSAL
from assistant.schema import (
    Answer,
    Citation,
    Evidence,
    Passage,
    SentenceCheck,
    StoredArticle,
)
from assistant.web import (
    Handlers,
    Session,
    esc,
    highlight,
    make_filters,
    name_uploads,
    parse_auth,
    passage_spans,
    render_answer,
    render_article,
    render_citation,
    render_panel,
    render_sources,
    safe_url,
    timeline_figure,
    timeline_points,
)

T = TypeVar("T")
HOSTILE = (
    "Officials met in Basra. <script>window.__xss=1</script> "
    'They signed a deal <img src=x onerror="window.__xss=1"> on trade. '
    "A template ${window.__xss=1} and {{constructor}} too."
)


def passage(text: str = HOSTILE, start: int = 100, **meta: str) -> Passage:
    fields = {
        "title": "Talks <b>in</b> Basra",
        "date": "2025-03-10",
        "source": "Basra Daily",
        "url": "https://example.org/a?x=1&y=2",
        **meta,
    }
    return Passage(
        chunk_id="a:0",
        article_id="a",
        text=text,
        start=start,
        end=start + len(text),
        title=fields["title"],
        date=fields["date"],
        source=fields["source"],
        url=fields["url"],
    )


def citation(n: int, p: Passage, *sentences: str, supported: bool = True) -> Citation:
    """Source n: passage p's article, resting on the given sentences of p."""
    spans = tuple(
        (p.start + p.text.index(s), p.start + p.text.index(s) + len(s)) for s in sentences
    )
    return Citation(
        n=n,
        article_id=p.article_id,
        title=p.title,
        source=p.source,
        date=p.date,
        url=p.url,
        evidence=(Evidence(p, spans),),
        supported=supported,
    )


def no_live_markup(html: str) -> None:
    """No element or handler from the hostile text survives as markup."""
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert not re.search(r"<[^>]*\bonerror\s*=", html, re.I)
    assert "${" not in html and "{{" not in html


# --- pure rendering -----------------------------------------------------------------
def test_esc_neutralises_markup_and_templates() -> None:
    out = esc(HOSTILE)
    no_live_markup(out)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in out
    assert "onerror=&quot;window.__xss=1&quot;" in out


def test_safe_url_only_keeps_http_links() -> None:
    assert safe_url("https://example.org/a?x=1&y=2") == "https://example.org/a?x=1&amp;y=2"
    assert safe_url("javascript:window.__xss=1") == ""
    assert safe_url('https://x.org/"><script>') == "https://x.org/&quot;&gt;&lt;script&gt;"


def test_source_card_escapes_article_text_and_highlights_the_sentence() -> None:
    p = passage(url="javascript:window.__xss=1")
    sentence = 'They signed a deal <img src=x onerror="window.__xss=1"> on trade.'
    html = render_citation(citation(2, p, sentence), turn=3, article="")
    no_live_markup(html)
    assert 'id="src-3-2"' in html
    marked = re.search(r'<mark class="support">(.*?)</mark>', html)
    assert marked and marked.group(1) == esc(sentence)
    assert "Talks &lt;b&gt;in&lt;/b&gt; Basra" in html
    assert "javascript:" not in html  # the unsafe url is dropped, not linked


def test_whole_article_view_highlights_by_article_offsets() -> None:
    article = "Headline\n\n" + "x" * 90 + HOSTILE
    p = passage(start=100)
    c = citation(1, p, "Officials met in Basra.")
    html = render_citation(c, turn=0, article=article)
    no_live_markup(html)
    marked = '<mark class="support">Officials met in Basra.</mark>'
    assert html.count(marked) == 2  # in the passage and in the whole article


def test_passage_spans_are_relative_to_the_passage() -> None:
    p = passage(start=500)
    c = citation(1, p, "Officials met in Basra.")
    assert passage_spans(c.evidence[0]) == [(0, len("Officials met in Basra."))]
    assert highlight("abc", [(5, 9)]) == "abc"  # a span outside the text highlights nothing


def test_every_quoted_sentence_of_a_passage_is_highlighted() -> None:
    """An answer quoting two sentences of one passage ([1] twice) marks both."""
    p = passage()
    first, second = "Officials met in Basra.", "They signed a deal"
    a, b = p.text.index(first), p.text.index(second)
    c = citation(1, p, first, second)
    assert (a, b) == (p.text.index(first), p.text.index(second))
    marks = re.findall(r'<mark class="support">(.*?)</mark>', render_citation(c, turn=0))
    assert marks == [first, second]


def test_answer_links_citations_and_marks_unsupported_sentences() -> None:
    text = "Zarif met Rashid [1]. He also met the moon [2, 3]. Done <b>[4]</b>."
    first, second = "Zarif met Rashid [1].", "He also met the moon [2, 3]."
    a, b = text.index(second), text.index(second) + len(second)
    answer = Answer(
        question="q",
        text=text,
        refused=False,
        mode="openai:m",
        sentences=[
            SentenceCheck(first, 0, len(first), (1,), 0.9, True),
            SentenceCheck(second, a, b, (2, 3), 0.1, False),
        ],
    )
    html = render_answer(answer, turn=4)
    for n in (1, 2, 3, 4):
        assert f'href="#src-4-{n}"' in html
    assert "[2, 3]" not in html  # a group becomes two links
    assert re.search(r'<span class="unsupported"[^>]*>He also met the moon', html)
    assert "⚠ unsupported" in html
    assert not re.search(r'<span class="unsupported"[^>]*>Zarif', html)
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert "1 of 2 sentences not supported" in html


def test_extractive_answers_carry_their_label_and_refusals_show_no_sources() -> None:
    answer = Answer(question="q", text=REFUSAL, refused=True, mode="extractive")
    assert EXTRACTIVE_LABEL not in render_answer(answer, 0)
    assert "No sources" in render_sources(answer, 0)
    answer = Answer(question="q", text="A [1].", refused=False, mode="extractive")
    assert EXTRACTIVE_LABEL in render_answer(answer, 0)


def test_panel_keeps_older_answers_folded_and_escapes_questions() -> None:
    html = render_panel([("first <i>q</i>", "<p>one</p>"), ("second", "<p>two</p>")])
    assert html.index("second") < html.index("first")
    assert html.count(" open>") == 1
    assert "first &lt;i&gt;q&lt;/i&gt;" in html


def test_article_reader_escapes_everything() -> None:
    stored = StoredArticle(
        id="x<y",
        title='T <img src=x onerror="1">',
        date="unknown",
        source="<s>",
        url="javascript:1",
        chunks=1,
    )
    html = render_article(stored, HOSTILE)
    no_live_markup(html)
    assert "undated" in html and "javascript:" not in html


def test_timeline_places_dated_articles_and_names_undated_ones() -> None:
    dated, undated = passage(start=0), passage(start=0, date="unknown", title="No date here")
    undated = Passage(**{**undated.to_dict(), "article_id": "b", "chunk_id": "b:0"})
    cited = citation(1, dated, "Officials met in Basra.")
    answer = Answer(
        question="q",
        text="x [1]",
        refused=False,
        mode="extractive",
        passages=[undated, dated],
        citations=[cited],
    )
    points = timeline_points(answer)
    assert [p.cited for p in points] == [(1,), ()]
    assert points[0].day is not None and points[1].day is None
    fig = timeline_figure(points)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("[1] Talks") for t in texts)
    assert "No date here" in fig.axes[0].get_xlabel()


def test_filters_auth_and_upload_names() -> None:
    assert make_filters([], "", " ") is None
    f = make_filters(["Gulan Media"], "2024-01-01", "")
    assert f is not None and f.sources == ("Gulan Media",) and f.since == "2024-01-01"
    with pytest.raises(ConfigError, match=r"^Since 'March 2024' is not a date"):
        make_filters(None, "March 2024", "")
    # The page and the command line read dates by one rule: a written-out date is fine.
    spelled = make_filters(None, "", "March 5, 2024")
    assert spelled is not None and spelled.until == "2024-03-05"
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    assert parse_auth(None) is None
    with pytest.raises(ConfigError):
        parse_auth("nopassword")
    temp = "/tmp/gradio/ab12/bad.jsonl"
    lines = name_uploads([f"{temp}:1: invalid JSON"], [temp])
    assert lines == ["bad.jsonl:1: invalid JSON"]


# --- handlers over the real core ------------------------------------------------------------
@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return seeded_assistant(tmp_path_factory.mktemp("web-data"))


def last(items: Iterator[T]) -> T:
    """The final item a streaming handler yields."""
    *_, final = items
    return final


def test_chat_streams_a_cited_answer_then_sources_and_timeline(assistant: Assistant) -> None:
    h, session = Handlers(assistant), Session()
    shown = []
    for step in h.chat("Who did Zarif meet in Baghdad?", session, [], "", ""):
        shown.append(step[0][-1]["content"])
    assert shown[0] == "…"  # the placeholder shows at once
    messages, session, panel, figure, _ = step
    reply = messages[-1]["content"]
    assert 'class="cite" href="#src-0-' in reply
    answer = assistant.ask("Who did Zarif meet in Baghdad?")
    for c in answer.citations:
        assert f'id="src-0-{c.n}"' in panel
        for sentence in c.sentences:
            assert f'<mark class="support">{esc(sentence)}</mark>' in panel
    assert figure is not None


def test_follow_up_uses_the_conversation(assistant: Assistant) -> None:
    h, session = Handlers(assistant), Session()
    last(h.chat("Who did Zarif meet in Baghdad?", session, [], "", ""))
    messages, session, panel, _, _ = last(
        h.chat("What did he discuss with the president?", session, [], "", "")
    )
    assert isinstance(session, Session) and len(session.history) == 2
    assert len(messages) == 4
    assert "src-1-" in messages[-1]["content"]
    assert "Sources for: What did he discuss" in panel
    standalone = assistant.ask("What did he discuss with the president?", session.history[:1])
    assert "Zarif" in standalone.standalone_question


def test_filters_reach_the_core(assistant: Assistant) -> None:
    h = Handlers(assistant)
    out = h.ask_api("When did Bagheri visit Baghdad?", ["Gulan Media"], "", "")
    assert all(c["source"] == "Gulan Media" for c in out["citations"])
    assert h.ask_api("When did Bagheri visit Baghdad?", None, "2024-99-01", "")["error"]


def test_backend_failure_is_a_chat_message(assistant: Assistant) -> None:
    dead = make_settings(
        assistant.settings.data_dir,
        llm="openai:test-model",
        openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
        openai_api_key="sk-none",
        max_retries=0,
        request_timeout=5,
    )
    broken = Assistant(dead, store=assistant.store, embedder=assistant.embedder)
    with pytest.raises(AssistantError):
        broken.ask("Who did Zarif meet in Baghdad?")
    messages, _, _, _, _ = last(
        Handlers(broken).chat("Who did Zarif meet in Baghdad?", Session(), [], "", "")
    )
    assert messages[-1]["content"].startswith("⚠️ ")
    assert "openai:test-model" in messages[-1]["content"]


def test_upload_reports_bad_files_by_name_and_chat_goes_on(
    assistant: Assistant, tmp_path: Path
) -> None:
    good = tmp_path / "basra_consulate.md"
    good.write_text(
        "---\ntitle: Zarif opens a consulate in Basra\ndate: 2025-03-10\n"
        "source: Basra Daily\n---\nIran's vice president Mohammad Javad Zarif opened "
        "a new consulate in Basra on Monday. The consulate will issue visas.\n"
    )
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"title": "broken", ')
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    before = assistant.store.count()
    report, table, _, _ = last(Handlers(assistant).upload([str(good), str(bad), str(empty)]))
    assert "ingested 1" in report
    assert "broken.jsonl" in report and "empty.txt" in report
    assert str(tmp_path) not in report
    assert assistant.store.count() > before
    assert any("Basra" in row[2] for row in table.value["data"])
    out = Handlers(assistant).ask_api("Who opened a consulate in Basra?")
    assert any(c["source"] == "Basra Daily" for c in out["citations"])


# --- the running app -----------------------------------------------------------------------
@pytest.mark.slow
def test_twenty_questions_at_once_all_get_answers(assistant: Assistant) -> None:
    from gradio_client import Client

    questions = [
        "Who did Zarif meet in Baghdad?",
        "When did Bagheri visit Baghdad?",
        "What did Iran's defense minister offer Iraq?",
        "Who did Araghchi meet in Tehran?",
    ] * 5
    with running_app(assistant) as app:
        client = Client(app.url, verbose=False)
        started = time.monotonic()
        jobs = [client.submit(q, None, "", "", api_name="/ask") for q in questions]
        results = [job.result(timeout=240) for job in jobs]
        elapsed = time.monotonic() - started
    assert len(results) == 20
    for question, result in zip(questions, results, strict=True):
        assert "error" not in result, result
        assert result["question"] == question and result["answer"].strip()
    assert sum(bool(r["citations"]) for r in results) >= 15
    assert elapsed < 240
