"""The web chat in a real browser: Debian's chromium driven by playwright.

Opens the page served on 127.0.0.1, asks a seed question, waits for the answer,
clicks a citation and checks the highlighted sentence in the source panel;
follows up and starts a new chat; uploads a hostile article plus a broken file
and checks nothing in the article runs. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from web_helpers import running_app, seeded_assistant

from assistant.answer import Assistant

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
QUESTION = "Who did Zarif meet in Baghdad?"
HOSTILE_MD = """---
title: Zarif opens a consulate in Basra <img src=x onerror="window.__xss=1">
date: 2025-03-10
source: Basra <b>Daily</b>
url: javascript:window.__xss=1
---
Iran's vice president Mohammad Javad Zarif opened a new Iranian consulate in Basra on Monday.

<script>window.__xss=1</script>

The new consulate in Basra will issue visas to pilgrims travelling to Mashhad.

Local officials in Basra welcomed the new consulate. <img src=x onerror="window.__xss=1">

A template ${window.__xss=1} and {{constructor}} close the article.
"""
HOSTILE_QUESTION = "Who opened a new consulate in Basra?"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(
        "/usr/bin/chromium is missing (apt-get install -y chromium); CI installs it and runs these",
        allow_module_level=True,
    )


def ws(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return seeded_assistant(tmp_path_factory.mktemp("browser-data"))


@pytest.fixture(scope="module")
def app_url(assistant: Assistant) -> Iterator[str]:
    with running_app(assistant) as app:
        yield app.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, app_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#question textarea")
    yield page
    context.close()


def ask(page: Page, question: str, answers: int) -> None:
    """Type a question, press Ask, wait until the sources of `answers` answers show."""
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "n => document.querySelectorAll('#sources details.src-turn').length >= n",
        arg=answers,
        timeout=90_000,
    )


def test_ask_click_citation_see_highlighted_sentence(page: Page, assistant: Assistant) -> None:
    ask(page, QUESTION, 1)
    expected = {c.n: c.sentences for c in assistant.ask(QUESTION).citations}
    assert expected, "the seed question should be answered with citations"
    links = page.locator("#chat a.cite")
    assert links.count() >= 1
    link = links.last
    n = int(link.inner_text().strip("[]"))
    link.click()
    card = page.locator(".src-card.active")
    card.wait_for(timeout=10_000)
    assert card.get_attribute("id") == f"src-0-{n}"
    marks = card.locator(".src-text mark.support")
    # The sentences this source rests on are the highlighted ones, and they show.
    shown = [ws(m.inner_text()) for m in marks.all()]
    assert set(shown) >= {ws(s) for s in expected[n]}, shown
    assert marks.first.is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-answer-citation.png"), full_page=True)


def test_follow_up_then_new_chat(page: Page) -> None:
    ask(page, QUESTION, 1)
    ask(page, "What did he discuss with the president?", 2)
    assert page.locator("#chat a[href^='#src-1-']").count() >= 1
    assert "Sources for: What did he discuss" in page.inner_text("#sources")
    page.click("#new-chat")
    page.wait_for_function(
        "() => document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 0"
    )
    assert "Sources of the answers appear here" in page.inner_text("#sources")


def test_hostile_article_is_shown_as_text_and_runs_nothing(page: Page, tmp_path: Path) -> None:
    hostile = tmp_path / "basra_consulate.md"
    hostile.write_text(HOSTILE_MD)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "broken", ')
    page.get_by_text("Add articles", exact=True).first.click()
    page.set_input_files("#upload input[type=file]", [str(hostile), str(broken)])
    page.wait_for_selector("#upload >> text=broken")
    page.click("#ingest")
    report = page.locator("#ingest-report")
    report.locator("text=ingested 1").wait_for(timeout=120_000)
    assert "broken.jsonl" in report.inner_text()
    ask(page, HOSTILE_QUESTION, 1)
    page.locator("#chat a.cite").first.click()
    sources = page.locator("#sources")
    sources.locator("text=Basra <b>Daily</b>").first.wait_for(timeout=10_000)
    shown = sources.inner_text()
    assert "<script>window.__xss=1</script>" in shown or 'onerror="window.__xss=1"' in shown
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert page.locator("#sources img, #sources script, #chat img[src='x']").count() == 0
    assert page.locator("#sources a[href^='javascript']").count() == 0
    read_article(page, "consulate")
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert page.locator("#reader img, #reader script").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-hostile-article.png"), full_page=True)


def read_article(page: Page, title_part: str) -> None:
    """Pick a stored article in the reader and wait until its full text shows."""
    page.get_by_text("Stored articles", exact=True).first.click()
    page.click("#read-article input")
    page.keyboard.type(title_part)
    page.locator("#read-article li", has_text=title_part).first.click()
    page.wait_for_function(
        "() => (document.querySelector('#reader') || {}).textContent"
        "?.includes('<script>window.__xss=1</script>')",
        timeout=10_000,
    )
