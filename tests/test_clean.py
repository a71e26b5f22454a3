"""Metadata extraction and furniture removal on the seed articles and other formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEEDS

from assistant.base.errors import IngestError
from assistant.ingest.clean import clean_article
from assistant.ingest.sources import decode, from_html, load
from assistant.language.dates import parse_date, url_date

EXPECTED: dict[str, tuple[str, str, str]] = {
    "000_096cb9fdbfc8fb30": (
        "Iranian Chief of Staff Visits Baghdad for High-Level Talks on Regional Security",
        "2023-12-03",  # the byline date, not the site header's "Sunday, 03 March 2024"
        "Gulan Media",
    ),
    "001_96903b644adc0fa3": (
        "Top Iranian Cmdr. in Iraq, meets counterpart, defense, interior ministers",
        "2024-03-05",
        "",
    ),
    "002_4e74a2d79910187a": (
        "Iranian Foreign Minister Enhances Diplomacy with Iraq Through Security Cooperation",
        "unknown",
        "jpost.com",
    ),
    # No headline above the lede: the page's first subhead is the title, never a cut lede.
    "003_5636c687975dd817": (
        "Iran pledges support for Iraq’s security, sovereignty",
        "2025-02-07",
        "",
    ),
    "004_55e5600d96472930": (
        "Iranian Defense Minister: Ready to meet the needs of the Iraqi armed forces to "
        "strengthen their defense forces",
        "unknown",  # "14th and 15th November" has no year: never guessed
        "YCPress",
    ),
}

FURNITURE = [
    "Please enter your comment",
    "Please enter your name",
    "reCAPTCHA",
    "More Articles",
    "Subscribe",
    "Leave a Reply",
    "Your email address will not be published",
    "Original Source",
    "e6217a35-c941-4cc8-b54e-13ac7752ab15",
    "Home Politics",
    "by YCPress",
    "Gulan Media December 3, 2023 News",
    "date 2025-02-07",
]


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_seed_metadata(stem: str) -> None:
    title, date, source = EXPECTED[stem]
    cleaned = clean_article((SEEDS / f"{stem}.txt").read_text(encoding="utf-8"))
    assert cleaned.title == title and not cleaned.title.endswith("…")
    assert cleaned.date == date
    assert cleaned.source == source
    for junk in FURNITURE:
        assert junk not in cleaned.text, f"{junk!r} left in {stem}"
    assert cleaned.text.count(cleaned.title) <= 1, "duplicated title line kept"


def test_seed_body_is_kept() -> None:
    text = clean_article((SEEDS / "003_5636c687975dd817.txt").read_text(encoding="utf-8")).text
    assert "at the invitation of Seyyed Ammar al-Hakim" in text
    assert text.rstrip().endswith("promoting security and economic development.")
    assert "top Iraqi officials." in text  # the sentence the date prefix shared keeps its period


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Sunday, 03 March 2024", "2024-03-03"),
        ("Tuesday, March 5, 2024", "2024-03-05"),
        (" date 2025-02-07", "2025-02-07"),
        ("Gulan Media December 3, 2023 News", "2023-12-03"),
        ("3rd Sept. 2019", "2019-09-03"),
        ("14th and 15th November", None),
        ("2024-02-30", None),
    ],
)
def test_parse_date(text: str, iso: str | None) -> None:
    assert parse_date(text) == iso


def test_html_visible_text_and_meta() -> None:
    html = """<html><head><title>Ignored | Site</title>
    <meta property="og:title" content="Sudani meets Pezeshkian">
    <meta property="article:published_time" content="2024-09-11T08:00:00Z">
    <meta property="og:site_name" content="Example News">
    <link rel="canonical" href="https://example.org/a/1">
    <script>var tracking = "SECRET-SCRIPT";</script><style>.x{color:red}</style></head>
    <body><nav>Home | World | Sport</nav><article><h1>Sudani meets Pezeshkian</h1>
    <p>Iraqi Prime Minister Mohammed Shia al-Sudani received Iranian President Masoud
    Pezeshkian in Baghdad on Wednesday. The two leaders signed fourteen memoranda.</p>
    <p>Leave a Reply</p></article><footer>© Example News</footer></body></html>"""
    article = from_html(html, article_id="a1", origin="page.html")
    assert article.title == "Sudani meets Pezeshkian"
    assert article.date == "2024-09-11"
    assert article.source == "Example News"
    assert article.url == "https://example.org/a/1"
    assert "fourteen memoranda" in article.text
    for hidden in ("SECRET-SCRIPT", "color:red", "Home | World", "©"):
        assert hidden not in article.text


def test_jsonl_records_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    good = {
        "id": "r1",
        "title": "T",
        "url": "https://x/1",
        "date": "2024-01-02",
        "source": "Wire",
        "text": "Body sentence one. Body sentence two.",
    }
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"id": "r3"}) + "\n")
    loaded = load(path, max_bytes=10**6, timeout=1)
    assert [a.id for a in loaded.articles] == ["r1"]
    assert loaded.articles[0].date == "2024-01-02" and loaded.articles[0].source == "Wire"
    assert any("feed.jsonl:2" in e and "invalid JSON" in e for e in loaded.errors)
    assert any("feed.jsonl:3" in e and "'text'" in e for e in loaded.errors)


@pytest.mark.parametrize(
    ("url", "iso"),
    [
        ("https://www.cnn.com/2022/11/27/asia/taiwan-election/index.html", "2022-11-27"),
        ("https://example.org/news/2024-01-05-storm-henk", "2024-01-05"),
        ("https://example.org/world/20240302/story.html", "2024-03-02"),
        ("https://example.org/2024/01/", None),  # a month's archive page, not a day
        ("https://example.org/article/12345678901", None),  # an id, not a date
        ("https://example.org/2024/13/01/x", None),
        ("https://example.org/search?from=/2024/01/05/", None),  # the query is not the path
    ],
)
def test_url_date(url: str, iso: str | None) -> None:
    assert url_date(url) == iso


def test_undated_record_takes_its_date_from_the_url(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    body = "Storm Henk brought flooding to Britain. Thousands lost power overnight."
    site = "https://news.example"
    records = [
        {"id": "u1", "url": "https://news.example/2024/01/03/uk/storm-henk", "text": body},
        # A byline's date wins over the URL's ...
        {"id": "u2", "url": f"{site}/2024/01/03/b", "text": f"Reuters January 4, 2024\n\n{body}"},
        # ... but the URL's wins over a bare date line, often the day the page was saved.
        {"id": "u3", "url": f"{site}/2024/01/03/c", "text": f"Friday, 9 February 2024\n\n{body}"},
        {"id": "u4", "url": "https://news.example/uk/storm-henk", "text": body},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records))
    dates = {a.id: a.date for a in load(path, max_bytes=10**6, timeout=1).articles}
    assert dates == {"u1": "2024-01-03", "u2": "2024-01-04", "u3": "2024-01-03", "u4": "unknown"}


def test_one_sentence_lede_is_body_not_header() -> None:
    """Wire stories open with a one-sentence paragraph: it is the story's key fact."""
    raw = (
        "AP\n\nTaiwan's Tsai resigns as party leader after election losses\n\n"
        "Taiwan's President Tsai Ing-wen has resigned as leader of the ruling party, "
        "after it suffered heavy losses in local elections.\n\n"
        "The losses come as a blow for Tsai. She had framed the vote as a test of resolve."
    )
    cleaned = clean_article(raw)
    assert cleaned.title == "Taiwan's Tsai resigns as party leader after election losses"
    assert "has resigned as leader of the ruling party" in cleaned.text
    assert "AP" not in cleaned.text.split("\n")


def test_decode_fallback_and_refusals() -> None:
    text, note = decode("Café in Baghdad".encode("cp1252"), "x.txt")
    assert text == "Café in Baghdad" and "cp1252" in note
    with pytest.raises(IngestError, match="empty"):
        decode(b"  \n", "e.txt")
    with pytest.raises(IngestError, match="binary"):
        decode(b"\x89PNG\x00\x00", "b.txt")


BODY = (
    "The ministers agreed on a new framework for border patrols after two days of talks, "
    "officials said on the record.\n\nA second paragraph follows with more detail about it."
)


@pytest.mark.parametrize(
    ("header", "date", "outlet"),
    [
        ("Example Wire, March 12, 2024", "2024-03-12", "Example Wire"),
        ("Example Wire March 12, 2024 News", "2024-03-12", "Example Wire"),
        ("By Jane Doe | Example Wire | March 12, 2024", "2024-03-12", "Example Wire"),
        ("By Jane Doe, Example Wire", "unknown", "Example Wire"),
        ("Published: March 12, 2024", "2024-03-12", ""),
        ("Tuesday, March 12, 2024", "2024-03-12", ""),  # a weekday is not an outlet
    ],
)
def test_bylines_set_date_and_outlet(header: str, date: str, outlet: str) -> None:
    cleaned = clean_article(f"Ministers Agree on Border Patrols\n\n{header}\n\n{BODY}")
    assert (cleaned.date, cleaned.source) == (date, outlet)
    assert cleaned.title == "Ministers Agree on Border Patrols"
    assert header not in cleaned.text


@pytest.mark.parametrize(
    ("dateline", "outlet"),
    [
        ("BAGHDAD (Reuters) - ", "Reuters"),
        ("Washington CNN — ", "CNN"),
        ("CNN — ", "CNN"),
        ("TEHRAN – ", ""),  # a city alone names no outlet
    ],
)
def test_datelines_name_the_agency(dateline: str, outlet: str) -> None:
    cleaned = clean_article(f"Ministers Agree on Border Patrols\n\n{dateline}{BODY}")
    assert cleaned.source == outlet
    assert "The ministers agreed" in cleaned.text


def test_a_dateline_on_its_own_line_is_metadata_and_the_url_names_the_site() -> None:
    cleaned = clean_article(f"CNN —\n\n{BODY}", title="Border Patrols")
    assert cleaned.source == "CNN" and not cleaned.text.split("\n")[2].startswith("CNN")
    bare = clean_article(BODY, title="Border Patrols", url="https://www.example.org/2024/03/12/x")
    assert bare.source == "example.org" and bare.date == "2024-03-12"


def test_a_page_with_a_subhead_never_gets_a_cut_off_lede_as_title() -> None:
    lede = "In a long opening sentence that runs on and on about talks between two governments " * 3
    cleaned = clean_article(f"{lede.strip()}.\n\nTalks Focus on Border Security\n\n{BODY}")
    assert cleaned.title == "Talks Focus on Border Security"
