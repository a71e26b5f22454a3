"""Property-based tests (hypothesis) of the pure text code: cleaner, chunker, citations.

For any input, however hostile (control characters, right-to-left marks, stray
brackets, half-written citation markers), the cleaner returns text drawn from its
input with no furniture left, the chunker's offsets always point at the stored
article text, and the citation parser and verifier never raise and never show a
marker that names no passage. Example counts are modest so the file runs in
seconds; the embedding model is not involved (the chunker counts with its
tokenizer-free estimate, the verifier runs without vectors).
"""

from __future__ import annotations

import itertools
import re
from unicodedata import category

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.answer.citations import drop_phantoms, parse_markers, verify
from assistant.base.phrases import CITATION_PATTERN
from assistant.base.schema import Article, Passage
from assistant.ingest.chunking import chunk_article
from assistant.ingest.clean import _UUID, INVISIBLE, clean_article
from assistant.language.text import approx_tokens

FAST = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Words, news furniture, dates, markers and awkward characters, mixed into lines.
_PIECES = st.sampled_from(
    [
        "Zarif",
        "met",
        "Hakim",
        "in",
        "Baghdad.",
        "The minister said",
        "talks would resume.",
        "Subscribe",
        "Leave a Reply",
        "Share",
        "12 Comments",
        "By Jane Doe | Example Wire | March 12, 2024",
        "BAGHDAD (Reuters) —",
        "Published: March 5, 2024",
        "© 2024 Example",
        "3f2b8c1e-0c4d-4b7a-9e51-2a6f1d3c4b5a",
        "[1]",
        "[2, 3]",
        "{{ 7*7 }}",
        "<script>alert(1)</script>",
        "\u200b",
        "\u202e",
        "\u200f",
        "\ufeff",
        "\u00a0",
        "\t",
        "\r\n",
        "\n",
        "\n\n",
        "?",
        "!",
        "…",
        "بغداد",
        "Mr.",
        "U.S.",
    ]
)
NEWSY = st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=40).map(" ".join)
ANY_TEXT = st.one_of(NEWSY, st.text(max_size=300))


# --- the cleaner ------------------------------------------------------------------------


def _raw_form(raw: str) -> str:
    """What the cleaner reads: line ends unified, no-break spaces as spaces, invisible
    formatting characters and UUIDs gone."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    return INVISIBLE.sub("", _UUID.sub("", text))


@FAST
@given(ANY_TEXT)
@example("Subscribe\n\nLeave a Reply\nPlease enter your comment!")
@example("\u202eHACKED\u202c\n\n{{ config }}")
def test_cleaner_never_crashes_and_only_keeps_words_of_its_input(raw: str) -> None:
    cleaned = clean_article(raw)
    source = _raw_form(raw)
    for token in cleaned.text.split():
        assert token in source, f"{token!r} is not in the input"
    for token in cleaned.title.split():
        assert token.rstrip("…") in source, f"title word {token!r} is not in the input"
    assert cleaned.text == cleaned.text.strip()
    assert "\r" not in cleaned.text and "\u00a0" not in cleaned.text
    assert "\n\n\n" not in cleaned.text, "paragraphs are separated by one blank line"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}|unknown", cleaned.date)


#: Lines a reader calls web furniture, written here from pages as they look (not taken
#: from the cleaner's own patterns, so the cleaner cannot be its own oracle).
READER_FURNITURE = [
    "Share this article",
    "Share on Facebook",
    "Click to share on Twitter (Opens in new window)",
    "Tweet",
    "Print",
    "Email",
    "Advertisement",
    "Sponsored",
    "Read more",
    "See also",
    "Recommended stories",
    "12 Comments",
    "1.2k shares",
    "Skip to main content",
    "Sign up for our newsletter for the latest news",
    "Your email address will not be published.",
    "This site is protected by reCAPTCHA and the Google Privacy Policy and Terms of Service apply.",
    "© 2024 Example Media. All rights reserved.",
]
STORY = [
    "Port reopens after the storm",
    "The port reopened on Monday after the storm had passed through the region.",
    "Officials said repairs to the two damaged piers would take a month.",
    "Ships that had waited outside the harbor for two days began to unload.",
]


@FAST
@given(st.lists(st.tuples(st.sampled_from(READER_FURNITURE), st.integers(1, 4)), max_size=8))
def test_furniture_goes_and_the_story_stays(placed: list[tuple[str, int]]) -> None:
    """Furniture lines anywhere between the story's paragraphs are gone; every sentence of
    the story is still there, in order."""
    lines = list(STORY)
    for furniture, after in sorted(placed, key=lambda x: -x[1]):
        lines.insert(after, furniture)
    cleaned = clean_article("\n\n".join(lines))
    kept = [ln.strip() for ln in cleaned.text.split("\n") if ln.strip()]
    assert not set(kept) & set(READER_FURNITURE), f"furniture kept: {kept}"
    body = [s for s in STORY[1:] if s in cleaned.text]
    assert body == STORY[1:], f"story lost: {cleaned.text!r}"


@FAST
@given(ANY_TEXT)
def test_cleaning_a_cleaned_article_keeps_its_text(raw: str) -> None:
    """An exported article ingested again (its title as metadata) reads the same: the same
    title, the same paragraphs in the same order (the title line, wherever the first
    cleaning found it, set aside)."""
    once = clean_article(raw)
    twice = clean_article(once.text, title=once.title)
    assert twice.title == once.title
    assert _body(twice.text, twice.title) == _body(once.text, once.title)
    assert clean_article(once.text, title=once.title, date_hint=once.date).date == once.date


def _body(text: str, title: str) -> list[str]:
    """The paragraphs of an article's text, its title line set aside."""
    return [p for p in text.split("\n\n") if p.strip() and p != title]


# --- the chunker ----------------------------------------------------------------------


@FAST
@given(
    text=st.one_of(NEWSY, st.text(min_size=1, max_size=400)),
    max_tokens=st.integers(min_value=4, max_value=60),
    overlap=st.integers(min_value=0, max_value=20),
)
@example(text="a " * 300, max_tokens=4, overlap=0)
@example(text="x" * 500 + ". Short one.", max_tokens=8, overlap=3)
def test_chunk_offsets_always_point_at_the_article_text(
    text: str, max_tokens: int, overlap: int
) -> None:
    text = clean_article(text).text  # what ingestion chunks: a cleaned article
    article = Article(id="p", title="", text=text, date="unknown", source="", url="", origin="p")
    chunks = chunk_article(article, max_tokens=max_tokens, overlap_tokens=overlap)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip(), "an empty chunk"
        size = approx_tokens([chunk.text])[0]
        assert size <= max_tokens or len(chunk.text.split()) == 1, (size, chunk.text)
    starts = [c.start for c in chunks]
    ends = [c.end for c in chunks]
    assert starts == sorted(starts) and ends == sorted(ends), "chunks out of order"
    assert all(b > a for a, b in itertools.pairwise(ends)), "a chunk adds nothing"
    covered = set().union(*(range(c.start, c.end) for c in chunks)) if chunks else set()
    # Every visible character is in a chunk (a lone direction mark may fall between).
    visible = [i for i, ch in enumerate(text) if not ch.isspace() and category(ch) != "Cf"]
    missed = [i for i in visible if i not in covered]
    assert not missed, f"characters in no chunk: {[text[i] for i in missed][:10]}"


@FAST
@given(text=st.text(max_size=300), max_tokens=st.integers(min_value=4, max_value=60))
def test_chunks_of_uncleaned_text_still_point_at_it(text: str, max_tokens: int) -> None:
    article = Article(id="p", title="", text=text, date="unknown", source="", url="", origin="p")
    for chunk in chunk_article(article, max_tokens=max_tokens, overlap_tokens=8):
        assert text[chunk.start : chunk.end] == chunk.text


# --- the citation parser and verifier ---------------------------------------------------

MARKERISH = st.lists(
    st.one_of(
        st.sampled_from(["[", "]", ",", " ", "[1]", "[2]", "[9]", "[1, 2]", "[0]", "[12,3]"]),
        st.integers(min_value=0, max_value=12).map(str),
        st.sampled_from(["Zarif met Hakim.", "Talks resumed in Baghdad. ", "\n", "⟨x⟩"]),
        st.text(max_size=6),
    ),
    max_size=30,
).map("".join)


def _passages(k: int) -> list[Passage]:
    texts = [
        "Zarif met Hakim in Baghdad. The talks covered border security.",
        "Talks resumed in Baghdad on Monday. Officials from both countries attended.",
        "The minister said the pipeline would open in March 2024.",
    ]
    return [
        Passage(
            chunk_id=f"a{n % 2}#v#{n}",
            article_id=f"a{n % 2}",
            text=texts[n % len(texts)],
            title=f"Article {n % 2}",
            date="2024-03-05",
            source="Example Wire",
            url="",
            start=0,
            end=len(texts[n % len(texts)]),
        )
        for n in range(k)
    ]


@FAST
@given(MARKERISH)
def test_markers_are_parsed_from_any_text(text: str) -> None:
    markers = parse_markers(text)
    for m in markers:
        assert CITATION_PATTERN.fullmatch(text[m.start : m.end])
        assert list(m.numbers) == [int(n) for n in re.findall(r"\d+", text[m.start : m.end])]
    assert [m.start for m in markers] == sorted(m.start for m in markers)


def test_a_marker_revealed_by_removing_a_phantom_is_removed_too() -> None:
    assert drop_phantoms("[[5]9]", {1}) == ("", 2)
    checked = verify("[[3]3] Zarif met Hakim.", _passages(2), embed=None, threshold=0.5)
    assert checked.phantoms == 2


@FAST
@given(MARKERISH, st.sets(st.integers(min_value=1, max_value=9), max_size=4))
@example("[[5]1]", {1})
def test_phantom_markers_are_removed_and_counted(text: str, valid: set[int]) -> None:
    cleaned, dropped = drop_phantoms(text, valid)
    invalid = sum(n not in valid for m in parse_markers(text) for n in m.numbers)
    assert dropped >= invalid
    shown = [n for m in parse_markers(cleaned) for n in m.numbers]
    assert set(shown) <= valid, f"a marker naming no passage is still shown: {cleaned!r}"


@FAST
@given(MARKERISH, st.integers(min_value=0, max_value=4))
@example("[[3]2] Zarif met Hakim.", 2)
def test_the_verifier_never_raises_and_shows_only_real_sources(text: str, k: int) -> None:
    passages = _passages(k)
    checked = verify(text, passages, embed=None, threshold=0.5)
    numbers = [c.n for c in checked.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    shown = {n for m in parse_markers(checked.text) for n in m.numbers}
    assert shown <= set(numbers), f"{checked.text!r} names a source that is not listed"
    for sentence in checked.sentences:
        assert 0.0 <= sentence.support <= 1.0
        assert set(sentence.cites) <= set(numbers)
