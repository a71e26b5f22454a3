"""The web chat (Gradio): the page's layout, its event handlers, and the server.

What it does: `build_app(assistant, settings)` lays out the page over one
`Assistant` (chat, example chips derived from the stored articles, filters, the
stored-articles table and reader, upload, the sources panel and the timeline; with a
login, a box to follow a feed; a "new since you opened the page" line) and
wires its events; `launch(...)` starts it with Gradio's queue (bounded concurrency
and a bounded waiting line: when it is full, a 503 with the product's "busy, retry in
5 s" line and a Retry-After header; public sharing never on, optional login from
`ASSISTANT_AUTH=user:password`); `serve(settings)` is what `assistant serve` calls:
it says on the terminal what it does (seeding, the URL, the answerer), then blocks.
An answer
that breaks off while streaming stays on the page marked " — (cut off)", with the
error line under it.

What it leaves to others: the HTML of answers, cards and tables is `render.py`'s
(jinja2 templates, escaped by default); the style sheet and the script that focuses
the sentence a clicked [n] rests on are `assets.py`'s; the example chips
`examples.py`'s; following feeds and the refresh line `feeds.py`'s; the timeline
figure `timeline.py`'s; retrieval, answering and verification are the core's
(`core.py`); reading and indexing uploads is `ingest/`'s; parsing filters is
`Filters.parse`'s. Only this module imports gradio, and nothing launches
at import. A backend failure (`AssistantError`) becomes a chat message; the page
stays up.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline by default

import gradio as gr
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from ..base.config import Settings
from ..base.errors import AssistantError, ConfigError
from ..base.phrases import EXTRACTIVE_LABEL
from ..base.schema import Answer
from ..core import Assistant
from ..retrieval.filters import Filters
from .assets import CSS, JS
from .examples import example_questions
from .feeds import follow_feed, follow_line, refreshed_line, start_refresher
from .render import (
    EMPTY_SOURCES,
    GONE,
    esc,
    render_answer,
    render_article,
    render_articles_line,
    render_articles_table,
    render_panel,
    render_sources,
)
from .timeline import short, timeline_figure, timeline_points

log = logging.getLogger(__name__)

UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".json", ".jsonl"]
GENERATED_LABEL = "Answers are written by a language model and checked against the sources."
UNEXPECTED = "⚠️ Unexpected error while answering; see the server log."
CUT_OFF = " — (cut off)"
QUEUE_MIN = 256
#: How often an open page re-reads the article count, so articles a background refresh
#: brought in show as new without a reload.
NEWS_POLL_S = 60
QUEUE_PER_SLOT = 64
RETRY_AFTER_S = 5
BUSY = f"the assistant is busy (too many questions waiting); retry in {RETRY_AFTER_S} s"
DATE_HINT = "YYYY-MM-DD"


# --- inputs and page content ------------------------------------------------------------
def make_filters(sources: Sequence[str] | None, since: str, until: str) -> Filters | None:
    """Filters from the controls; a malformed date is a ConfigError naming the field."""
    filters = Filters.parse(sources, since, until, names=("Since", "Until"))
    return None if filters.empty else filters


def cut_off(partial: str, error: str) -> str:
    """The chat message of an answer that failed: the error line alone, or, when part of
    the answer had streamed, that text marked as cut off and the error line under it.
    The partial text was never verified, so it is shown escaped and plain."""
    partial = partial.strip()
    return f"{esc(partial)}{CUT_OFF}\n\n{error}" if partial else error


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
Catalogue = tuple[str, str, Any, Any, Any]


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
        streamed: list[str] = []  # the text shown so far, kept if the answer breaks off
        try:
            answer = yield from self._stream(question, session, sources, since, until, streamed)
        except AssistantError as exc:
            session.messages[-1]["content"] = cut_off("".join(streamed), f"⚠️ {esc(str(exc))}")
            yield session.messages, session, gr.skip(), gr.skip(), gr.skip()
            return
        except Exception:  # a bug: keep the traceback in the log, the page stays usable
            log.exception("answering %r failed", question)
            session.messages[-1]["content"] = cut_off("".join(streamed), UNEXPECTED)
            yield session.messages, session, gr.skip(), gr.skip(), gr.skip()
            return
        yield self._finish(session, question, answer, turn)

    def ask_example(
        self,
        sample: Sequence[str] | str,
        session: Session,
        sources: list[str],
        since: str,
        until: str,
    ) -> Iterator[ChatOut]:
        """A chip was clicked: ask its question at once."""
        question = sample if isinstance(sample, str) else (sample[0] if sample else "")
        yield from self.chat(question, session, sources, since, until)

    def _stream(
        self,
        question: str,
        session: Session,
        sources: list[str],
        since: str,
        until: str,
        streamed: list[str],
    ) -> Generator[ChatOut, None, Answer]:
        """Show the text as it arrives (collected in `streamed`); the generator's return
        value is the Answer."""
        filters = make_filters(sources, since, until)
        answer: Answer | None = None
        for item in self.assistant.stream(question, session.history, filters):
            if isinstance(item, Answer):
                answer = item
            else:
                streamed.append(item)
                session.messages[-1]["content"] = esc("".join(streamed)) + " ▌"
                yield session.messages, session, gr.skip(), gr.skip(), gr.skip()
        assert answer is not None
        return answer

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

    def catalogue(self) -> Catalogue:
        """Article table, the count line, outlet and reader choices and the example chips,
        fresh from the store."""
        articles = self.assistant.store.articles()
        outlets = self.assistant.store.known_sources()
        readable = [(f"{a.date} · {short(a.title or a.id, 70)}", a.id) for a in articles]
        examples = [[q] for q in example_questions(articles)]
        return (
            render_articles_table(articles),
            render_articles_line(articles) + refreshed_line(self.assistant.settings),
            gr.Dropdown(choices=outlets),
            gr.Dropdown(choices=readable, value=None),
            gr.Dataset(samples=examples, visible=bool(examples)),
        )

    def opened(self) -> list[str]:
        """The articles stored when this tab opened the page (kept in its session)."""
        return [a.id for a in self.assistant.store.articles()]

    def count_line(self, opened: list[str] | None) -> str:
        """The article count, the feeds' last refresh, and how many articles arrived since
        this tab opened the page, with their titles."""
        articles = self.assistant.store.articles()
        known = set(opened or [])
        fresh = [a for a in articles if opened is not None and a.id not in known]
        line = render_articles_line(articles) + refreshed_line(self.assistant.settings)
        if not fresh:
            return line
        titles = "; ".join(esc(short(a.title or a.id, 70)) for a in fresh[:5])
        more = f" and {len(fresh) - 5} more" if len(fresh) > 5 else ""
        return (
            f'{line}<div class="new-articles" id="new-articles"><mark>new</mark> '
            f"{len(fresh)} since you opened the page: {titles}{more}</div>"
        )

    def follow(self, url: str) -> Iterator[Any]:
        """Follow a feed (or a page announcing one) and take its items now: one line."""
        url = (url or "").strip()
        if not url:
            yield "Enter a feed's address first.", *[gr.skip()] * 5
            return
        yield f"Following {url}…", *[gr.skip()] * 5
        try:
            line = follow_line(follow_feed(self.assistant, url))
        except AssistantError as exc:
            line = f"⚠️ {exc}"
        yield line, *self.catalogue()

    def read(self, article_id: str | None) -> str:
        if not article_id:
            return ""
        found = [a for a in self.assistant.store.articles() if a.id == article_id]
        if not found:
            return GONE
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
        yield (f"Ingesting {len(paths)} file(s)…", *[gr.skip()] * 5)
        try:
            report = self.assistant.ingest(paths, report=lines.append, progress=factory)
        except AssistantError as exc:
            yield (f"⚠️ {exc}", *self.catalogue())
            return
        named = name_uploads([report.summary(), *lines], paths)
        yield ("\n".join(f"- {line}" for line in named), *self.catalogue())


# --- layout ---------------------------------------------------------------------------------
@dataclass
class Page:
    """The components events read and write."""

    session: Any
    chatbot: Any
    box: Any
    ask: Any
    new: Any
    chips: Any
    count: Any
    outlets: Any
    since: Any
    until: Any
    table: Any
    reader_pick: Any
    reader: Any
    files: Any
    ingest: Any
    report: Any
    panel: Any
    timeline: Any
    opened: Any = None  # the article ids stored when the tab opened the page
    feed: Any = None  # following a feed: only with a login (ASSISTANT_AUTH)
    follow: Any = None
    followed: Any = None


def build_app(assistant: Assistant, settings: Settings) -> gr.Blocks:
    """The page over one Assistant; launch it with `launch()`. Following a feed makes the
    server fetch addresses a reader types, so it is offered only behind the login."""
    with gr.Blocks(title="News assistant") as app:
        page = _layout(assistant)
        page.opened = gr.State(None)
        if settings.auth:
            page.feed, page.follow, page.followed = _follow()
        _wire(app, page, Handlers(assistant))
    return app


def _layout(assistant: Assistant) -> Page:
    session = gr.State(Session())
    gr.Markdown(_header(assistant))
    count = gr.HTML("", elem_id="article-count", js_on_load=None)
    # On a phone the columns stack: chat, chips and filters, then the sources right
    # under them; the stored articles and the upload come last, full width.
    with gr.Row():
        with gr.Column(scale=3):
            chatbot, box, ask, new, chips = _chat_column()
            outlets, since, until = _filters()
        with gr.Column(scale=2):
            panel = gr.HTML(
                EMPTY_SOURCES, elem_id="sources", label="Sources", max_height=640, js_on_load=None
            )
            timeline = gr.Plot(
                label="Timeline: articles behind the answer", format="png", elem_id="timeline"
            )
    table, reader_pick, reader = _articles()
    files, ingest, report = _upload()
    return Page(
        session, chatbot, box, ask, new, chips, count, outlets, since, until,
        table, reader_pick, reader, files, ingest, report, panel, timeline,
    )  # fmt: skip


def _wire(app: gr.Blocks, p: Page, h: Handlers) -> None:
    filters = [p.outlets, p.since, p.until]
    chat_out = [p.chatbot, p.session, p.panel, p.timeline, p.box]
    private: dict[str, Any] = {"api_visibility": "private"}
    for trigger in (p.box.submit, p.ask.click):
        trigger(h.chat, [p.box, p.session, *filters], chat_out, concurrency_id="answer", **private)
    p.chips.click(
        h.ask_example, [p.chips, p.session, *filters], chat_out, concurrency_id="answer", **private
    )
    p.new.click(_new_chat, None, chat_out, queue=False, **private)
    catalogue_out = [p.table, p.count, p.outlets, p.reader_pick, p.chips]
    app.load(h.catalogue, None, catalogue_out, queue=False, **private)
    app.load(h.opened, None, p.opened, queue=False, **private)
    news = {"fn": h.count_line, "inputs": p.opened, "outputs": p.count, "queue": False}
    gr.Timer(NEWS_POLL_S).tick(**news, **private)  # articles a refresh brought meanwhile
    p.reader_pick.change(h.read, p.reader_pick, p.reader, queue=False, **private)
    p.ingest.click(
        h.upload,
        p.files,
        [p.report, *catalogue_out],
        concurrency_limit=1,
        concurrency_id="ingest",
        **private,
    ).then(**news, **private)
    if p.follow is not None:
        for trigger in (p.feed.submit, p.follow.click):
            trigger(
                h.follow,
                p.feed,
                [p.followed, *catalogue_out],
                concurrency_limit=1,
                concurrency_id="ingest",
                **private,
            ).then(**news, **private)
    gr.api(h.ask_api, api_name="ask", concurrency_id="answer")


def _header(assistant: Assistant) -> str:
    mode = assistant.mode
    return (
        "## News assistant\n"
        f"Answerer: **{esc(mode)}** — {esc(_answerer(mode))}  \n"
        "Ask about the stored articles; click a citation [n] to see the sentence it rests on."
    )


def _chat_column() -> tuple[Any, Any, Any, Any, Any]:
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
    chips = gr.Dataset(
        components=["textbox"],
        samples=[],
        label="Example questions (click to ask)",
        elem_id="chips",
        type="values",
    )
    return chatbot, box, ask, new, chips


def _filters() -> tuple[Any, Any, Any]:
    with gr.Accordion("Filters", open=False):
        outlets = gr.Dropdown([], multiselect=True, label="Outlets (none = all)", elem_id="outlets")
        with gr.Row():
            since = gr.Textbox(
                label="Since", placeholder=DATE_HINT, elem_id="since", info="on or after"
            )
            until = gr.Textbox(
                label="Until", placeholder=DATE_HINT, elem_id="until", info="on or before"
            )
    return outlets, since, until


def _articles() -> tuple[Any, Any, Any]:
    with gr.Accordion("Stored articles", open=False):
        table = gr.HTML("", elem_id="articles", js_on_load=None)
        pick = gr.Dropdown([], label="Read an article", elem_id="read-article")
        reader = gr.HTML("", elem_id="reader", max_height=480, js_on_load=None)
    return table, pick, reader


def _upload() -> tuple[Any, Any, Any]:
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


def _follow() -> tuple[Any, Any, Any]:
    with gr.Accordion("Follow a feed", open=False):
        feed = gr.Textbox(
            label="Feed address (RSS or Atom, or a page that announces one)",
            placeholder="https://…/feed.xml",
            elem_id="feed-url",
        )
        follow = gr.Button("Follow", elem_id="follow")
        followed = gr.Markdown(elem_id="follow-report")
    return feed, follow, followed


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
    """Queue with bounded concurrency and start the server quietly (no Gradio banner or
    share hint); returns the local URL, or blocks until stopped when `block`."""
    secret = settings.auth.get_secret_value() if settings.auth else None
    auth = parse_auth(secret)
    limit = settings.concurrency
    app.queue(default_concurrency_limit=limit, max_size=queue_size(limit))
    _, url, _ = app.launch(
        # A full queue is a 503 that says "busy, retry" (and when), not Gradio's bare one.
        app_kwargs={"exception_handlers": {StarletteHTTPException: _busy_or_default}},
        server_name=host or settings.host,
        server_port=port or settings.port,
        share=False,
        auth=auth,
        auth_message="Log in with the user and password from ASSISTANT_AUTH." if auth else None,
        prevent_thread_lock=True,
        quiet=True,
        css=CSS,
        js=JS,
        footer_links=["api"],
    )
    if block:
        app.block_thread()
    return str(url)


def queue_size(concurrency: int) -> int:
    """Questions that may wait for an answering slot: enough for a few hundred people
    asking at once (each waiting question holds a few kB), bounded so a flood is told to
    retry instead of growing memory."""
    return max(QUEUE_MIN, QUEUE_PER_SLOT * concurrency)


async def _busy_or_default(request: Request, exc: StarletteHTTPException) -> Response:
    """Gradio's "Queue is full" becomes the product's busy line with a Retry-After header
    (the page's script shows its own "busy, try again" notice on any 503); every other
    HTTP error keeps FastAPI's default answer."""
    detail = str(exc.detail)
    if exc.status_code == 503 and detail.startswith("Queue is full"):
        return JSONResponse(
            {"detail": BUSY, "error": BUSY},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return await http_exception_handler(request, exc)


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    say: Callable[[str], None] | None = None,
) -> None:
    """`assistant serve`: seed an empty collection, say so and where the page is, then
    serve until stopped."""
    say = say or _say
    parse_auth(settings.auth.get_secret_value() if settings.auth else None)  # fail before loading
    assistant = Assistant(settings)
    seed(assistant, settings, say)
    # Build the lexical index while the page loads, not on the first question.
    threading.Thread(target=assistant.store.warm, name="bm25-warm", daemon=True).start()
    app = build_app(assistant, settings)
    url = launch(app, settings, host=host, port=port, block=False)
    say(f"serving the web chat on {url}")
    say(f"answerer: {assistant.mode} ({_answerer(assistant.mode)})")
    say("press Ctrl+C to stop")
    refresher = start_refresher(assistant, settings, say)
    try:
        app.block_thread()
    finally:
        if refresher is not None:
            refresher.stop()


def seed(assistant: Assistant, settings: Settings, say: Callable[[str], None]) -> None:
    """Ingest the seed folder into an empty collection, saying what happens."""
    folder = settings.seeds_dir
    stored = len(assistant.store.articles()) if assistant.store.count() else 0
    if stored:
        say(f"the collection already has {stored} article{'s' * (stored != 1)}: not seeding")
        return
    if not folder.is_dir():
        say(f"the collection is empty and {folder}/ is not a folder: add articles on the page")
        return
    total = count_articles(folder)
    say(f"seeding {total} article{'s' * (total != 1)} from {folder}/ …")
    report = assistant.ensure_seeded(report=say)
    if report is not None:
        say(f"seeded: {report.summary()}")


def count_articles(folder: Path) -> int:
    """Articles in a folder as ingestion reads them: one per file, one per JSONL line."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix.lower() in UPLOAD_TYPES:
            total += _records(path) if path.suffix.lower() == ".jsonl" else 1
    return total


def _records(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError):
        return 1


def _answerer(mode: str) -> str:
    return EXTRACTIVE_LABEL if mode == "extractive" else GENERATED_LABEL


def _say(line: str) -> None:
    print(line, flush=True)
