"""Following a feed from the web page, in a real browser (Debian's Chromium, playwright).

The page is served with a login (`ASSISTANT_AUTH`); a reader logs in, follows a feed
served by the loopback site of `test_feeds.py`, and sees the one-line result, the new
article in the stored-articles table and the "new since you opened the page" line, at
1366 and at 390 px (screenshots in tests/artifacts/). The loopback site is a private
address, so the page is served with `web_fetch_private` on (ASSISTANT_WEB_FETCH_PRIVATE=true);
with the default the follow box refuses it in one line and nothing is followed. Without
a login the page offers no feed box: following makes the server fetch what a reader types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page
from test_browser import DESKTOP, PHONE, browser, screenshot
from test_feeds import TRAM, Entry, Site, article_page, day, rss, site
from web_helpers import running_app, seeded_assistant

from assistant.base.config import Settings
from assistant.core import Assistant
from assistant.ingest.subscriptions import Subscriptions

pytestmark = pytest.mark.slow
__all__ = ["browser", "site"]  # fixtures used here, defined there

USER, PASSWORD = "ann", "a-long-test-password"
TITLE = "Tram line approved"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    data = tmp_path_factory.mktemp("browser-feeds")
    # The loopback site is a private address: the page may fetch it only with this on.
    return seeded_assistant(
        data, auth=f"{USER}:{PASSWORD}", fetch_timeout=5.0, web_fetch_private=True
    )


@pytest.fixture
def logged_in(browser: Browser, assistant: Assistant) -> Iterator[Page]:
    with running_app(assistant) as app:
        context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(app.url)
        page.get_by_label("username").fill(USER)
        page.get_by_label("password").fill(PASSWORD)
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#question textarea")
        yield page
        context.close()


def _follow(page: Page, feed: str) -> Locator:
    """Open the follow box, follow `feed`, and return the box's report line."""
    page.get_by_role("button", name="Follow a feed").click()
    page.fill("#feed-url input, #feed-url textarea", feed)
    page.click("#follow")
    return page.locator("#follow-report")


def test_by_default_the_page_refuses_a_feed_on_a_private_address(
    logged_in: Page, site: Site, assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assistant.settings, "web_fetch_private", False)  # the default
    feed = site.feed("/private.xml", rss([Entry(TITLE, site.url("/news/x"), day("2025-03-06"))]))
    followed = Subscriptions(assistant.settings.data_dir).load().feeds
    page = logged_in
    page.wait_for_function("() => /articles? loaded/.test(document.body.innerText)")
    refresh_line = page.locator("#feed-refresh").all_inner_texts()
    report = _follow(page, feed)
    report.filter(has_text="⚠️").wait_for(timeout=30_000)
    assert f"{feed}: refused, 127.0.0.1 is not a public address" in report.inner_text()
    assert "ASSISTANT_WEB_FETCH_PRIVATE=true" in report.inner_text()
    assert Subscriptions(assistant.settings.data_dir).load().feeds == followed, "none added"
    assert page.locator("#feed-refresh").all_inner_texts() == refresh_line
    assert not site.hits, "the server asked the private address for nothing"


def test_a_reader_follows_a_feed_and_sees_the_new_article(
    logged_in: Page, site: Site, assistant: Assistant
) -> None:
    page = logged_in
    tram = site.page("/news/tram", article_page(TITLE, TRAM, date="2025-03-04"))
    feed = site.feed("/feed.xml", rss([Entry(TITLE, tram, day("2025-03-06"))]))
    page.wait_for_function("() => /articles? loaded/.test(document.body.innerText)")
    assert page.locator("#new-articles").count() == 0  # nothing new when the page opened

    report = _follow(page, feed)
    report.filter(has_text="1 new").wait_for(timeout=120_000)
    assert f"Followed {feed}: 1 new, 0 updated, 0 unchanged, 0 failed" in report.inner_text()

    marked = page.locator("#new-articles")
    marked.filter(has_text=TITLE).wait_for(timeout=10_000)
    assert "new" in marked.inner_text() and "1 since you opened the page" in marked.inner_text()
    page.get_by_role("button", name="Stored articles").click()
    page.locator("#articles").filter(has_text=TITLE).wait_for(timeout=10_000)
    assert any(a.title == TITLE for a in assistant.store.articles())
    screenshot(page, "follow-feed-1366.png")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    report.scroll_into_view_if_needed()
    assert report.is_visible() and marked.is_visible()
    screenshot(page, "follow-feed-390.png")

    page.fill("#feed-url input, #feed-url textarea", site.url("/no-such-feed"))
    page.click("#follow")
    report.filter(has_text="⚠️").wait_for(timeout=30_000)
    assert "no-such-feed" in report.inner_text() and "404" in report.inner_text()


def test_without_a_login_the_page_offers_no_feed_box(assistant: Assistant) -> None:
    open_settings = assistant.settings.model_copy(update={"auth": None})
    ids = elem_ids(assistant, open_settings)
    assert "upload" in ids and "feed-url" not in ids and "follow" not in ids
    assert {"feed-url", "follow", "follow-report"} <= elem_ids(assistant, assistant.settings)


def elem_ids(assistant: Assistant, settings: Settings) -> set[str]:
    from assistant.web.app import build_app

    return {str(getattr(b, "elem_id", "")) for b in build_app(assistant, settings).blocks.values()}


def test_artifacts_folder_is_ignored() -> None:
    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text(encoding="utf-8")
    assert "artifacts" in ignored
