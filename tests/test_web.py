"""The web page's rendering and handlers, over a real seeded Assistant; a bounded load test.

Rendering tests build `Answer`s by hand (they are plain records) and check the
HTML the page shows: escaping of hostile article text, citation links, marks
on unsupported sentences, highlighted support. Handler tests drive the real
core (temp Chroma folder, the real embedder, the extractive answerer). The load
test starts the app on 127.0.0.1 and sends 20 questions at once through
gradio_client.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import httpx
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from web_helpers import free_port, make_settings, running_app, seeded_assistant

from assistant.base.errors import AssistantError, ConfigError
from assistant.base.phrases import EXTRACTIVE_LABEL, REFUSAL
from assistant.base.schema import (
    Answer,
    Citation,
    Evidence,
    Passage,
    SentenceCheck,
    StoredArticle,
)
from assistant.core import Assistant
from assistant.web.app import (
    CUT_OFF,
    Handlers,
    Session,
    count_articles,
    cut_off,
    make_filters,
    name_uploads,
    parse_auth,
    seed,
)
from assistant.web.examples import example_questions
from assistant.web.render import (
    articles_line,
    body_without_title,
    esc,
    highlight,
    passage_spans,
    render_answer,
    render_article,
    render_articles_table,
    render_citation,
    render_panel,
    render_sources,
    safe_url,
    short_id,
)
from assistant.web.timeline import LABEL_PT, label_px, timeline_figure, timeline_points

T = TypeVar("T")
QUESTION = "At whose invitation did Zarif come to Baghdad?"
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


MARK = re.compile(r'<mark class="support" data-span="(\d+)-(\d+)" data-for="([\d ]*)">(.*?)</mark>')


def marks(html: str) -> list[str]:
    """The highlighted sentences of some HTML, as shown (escaped)."""
    return [m.group(4) for m in MARK.finditer(html)]


class Elements(HTMLParser):
    """Every element of some HTML with its attributes, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def no_live_markup(html: str) -> None:
    """No element or handler from the hostile text survives as markup."""
    elements = Elements(html).found
    assert not [tag for tag, _ in elements if tag in {"script", "img", "b", "i"}]
    assert not [attrs for _, attrs in elements if any(a.startswith("on") for a in attrs)]
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
    assert marks(html) == [esc(sentence)]
    assert "Talks &lt;b&gt;in&lt;/b&gt; Basra" in html
    assert "javascript:" not in html  # the unsafe url is dropped, not linked


def test_whole_article_view_highlights_by_article_offsets() -> None:
    article = "Headline\n\n" + "x" * 90 + HOSTILE
    p = passage(start=100)
    c = citation(1, p, "Officials met in Basra.")
    html = render_citation(c, turn=0, article=article)
    no_live_markup(html)
    # In the passage and in the whole article, both naming the same article offsets.
    assert marks(html) == ["Officials met in Basra."] * 2
    spans = {(m.group(1), m.group(2)) for m in MARK.finditer(html)}
    assert spans == {("100", str(100 + len("Officials met in Basra.")))}


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
    assert marks(render_citation(c, turn=0)) == [first, second]


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
    assert re.search(r'<span class="ans-sent unsupported" id="ans-4-1"[^>]*>He also met', html)
    assert re.search(r'<span class="ans-sent" id="ans-4-0">Zarif met Rashid', html)
    assert html.count("⚠ unsupported") == 1
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
    assert sorted(texts) == ["2025-03-10", "[1] Talks <b>in</b> Basra"]
    assert "No date here" in fig.axes[0].get_xlabel()
    assert "2025-03-10" not in fig.axes[0].get_xlabel()


def focused_answer() -> tuple[Answer, Passage, list[str]]:
    """Two answer sentences citing one article: the first rests on the passage's last
    sentence, the second on its first, so "the first mark" is the wrong one to focus."""
    text = "Talks opened in Basra. Trade was on the agenda. A deal was signed on Monday."
    p = passage(text=text, start=40)
    said = ["Talks opened in Basra.", "Trade was on the agenda.", "A deal was signed on Monday."]
    span = {x: (p.start + text.index(x), p.start + text.index(x) + len(x)) for x in said}
    one, two = "They signed a deal [1].", "The talks were in Basra [1]."
    answer_text = f"{one} {two}"
    sentences = [
        SentenceCheck(one, 0, len(one), (1,), 0.8, True, ((1, *span[said[2]]),)),
        SentenceCheck(two, len(one) + 1, len(answer_text), (1,), 0.8, True, ((1, *span[said[0]]),)),
    ]
    cited = Citation(
        1, "a", p.title, p.source, p.date, p.url,
        (Evidence(p, (span[said[0]], span[said[2]])),), True,
    )  # fmt: skip
    answer = Answer("q", answer_text, False, "extractive", citations=[cited], sentences=sentences)
    return answer, p, said


def test_each_mark_names_the_answer_sentences_resting_on_it() -> None:
    answer, p, said = focused_answer()
    html = render_sources(answer, turn=2)
    found = {m.group(4): m.group(3) for m in MARK.finditer(html)}
    # Answer sentence 0 rests on the passage's last sentence, sentence 1 on its first.
    assert found == {said[0]: "1", said[2]: "0"}
    first = MARK.search(html)
    assert first is not None and first.group(3) != "0"  # focusing "the first mark" is wrong
    a = p.start + p.text.index(said[2])
    assert f'data-span="{a}-{a + len(said[2])}" data-for="0"' in html  # article offsets
    # The card links back to the first answer sentence citing it.
    assert re.search(r'<a class="back" href="#ans-2-0" data-back="ans-2-0">', html)
    reply = render_answer(answer, turn=2)
    assert re.search(
        r'<span class="ans-sent" id="ans-2-0">They signed a deal <a class="cite" href="#src-2-1"',
        reply,
    )
    assert re.search(r'<span class="ans-sent" id="ans-2-1">The talks were in Basra <a ', reply)


def test_a_refusal_shows_why_when_the_filters_hid_the_articles() -> None:
    note = "3 articles about this are outside the filters (dated before 2025-01-01): widen them."
    answer = Answer(question="q", text=REFUSAL, refused=True, mode="extractive", note=note)
    html = render_answer(answer, 0)
    assert html.startswith(esc(REFUSAL))
    assert f'<span class="why-note">ⓘ {esc(note)}</span>' in html
    plain = Answer(question="q", text=REFUSAL, refused=True, mode="extractive")
    assert "why-note" not in render_answer(plain, 0)


def test_templates_escape_every_value() -> None:
    """Card, panel, reader and table are templates: hostile values come out as text."""
    p = passage(title=HOSTILE, source=HOSTILE, url="javascript:window.__xss=1")
    card = render_citation(citation(1, p, "Officials met in Basra."), turn=0, article=HOSTILE)
    panel = render_panel([(HOSTILE, card)])
    stored = StoredArticle(HOSTILE, HOSTILE, "2025-01-01", HOSTILE, "javascript:1", 2)
    for html in (card, panel, render_articles_table([stored]), render_article(stored, HOSTILE)):
        no_live_markup(html)
        assert "&lt;script&gt;" in html
        assert "javascript:" not in html


def test_reader_shows_the_title_once() -> None:
    title = "Talks in Basra"
    assert body_without_title("Talks  in basra\nOfficials met.", title) == "Officials met."
    assert body_without_title("\nTalks in Basra\n\nOfficials met.", title) == "Officials met."
    kept = "Talks in Basra went well.\nOfficials met."
    assert body_without_title(kept, title) == kept  # a sentence starting like it stays
    stored = StoredArticle("a", title, "2025-01-01", "Basra Daily", "", 1)
    html = render_article(stored, f"{title}\nOfficials met in Basra.")
    assert html.count(title) == 1


def test_articles_table_and_count_line() -> None:
    rows = [
        StoredArticle(
            "004_55e5600d96472930", "A <i>long</i> title", "2024-03-05", "YCPress", "", 3
        ),
        StoredArticle("b", "Other", "unknown", "", "", 1),
    ]
    html = render_articles_table(rows)
    assert html.count("<tr>") == 3  # header and two rows
    assert "<th>Date</th><th>Outlet</th><th>Title</th>" in html
    assert 'title="004_55e5600d96472930"><code>004_<wbr>55e5…</code>' in html
    assert "2024-<wbr>03-05" in html
    assert short_id("004_55e5600d96472930") == "004_55e5…" and short_id("b") == "b"
    assert "A &lt;i&gt;long&lt;/i&gt; title" in html and "undated" in html
    assert articles_line(rows) == "2 articles loaded (1 outlet, 2024-03-05)."
    assert articles_line([]).startswith("No articles loaded")


def test_examples_ask_what_a_reader_of_this_collection_would() -> None:
    """A timeline of the subject its titles repeat most, what is new in its newest
    week, and who reported its second subject: all drawn from the stored articles."""
    rows = [
        StoredArticle("a", "Harbor Board meets on Port dredging", "2019-01-01", "", "", 1),
        StoredArticle("b", "Port reopens after Storm", "2025-02-07", "", "", 1),
        StoredArticle("c", "Undated piece on the Harbor Board", "unknown", "", "", 1),
        StoredArticle("d", "Storm closes Port again", "2024-05-01", "", "", 1),
        StoredArticle("e", "", "2025-03-01", "", "", 1),
    ]
    assert example_questions(rows, 3) == [
        "What happened with Port, in order?",
        "What is new since February 23, 2025?",
        "Which outlets reported on Harbor?",
    ]
    assert example_questions([StoredArticle("x", "One story", "unknown", "", "", 1)]) == []
    # No seed vocabulary in the page's code: the product serves any beat.
    for module in ("app.py", "assets.py", "examples.py", "feeds.py", "render.py", "timeline.py"):
        code = (Path(__file__).parent.parent / "assistant" / "web" / module).read_text()
        for name in ("Zarif", "Bagheri", "Araghchi", "Baghdad", "Iran"):
            assert name not in code, f"{module} names {name}"


def test_timeline_labels_stay_readable_on_a_phone() -> None:
    """Every text of the figure is at least LABEL_PT, which is >= 11 CSS px even when the
    figure is shrunk to a phone's column (~340 px)."""
    assert label_px(340) >= 11
    dated = [
        Passage(**{**passage(start=0).to_dict(), "article_id": f"a{i}", "date": f"202{i}-01-01"})
        for i in range(4)
    ]
    answer = Answer("q", "x [1]", False, "extractive", passages=dated)
    fig = timeline_figure(timeline_points(answer))
    ax = fig.axes[0]
    texts = [*ax.texts, *ax.get_xticklabels()]
    assert len(ax.texts) == 8  # a title and a date per article
    assert min(t.get_fontsize() for t in texts) >= LABEL_PT
    titles = [t for t in ax.texts if "Talks" in t.get_text()]
    assert len({t.get_position()[1] for t in titles}) == 4  # a row each: titles never overlap


def test_seed_folder_is_counted_as_articles(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("x")
    (tmp_path / "c.jsonl").write_text('{"a": 1}\n\n{"a": 2}\n')
    (tmp_path / "notes.pdf").write_text("x")
    assert count_articles(tmp_path) == 4


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
            assert esc(sentence) in marks(panel)
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


def test_serve_says_what_it_does(assistant: Assistant, tmp_path: Path) -> None:
    said: list[str] = []
    seed(assistant, assistant.settings, said.append)
    assert said == [
        f"the collection already has {len(assistant.store.articles())} articles: not seeding"
    ]
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "one.md").write_text(
        "---\ntitle: Port reopens\ndate: 2025-01-02\nsource: Harbour News\n---\n"
        "The port reopened on Thursday after the storm.\n"
    )
    fresh = Assistant(
        make_settings(tmp_path / "data", seeds_dir=folder), embedder=assistant.embedder
    )
    said.clear()
    seed(fresh, fresh.settings, said.append)
    assert said[0] == f"seeding 1 article from {folder}/ …"
    assert said[-1].startswith("seeded: ingested 1,")
    assert len(fresh.store.articles()) == 1


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
    shown = len(assistant.store.articles())
    report, table, count, *_ = last(Handlers(assistant).upload([str(good), str(bad), str(empty)]))
    assert "ingested 1" in report
    assert "broken.jsonl" in report and "empty.txt" in report
    assert str(tmp_path) not in report
    assert assistant.store.count() > before
    assert "Zarif opens a consulate in Basra" in table
    assert f"{shown + 1} articles loaded" in count
    out = Handlers(assistant).ask_api("Who opened a consulate in Basra?")
    assert any(c["source"] == "Basra Daily" for c in out["citations"])


# --- the running app -----------------------------------------------------------------------
@pytest.mark.slow
def test_assistant_serve_says_what_it_does_and_never_the_share_hint(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "port.md").write_text(
        "---\ntitle: Port reopens\ndate: 2025-01-02\nsource: Harbour News\n---\n"
        "The port reopened on Thursday after the storm.\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_SEEDS_DIR": str(seeds),
        "ASSISTANT_LLM": "extractive",
    }
    command = [sys.executable, "-m", "assistant", "serve", "--port", str(port)]
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    said: list[str] = []
    try:
        while not said or not said[-1].startswith("press Ctrl+C"):
            said.append(lines.get(timeout=180).rstrip("\n"))
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert page.status_code == 200
    assert said == [
        f"seeding 1 article from {seeds}/ …",
        "seeded: ingested 1, updated 0, unchanged 0, duplicates 0, skipped 0 (1 chunks written)",
        f"serving the web chat on http://127.0.0.1:{port}/",
        f"answerer: extractive ({EXTRACTIVE_LABEL})",
        "press Ctrl+C to stop",
    ]
    assert "share" not in errors.read_text()


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


# --- an answer that breaks off while it streams ---------------------------------------------
class BreakingChat(BaseChatModel):
    """A chat model that streams the first `breaks` answers partly, then loses its
    connection; later answers stream whole."""

    breaks: int = 1
    partial: tuple[str, ...] = ("Zarif came to Baghdad ", "at the invitation ", "of ")
    whole: str = "Zarif came to Baghdad at the invitation of Ammar al-Hakim [1]."

    @property
    def _llm_type(self) -> str:
        return "breaking-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kw: Any,
    ) -> ChatResult:
        text = "".join(str(c.message.content) for c in self._stream(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kw: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.breaks > 0:
            self.breaks -= 1
            for piece in self.partial:
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
            raise ConnectionError("Connection reset by peer")
        yield ChatGenerationChunk(message=AIMessageChunk(content=self.whole))


def test_an_answer_cut_off_mid_stream_keeps_its_text_and_the_next_question_works(
    assistant: Assistant,
) -> None:
    model = BreakingChat()
    broken = Assistant(
        make_settings(assistant.settings.data_dir, llm="openai:fake-model"),
        store=assistant.store,
        embedder=assistant.embedder,
        chat_model=model,
    )
    h, session = Handlers(broken), Session()
    shown = [step[0][-1]["content"] for step in h.chat(QUESTION, session, [], "", "")]
    assert any(s.endswith(" ▌") for s in shown), "part of the answer streamed first"
    final = shown[-1]
    text, _, error = final.partition(CUT_OFF)
    assert text == "Zarif came to Baghdad at the invitation of", final
    assert error.startswith("\n\n⚠️ answerer openai:fake-model failed"), final
    assert "\n" not in error.strip() and "Traceback" not in error
    assert session.history == [] and session.sources == [], "an unverified text is not kept"

    messages, session, panel, _, _ = last(h.chat(QUESTION, session, [], "", ""))
    assert len(messages) == 4 and messages[1]["content"] == final, "the cut-off turn stays"
    reply = messages[-1]["content"]
    assert CUT_OFF not in reply and "⚠️" not in reply
    assert "Hakim" in reply and 'class="cite" href="#src-0-' in reply
    assert len(session.history) == 1 and "Sources for:" in panel


def test_cut_off_marks_only_a_partial_answer() -> None:
    assert cut_off("", "⚠️ down") == "⚠️ down"
    assert cut_off("  ", "⚠️ down") == "⚠️ down"
    assert cut_off("Talks <b>began", "⚠️ down") == f"Talks &lt;b&gt;began{CUT_OFF}\n\n⚠️ down"


# --- overload: a full waiting line is told to retry ---------------------------------------
def test_a_full_queue_answers_busy_retry_not_a_bare_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One answering slot and room for two waiting questions: of eight asked at once some
    are refused with the product's busy line and a Retry-After header; the others are
    answered; other HTTP errors keep their usual answer."""
    import assistant.web.app as web

    monkeypatch.setattr(web, "QUEUE_MIN", 2)
    monkeypatch.setattr(web, "QUEUE_PER_SLOT", 0)
    assert web.queue_size(1) == 2

    def slow_ask(
        self: Handlers,
        question: str,
        sources: list[str] | None = None,
        since: str = "",
        until: str = "",
    ) -> dict[str, Any]:
        time.sleep(1.0)  # holds the only slot while the others arrive
        return {"answer": f"ok: {question}"}

    monkeypatch.setattr(Handlers, "ask_api", slow_ask)
    stub = SimpleNamespace(mode="extractive", settings=make_settings(tmp_path, concurrency=1))
    posted: list[httpx.Response] = []
    lock = threading.Lock()
    with running_app(cast(Assistant, stub)) as app:

        def post(i: int) -> None:
            reply = httpx.post(
                f"{app.url}gradio_api/call/ask", json={"data": [f"q{i}", None, "", ""]}, timeout=30
            )
            with lock:
                posted.append(reply)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        busy = [r for r in posted if r.status_code == 503]
        taken = [r for r in posted if r.status_code == 200]
        assert len(posted) == 8 and busy and taken, [r.status_code for r in posted]
        assert len(busy) + len(taken) == 8
        for r in busy:
            assert r.json() == {"detail": web.BUSY, "error": web.BUSY}
            assert r.headers["retry-after"] == str(web.RETRY_AFTER_S)
            assert "Traceback" not in r.text and "Queue is full" not in r.text
        event = taken[0].json()["event_id"]
        stream = httpx.get(f"{app.url}gradio_api/call/ask/{event}", timeout=60).text
        assert "event: complete" in stream and "ok: q" in stream
        unknown = httpx.post(f"{app.url}gradio_api/call/nope", json={"data": []}, timeout=30)
        assert unknown.status_code != 503 and web.BUSY not in unknown.text
