"""The web page's HTML: answers, source cards, the sources panel, the article reader.

What it does: turns an `Answer` (and stored articles) into the HTML fragments the
page shows. Structure lives in jinja2 templates under `assistant/templates/web_*.html`
rendered by an environment whose every `{{ value }}` goes through `esc()` (HTML
escaping plus template syntax: `${...}`, `{{...}}`, backticks), so article text
carrying `<script>` or `onerror=` shows as text unless a value is explicitly
`Markup` built here from escaped pieces. Each answer sentence gets an id
(`ans-<turn>-<i>`, which survives the chat's HTML sanitiser; data attributes there
do not); each highlighted article sentence (`mark.support`) names the answer
sentences resting on it (`data-for`). The page's script reads both to focus the
sentence a clicked [n] rests on and to link back to the answer.

What it leaves to others: what the answer says and which sentences support it is
the core's (`Answer.sentences[i].rests_on`); the timeline figure is
`web_timeline.py`'s; events, layout and the server are `web.py`'s. No gradio here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..base.phrases import CITATION_PATTERN, DERIVED_PATTERN, EXTRACTIVE_LABEL
from ..base.schema import UNKNOWN_DATE, Answer, Citation, Evidence, SentenceCheck, StoredArticle

Span = tuple[int, int]
UNSUPPORTED_TITLE = "Not supported by the cited passages"
EMPTY_SOURCES = '<div class="src-empty">Sources of the answers appear here.</div>'
NO_SOURCES = '<div class="src-empty">No sources: the answer cites no article.</div>'
GONE = '<div class="src-empty">That article is no longer stored.</div>'


# --- escaping ---------------------------------------------------------------------------
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


def _finalize(value: Any) -> Markup:
    """Every template value: Markup built here passes, anything else is escaped."""
    if isinstance(value, Markup):
        return value
    return Markup(esc(str(value)))


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("assistant", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **values: Any) -> str:
    """Render `templates/<name>`; values are escaped unless they are `Markup`."""
    return str(_environment().get_template(name).render(**values))


# --- the answer -------------------------------------------------------------------------
def card_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def sentence_id(turn: int, i: int) -> str:
    return f"ans-{turn}-{i}"


def citation_link(n: int, turn: int) -> str:
    return f'<a class="cite" href="#{card_id(turn, n)}" title="Show source {n}">[{n}]</a>'


def link_citations(escaped: str, turn: int) -> str:
    """Replace [n] / [n, m] markers in already-escaped text by links to the source cards."""

    def one(match: re.Match[str]) -> str:
        numbers = re.findall(r"\d+", match.group(1))
        return "".join(citation_link(int(n), turn) for n in numbers)

    return CITATION_PATTERN.sub(one, escaped)


def render_answer(answer: Answer, turn: int) -> str:
    """The chat message: escaped text, every sentence wrapped with its id, [n] linked,
    unsupported sentences marked, then the notes. An answer drawn from many articles
    (one dated line per event or report) is a list, each item opening with its date."""
    if answer.intent != "lookup" and not answer.refused and answer.sentences:
        return render_list(answer, turn) + answer_note(answer)
    text = answer.text
    parts: list[str] = []
    last = 0
    for i, sentence in sorted(enumerate(answer.sentences), key=lambda x: x[1].start):
        if sentence.start < last or sentence.end > len(text):
            continue
        parts.append(link_citations(esc(text[last : sentence.start]), turn))
        parts.append(_sentence(text[sentence.start : sentence.end], sentence, turn, i))
        last = sentence.end
    parts.append(link_citations(esc(text[last:]), turn))
    return "".join(parts) + answer_note(answer)


def render_list(answer: Answer, turn: int) -> str:
    """One list item per answer line: its opening note (the date, the outlet) in bold,
    then the quoted sentence with its linked [n]."""
    items = []
    for i, check in enumerate(answer.sentences):
        line = answer.text[check.start : check.end]
        lead = DERIVED_PATTERN.match(line)
        label = f"<b>{esc(lead.group(1))}</b> " if lead else ""
        body = line[lead.end() :].lstrip() if lead else line
        items.append(f'<li class="dated">{label}{_sentence(body, check, turn, i)}</li>')
    return f'<ul class="dated-list">{"".join(items)}</ul>'


def _sentence(text: str, check: SentenceCheck, turn: int, i: int) -> str:
    body = link_citations(esc(text), turn)
    if check.supported:
        return f'<span class="ans-sent" id="{sentence_id(turn, i)}">{body}</span>'
    return (
        f'<span class="ans-sent unsupported" id="{sentence_id(turn, i)}"'
        f' title="{UNSUPPORTED_TITLE}">{body}</span>'
        ' <span class="unsupported-flag">⚠ unsupported</span>'
    )


def answer_note(answer: Answer) -> str:
    """The lines under the answer: the core's note (why it refused, what the filters
    hid) on its own line, then the extractive label and the support share."""
    out = ""
    if answer.note:
        out += f'\n\n<span class="why-note">ⓘ {esc(answer.note)}</span>'
    notes = []
    if answer.mode == "extractive" and not answer.refused:
        notes.append(EXTRACTIVE_LABEL)
    unsupported = sum(not s.supported for s in answer.sentences)
    if unsupported:
        total = len(answer.sentences)
        notes.append(f"{unsupported} of {total} sentences not supported by the sources.")
    if notes:
        out += f'\n\n<span class="answer-note">{esc(" ".join(notes))}</span>'
    return out


# --- source cards -----------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class MarkSpan:
    """One highlighted sentence: where it is in the text shown, where it is in the
    article, and which answer sentences (indices) rest on it."""

    start: int
    end: int
    article_span: Span
    rests: tuple[int, ...] = ()


def highlight(text: str, marks: Sequence[MarkSpan | Span]) -> Markup:
    """Escaped text with each mark wrapped in <mark class="support">.

    Marks outside the text or overlapping an earlier one are left unmarked."""
    parts, last = [], 0
    for mark in sorted(_as_mark(m) for m in marks):
        a, b = mark.start, mark.end
        if not last <= a < b <= len(text):
            continue
        parts += [esc(text[last:a]), _mark(text[a:b], mark)]
        last = b
    parts.append(esc(text[last:]))
    return Markup("".join(parts))


def _as_mark(mark: MarkSpan | Span) -> MarkSpan:
    return mark if isinstance(mark, MarkSpan) else MarkSpan(mark[0], mark[1], mark)


def _mark(text: str, mark: MarkSpan) -> str:
    span = f"{mark.article_span[0]}-{mark.article_span[1]}"
    rests = " ".join(str(i) for i in mark.rests)
    return f'<mark class="support" data-span="{span}" data-for="{rests}">{esc(text)}</mark>'


def passage_spans(evidence: Evidence) -> list[Span]:
    """The supporting sentences' spans inside one passage's text."""
    p = evidence.passage
    return _valid([(a - p.start, b - p.start) for a, b in evidence.spans], p.text)


def _valid(spans: Iterable[Span], text: str) -> list[Span]:
    return [(a, b) for a, b in spans if 0 <= a < b <= len(text) and text[a:b].strip()]


def resting(answer: Answer, n: int) -> dict[Span, tuple[int, ...]]:
    """Article span -> the answer sentences (indices) that rest on it, for source n."""
    out: dict[Span, list[int]] = {}
    for i, sentence in enumerate(answer.sentences):
        for source, a, b in sentence.rests_on:
            if source == n:
                out.setdefault((a, b), []).append(i)
    return {span: tuple(ids) for span, ids in out.items()}


def first_citing(answer: Answer, n: int) -> int | None:
    """The first answer sentence (index, in text order) carrying [n]."""
    citing = [(s.start, i) for i, s in enumerate(answer.sentences) if n in s.cites]
    return min(citing)[1] if citing else None


def _passage_marks(evidence: Evidence, rests: Mapping[Span, tuple[int, ...]]) -> list[MarkSpan]:
    start = evidence.passage.start
    return [
        MarkSpan(a, b, (a + start, b + start), rests.get((a + start, b + start), ()))
        for a, b in passage_spans(evidence)
    ]


def _article_marks(
    citation: Citation, article: str, rests: Mapping[Span, tuple[int, ...]]
) -> list[MarkSpan]:
    return [
        MarkSpan(a, b, (a, b), rests.get((a, b), ())) for a, b in _valid(citation.spans, article)
    ]


def meta_line(source: str, day: str, url: str) -> Markup:
    """Outlet · date · link, escaped; an unsafe url is dropped, not linked."""
    return Markup(render("web_meta.html", source=source, day=_day(day), url=Markup(safe_url(url))))


def _day(day: str) -> str:
    return day if day and day != UNKNOWN_DATE else "undated"


def render_citation(
    citation: Citation,
    turn: int,
    article: str = "",
    rests: Mapping[Span, tuple[int, ...]] | None = None,
    back: int | None = None,
) -> str:
    """One source card: the article's title, outlet, date and link, every passage the
    answer used from it with its supporting sentences highlighted, and a link back to
    answer sentence `back`."""
    rests = rests or {}
    passages = [highlight(e.passage.text, _passage_marks(e, rests)) for e in citation.evidence]
    whole = highlight(article, _article_marks(citation, article, rests)) if article else ""
    return render(
        "web_card.html",
        id=card_id(turn, citation.n),
        n=citation.n,
        title=citation.title or citation.article_id,
        meta=meta_line(citation.source, citation.date, citation.url),
        passages=passages,
        supported=citation.supported,
        whole=whole,
        back=sentence_id(turn, back) if back is not None else "",
    )


def render_sources(
    answer: Answer, turn: int, article_text: Callable[[str], str] | None = None
) -> str:
    """The source cards of one answer (no cards for a refusal)."""
    if answer.refused or not answer.citations:
        return NO_SOURCES
    cards = []
    for citation in sorted(answer.citations, key=lambda c: c.n):
        article = article_text(citation.article_id) if article_text else ""
        rests, back = resting(answer, citation.n), first_citing(answer, citation.n)
        cards.append(render_citation(citation, turn, article, rests, back))
    return "".join(cards)


def render_panel(turns: Sequence[tuple[str, str]]) -> str:
    """All answers' sources, newest first and open; older ones folded."""
    if not turns:
        return EMPTY_SOURCES
    blocks = [
        {"question": question, "cards": Markup(cards), "open": i == len(turns) - 1}
        for i, (question, cards) in reversed(list(enumerate(turns)))
    ]
    return render("web_panel.html", turns=blocks)


# --- stored articles --------------------------------------------------------------------
def body_without_title(text: str, title: str) -> str:
    """The article body without a first line that only repeats the title."""
    head, sep, rest = text.lstrip().partition("\n")
    if title and sep and _same(head, title):
        return rest.lstrip("\n")
    return text


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def render_article(article: StoredArticle, text: str) -> str:
    """A stored article shown in full, escaped, its title once."""
    return render(
        "web_article.html",
        id=f"article-{article.id}",
        title=article.title or article.id,
        meta=meta_line(article.source, article.date, article.url),
        body=body_without_title(text, article.title),
    )


def short_id(article_id: str, width: int = 9) -> str:
    """An article id short enough for a table cell ("004_55e56…")."""
    return article_id if len(article_id) <= width else article_id[: width - 1] + "…"


def render_articles_table(articles: Sequence[StoredArticle]) -> str:
    """The stored articles as a table that wraps to its box (titles wrap, ids shortened
    with the full id on hover)."""
    rows = [
        {
            "date": _breakable(_day(a.date), "-"),
            "source": a.source or "—",
            "title": a.title or a.id,
            "chunks": a.chunks,
            "id": a.id,
            "short": _breakable(short_id(a.id), "_"),
        }
        for a in articles
    ]
    return render("web_articles.html", rows=rows)


def _breakable(text: str, after: str) -> tuple[str, str]:
    """`text` split after the first `after` ("2024-" "03-05"), so a narrow cell can wrap
    it there (the template puts a <wbr> between the halves)."""
    head, sep, tail = text.partition(after)
    return (head + sep, tail) if sep and tail else (text, "")


def articles_line(articles: Sequence[StoredArticle]) -> str:
    """ "5 articles loaded (3 outlets, 2019-11-15 to 2025-02-07)." for the page header."""
    count = len(articles)
    if not count:
        return "No articles loaded yet: add some below."
    outlets = len({a.source for a in articles if a.source})
    days = sorted(a.date for a in articles if a.date and a.date != UNKNOWN_DATE)
    bits = [f"{outlets} outlet{'s' * (outlets != 1)}"] if outlets else []
    if days:
        bits.append(days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}")
    noun = "article" if count == 1 else "articles"
    detail = f" ({', '.join(bits)})" if bits else ""
    return f"{count} {noun} loaded{detail}."


def render_articles_line(articles: Sequence[StoredArticle]) -> str:
    return render("web_count.html", line=articles_line(articles), count=len(articles))
