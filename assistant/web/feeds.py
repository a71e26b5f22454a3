"""Followed feeds as the page shows them: following one from the page, the one-line
result, when the collection was last refreshed, and the background refresher `serve`
starts. Fetching and storing are `ingest/`'s; laying out the page is `app.py`'s. What a
reader makes the server fetch stays off private and local addresses unless
`web_fetch_private` is set (`ingest.fetch.check_public`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..base.config import Settings
from ..base.errors import AssistantError
from ..core import Assistant
from ..ingest.subscriptions import open_subscriptions

if TYPE_CHECKING:  # the fetching stack loads when a feed is followed, not with the page
    from ..ingest.follow import FeedResult


def follow_feed(assistant: Assistant, url: str) -> FeedResult:
    """Subscribe to `url` on the page's own store and model, at the default schedule."""
    from ..ingest.follow import follower, parse_every
    from ..ingest.pipeline import Ingestor

    settings = assistant.settings

    def ingestor() -> Ingestor:
        return Ingestor(settings, assistant.store, assistant.embedder)

    # The server, not the reader, makes the request: keep it off the server's own network.
    guarded = follower(settings, ingestor, allow_private=settings.web_fetch_private)
    return guarded.follow(url, parse_every(settings.follow_every))


def follow_line(result: FeedResult) -> str:
    """'https://…/feed.xml: 2 new, 0 updated, 5 unchanged, 1 failed (first error)'."""
    counts = f"{result.new} new, {result.updated} updated, {result.unchanged} unchanged"
    failed = result.failed
    first = f" ({failed[0]['error']})" if failed else ""
    return f"Followed {result.url}: {counts}, {len(failed)} failed{first}"


def refreshed_line(settings: Settings) -> str:
    """When followed feeds last brought articles in (empty when nothing is followed or
    the state cannot be read)."""
    try:
        state = open_subscriptions(settings).load()
    except AssistantError:
        return ""
    if not state.feeds:
        return ""
    last = state.last_refresh()
    when = datetime.fromtimestamp(last).astimezone().strftime("%Y-%m-%d %H:%M %Z") if last else ""
    feeds = f"{len(state.feeds)} followed feed{'s' * (len(state.feeds) != 1)}"
    text = f"{feeds}, last refreshed {when}" if when else f"{feeds}, not refreshed yet"
    return f'<div class="feed-refresh" id="feed-refresh">{html.escape(text)}</div>'


def start_refresher(assistant: Assistant, settings: Settings, say: Callable[[str], None]) -> Any:
    """The background feed refresher over the page's own store and model (None when off)."""
    if not settings.serve_refresh:
        return None
    from ..ingest.follow import follower
    from ..ingest.pipeline import Ingestor
    from ..ingest.schedule import Refresher

    def ingestor() -> Ingestor:
        return Ingestor(settings, assistant.store, assistant.embedder)

    # The server makes these requests too, so a feed (or its item links) is guarded alike.
    guarded = follower(settings, ingestor, allow_private=settings.web_fetch_private)
    return Refresher(guarded, say=say).start()
