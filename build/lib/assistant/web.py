"""The web chat (Gradio): streamed cited answers, highlighted sources, filters, upload.

What it does: `build_app(assistant, settings)` lays out the page over one
`Assistant`; `launch(...)` starts it with Gradio's queue (bounded concurrency,
public sharing never on, optional login from `ASSISTANT_AUTH=user:password`);
`serve(settings)` is what `assistant serve` calls (seeds an empty collection,
then blocks). The pure `render_*` / `timeline_*` functions turn an `Answer`
into HTML and a figure; every piece of article or answer text goes through
`esc()`, so an article carrying `<script>` or `onerror=` shows as text.

What it leaves to others: retrieval, answering and verification are the
core's (`assistant.answer`); reading and indexing uploads is `ingest.py`'s;
the command line is `cli.py`'s. Only this module imports gradio, and nothing
launches at import. A backend failure (`AssistantError`) becomes a chat
message; the page stays up.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline by default

import gradio as gr

from .answer import Assistant
from .config import Settings
from .errors import AssistantError, ConfigError
from .filters import Filters
from .phrases import CITATION_PATTERN, EXTRACTIVE_LABEL
from .schema import Answer, Citation, Evidence, StoredArticle

log = logging.getLogger(__name__)

EXAMPLES = [
    "Who did Zarif meet in Baghdad?",
    "When did Bagheri visit Baghdad?",
    "What did Iran's defense minister offer Iraq?",
]
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".json", ".jsonl"]
ARTICLE_HEADERS = ["Date", "Outlet", "Title", "Chunks", "ID"]
GENERATED_LABEL = "Answers are written by a language model and checked against the sources."
UNEXPECTED = "⚠️ Unexpected error while answering; see the server log."
UNSUPPORTED_TITLE = "Not supported by the cited passages"
EMPTY_SOURCES = '<div class="src-empty">Sources of the answers appear here.</div>'

CSS = """
.src-card {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin: 8px 0;}
.src-card.active {outline: 3px solid var(--color-accent); outline-offset: 1px;}
.src-head {font-weight: 600;}
.src-meta {font-size: .85em; opacity: .8; margin: 2px 0 6px;}
.src-text {white-space: pre-wrap; font-size: .92em; line-height: 1.45;}
mark.support {background: #fde68a; color: #111; padding: 0 2px; border-radius: 3px;}
.src-weak {color: #b45309; font-size: .85em;}
.src-turn > summary {cursor: pointer; font-weight: 600; margin-top: 6px;}
.unsupported {text-decoration: underline wavy #dc2626; text-underline-offset: 3px;}
.unsupported-flag {color: #dc2626; font-size: .8em; white-space: nowrap;}
a.cite {text-decoration: none; font-weight: 600;}
.answer-note {font-size: .8em; opacity: .75;}
"""

# Citation links scroll the source panel to their card, open it and mark it active.
JS = """
() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest ? event.target.closest('a[href*="#src-"]') : null;
    if (!link) return;
    const id = link.getAttribute('href').split('#').pop();
    const card = document.getElementById(id);
    if (!card) return;
    event.preventDefault();
    event.stopPropagation();
    for (let d = card.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
    document.querySelectorAll('.src-card.active').forEach((el) => el.classList.remove('active'));
    card.classList.add('active');
    card.scrollIntoView({behavior: 'smooth', block: 'center'});
  }, true);
}
"""


# --- pure rendering -------------------------------------------------------------
def esc(text: str) -> str:
    """HTML-escape, also neutralising template syntax (`${...}`, `{{...}}`) and backticks."""
    escaped = html.escape(text, quote=True)
    for char, entity in (("$", "&#36;"), ("{", "&#123;"), ("}", "&#125;"), ("`", "&#96;")):
        escaped = escaped.replace(char, entity)
    return escaped


def safe_url(url: str) -> str:
    """The escaped URL when it is http(s), else '' (no `javascript:` links)."""
    url = url.strip()
    return esc(url) if re.match(r"https?://", url, re.I) else ""


def card_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def citation_link(n: int, turn: int) -> str:
    return f'<a class="cite" href="#{card_id(turn, n)}" title="Show source {n}">[{n}]</a>'


def link_citations(escaped: str, turn: int) -> str:
    """Replace [n] / [n, m] markers in already-escaped text by links to the source cards."""

    def one(match: re.Match[str]) -> str:
        numbers = re.findall(r"\d+", match.group(1))
        return "".join(citation_link(int(n), turn) for n in numbers)

    return CITATION_PATTERN.sub(one, escaped)


def render_answer(answer: Answer, turn: int) -> str:
    """The chat message: escaped text, [n] linked, unsupported sentences marked."""
    text = answer.text
    parts: list[str] = []
    last = 0
    for sentence in sorted(answer.sentences, key=lambda s: s.start):
        if sentence.start < last or sentence.end > len(text):
            continue
        parts.append(link_citations(esc(text[last : sentence.start]), turn))
        body = link_citations(esc(text[sentence.start : sentence.end]), turn)
        if not sentence.supported:
            body = (
                f'<span class="unsupported" title="{UNSUPPORTED_TITLE}">{body}</span>'
                ' <span class="unsupported-flag">⚠ unsupported</span>'
            )
        parts.append(body)
        last = sentence.end
    parts.append(link_citations(esc(text[last:]), turn))
    return "".join(parts) + answer_note(answer)


def answer_note(answer: Answer) -> str:
    """A small line under the answer: extractive label and support share."""
    notes = [answer.note] if answer.note else []
    if answer.mode == "extractive" and not answer.refused:
        notes.append(EXTRACTIVE_LABEL)
    unsupported = sum(not s.supported for s in answer.sentences)
    if unsupported:
        total = len(answer.sentences)
        notes.append(f"{unsupported} of {total} sentences not supported by the sources.")
    return f'\n\n<span class="answer-note">{esc(" ".join(notes))}</span>' if notes else ""


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Escaped text with each `text[a:b]` wrapped in <mark class="support">.

    Spans outside the text or overlapping an earlier one are left unmarked."""
    parts, last = [], 0
    for a, b in sorted(spans):
        if not last <= a < b <= len(text):
            continue
        parts += [esc(text[last:a]), f'<mark class="support">{esc(text[a:b])}</mark>']
        last = b
    parts.append(esc(text[last:]))
    return "".join(parts)


def passage_spans(evidence: Evidence) -> list[tuple[int, int]]:
    """The supporting sentences' spans inside one passage's text."""
    p = evidence.passage
    return _valid([(a - p.start, b - p.start) for a, b in evidence.spans], p.text)


def _valid(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    return [(a, b) for a, b in spans if 0 <= a < b <= len(text) and text[a:b].strip()]


def meta_line(title: str, source: str, day: str, url: str) -> str:
    bits = [esc(x) for x in (source, day if day != "unknown" else "undated") if x]
    link = safe_url(url)
    if link:
        bits.append(f'<a href="{link}" target="_blank" rel="noopener noreferrer">{link}</a>')
    return f'<div class="src-meta">{" · ".join(bits)}</div>'


def render_citation(citation: Citation, turn: int, article: str = "") -> str:
    """One source card: the article's title, outlet, date and link, and every passage the
    answer used from it with its supporting sentences highlighted."""
    weak = "" if citation.supported else '<div class="src-weak">weak support for the answer</div>'
    whole = ""
    if article:
        spans = _valid(list(citation.spans), article)
        whole = (
            '<details class="src-article"><summary>Whole article</summary>'
            f'<div class="src-text">{highlight(article, spans)}</div>'
            "</details>"
        )
    passages = "".join(
        f'<div class="src-text">{highlight(e.passage.text, passage_spans(e))}</div>'
        for e in citation.evidence
    )
    return (
        f'<div class="src-card" id="{card_id(turn, citation.n)}">'
        f'<div class="src-head">[{citation.n}] {esc(citation.title or citation.article_id)}</div>'
        f"{meta_line(citation.title, citation.source, citation.date, citation.url)}"
        f"{passages}{weak}{whole}</div>"
    )


def render_sources(
    answer: Answer, turn: int, article_text: Callable[[str], str] | None = None
) -> str:
    """The source cards of one answer (no cards for a refusal)."""
    if answer.refused or not answer.citations:
        return '<div class="src-empty">No sources: the answer cites no article.</div>'
    cards = []
    for citation in sorted(answer.citations, key=lambda c: c.n):
        article = article_text(citation.article_id) if article_text else ""
        cards.append(render_citation(citation, turn, article))
    return "".join(cards)


def render_panel(turns: Sequence[tuple[str, str]]) -> str:
    """All answers' sources, newest first and open; older ones folded."""
    if not turns:
        return EMPTY_SOURCES
    blocks = []
    for i, (question, cards) in reversed(list(enumerate(turns))):
        is_open = " open" if i == len(turns) - 1 else ""
        blocks.append(
            f'<details class="src-turn"{is_open}><summary>Sources for: {esc(question)}</summary>'
            f"{cards}</details>"
        )
    return "".join(blocks)


def render_article(article: StoredArticle, text: str) -> str:
    """A stored article shown in full, escaped."""
    return (
        f'<div class="src-card" id="article-{esc(article.id)}">'
        f'<div class="src-head">{esc(article.title or article.id)}</div>'
        f"{meta_line(article.title, article.source, article.date, article.url)}"
        f'<div class="src-text">{esc(text)}</div></div>'
    )


def articles_table(articles: Sequence[StoredArticle]) -> list[list[Any]]:
    return [[a.date, a.source, a.title, a.chunks, a.id] for a in articles]


# --- timeline -----------------------------------------------------------------------
@dataclass(frozen=True)
class TimelinePoint:
    day: date | None
    title: str
    source: str
    cited: tuple[int, ...]  # citation numbers pointing at this article


def timeline_points(answer: Answer) -> list[TimelinePoint]:
    """The articles behind an answer (retrieved passages), with the citations naming them."""
    cited: dict[str, set[int]] = {}
    for c in answer.citations:
        cited.setdefault(c.article_id, set()).add(c.n)
    seen: dict[str, TimelinePoint] = {}
    for p in answer.passages:
        if p.article_id not in seen:
            seen[p.article_id] = TimelinePoint(
                parse_day(p.date), p.title, p.source, tuple(sorted(cited.get(p.article_id, ())))
            )
    return sorted(seen.values(), key=lambda t: (t.day is None, t.day or date.min))


def parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def timeline_figure(points: Sequence[TimelinePoint]) -> Any:
    """A matplotlib Figure: dated articles on a date axis, cited ones highlighted."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure

    dated = [p for p in points if p.day is not None]
    undated = [p for p in points if p.day is None]
    fig = Figure(figsize=(6.4, 2.2 + 0.18 * len(undated)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    for i, p in enumerate(dated):
        x, level = float(date2num(p.day)), 1 + (i % 3)
        color = "#d97706" if p.cited else "#9ca3af"
        ax.vlines(x, 0, level, color=color, linewidth=1)
        ax.plot([x], [level], "o", color=color, markersize=7 if p.cited else 5)
        label = ("".join(f"[{n}]" for n in p.cited) + " " if p.cited else "") + _short(p.title, 38)
        right = len(dated) > 1 and i >= len(dated) / 2
        ax.annotate(
            label,
            (x, level),
            xytext=(-4 if right else 4, 3),
            textcoords="offset points",
            fontsize=7,
            ha="right" if right else "left",
        )
    ax.set_ylim(0, 4.2)
    ax.margins(x=0.08)
    if dated:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.set_xticks([])
        ax.text(
            0.5, 0.5, "No dated articles behind this answer", ha="center", transform=ax.transAxes
        )
    if undated:
        names = "; ".join(_short(p.title, 40) for p in undated)
        ax.set_xlabel(f"Undated: {names}", fontsize=7, wrap=True)
    return fig


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- inputs -----------------------------------------------------------------------------
def make_filters(sources: Sequence[str] | None, since: str, until: str) -> Filters | None:
    """Filters from the controls; a malformed date is a ConfigError naming the field."""
    filters = Filters.parse(sources, since, until, names=("Since", "Until"))
    return None if filters.empty else filters


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """'user:password' -> (user, password); None stays None."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ConfigError("ASSISTANT_AUTH must look like user:password")
    return user, password


def name_uploads(lines: Sequence[str], paths: Sequence[str]) -> list[str]:
    """Report lines with Gradio's temporary paths replaced by the uploaded file names."""
    out = []
    for line in lines:
        for path in paths:
            line = line.replace(str(path), Path(path).name)
        out.append(line)
    return out


# --- session and handlers -------------------------------------------------------------
@dataclass
class Session:
    """One browser tab's conversation."""

    messages: list[dict[str, str]] = field(default_factory=list)
    history: list[tuple[str, str]] = field(default_factory=list)  # (question, answer text)
    sources: list[tuple[str, str]] = field(default_factory=list)  # (question, rendered cards)


ChatOut = tuple[list[dict[str, str]], Session, Any, Any, Any]


class Handlers:
    """The page's event handlers over one Assistant."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def article_text(self, article_id: str) -> str:
        try:
            return self.assistant.store.article_text(article_id)[0]
        except AssistantError:
            return ""

    def chat(
        self, question: str, session: Session, sources: list[str], since: str, until: str
    ) -> Iterator[ChatOut]:
        """Stream one answer into the chat, then its sources and timeline."""
        question = (question or "").strip()
        if not question:
            yield session.messages, session, gr.skip(), gr.skip(), gr.skip()
            return
        turn = len(session.sources)
        session.messages.append({"role": "user", "content": esc(question)})
        session.messages.append({"role": "assistant", "content": "…"})
        yield session.messages, session, gr.skip(), gr.skip(), ""
        try:
            filters = make_filters(sources, since, until)
            streamed = ""
            answer: Answer | None = None
            for item in self.assistant.stream(question, session.history, filters):
                if isinstance(item, Answer):
                    answer = item
                else:
                    streamed += item
                    session.messages[-1]["content"] = esc(streamed) + " ▌"
                    yield session.messages, session, gr.skip(), gr.skip(), gr.skip()
        except AssistantError as exc:
            session.messages[-1]["content"] = f"⚠️ {esc(str(exc))}"
            yield session.messages, session, gr.skip(), gr.skip(), gr.skip()
            return
        except Exception:  # a bug: keep the traceback in the log, the page stays usable
            log.exception("answering %r failed", question)
            session.messages[-1]["content"] = UNEXPECTED
            yield session.messages, session, gr.skip(), gr.skip(), gr.skip()
            return
        assert answer is not None
        yield self._finish(session, question, answer, turn)

    def _finish(self, session: Session, question: str, answer: Answer, turn: int) -> ChatOut:
        session.messages[-1]["content"] = render_answer(answer, turn)
        session.history.append((question, answer.text))
        session.sources.append((question, render_sources(answer, turn, self.article_text)))
        figure = None if answer.refused else timeline_figure(timeline_points(answer))
        return session.messages, session, render_panel(session.sources), figure, gr.skip()

    def ask_api(
        self, question: str, sources: list[str] | None = None, since: str = "", until: str = ""
    ) -> dict[str, Any]:
        """One question, no history: the Answer as a dict, or {'error': message}."""
        try:
            answer = self.assistant.ask(question, [], make_filters(sources, since, until))
        except AssistantError as exc:
            return {"error": str(exc)}
        return answer.to_dict()

    def catalogue(self) -> tuple[Any, Any, Any]:
        """Article table, outlet choices and reader choices, fresh from the store."""
        articles = self.assistant.store.articles()
        outlets = self.assistant.store.known_sources()
        readable = [(f"{a.date} · {_short(a.title or a.id, 70)}", a.id) for a in articles]
        return (
            gr.Dataframe(value=articles_table(articles), label=f"{len(articles)} stored articles"),
            gr.Dropdown(choices=outlets),
            gr.Dropdown(choices=readable, value=None),
        )

    def read(self, article_id: str | None) -> str:
        if not article_id:
            return ""
        found = [a for a in self.assistant.store.articles() if a.id == article_id]
        if not found:
            return '<div class="src-empty">That article is no longer stored.</div>'
        return render_article(found[0], self.article_text(article_id))

    def upload(
        self,
        files: list[str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> Iterator[Any]:
        """Ingest uploaded files with progress; one line per problem, naming the file."""
        paths = [str(f) for f in files or []]
        if not paths:
            yield ("Choose files first.", *self.catalogue())
            return
        lines: list[str] = []

        def factory(total: int) -> Callable[[int], None]:
            done = [0]

            def tick(n: int) -> None:
                done[0] += n
                progress((done[0], total), desc="Embedding", unit="chunks")

            return tick

        progress(0, desc=f"Reading {len(paths)} file(s)")
        yield (f"Ingesting {len(paths)} file(s)…", gr.skip(), gr.skip(), gr.skip())
        try:
            report = self.assistant.ingest(paths, report=lines.append, progress=factory)
        except AssistantError as exc:
            yield (f"⚠️ {exc}", *self.catalogue())
            return
        named = name_uploads([report.summary(), *lines], paths)
        yield ("\n".join(f"- {line}" for line in named), *self.catalogue())


# --- layout ---------------------------------------------------------------------------------
def build_app(assistant: Assistant, settings: Settings) -> gr.Blocks:
    """The page over one Assistant; launch it with `launch()`."""
    h = Handlers(assistant)
    with gr.Blocks(title="News assistant") as app:
        session = gr.State(Session())
        gr.Markdown(_header(assistant, settings))
        with gr.Row():
            with gr.Column(scale=3):
                chatbot, box, ask, new = _chat_column()
                outlets, since, until = _filters()
                table, reader_pick, reader = _articles()
                files, ingest, report = _upload()
            with gr.Column(scale=2):
                panel = gr.HTML(
                    EMPTY_SOURCES,
                    elem_id="sources",
                    label="Sources",
                    max_height=640,
                    js_on_load=None,
                )
                timeline = gr.Plot(label="Timeline: articles behind the answer", format="png")
        chat_in = [box, session, outlets, since, until]
        chat_out = [chatbot, session, panel, timeline, box]
        for trigger in (box.submit, ask.click):
            trigger(h.chat, chat_in, chat_out, concurrency_id="answer", api_visibility="private")
        new.click(
            _new_chat,
            None,
            [chatbot, session, panel, timeline, box],
            queue=False,
            api_visibility="private",
        )
        catalogue_out = [table, outlets, reader_pick]
        app.load(h.catalogue, None, catalogue_out, queue=False, api_visibility="private")
        reader_pick.change(h.read, reader_pick, reader, queue=False, api_visibility="private")
        ingest.click(
            h.upload,
            files,
            [report, *catalogue_out],
            concurrency_limit=1,
            concurrency_id="ingest",
            api_visibility="private",
        )
        gr.api(h.ask_api, api_name="ask", concurrency_id="answer")
    return app


def _header(assistant: Assistant, settings: Settings) -> str:
    mode = assistant.mode
    detail = EXTRACTIVE_LABEL if mode == "extractive" else GENERATED_LABEL
    return (
        "## News assistant\n"
        f"Answerer: **{esc(mode)}** — {esc(detail)}  \n"
        "Ask about the stored articles; click a citation [n] to see the sentence it rests on."
    )


def _chat_column() -> tuple[gr.Chatbot, gr.Textbox, gr.Button, gr.Button]:
    chatbot = gr.Chatbot(
        label="Chat",
        elem_id="chat",
        height=460,
        feedback_options=None,
        latex_delimiters=[],
        buttons=["copy"],
    )
    with gr.Row():
        box = gr.Textbox(
            placeholder="Ask about the news articles…",
            show_label=False,
            scale=5,
            elem_id="question",
            submit_btn=False,
        )
        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
    new = gr.Button("New chat", size="sm", elem_id="new-chat")
    gr.Examples(EXAMPLES, inputs=[box], label="Example questions")
    return chatbot, box, ask, new


def _filters() -> tuple[gr.Dropdown, gr.Textbox, gr.Textbox]:
    with gr.Accordion("Filters", open=False):
        outlets = gr.Dropdown([], multiselect=True, label="Outlets (none = all)", elem_id="outlets")
        with gr.Row():
            since = gr.Textbox(label="Since (YYYY-MM-DD)", elem_id="since")
            until = gr.Textbox(label="Until (YYYY-MM-DD)", elem_id="until")
    return outlets, since, until


def _articles() -> tuple[gr.Dataframe, gr.Dropdown, gr.HTML]:
    with gr.Accordion("Stored articles", open=False):
        table = gr.Dataframe(
            headers=ARTICLE_HEADERS,
            interactive=False,
            wrap=True,
            label="Stored articles",
            elem_id="articles",
        )
        pick = gr.Dropdown([], label="Read an article", elem_id="read-article")
        reader = gr.HTML("", elem_id="reader", max_height=480, js_on_load=None)
    return table, pick, reader


def _upload() -> tuple[gr.File, gr.Button, gr.Markdown]:
    with gr.Accordion("Add articles", open=False):
        files = gr.File(
            file_count="multiple",
            file_types=UPLOAD_TYPES,
            type="filepath",
            label="Articles (txt, md, html, json, jsonl)",
            elem_id="upload",
        )
        ingest = gr.Button("Ingest", elem_id="ingest")
        report = gr.Markdown(elem_id="ingest-report")
    return files, ingest, report


def _new_chat() -> tuple[list[dict[str, str]], Session, str, None, str]:
    return [], Session(), EMPTY_SOURCES, None, ""


# --- running ------------------------------------------------------------------------------
def launch(
    app: gr.Blocks,
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    block: bool = True,
) -> str:
    """Queue with bounded concurrency and start the server; returns the local URL."""
    secret = settings.auth.get_secret_value() if settings.auth else None
    auth = parse_auth(secret)
    limit = settings.concurrency
    app.queue(default_concurrency_limit=limit, max_size=max(64, 16 * limit))
    _, url, _ = app.launch(
        server_name=host or settings.host,
        server_port=port or settings.port,
        share=False,
        auth=auth,
        auth_message="Log in with the user and password from ASSISTANT_AUTH." if auth else None,
        prevent_thread_lock=not block,
        quiet=not block,
        css=CSS,
        js=JS,
        footer_links=["api"],
    )
    return str(url)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """`assistant serve`: ingest the seeds into an empty collection, then serve until stopped."""
    parse_auth(settings.auth.get_secret_value() if settings.auth else None)  # fail before loading
    assistant = Assistant(settings)
    report = assistant.ensure_seeded()
    if report is not None:
        log.info("seeded the collection: %s", report.summary())
    # Build the lexical index while the page loads, not on the first question.
    threading.Thread(target=assistant.store.warm, name="bm25-warm", daemon=True).start()
    launch(build_app(assistant, settings), settings, host=host, port=port, block=True)
