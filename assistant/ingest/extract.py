"""An article page's main text and its own metadata, read with trafilatura and htmldate.

`extract_page` turns one HTML page into a `Page`: the main text without navigation,
cookie banners, "most read" sidebars, share bars and footers (trafilatura 2.x with
`include_comments=False, include_tables=True`, the settings measured best on its own
benchmark), the title, outlet (site name), author and canonical URL from the page's
metadata, and the publication date from htmldate's `find_date(original_date=True)`
(meta tags, JSON-LD, `<time>`, the URL; a feed's date before htmldate's text guesses).
It never uses the time of fetching as a date: with no date on the page, the caller's
fallback (a feed's date) or "unknown" stands.
Both libraries are imported on first use. Fetching is `fetch.py`'s job; building and
storing the `Article` is `sources.py`'s and `pipeline.py`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..base.schema import UNKNOWN_DATE
from ..language.dates import parse_date, url_date
from .clean import _cut_trailer, _is_furniture, _outlet_name, _unify

#: Markup inside a metadata value ("<img src=x onerror=...>" in an og:title) is dropped.
_MARKUP = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^<>]*>", re.I | re.S)


@dataclass(frozen=True)
class Page:
    """What a page says about itself; `text` starts with the title, like every article."""

    title: str
    text: str
    date: str  # ISO day or "unknown"
    source: str
    author: str
    url: str


def extract_page(html: str, *, url: str = "", fallback_date: str = "") -> Page | None:
    """The page's article, or None when trafilatura finds no main text in it."""
    document = _trafilatura(html, url)
    if document is None:
        return None
    body = _body(str(_field(document, "text") or ""))
    if not body:
        return None
    title = _plain(_field(document, "title"))
    page_url = _plain(_field(document, "url")) or url
    if not page_url.startswith(("http://", "https://")):
        page_url = url
    lines = [line for line in body.split("\n\n") if line != title]
    text = "\n\n".join([title, *lines] if title else lines)
    return Page(
        title=title,
        text=text,
        date=publication_date(html, page_url or url, fallback_date),
        source=_plain(_field(document, "sitename")) or _outlet_name(page_url or url),
        author=_plain(_field(document, "author")),
        url=page_url,
    )


def publication_date(html: str, url: str, fallback: str = "") -> str:
    """The page's original publication day: htmldate's full answer (its default,
    extensive mode, the one its published accuracy is measured with) when the page's
    markup states a date (meta tags, JSON-LD, `<time>`, the URL); else the fallback (a
    feed's date); else htmldate's extensive search of the text; else "unknown".

    The feed's date comes before a text search because that search guesses: a page with
    no date but a footer saying "© 2025" gets 2025-01-01 from it."""
    if _find_date(html, url, extensive=False):
        return _find_date(html, url, extensive=True) or UNKNOWN_DATE
    return (
        (parse_date(fallback) if fallback else None)
        or _find_date(html, url, extensive=True)
        or UNKNOWN_DATE
    )


def _find_date(html: str, url: str, *, extensive: bool) -> str | None:
    from htmldate import find_date

    try:
        found = find_date(html, url=url or None, original_date=True, extensive_search=extensive)
    except (ValueError, RecursionError):  # htmldate refuses some malformed pages
        return None
    return parse_date(found) if found else (url_date(url) if url else None)


def _trafilatura(html: str, url: str) -> Any:
    from trafilatura import bare_extraction

    try:
        return bare_extraction(
            html,
            url=url or None,
            include_comments=False,
            include_tables=True,
            with_metadata=True,
        )
    except (ValueError, RecursionError):  # a page the HTML parser cannot build a tree of
        return None


def _field(document: Any, name: str) -> Any:
    if isinstance(document, dict):
        return document.get(name)
    return getattr(document, name, None)


def _plain(value: Any) -> str:
    return " ".join(_unify(_MARKUP.sub(" ", str(value or ""))).split())


def _body(text: str) -> str:
    """Paragraphs one blank line apart, without furniture lines or a trailing comment
    section; spacing and invisible characters unified as for every article."""
    lines = [line.strip() for line in _unify(text).split("\n")]
    kept = [line for line in _cut_trailer(lines) if line and not _is_furniture(line)]
    return "\n\n".join(kept)
