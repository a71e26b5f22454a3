"""Following feeds against a real loopback web site: RSS and Atom feeds, article pages with
the furniture real news pages carry (navigation, cookie banner, "most read" sidebar, share
bar, footer), and the ways a site fails (404, slow, oversize, binary, redirect loops, robots.txt,
pages that announce no feed). Every page here was written for these tests.

Asserted on what a reader sees: the articles stored once with the page's own title, outlet
and date and without furniture; nothing fetched or stored again on the next pass; each
failure named by its URL. The store and the embedding model are the real ones.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from conftest import make_settings, run_cli

from assistant.base.config import Settings
from assistant.base.errors import IngestError
from assistant.core import Assistant
from assistant.ingest.feeds import Feed, announced_feeds, parse_feed
from assistant.ingest.fetch import Fetcher, check_public
from assistant.ingest.follow import Follower, parse_every
from assistant.ingest.pipeline import Ingestor
from assistant.ingest.subscriptions import Subscriptions

SITE_NAME = "Harbour Gazette"


# --- the site -----------------------------------------------------------------------------
@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Site:
    """Routes served by a loopback server; counts every request and every 304."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.agents: set[str] = set()
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path

    def page(self, path: str, html: str, **kw: Any) -> str:
        self.routes[path] = Route(html.encode("utf-8"), **kw)
        return self.url(path)

    def feed(self, path: str, xml: str, kind: str = "rss") -> str:
        ctype = "application/rss+xml" if kind == "rss" else "application/atom+xml"
        self.routes[path] = Route(xml.encode("utf-8"), content_type=ctype)
        return self.url(path)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path
            site.hits[path] += 1
            site.agents.add(self.headers.get("User-Agent", ""))
            route = site.routes.get(path)
            if route is None:
                self.send_error(404)
                return
            time.sleep(route.delay)
            etag = f'"{hash(route.body) & 0xFFFFFFFF:x}"'
            if route.status == 200 and self.headers.get("If-None-Match") == etag:
                site.not_modified[path] += 1
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            if route.status == 200:
                self.send_header("ETag", etag)
            for key, value in route.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, *_args: object) -> None:  # a client that timed out and left
        pass


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    server = _Quiet(("127.0.0.1", 0), _handler(s))
    s.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield s
    server.shutdown()
    server.server_close()


# --- pages and feeds written for the tests ------------------------------------------------
def article_page(
    title: str,
    paragraphs: list[str],
    *,
    date: str = "",
    jsonld_date: str = "",
    canonical: str = "",
    site_name: str = SITE_NAME,
) -> str:
    """A news page as sites make them: the article inside navigation, a cookie banner, a
    share bar, a "most read" sidebar, a newsletter box and a footer."""
    head = [
        f"<title>{title} | {site_name}</title>",
        f'<meta property="og:title" content="{title}">',
    ]
    head.append(f'<meta property="og:site_name" content="{site_name}">')
    if date:
        head.append(f'<meta property="article:published_time" content="{date}T07:30:00+00:00">')
    if jsonld_date:
        ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title}
        ld["datePublished"] = f"{jsonld_date}T09:00:00Z"
        head.append(f'<script type="application/ld+json">{json.dumps(ld)}</script>')
    if canonical:
        head.append(f'<link rel="canonical" href="{canonical}">')
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
{"".join(head)}
<script>window.dataLayer = [{{"event": "pageview", "tracker": "TRACKING-CODE"}}];</script>
</head><body>
<div class="cookie-banner" id="cookie-consent"><p>We use cookies to improve your experience
and to show you personalised advertising. By clicking Accept all cookies you agree to our
cookie policy.</p><button>Accept all cookies</button><button>Manage settings</button></div>
<header class="site-header"><a href="/">{site_name}</a>
<nav><ul><li><a href="/news">News</a></li><li><a href="/business">Business</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li>
<li><a href="/subscribe">Subscribe today</a></li></ul></nav></header>
<main><article class="story">
<h1>{title}</h1>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on X</a>
<a href="#">Email this story</a> <a href="#">Print</a></div>
{body}
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Copy link</a></div>
</article>
<aside class="most-read"><h2>Most read</h2><ol>
<li><a href="/n/1">Celebrity chef opens pop-up bakery in old lighthouse</a></li>
<li><a href="/n/2">Ten walks to try before the clocks go back</a></li>
<li><a href="/n/3">Parking charges to rise at the seafront from April</a></li>
</ol></aside>
<section class="newsletter"><h2>Sign up to our morning briefing</h2>
<p>The day's top stories delivered to your inbox every morning.</p></section>
</main>
<footer><p>© 2025 {site_name} Ltd. All rights reserved.</p>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a>
<a href="/contact">Contact us</a></footer>
</body></html>"""


def home_page(*feeds: tuple[str, str]) -> str:
    links = "".join(f'<link rel="alternate" type="{t}" href="{h}">' for t, h in feeds)
    return f"""<!doctype html><html><head><title>{SITE_NAME}</title>{links}</head>
<body><nav><a href="/news">News</a></nav><h1>{SITE_NAME}</h1>
<p>Local news from the harbour town.</p></body></html>"""


@dataclass
class Entry:
    title: str
    link: str
    date: datetime
    guid: str = ""
    updated: datetime | None = None


def rss(entries: list[Entry], title: str = f"{SITE_NAME}: News") -> str:
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>{escape(e.link)}</link>"
        f'<guid isPermaLink="false">{escape(e.guid or e.link)}</guid>'
        f"<pubDate>{format_datetime(e.updated or e.date)}</pubDate>"
        f"<description>{escape(e.title)}: the full story.</description></item>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://gazette.example/</link>"
        f"<description>Latest news</description>{items}</channel></rss>"
    )


def atom(entries: list[Entry], title: str = f"{SITE_NAME}: Business") -> str:
    items = "".join(
        f"<entry><title>{escape(e.title)}</title>"
        f'<link rel="alternate" href="{escape(e.link)}"/><id>{escape(e.guid or e.link)}</id>'
        f"<published>{e.date.isoformat()}</published>"
        f"<updated>{(e.updated or e.date).isoformat()}</updated>"
        f"<summary>{escape(e.title)}</summary></entry>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:gazette:business</id>"
        f"<updated>2025-03-05T00:00:00Z</updated>{items}</feed>"
    )


def day(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(hour=6, tzinfo=UTC)


TRAM = [
    "The Lindenfeld city council voted on Tuesday to build a tram line from the station to "
    "the harbour, ending four years of debate over the route.",
    "Morrow Rail will build the new tram depot on the former gasworks site, the council's "
    "transport committee said. Construction is due to start in the autumn.",
    "Councillor Edda Vane said the line would carry eleven thousand passengers a day.",
]
FERRY = [
    "The ferry operator Saltmarsh Lines will add a second daily crossing to the islands "
    "from May, the company announced.",
    "Its chief executive, Oren Blackwood, said bookings had doubled since the new pier opened "
    "last summer, and that the company had leased a second vessel to cope with demand.",
    "Island residents have long asked for an evening sailing. The parish council welcomed the "
    "announcement but said fares should be frozen for people who live on the islands.",
]
FURNITURE = (
    "cookie",
    "Accept all",
    "Most read",
    "Celebrity chef",
    "Share on",
    "Sign up to our",
    "All rights reserved",
    "Privacy policy",
    "Subscribe today",
    "TRACKING-CODE",
)


# --- helpers ------------------------------------------------------------------------------
def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"fetch_timeout": 1.5, "max_file_mb": 0.2, **overrides}
    return make_settings(tmp_path / "data", **values)


@pytest.fixture
def assistant(tmp_path: Path) -> Assistant:  # an empty store of the test's own
    return Assistant(settings_for(tmp_path), chat_model=None)


def make_follower(
    assistant: Assistant, *, allow_private: bool = True, transport: Any = None
) -> Follower:
    s = assistant.settings
    fetcher = Fetcher(
        timeout=s.fetch_timeout,
        max_bytes=int(s.max_file_mb * 1e6),
        allow_private=allow_private,
        transport=transport,
    )
    return Follower(
        Subscriptions(s.data_dir), fetcher, lambda: Ingestor(s, assistant.store, assistant.embedder)
    )


def stored(assistant: Assistant) -> dict[str, Any]:
    return {a.title: a for a in assistant.store.articles()}


def errors(result: Any) -> dict[str, str]:
    return {f["url"]: f["error"] for f in result.failed}


# --- the tests ----------------------------------------------------------------------------
def test_follow_stores_each_page_with_its_own_metadata_and_no_furniture(
    site: Site, assistant: Assistant
) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    # The date only in JSON-LD, as many sites publish it.
    ferry = site.page(
        "/news/ferry", article_page("Ferry adds crossing", FERRY, jsonld_date="2025-03-02")
    )
    feed = site.feed(
        "/feed.xml",
        rss(
            [
                Entry("Tram line approved", tram, day("2025-03-06")),
                Entry("Ferry", ferry, day("2025-03-06")),
            ]
        ),
    )
    result = make_follower(assistant).follow(feed, 1800)
    assert result.to_dict() == {"url": feed, "new": 2, "updated": 0, "unchanged": 0, "failed": []}
    articles = stored(assistant)
    assert set(articles) == {"Tram line approved", "Ferry adds crossing"}
    tram_article = articles["Tram line approved"]
    # The page's own date, not the feed's (the 6th) nor the day it was fetched.
    assert (
        tram_article.date == "2025-03-04" and articles["Ferry adds crossing"].date == "2025-03-02"
    )
    assert tram_article.source == SITE_NAME and tram_article.url == tram
    text, _ = assistant.store.article_text(tram_article.id)
    assert "Morrow Rail will build the new tram depot" in text and "eleven thousand" in text
    assert text.startswith("Tram line approved\n\n")
    for furniture in FURNITURE:
        assert furniture not in text, furniture
    assert all(agent.startswith("news-assistant/") for agent in site.agents)


def test_a_second_pass_fetches_the_unchanged_feed_once_and_stores_nothing(
    site: Site, assistant: Assistant
) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    feed = site.feed("/feed.xml", rss([Entry("Tram line approved", tram, day("2025-03-04"))]))
    follower = make_follower(assistant)
    follower.follow(feed, 1800)
    chunks = assistant.store.count()
    (again,) = make_follower(assistant).refresh()  # a new process: state from the data folder
    assert again.to_dict() == {"url": feed, "new": 0, "updated": 0, "unchanged": 0, "failed": []}
    assert site.not_modified["/feed.xml"] == 1, "a conditional GET answered 304"
    # The feed changes (a new item), the known item is neither fetched nor embedded again.
    ferry = site.page("/news/ferry", article_page("Ferry adds crossing", FERRY, date="2025-03-05"))
    site.feed(
        "/feed.xml",
        rss(
            [
                Entry("Ferry", ferry, day("2025-03-05")),
                Entry("Tram line approved", tram, day("2025-03-04")),
            ]
        ),
    )
    (third,) = make_follower(assistant).refresh()
    assert (third.new, third.unchanged, third.failed) == (1, 1, [])
    assert site.hits["/news/tram"] == 1
    assert len(assistant.store.articles()) == 2 and assistant.store.count() > chunks


def test_a_changed_page_replaces_its_chunks(site: Site, assistant: Assistant) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    feed = site.feed("/feed.xml", rss([Entry("Tram line approved", tram, day("2025-03-04"))]))
    make_follower(assistant).follow(feed, 1800)
    corrected = [
        *TRAM[:2],
        "Councillor Edda Vane said the line would carry nine thousand passengers a day.",
    ]
    site.page("/news/tram", article_page("Tram line approved", corrected, date="2025-03-04"))
    entry = Entry("Tram line approved", tram, day("2025-03-04"), updated=day("2025-03-05"))
    site.feed("/feed.xml", rss([entry]))
    (result,) = make_follower(assistant).refresh()
    assert (result.new, result.updated, result.unchanged) == (0, 1, 0)
    (article,) = assistant.store.articles()
    text, _ = assistant.store.article_text(article.id)
    assert "nine thousand" in text and "eleven thousand" not in text
    versions = {m["version"] for _, m in assistant.store.chunk_meta({"article_id": article.id})}
    assert len(versions) == 1, "the old version's chunks are gone"


def test_one_article_in_two_feeds_is_stored_once(site: Site, assistant: Assistant) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    # The business feed reaches it through another address; the page names its canonical one.
    site.page(
        "/b/tram?ref=atom",
        article_page("Tram line approved", TRAM, date="2025-03-04", canonical=tram),
    )
    news = site.feed("/news.xml", rss([Entry("Tram line approved", tram, day("2025-03-04"))]))
    business = site.feed(
        "/business.atom",
        atom([Entry("Tram line approved", site.url("/b/tram?ref=atom"), day("2025-03-04"))]),
        kind="atom",
    )
    follower = make_follower(assistant)
    first = follower.follow(news, 1800)
    second = follower.follow(business, 3600)
    assert (first.new, second.new, second.unchanged) == (1, 0, 1)
    assert len(assistant.store.articles()) == 1
    listed = Subscriptions(assistant.settings.data_dir).load().feeds
    assert [len(s.articles) for s in listed] == [1, 1]


def test_a_site_page_is_followed_through_the_feed_it_announces(
    site: Site, assistant: Assistant
) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    site.feed(
        "/atom.xml", atom([Entry("Tram line approved", tram, day("2025-03-04"))]), kind="atom"
    )
    home = site.page("/", home_page(("application/atom+xml", "/atom.xml")))
    result = make_follower(assistant).follow(home, 1800)
    assert result.new == 1
    (sub,) = Subscriptions(assistant.settings.data_dir).load().feeds
    assert (sub.url, sub.feed_url, sub.title) == (
        home,
        site.url("/atom.xml"),
        f"{SITE_NAME}: Business",
    )


@pytest.mark.parametrize(
    ("path", "route", "says"),
    [
        ("/about", Route(home_page().encode()), "not a feed, and the page announces none"),
        ("/gone.xml", None, "HTTP 404"),
        ("/slow.xml", Route(b"<rss/>", delay=3), "timed out"),
        ("/loop.xml", Route(b"", status=302, headers={"Location": "/loop.xml"}), "redirect loop"),
    ],
)
def test_what_cannot_be_followed_is_refused_with_one_line_naming_it(
    site: Site, assistant: Assistant, path: str, route: Route | None, says: str
) -> None:
    if route is not None:
        site.routes[path] = route
    url = site.url(path)
    with pytest.raises(IngestError) as caught:
        make_follower(assistant).follow(url, 1800)
    message = str(caught.value)
    assert message.startswith(f"{url}: ") and says in message and "\n" not in message
    assert Subscriptions(assistant.settings.data_dir).load().feeds == [], "nothing saved"


def test_file_and_other_schemes_are_never_fetched(site: Site, assistant: Assistant) -> None:
    with pytest.raises(IngestError, match="only http and https"):
        make_follower(assistant).follow("file:///etc/passwd", 1800)
    site.routes["/to-file"] = Route(b"", status=302, headers={"Location": "file:///etc/passwd"})
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    feed = site.feed(
        "/feed.xml",
        rss(
            [
                Entry("Tram", tram, day("2025-03-04")),
                Entry("Secrets", "file:///etc/passwd", day("2025-03-04")),
                Entry("Redirected", site.url("/to-file"), day("2025-03-04")),
            ]
        ),
    )
    result = make_follower(assistant).follow(feed, 1800)
    failed = errors(result)
    (secret,) = [error for url, error in failed.items() if "etc/passwd" in url]
    assert result.new == 1 and "only http and https" in secret
    assert "non-http(s)" in failed[site.url("/to-file")]
    assert not any(Path(assistant.settings.data_dir).rglob("passwd"))


# --- the web server's guard: no private or local addresses ----------------------------
PUBLIC = "93.184.216.34"  # a globally routable address (example.com's), never connected to


def resolve_as(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """Make `socket.getaddrinfo` answer `names` (name -> address) and nothing else."""

    def fake(host: str, *_args: Any, **_kw: Any) -> list[Any]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def assert_refused(message: str, url: str, host: str) -> None:
    assert message.startswith(f"{url}: refused") and "\n" not in message
    assert f"{host} is not a public address" in message
    assert "ASSISTANT_WEB_FETCH_PRIVATE=true" in message


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]",
             "192.168.1.1", "100.64.0.1", "0.0.0.0"],
)  # fmt: skip
def test_private_and_local_addresses_are_refused_without_dns(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_as(monkeypatch, {})  # an address literal is never looked up
    url = f"http://{host}/latest/meta-data/"
    with pytest.raises(IngestError) as caught:
        check_public(url)
    assert_refused(str(caught.value), url, host.strip("[]"))


def test_a_global_address_is_allowed_and_an_unknown_name_cannot_be_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolve_as(monkeypatch, {})
    check_public(f"http://{PUBLIC}/feed.xml")
    with pytest.raises(IngestError, match="could not fetch") as caught:
        check_public("https://nowhere.example/feed.xml")
    assert str(caught.value).startswith("https://nowhere.example/feed.xml: ")


def test_a_loopback_feed_is_refused_when_private_addresses_are_not_allowed(
    site: Site, assistant: Assistant
) -> None:
    feed = site.feed("/feed.xml", rss([Entry("Tram", site.url("/news/tram"), day("2025-03-04"))]))
    with pytest.raises(IngestError) as caught:
        make_follower(assistant, allow_private=False).follow(feed, 1800)
    assert_refused(str(caught.value), feed, "127.0.0.1")
    assert not site.hits, "not even robots.txt was asked for"
    assert Subscriptions(assistant.settings.data_dir).load().feeds == [], "nothing saved"
    assert assistant.store.articles() == []


def test_a_public_name_that_resolves_to_loopback_is_refused(
    site: Site, assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = site.feed("/feed.xml", rss([]))
    port = feed.split(":")[2].split("/")[0]
    resolve_as(monkeypatch, {"news.example": "127.0.0.1"})
    url = f"http://news.example:{port}/feed.xml"
    with pytest.raises(IngestError) as caught:
        make_follower(assistant, allow_private=False).follow(url, 1800)
    assert_refused(str(caught.value), url, "news.example")
    assert not site.hits and Subscriptions(assistant.settings.data_dir).load().feeds == []


def public_site(pages: dict[str, tuple[int, dict[str, str], bytes]]) -> tuple[Any, list[str]]:
    """A transport answering for the public site news.example: path -> (status, headers,
    body); every URL asked for is listed, so a test sees what was never requested."""
    import httpx

    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        status, headers, body = pages.get(request.url.path, (404, {}, b""))
        return httpx.Response(status, headers=headers, content=body)

    return httpx.MockTransport(answer), asked


def test_a_redirect_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve_as(monkeypatch, {"news.example": PUBLIC})
    metadata = "http://169.254.169.254/latest/meta-data/"
    transport, asked = public_site({"/feed.xml": (302, {"Location": metadata}, b"")})
    url = "https://news.example/feed.xml"
    fetcher = Fetcher(timeout=5, max_bytes=10_000, transport=transport, allow_private=False)
    with fetcher, pytest.raises(IngestError) as caught:
        fetcher.get(url)
    message = str(caught.value)
    assert message.startswith(f"{url}: refused {metadata}, 169.254.169.254 is not a public")
    assert asked == ["https://news.example/robots.txt", url], "the metadata URL never asked"


def test_item_links_to_private_addresses_fail_and_the_public_ones_are_stored(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_as(monkeypatch, {"news.example": PUBLIC, "intranet.example": "10.1.2.3"})
    tram, admin = "https://news.example/news/tram", "http://intranet.example/admin"
    feed = rss([Entry("Tram", tram, day("2025-03-04")), Entry("Admin", admin, day("2025-03-04"))])
    page = article_page("Tram line approved", TRAM, date="2025-03-04").encode()
    transport, asked = public_site(
        {
            "/feed.xml": (200, {"Content-Type": "application/rss+xml"}, feed.encode()),
            "/news/tram": (200, {"Content-Type": "text/html; charset=utf-8"}, page),
        }
    )
    follower = make_follower(assistant, allow_private=False, transport=transport)
    result = follower.follow("https://news.example/feed.xml", 1800)
    assert result.new == 1 and list(stored(assistant)) == ["Tram line approved"]
    assert_refused(errors(result)[admin], admin, "intranet.example")
    assert not any("intranet" in a for a in asked)


def test_a_background_refresh_reports_each_refused_feed_and_goes_on(
    site: Site, assistant: Assistant
) -> None:
    from assistant.ingest.schedule import Refresher

    feeds = [site.feed("/one.xml", rss([])), site.feed("/two.xml", rss([]))]
    for feed in feeds:  # followed from the operator's shell, which may fetch loopback
        make_follower(assistant).follow(feed, 60)
    guarded = make_follower(assistant, allow_private=False)
    guarded.clock = lambda: time.time() + 61  # both are due
    said: list[str] = []
    Refresher(guarded, say=said.append).run_once()
    assert said == [f"refreshed {feed}: 0 new, 0 updated, 1 failed" for feed in feeds]
    state = Subscriptions(assistant.settings.data_dir).load()
    for sub in state.feeds:
        assert_refused(sub.last_error, sub.feed_url, "127.0.0.1")


def test_bad_items_are_named_in_failed_and_retried_on_the_next_pass(
    site: Site, assistant: Assistant
) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    site.routes["/slow"] = Route(article_page("Slow", FERRY).encode(), delay=3)
    site.routes["/huge"] = Route(article_page("Huge", TRAM * 2000).encode())
    site.routes["/photo"] = Route(b"\x89PNG\r\n\x1a\n" + bytes(300), content_type="image/png")
    site.routes["/loop"] = Route(b"", status=301, headers={"Location": "/loop2"})
    site.routes["/loop2"] = Route(b"", status=301, headers={"Location": "/loop"})
    site.routes["/robots.txt"] = Route(
        b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    site.page("/private/memo", article_page("Memo", FERRY))
    paths = ["/news/ferry", "/slow", "/huge", "/photo", "/loop", "/private/memo"]
    entries = [Entry("Tram line approved", tram, day("2025-03-04"))]
    entries += [Entry(p, site.url(p), day("2025-03-04")) for p in paths]
    feed = site.feed("/feed.xml", rss(entries))
    result = make_follower(assistant).follow(feed, 1800)
    failed = errors(result)
    assert result.new == 1 and set(failed) == {site.url(p) for p in paths}
    expected = [
        "HTTP 404",
        "timed out",
        "larger than",
        "not a page or feed (image/png)",
        "redirect loop",
        "robots.txt",
    ]
    for path, says in zip(paths, expected, strict=True):
        assert failed[site.url(path)].startswith(site.url(path) + ": "), failed
        assert says in failed[site.url(path)], failed[site.url(path)]
    assert len(assistant.store.articles()) == 1
    # The dead link comes alive; the next pass retries the failed items (the feed is 304).
    site.page("/news/ferry", article_page("Ferry adds crossing", FERRY, date="2025-03-05"))
    (again,) = make_follower(assistant).refresh()
    assert again.new == 1 and site.url("/news/ferry") not in errors(again)
    assert len(errors(again)) == len(paths) - 1
    assert "Ferry adds crossing" in stored(assistant)
    (sub,) = Subscriptions(assistant.settings.data_dir).load().feeds
    assert len(sub.articles) == 2 and sub.last_error == ""


def test_a_page_without_a_date_takes_the_feeds_date_never_todays(
    site: Site, assistant: Assistant
) -> None:
    ferry = site.page("/story", article_page("Ferry adds crossing", FERRY))
    feed = site.feed("/feed.xml", rss([Entry("Ferry", ferry, day("2025-02-27"))]))
    make_follower(assistant).follow(feed, 1800)
    (article,) = assistant.store.articles()
    assert article.date == "2025-02-27"


def test_two_refreshes_at_once_store_each_article_once(site: Site, assistant: Assistant) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    ferry = site.page("/news/ferry", article_page("Ferry adds crossing", FERRY, date="2025-03-05"))
    feed = site.feed("/feed.xml", rss([Entry("Tram", tram, day("2025-03-04"))]))
    make_follower(assistant).follow(feed, 1800)
    site.feed(
        "/feed.xml",
        rss([Entry("Tram", tram, day("2025-03-04")), Entry("Ferry", ferry, day("2025-03-05"))]),
    )
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.extend(make_follower(assistant).refresh()))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(r.new for r in results) == [0, 1]
    assert site.hits["/news/ferry"] == 1
    assert sorted(a.title for a in assistant.store.articles()) == [
        "Ferry adds crossing",
        "Tram line approved",
    ]


def test_a_question_only_a_feed_article_answers_cites_it(site: Site, assistant: Assistant) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    ferry = site.page("/news/ferry", article_page("Ferry adds crossing", FERRY, date="2025-03-05"))
    feed = site.feed(
        "/feed.xml",
        rss([Entry("Tram", tram, day("2025-03-04")), Entry("Ferry", ferry, day("2025-03-05"))]),
    )
    make_follower(assistant).follow(feed, 1800)
    answer = assistant.ask("Which company will build the new tram depot?")
    assert not answer.refused, answer.text
    assert "Morrow Rail" in answer.text
    assert answer.citations[0].url == tram and answer.citations[0].source == SITE_NAME


# --- parsing --------------------------------------------------------------------------------
def test_feed_parsing_and_announced_feeds() -> None:
    entries = [Entry("A", "https://gazette.example/a", day("2025-03-04"), guid="tag:a")]
    parsed = parse_feed(rss(entries).encode(), "https://gazette.example/feed")
    assert (
        parsed is not None
        and parsed.items[0].key == "tag:a"
        and parsed.items[0].date == "2025-03-04"
    )
    assert parse_feed(atom(entries).encode(), "https://gazette.example/atom") is not None
    rdf = (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>T</title></channel>'
        '<item rdf:about="https://gazette.example/r"><title>R</title>'
        "<link>https://gazette.example/r</link></item></rdf:RDF>"
    )
    old = rss(entries).replace('version="2.0"', 'version="0.91"').encode()
    assert [
        i.link for i in (parse_feed(old, "https://gazette.example/") or Feed("", [])).items
    ] == ["https://gazette.example/a"]
    one = parse_feed(rdf.encode(), "https://gazette.example/rdf")
    assert one is not None and one.items[0].link == "https://gazette.example/r"
    assert parse_feed(home_page().encode(), "https://gazette.example/") is None
    page = home_page(("application/rss+xml", "/rss"), ("text/css", "/x.css"))
    assert announced_feeds(page, "https://gazette.example/news/") == ["https://gazette.example/rss"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("2h", 7200), ("1d", 86400), ("90s", 90), ("15", 900)]
)
def test_every(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "often", "10s", "-5m", "3w"])
def test_a_bad_every_is_refused(text: str) -> None:
    with pytest.raises(IngestError, match="--every"):
        parse_every(text)


# --- the command line -----------------------------------------------------------------------
def test_the_commands_print_the_documented_json(site: Site, tmp_path: Path) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    feed = site.feed(
        "/feed.xml",
        rss(
            [
                Entry("Tram", tram, day("2025-03-04")),
                Entry("Gone", site.url("/x"), day("2025-03-04")),
            ]
        ),
    )
    env = {"ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_LLM": "extractive"}
    dry = run_cli("ingest", "--dry-run", "--json", tram, env=env)
    assert dry.returncode == 0, dry.stderr
    (row,) = [json.loads(line) for line in dry.stdout.splitlines()]
    assert {k: row[k] for k in ("origin", "title", "source", "date", "url")} == {
        "origin": tram,
        "title": "Tram line approved",
        "source": SITE_NAME,
        "date": "2025-03-04",
        "url": tram,
    }
    assert "Morrow Rail" in row["text"] and "cookie" not in row["text"]
    assert not (tmp_path / "data").exists(), "a dry run stores nothing"
    followed = run_cli("follow", feed, "--every", "2h", "--json", env=env)
    assert followed.returncode == 0, followed.stderr
    assert json.loads(followed.stdout) == {
        "url": feed,
        "new": 1,
        "updated": 0,
        "unchanged": 0,
        "failed": [{"url": site.url("/x"), "error": f"{site.url('/x')}: HTTP 404 Not Found"}],
    }
    refreshed = run_cli("refresh", "--json", env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    (one,) = json.loads(refreshed.stdout)["feeds"]
    assert (one["new"], one["unchanged"], len(one["failed"])) == (0, 0, 1)
    (listed,) = json.loads(run_cli("feeds", "--json", env=env).stdout)
    assert listed["url"] == feed and listed["articles"] == 1 and listed["every"] == 7200
    assert listed["last_fetch"] and listed["next_fetch"] and listed["title"] == f"{SITE_NAME}: News"
    bad = run_cli("follow", site.url("/about-nothing"), env=env)
    assert (
        bad.returncode == 1
        and bad.stderr.strip() == f"error: {site.url('/about-nothing')}: HTTP 404 Not Found"
    )
    assert run_cli("unfollow", feed, env=env).returncode == 0
    assert json.loads(run_cli("feeds", "--json", env=env).stdout) == []
    assert run_cli("unfollow", feed, env=env).returncode == 1


def test_with_a_chroma_server_two_hosts_share_the_subscriptions(
    site: Site, tmp_path: Path, chroma_server: str
) -> None:
    """Two data folders (two hosts) on one `chroma run`: what one follows the other lists
    and refreshes, neither stores an article twice, and an unfollow counts for both."""
    from test_cli import ANSWERING, HEAVY, _probe

    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    feed = site.feed("/feed.xml", rss([Entry("Tram", tram, day("2025-03-04"))]))
    server = {"ASSISTANT_CHROMA_URL": chroma_server, "ASSISTANT_COLLECTION": "shared-feeds"}
    one, two = (
        {"ASSISTANT_DATA_DIR": str(tmp_path / name), "ASSISTANT_LLM": "extractive", **server}
        for name in ("one", "two")
    )
    followed = run_cli("follow", feed, "--every", "2h", "--json", env=one)
    assert followed.returncode == 0 and json.loads(followed.stdout)["new"] == 1, followed.stderr
    assert not (tmp_path / "one" / "feeds.json").exists(), "the state lives on the server"
    (listed,) = json.loads(run_cli("feeds", "--json", env=two).stdout)
    assert (listed["url"], listed["every"], listed["articles"]) == (feed, 7200, 1)
    assert listed["title"] == f"{SITE_NAME}: News" and listed["last_fetch"]
    # `feeds` on a server opens the records but loads no model.
    (tmp_path / "probe").mkdir()
    probe, output = _probe(tmp_path / "probe", "feeds", "--json", env=server)
    assert probe["code"] == 0 and feed in output, output
    assert not [m for m in probe["loaded"] if m in HEAVY + ANSWERING] and probe["embedders"] == 0
    refreshed = run_cli("refresh", "--json", env=two)
    assert refreshed.returncode == 0, refreshed.stderr
    (again,) = json.loads(refreshed.stdout)["feeds"]
    assert (again["new"], again["updated"], again["failed"]) == (0, 0, [])
    assert site.hits["/news/tram"] == 1, "the page taken on the first host is not fetched again"
    # A new item, both hosts refreshing at once: stored once.
    ferry = site.page("/news/ferry", article_page("Ferry adds crossing", FERRY, date="2025-03-05"))
    entries = [Entry("Ferry", ferry, day("2025-03-05")), Entry("Tram", tram, day("2025-03-04"))]
    site.feed("/feed.xml", rss(entries))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assistant", "refresh", "--json"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in (one, two)
    ]
    passes = [json.loads(p.communicate(timeout=300)[0])["feeds"][0] for p in procs]
    assert sum(p["new"] for p in passes) >= 1 and all(p["failed"] == [] for p in passes)
    articles = json.loads(run_cli("sources", "--json", env=one).stdout)
    assert sorted(a["title"] for a in articles) == ["Ferry adds crossing", "Tram line approved"]
    (after,) = json.loads(run_cli("refresh", "--json", env=one).stdout)["feeds"]
    assert (after["new"], after["updated"]) == (0, 0), "a later pass stores nothing new"
    assert run_cli("unfollow", feed, env=two).returncode == 0
    assert json.loads(run_cli("feeds", "--json", env=one).stdout) == []
    assert run_cli("unfollow", feed, env=one).returncode == 1


# --- serving ----------------------------------------------------------------------------
def test_the_server_refreshes_due_feeds_in_the_background_and_says_when(
    site: Site, assistant: Assistant
) -> None:
    from assistant.ingest.schedule import Refresher
    from assistant.web.feeds import refreshed_line

    assert refreshed_line(assistant.settings) == "", "nothing followed, nothing shown"
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM, date="2025-03-04"))
    feed = site.feed("/feed.xml", rss([Entry("Tram", tram, day("2025-03-04"))]))
    follower = make_follower(assistant)
    follower.follow(feed, 60)
    ferry = site.page("/news/ferry", article_page("Ferry adds crossing", FERRY, date="2025-03-05"))
    site.feed(
        "/feed.xml",
        rss([Entry("Tram", tram, day("2025-03-04")), Entry("F", ferry, day("2025-03-05"))]),
    )
    said: list[str] = []
    clock = [time.time() + 61]  # the feed is due
    follower.clock = lambda: clock[0]
    refresher = Refresher(follower, tick=0.2, say=said.append).start()
    try:
        deadline = time.monotonic() + 60
        while len(assistant.store.articles()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        refresher.stop()
    assert not refresher.running
    assert said == [f"refreshed {feed}: 1 new, 0 updated, 0 failed"]
    assert site.hits["/feed.xml"] == 2, "not due again for a minute: fetched once more only"
    line = refreshed_line(assistant.settings)
    assert "1 followed feed, last refreshed " in line and line.startswith(
        '<div class="feed-refresh"'
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("feeds", "--json"), 0),
        (("unfollow", "https://gazette.example/feed"), 1),
        (("follow", "https://gazette.example/feed", "--every", "5s"), 1),
        (("follow", "file:///etc/passwd"), 1),
        (("refresh", "--json"), 0),
    ],
)
def test_feed_commands_load_no_model_when_there_is_nothing_to_store(
    tmp_path: Path, args: tuple[str, ...], code: int
) -> None:
    from test_cli import ANSWERING, HEAVY, STORE, _probe

    (tmp_path / "data").mkdir()
    result, output = _probe(tmp_path / "data", *args)
    assert result["code"] == code, output
    assert not [m for m in result["loaded"] if m in HEAVY + ANSWERING + STORE], output
    assert "Traceback" not in output


def test_a_dry_run_of_a_saved_page_loads_no_store_or_model(tmp_path: Path) -> None:
    from test_cli import ANSWERING, HEAVY, STORE, _probe

    page = tmp_path / "tram.html"
    page.write_text(article_page("Tram line approved", TRAM, date="2025-03-04"), encoding="utf-8")
    (tmp_path / "data").mkdir()
    result, output = _probe(tmp_path / "data", "ingest", "--dry-run", "--json", str(page))
    assert result["code"] == 0, output
    assert not [m for m in result["loaded"] if m in HEAVY + ANSWERING + STORE], output
    row = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    assert (row["title"], row["date"], row["source"]) == (
        "Tram line approved",
        "2025-03-04",
        SITE_NAME,
    )
    assert row["origin"] == str(page) and "Accept all cookies" not in row["text"]


def test_pages_keep_their_characters_whatever_their_encoding() -> None:
    from assistant.ingest.sources import decode

    words = "Zażółć gęślą jaźń, żółw i źrebię"
    stray = f"<html><body><p>{words}</p></body></html>".encode().replace(b"<body>", b"<body>\xff")
    text, note = decode(stray, "stray.html")  # UTF-8 with one bad byte stays UTF-8
    assert words in text and "replaced" in note
    declared = f'<meta charset="windows-1250"><p>{words}</p>'.encode("cp1250")
    assert words in decode(declared, "declared.html")[0]
    in_header = f"<p>{words}</p>".encode("iso-8859-2")
    assert words in decode(in_header, "header.html", "iso-8859-2")[0]
    assert decode("café".encode("cp1252"), "latin.txt")[0] == "café"  # no charset: cp1252


def news_sitemap(entries: list[Entry]) -> str:
    urls = "".join(
        f"<url><loc>{escape(e.link)}</loc><news:news><news:publication>"
        f"<news:name>{SITE_NAME}</news:name><news:language>en</news:language>"
        f"</news:publication><news:publication_date>{e.date.isoformat()}"
        f"</news:publication_date><news:title>{escape(e.title)}</news:title></news:news></url>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
    )


def test_a_news_sitemap_is_followed_like_a_feed(site: Site, assistant: Assistant) -> None:
    tram = site.page("/news/tram", article_page("Tram line approved", TRAM))
    ferry = site.page("/news/ferry", article_page("Ferry adds crossing", FERRY))
    xml = news_sitemap(
        [
            Entry("Tram line approved", tram, day("2025-03-04")),
            Entry("Ferry", ferry, day("2025-03-02")),
        ]
    )
    url = site.page("/sitemap-news.xml", xml, content_type="application/xml")
    result = make_follower(assistant).follow(url, 1800)
    assert (result.new, result.failed) == (2, [])
    articles = stored(assistant)
    assert articles["Tram line approved"].date == "2025-03-04"  # no date on the page: the sitemap's
    assert make_follower(assistant).refresh()[0].new == 0
    plain = xml.replace("<news:news>", "<x>").replace("</news:news>", "</x>")
    assert parse_feed(plain.encode(), url) is None  # an ordinary sitemap is not a feed
    assert parse_feed(b'<!DOCTYPE urlset [<!ENTITY a "b">]><urlset/>', url) is None
