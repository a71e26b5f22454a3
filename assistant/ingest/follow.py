"""Following feeds: subscribe, unsubscribe, and refresh passes that store new articles.

`Follower` ties the parts together: `fetch.py` gets the feed (a conditional GET, so
an unchanged feed costs one small request) and each new or changed item's page,
`feeds.py` parses the feed, `sources.from_fetched` reads the page through
`extract.py`, and one `Ingestor` stores the pass's articles. An item already taken
with the same fingerprint (found by guid, link or canonical URL, whichever feed it
came through) is neither fetched nor embedded again; a changed item's page replaces
its article's chunks (same article id, new version); a failed item is listed in
`failed` and retried on the next pass. A pass holds the data folder's feed lock, so
two processes never store an article twice. The embedding model is built only when
there is something to embed (`ingestor` is a factory).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..base.config import Settings
from ..base.errors import IngestError
from ..base.schema import Article
from .feeds import Feed, Item, announced_feeds, parse_feed
from .fetch import Fetched, Fetcher, check_scheme
from .pipeline import Ingestor
from .sources import decode, from_fetched, url_id
from .subscriptions import Seen, State, Subscription, Subscriptions, now, open_subscriptions

IngestorFactory = Callable[[], Ingestor]

_EVERY = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.I)
_UNIT = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_EVERY = 60  # seconds: no feed is polled more often than once a minute


def parse_every(text: str) -> int:
    """ "30m", "2h", "1d", "90s" (or bare minutes) -> seconds; at least a minute."""
    match = _EVERY.match(text or "")
    if not match:
        raise IngestError(f"--every {text!r}: use a number with s, m, h or d, e.g. 30m")
    seconds = int(match.group(1)) * _UNIT[match.group(2).lower()]
    if seconds < MIN_EVERY:
        raise IngestError(f"--every {text!r}: feeds are refreshed at most once a minute")
    return seconds


@dataclass
class FeedResult:
    """What one pass did with one feed (the `follow --json`/`refresh --json` shape)."""

    url: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    feed_failed: bool = False  # the feed itself could not be read

    def fail(self, url: str, error: str) -> None:
        self.failed.append({"url": url, "error": error})

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
        }


@dataclass
class _Taken:
    """A page read in this pass, waiting to be stored."""

    item: Item
    article: Article
    fetched: Fetched


class Follower:
    """Feed subscriptions of one data folder."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        fetcher: Fetcher,
        ingestor: IngestorFactory,
        *,
        clock: Callable[[], float] = now,
    ) -> None:
        self.subscriptions = subscriptions
        self.fetcher = fetcher
        self._make_ingestor = ingestor
        self._ingestor: Ingestor | None = None
        self.clock = clock

    # --- commands ---------------------------------------------------------------------
    def follow(self, url: str, every: int) -> FeedResult:
        """Subscribe to the feed at `url` (or the one the page at `url` announces) and take
        its items now. Raises IngestError naming `url` when there is no feed to follow;
        then nothing is saved."""
        check_scheme(url)
        with self.subscriptions.locked():
            state = self.subscriptions.load()
            sub = state.find(url)
            if sub is None:
                feed_url, fetched, feed = self._resolve(url)
                sub = Subscription(url=url, feed_url=feed_url, every=every, title=feed.title)
                state.feeds.append(sub)
                result = self._take(state, sub, fetched, feed)
            else:
                sub.every = every
                result = self._refresh(state, sub)
            self.subscriptions.save(state)
            return result

    def unfollow(self, url: str) -> Subscription | None:
        """Stop following; the articles it brought stay stored. None if not followed."""
        with self.subscriptions.locked():
            state = self.subscriptions.load()
            sub = state.find(url)
            if sub is not None:
                state.feeds.remove(sub)
                self.subscriptions.save(state)
            return sub

    def refresh(self, *, due_only: bool = False) -> list[FeedResult]:
        """One pass over the followed feeds (only those due, for the scheduler)."""
        with self.subscriptions.locked():
            state = self.subscriptions.load()
            results = []
            for sub in state.feeds:
                if due_only and sub.next_fetch > self.clock():
                    continue
                results.append(self._refresh(state, sub))
                self.subscriptions.save(state)  # progress survives a crash in a later feed
            return results

    # --- one feed ----------------------------------------------------------------------
    def _resolve(self, url: str) -> tuple[str, Fetched, Feed]:
        """The feed at `url`, or the feed its page announces."""
        fetched = self.fetcher.get(url)
        feed = parse_feed(fetched.content, fetched.url)
        if feed is not None:
            return url, fetched, feed
        text, _ = decode(fetched.content, url)
        announced = announced_feeds(text, fetched.url)
        if not announced:
            raise IngestError(
                f"{url}: not a feed, and the page announces none "
                '(no <link rel="alternate" type="application/rss+xml"> or atom+xml)'
            )
        feed_url = announced[0]
        check_scheme(feed_url)
        fetched = self.fetcher.get(feed_url)
        feed = parse_feed(fetched.content, fetched.url)
        if feed is None:
            raise IngestError(f"{url}: the feed it announces, {feed_url}, is not RSS or Atom")
        return feed_url, fetched, feed

    def _refresh(self, state: State, sub: Subscription) -> FeedResult:
        try:
            fetched = self.fetcher.get(sub.feed_url, etag=sub.etag, last_modified=sub.last_modified)
            feed = None if fetched.not_modified else parse_feed(fetched.content, fetched.url)
            if not fetched.not_modified and feed is None:
                raise IngestError(f"{sub.feed_url}: no longer an RSS or Atom feed")
        except IngestError as exc:
            result = FeedResult(sub.url, feed_failed=True)
            result.fail(sub.feed_url, str(exc))
            self._schedule(sub, str(exc))
            return result
        return self._take(state, sub, fetched, feed)

    def _take(
        self, state: State, sub: Subscription, fetched: Fetched, feed: Feed | None
    ) -> FeedResult:
        """Store the new and changed items of `feed` (None: not modified) and the items
        that failed last time."""
        result = FeedResult(sub.url)
        if not fetched.not_modified:
            sub.etag, sub.last_modified = fetched.etag, fetched.last_modified
        if feed is not None:
            sub.title = feed.title or sub.title
        items = self._items(sub, feed)
        taken: list[_Taken] = []
        pending: list[dict[str, str]] = []
        for item in items:
            outcome = self._read_item(state, sub, item, result)
            if isinstance(outcome, _Taken):
                taken.append(outcome)
            elif outcome:
                result.fail(item.link, outcome)
                pending.append(item.to_dict())
        self._store(state, sub, taken, result)
        sub.pending = pending
        self._schedule(sub, "")
        return result

    def _items(self, sub: Subscription, feed: Feed | None) -> list[Item]:
        items = list(feed.items) if feed else []
        keys = {item.key for item in items}
        items += [Item.from_dict(p) for p in sub.pending if p.get("key") not in keys]
        return items

    def _schedule(self, sub: Subscription, error: str) -> None:
        sub.last_fetch = self.clock()
        sub.next_fetch = sub.last_fetch + sub.every
        sub.last_error = error

    def _read_item(
        self, state: State, sub: Subscription, item: Item, result: FeedResult
    ) -> _Taken | str | None:
        """The item's page read into an article; None when it is known and unchanged;
        an error line when it failed."""
        seen = state.seen.get(item.key) or state.seen.get(item.link)
        if seen and seen.fingerprint == item.fingerprint:
            _credit(sub, seen.article)
            result.unchanged += 1
            return None
        try:
            check_scheme(item.link)
            fetched = self.fetcher.get(
                item.link,
                etag=seen.etag if seen else "",
                last_modified=seen.last_modified if seen else "",
            )
            if fetched.not_modified and seen:
                seen.fingerprint = item.fingerprint
                _credit(sub, seen.article)
                result.unchanged += 1
                return None
            loaded = from_fetched(
                item.link, fetched.content, fetched.content_type, fallback_date=item.date
            )
        except IngestError as exc:
            return str(exc)
        article = loaded.articles[0]
        # One article per canonical address, whichever feed or link led to it.
        canonical = article.url or fetched.url
        known = state.seen.get(canonical)
        article_id = known.article if known else url_id(canonical)
        return _Taken(item, dataclasses.replace(article, id=article_id), fetched)

    def _store(
        self, state: State, sub: Subscription, taken: list[_Taken], result: FeedResult
    ) -> None:
        if not taken:
            return
        report = self._ingestor_now().ingest_articles([t.article for t in taken])
        outcome = {i: "new" for i in report.ingested}
        outcome.update({i: "updated" for i in report.updated})
        for t in taken:
            status = outcome.get(t.article.id, "unchanged")  # unchanged, or a duplicate
            setattr(result, status, getattr(result, status) + 1)
            seen = Seen(t.article.id, t.item.fingerprint, t.fetched.etag, t.fetched.last_modified)
            for key in {t.item.key, t.item.link, t.article.url or t.fetched.url}:
                state.seen[key] = seen
            _credit(sub, t.article.id)

    def _ingestor_now(self) -> Ingestor:
        if self._ingestor is None:
            self._ingestor = self._make_ingestor()
        return self._ingestor


def _credit(sub: Subscription, article_id: str) -> None:
    if article_id not in sub.articles:
        sub.articles.append(article_id)


def follower(
    settings: Settings, ingestor: IngestorFactory | None = None, *, allow_private: bool = True
) -> Follower:
    """The follower of `settings`' data folder (its subscriptions on the Chroma server when
    one is configured); the store and embedding model open only when a pass has articles
    to store (or `ingestor` builds one on the caller's store). `allow_private=False` keeps
    its fetches off private and local addresses (the web server's; the CLI's may go
    anywhere: it is the operator's own shell)."""

    def make() -> Ingestor:
        from ..models.embedders import make_embedder
        from .pipeline import open_store

        return Ingestor(settings, open_store(settings), make_embedder(settings))

    fetcher = Fetcher(
        timeout=settings.fetch_timeout,
        max_bytes=int(settings.max_file_mb * 1_000_000),
        max_redirects=settings.fetch_max_redirects,
        allow_private=allow_private,
    )
    return Follower(open_subscriptions(settings), fetcher, ingestor or make)
