"""The web chat in a real browser: Debian's chromium driven by playwright.

Opens the page served on 127.0.0.1 at desktop (1366x768) and phone (390x844) sizes:
asks a seed question, clicks the [n] of an answer sentence whose support is not the
card's first highlighted sentence and checks that exactly its sentence is focused,
then follows the card's "back to the answer" link; asks by clicking an example chip;
sets a date filter that hides every seed and reads the refusal's note; checks the
stored-articles table fits its box and the reader shows the title once; follows up
and starts a new chat; uploads a hostile article plus a broken file and checks
nothing in the article runs. Screenshots go to tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright
from web_helpers import running_app, seeded_assistant

from assistant.base.phrases import REFUSAL
from assistant.core import Assistant
from assistant.web.examples import example_questions
from assistant.web.timeline import FIG_WIDTH_PX, label_px

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
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SIZES = [pytest.param(DESKTOP, id="desktop-1366"), pytest.param(PHONE, id="phone-390")]
# True when the element shows on screen: inside the window and inside every scrolled box.
IN_VIEW = """(el) => {
  const r = el.getBoundingClientRect();
  if (r.height === 0) return false;
  const meets = (top, bottom) => r.bottom > top + 1 && r.top < bottom - 1;
  if (!meets(0, window.innerHeight)) return false;
  for (let p = el.parentElement; p; p = p.parentElement) {
    const style = getComputedStyle(p);
    if (/(auto|scroll|hidden)/.test(style.overflowY) && p.scrollHeight > p.clientHeight) {
      const box = p.getBoundingClientRect();
      if (!meets(box.top, box.bottom)) return false;
    }
  }
  return true;
}"""
# Each column of the articles table inside the table's box, and no cell's text cut off.
TABLE_FIT = """(box) => {
  const outer = box.getBoundingClientRect();
  const table = box.querySelector('table.articles');
  const cells = [...table.querySelectorAll('th, tbody tr td')];
  return {
    left: outer.left, right: outer.right, scroll: box.scrollWidth, width: box.clientWidth,
    heads: [...table.querySelectorAll('th')].map((th) => {
      const r = th.getBoundingClientRect();
      return {text: th.textContent, left: r.left, right: r.right, shown: r.width > 0};
    }),
    cut: cells.filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.textContent),
  };
}"""
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


def open_page(browser: Browser, url: str, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea")
    yield page
    context.close()


@pytest.fixture
def page(browser: Browser, app_url: str) -> Iterator[Page]:
    yield from open_page(browser, app_url, {"width": 1400, "height": 1000})


@pytest.fixture(params=SIZES)
def sized(request: pytest.FixtureRequest, browser: Browser, app_url: str) -> Iterator[Page]:
    """The page at desktop and at phone size."""
    yield from open_page(browser, app_url, request.param)


def ask(page: Page, question: str, answers: int) -> None:
    """Type a question, press Ask, wait until the sources of `answers` answers show."""
    page.fill("#question textarea", question)
    page.click("#ask")
    wait_for_answers(page, answers)


def wait_for_answers(page: Page, answers: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#sources details.src-turn').length >= n",
        arg=answers,
        timeout=90_000,
    )


def in_view(locator: Locator) -> bool:
    return bool(locator.evaluate(IN_VIEW))


def wait_in_view(locator: Locator) -> None:
    locator.page.wait_for_function(IN_VIEW, arg=locator.element_handle(), timeout=10_000)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def not_first(assistant: Assistant) -> tuple[int, int, set[str], str]:
    """(answer sentence i, source n, the spans i rests on in n, n's first highlighted span)
    for a sentence whose support is not the first mark on its card."""
    answer = assistant.ask(QUESTION)
    first = {c.n: "-".join(map(str, min(c.spans))) for c in answer.citations}
    for i, sentence in enumerate(answer.sentences):
        for n in sentence.cites:
            spans = {f"{a}-{b}" for m, a, b in sentence.rests_on if m == n}
            if spans and first[n] not in spans:
                return i, n, spans, first[n]
    pytest.fail(f"every sentence of the answer to {QUESTION!r} rests on its card's first mark")


def test_click_focuses_the_sentence_it_rests_on_and_links_back(
    sized: Page, assistant: Assistant
) -> None:
    page, width = sized, sized.viewport_size["width"]  # type: ignore[index]
    i, n, spans, first = not_first(assistant)
    ask(page, QUESTION, 1)
    page.locator(f"#ans-0-{i} a.cite[href='#src-0-{n}']").click()
    card = page.locator(f"#src-0-{n}.active")
    card.wait_for(timeout=10_000)
    focused = card.locator(".src-passages mark.support.focus")
    assert {m.get_attribute("data-span") for m in focused.all()} == spans
    first_mark = card.locator(".src-passages mark.support").first
    assert first_mark.get_attribute("data-span") == first
    assert "focus" not in (first_mark.get_attribute("class") or "")
    assert page.locator("mark.support.focus").count() >= len(spans)  # nothing else focused
    assert page.locator(f"#sources mark.focus:not(#src-0-{n} mark)").count() == 0
    colour = "el => getComputedStyle(el).backgroundColor"
    assert focused.first.evaluate(colour) != first_mark.evaluate(colour)  # visibly distinct
    wait_in_view(focused.first)
    screenshot(page, f"web-focus-{width}.png")

    sentence = page.locator(f"#ans-0-{i}")
    if in_view(sentence):  # both columns fit the screen: scroll the answer away first
        sentence.evaluate("el => window.scrollBy(0, el.getBoundingClientRect().bottom + 10)")
    assert not in_view(sentence)
    back = card.locator("a.back")
    assert back.get_attribute("href") == f"#ans-0-{i}"
    back.click()
    wait_in_view(sentence)
    screenshot(page, f"web-back-{width}.png")


def test_timeline_labels_are_readable_at_this_width(sized: Page) -> None:
    ask(sized, QUESTION, 1)
    image = sized.locator("#timeline img")
    image.wait_for(timeout=10_000)
    natural, shown = image.evaluate("el => [el.naturalWidth, el.getBoundingClientRect().width]")
    assert natural == FIG_WIDTH_PX  # what label_px assumes
    assert 0 < shown <= sized.viewport_size["width"]  # type: ignore[index]
    assert label_px(shown) >= 11


def test_an_example_chip_asks_at_once(page: Page, assistant: Assistant) -> None:
    expected = example_questions(assistant.store.articles())
    chips = page.locator("#chips button.gallery-item")
    chips.first.wait_for(timeout=10_000)
    assert chips.count() == len(expected) >= 1
    chips.first.click()
    wait_for_answers(page, 1)
    assert ws(page.locator("#chat [data-testid='user']").last.inner_text()) == expected[0]
    reply = page.locator("#chat [data-testid='bot']").last
    assert reply.locator("a.cite").count() >= 1
    assert REFUSAL not in reply.inner_text()


def test_a_refusal_says_the_filters_hid_the_articles(page: Page) -> None:
    page.get_by_text("Filters", exact=True).first.click()
    since = page.locator("#since textarea")
    assert since.get_attribute("placeholder") == "YYYY-MM-DD"
    assert page.locator("#until textarea").get_attribute("placeholder") == "YYYY-MM-DD"
    since.fill("2026-01-01")  # after every seed article
    ask(page, "When did Bagheri visit Baghdad?", 1)
    reply = page.locator("#chat [data-testid='bot']").last
    assert ws(REFUSAL) in ws(reply.inner_text())
    note = reply.locator(".why-note").inner_text()
    assert "outside the filters" in note and "before 2026-01-01" in note
    since.fill("2024-99-01")
    page.fill("#question textarea", "When did Bagheri visit Baghdad?")
    page.click("#ask")
    page.wait_for_function(
        "() => document.querySelector('#chat').innerText.includes(\"is not a date\")",
        timeout=30_000,
    )
    assert "Since '2024-99-01' is not a date (use YYYY-MM-DD)" in page.inner_text("#chat")


def test_articles_table_fits_its_box_and_the_reader_shows_the_title_once(
    sized: Page, assistant: Assistant
) -> None:
    page, width = sized, sized.viewport_size["width"]  # type: ignore[index]
    articles = assistant.store.articles()
    count = f"{len(articles)} articles loaded"
    page.locator("#article-count", has_text=count).wait_for(timeout=10_000)
    page.get_by_text("Stored articles", exact=True).first.click()
    rows = page.locator("#articles table.articles tbody tr")
    rows.nth(len(articles) - 1).wait_for(timeout=10_000)
    fit = page.locator("#articles").evaluate(TABLE_FIT)
    assert [h["text"] for h in fit["heads"]] == ["Date", "Outlet", "Title", "Chunks", "ID"]
    for head in fit["heads"]:
        assert head["shown"], head
        assert fit["left"] - 0.5 <= head["left"] and head["right"] <= fit["right"] + 0.5, head
    assert fit["scroll"] <= fit["width"]  # no horizontal scroll hides a column
    assert fit["cut"] == []  # no cell's text runs past its cell
    page.locator("#articles").screenshot(path=str(ARTIFACTS / f"web-articles-{width}.png"))
    chief = next(a for a in articles if "Chief of Staff" in a.title)
    read_article(page, "Chief of Staff", "In a bid to strengthen diplomatic ties")
    assert ws(page.inner_text("#reader")).count(ws(chief.title)) == 1
    screenshot(page, f"web-articles-page-{width}.png")


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
    marks = card.locator(".src-passages mark.support")
    # The sentences this source rests on are the highlighted ones, and they show.
    shown = [ws(m.inner_text()) for m in marks.all()]
    assert set(shown) >= {ws(s) for s in expected[n]}, shown
    assert marks.first.is_visible()
    screenshot(page, "web-answer-citation.png")


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


def test_hostile_article_is_shown_as_text_and_runs_nothing(
    page: Page, tmp_path: Path, assistant: Assistant
) -> None:
    hostile = tmp_path / "basra_consulate.md"
    hostile.write_text(HOSTILE_MD)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "broken", ')
    before = len(assistant.store.articles())
    page.get_by_text("Add articles", exact=True).first.click()
    page.set_input_files("#upload input[type=file]", [str(hostile), str(broken)])
    page.wait_for_selector("#upload >> text=broken")
    page.click("#ingest")
    report = page.locator("#ingest-report")
    report.locator("text=ingested 1").wait_for(timeout=120_000)
    assert "broken.jsonl" in report.inner_text()
    page.locator("#article-count", has_text=f"{before + 1} articles loaded").wait_for()
    ask(page, HOSTILE_QUESTION, 1)
    page.locator("#chat a.cite").first.click()
    sources = page.locator("#sources")
    sources.locator("text=Basra <b>Daily</b>").first.wait_for(timeout=10_000)
    shown = sources.inner_text()
    assert "<script>window.__xss=1</script>" in shown or 'onerror="window.__xss=1"' in shown
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert page.locator("#sources img, #sources script, #chat img[src='x']").count() == 0
    assert page.locator("#sources a[href^='javascript']").count() == 0
    read_article(page, "consulate", "<script>window.__xss=1</script>")
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert page.locator("#reader img, #reader script, #articles img").count() == 0
    screenshot(page, "web-hostile-article.png")


def read_article(page: Page, title_part: str, text: str) -> None:
    """Pick a stored article in the reader and wait until `text` of it shows."""
    if not page.locator("#read-article").is_visible():
        page.get_by_text("Stored articles", exact=True).first.click()
    page.click("#read-article input")
    page.keyboard.type(title_part)
    page.locator("#read-article li", has_text=title_part).first.click()
    page.wait_for_function(
        "t => (document.querySelector('#reader') || {}).textContent?.includes(t)",
        arg=text,
        timeout=10_000,
    )


ACROSS = [
    ("What happened between Iran and Iraq, in order?", "timeline"),
    ("What is new since January 2025?", "recency"),
    ("Which outlets reported on Bagheri?", "coverage"),
]


def test_answers_across_the_collection_show_as_dated_lists(
    sized: Page, assistant: Assistant
) -> None:
    """A timeline, what is new and who reported it: one list item per line, in the order
    the answer has them (oldest first, newest first), each opening with its date or
    outlet in bold and citing its article; the timeline strip is drawn beside it."""
    page, width = sized, sized.viewport_size["width"]  # type: ignore[index]
    for turn, (question, intent) in enumerate(ACROSS):
        expected = assistant.ask(question)
        assert expected.intent == intent and not expected.refused
        ask(page, question, turn + 1)
        reply = page.locator("#chat [data-testid='bot']").last
        items = reply.locator("ul.dated-list li.dated")
        assert items.count() == len(expected.sentences) >= 1
        for i, sentence in enumerate(expected.sentences):
            item = items.nth(i)
            assert item.locator("b").count() == 1, "each line opens with its date or outlet"
            assert item.locator("a.cite").count() >= 1, "each line cites its article"
            quote = ws(sentence.text.split("⟩", 1)[-1]).split(" [")[0][:40]
            assert quote in ws(item.inner_text())
        days = [s.date for s in expected.sentences if s.date]
        if intent == "timeline":
            assert len({c.article_id for c in expected.citations}) >= 3
            assert days == sorted(days)
            page.locator("#timeline img").wait_for(timeout=10_000)
        if intent == "recency":
            assert all(c.date >= "2025-01-01" for c in expected.citations)
        if intent == "coverage":
            assert "Gulan Media" in ws(reply.inner_text())
        screenshot(page, f"web-{intent}-{width}.png")
