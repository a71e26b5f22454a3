"""Feeds as data: parse RSS 0.9x/1.0/2.0 and Atom, and find the feed a page announces.

`parse_feed` reads a feed's bytes with feedparser into a `Feed` of `Item`s (key,
link, title, the feed's date, and a fingerprint that changes when the feed says the
item changed); a news sitemap (`<urlset>` whose `<url>`s carry `<news:news>`) is read
as a feed too; it returns None for anything that is not a feed. `announced_feeds`
lists the `<link rel="alternate" type="application/rss+xml|atom+xml">` of an HTML
page. Nothing here touches the network or the store: fetching is `fetch.py`'s,
deciding what to fetch and store is `follow.py`'s.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

FEED_TYPES = ("application/rss+xml", "application/atom+xml")


@dataclass(frozen=True)
class Item:
    """One entry of a feed."""

    key: str  # the guid, else the link
    link: str
    title: str
    date: str  # the feed's own date of the item, ISO day, or ""
    fingerprint: str  # link, title and the feed's dates: changes when the item is updated

    def to_dict(self) -> dict[str, str]:
        return {
            "key": self.key,
            "link": self.link,
            "title": self.title,
            "date": self.date,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        return cls(**{k: str(data.get(k, "")) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its title and items, in the feed's order."""

    title: str
    items: list[Item]


def parse_feed(content: bytes, url: str) -> Feed | None:
    """The feed in `content`, or None when it is no RSS/Atom feed at all."""
    import feedparser

    parsed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version"):
        return news_sitemap(content, url)
    items = [item for entry in parsed.entries if (item := _item(entry, url))]
    return Feed(title=" ".join(str(parsed.feed.get("title", "")).split()), items=items)


def _item(entry: Any, feed_url: str) -> Item | None:
    link = str(entry.get("link") or "").strip()
    guid = str(entry.get("id") or "").strip()
    if not link and guid.startswith(("http://", "https://")):
        link = guid  # an RSS guid with isPermaLink is the article's address
    if not link:
        return None
    link = urljoin(feed_url, link)
    # dict.get: feedparser's own get() maps a missing "updated" to "published", and warns.
    stamp = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    date = time.strftime("%Y-%m-%d", stamp) if stamp else ""
    title = " ".join(str(entry.get("title") or "").split())
    changed = f"{dict.get(entry, 'updated', '')}|{dict.get(entry, 'published', '')}"
    fingerprint = hashlib.sha256(f"{link}|{title}|{changed}".encode()).hexdigest()[:16]
    return Item(key=guid or link, link=link, title=title, date=date, fingerprint=fingerprint)


_SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


def news_sitemap(content: bytes, url: str) -> Feed | None:
    """A news sitemap's articles (each `<url>` with a `<news:news>`), or None when
    `content` is no such sitemap. A document type is refused (no entity expansion)."""
    from xml.etree import ElementTree

    if b"<!DOCTYPE" in content[:2048].upper() or b"urlset" not in content[:4096]:
        return None
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None
    if root.tag != f"{_SITEMAP}urlset":
        return None
    entries = [(u, u.find(f"{_NEWS}news")) for u in root.iter(f"{_SITEMAP}url")]
    news = [(u, n) for u, n in entries if n is not None]
    if not news:
        return None
    items = [item for u, n in news if (item := _sitemap_item(u, n, url))]
    outlet = _text(news[0][1].find(f"{_NEWS}publication/{_NEWS}name"))
    return Feed(title=outlet, items=items)


def _sitemap_item(entry: Any, news: Any, sitemap_url: str) -> Item | None:
    link = _text(entry.find(f"{_SITEMAP}loc"))
    if not link:
        return None
    link = urljoin(sitemap_url, link)
    title = _text(news.find(f"{_NEWS}title"))
    published = _text(news.find(f"{_NEWS}publication_date"))
    changed = f"{_text(entry.find(f'{_SITEMAP}lastmod'))}|{published}"
    fingerprint = hashlib.sha256(f"{link}|{title}|{changed}".encode()).hexdigest()[:16]
    date = published[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}", published[:10]) else ""
    return Item(key=link, link=link, title=title, date=date, fingerprint=fingerprint)


def _text(element: Any) -> str:
    return " ".join(str(element.text or "").split()) if element is not None else ""


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        rel = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES and values.get("href"):
            self.found.append(values["href"].strip())


def announced_feeds(html: str, base_url: str) -> list[str]:
    """Absolute URLs of the feeds an HTML page announces, in page order."""
    finder = _LinkFinder()
    try:
        finder.feed(html)
        finder.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup
        pass
    return list(dict.fromkeys(urljoin(base_url, href) for href in finder.found))
