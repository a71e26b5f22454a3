"""The citation verifier: phantom markers, sentence support, spans (pure logic)."""

from __future__ import annotations

from assistant.answer.citations import (
    StreamNumbering,
    drop_phantoms,
    is_refusal,
    parse_markers,
    verify,
)
from assistant.base.phrases import REFUSAL
from assistant.base.schema import Passage


def _passage(text: str, start: int = 100, article: str = "a1") -> Passage:
    return Passage(
        chunk_id=f"{article}#v#0",
        article_id=article,
        text=text,
        title="T",
        date="2025-02-07",
        source="S",
        url="",
        start=start,
        end=start + len(text),
    )


ZARIF = _passage(
    "Zarif arrived in Baghdad on Wednesday night. He came at the invitation of Ammar al-Hakim. "
    "Zarif met President Abdul Latif Rashid on Thursday."
)
BAGHERI = _passage("Bagheri met the Iraqi defense minister in Baghdad.", start=0, article="a2")


def test_parse_markers_groups() -> None:
    assert [m.numbers for m in parse_markers("A [1]. B [2, 3]. C [4][5].")] == [
        (1,),
        (2, 3),
        (4,),
        (5,),
    ]


def test_phantom_markers_are_removed_and_counted() -> None:
    text, removed = drop_phantoms("Zarif came to Baghdad [1][7]. Hakim invited him [2, 9].", {1, 2})
    assert text == "Zarif came to Baghdad [1]. Hakim invited him [2]."
    assert removed == 2


def test_verify_supported_sentence_and_span() -> None:
    answer = (
        "Zarif came at the invitation of Ammar al-Hakim [1]. Bagheri met the defense minister [2]."
    )
    result = verify(answer, [ZARIF, BAGHERI], embed=None, threshold=0.5)
    assert [s.supported for s in result.sentences] == [True, True]
    first = result.citations[0]
    quoted = "He came at the invitation of Ammar al-Hakim."
    assert first.n == 1 and first.article_id == "a1" and first.sentences == (quoted,)
    offset = ZARIF.text.index(quoted)
    span = (ZARIF.start + offset, ZARIF.start + offset + len(quoted))
    assert first.spans == (span,)
    # The answer sentence points at exactly that article sentence (what a click marks).
    assert result.sentences[0].rests_on == ((1, *span),)


def test_sources_are_articles_numbered_by_first_mention() -> None:
    """Two passages of one article are one source; numbers follow the answer's order."""
    later = _passage("Zarif met President Abdul Latif Rashid on Thursday.", start=400)
    answer = (
        "Bagheri met the Iraqi defense minister [3]. Zarif came at the invitation of "
        "Ammar al-Hakim [1]. He met President Rashid on Thursday [2][1]."
    )
    result = verify(answer, [ZARIF, later, BAGHERI], embed=None, threshold=0.5)
    assert result.text == (
        "Bagheri met the Iraqi defense minister [1]. Zarif came at the invitation of "
        "Ammar al-Hakim [2]. He met President Rashid on Thursday [2]."
    )
    assert [(c.n, c.article_id) for c in result.citations] == [(1, "a2"), (2, "a1")]
    zarif = result.citations[1]
    assert [e.passage.start for e in zarif.evidence] == [100, 400]  # article order
    assert [s.cites for s in result.sentences] == [(1,), (2,), (2,)]
    assert all(s.supported for s in result.sentences)


def test_streamed_markers_are_numbered_like_the_verified_text() -> None:
    later = _passage("Zarif met President Abdul Latif Rashid on Thursday.", start=400)
    numbering = StreamNumbering([ZARIF, later, BAGHERI])
    pieces = ["Bagheri met him [", "3]. Zarif came [1", "]. He met Rashid [2][9]", "."]
    assert "".join(numbering.feed(p) for p in pieces) + numbering.flush() == (
        "Bagheri met him [1]. Zarif came [2]. He met Rashid [2]."
    )


def test_invented_claims_are_unsupported() -> None:
    answer = (
        "Zarif met Pope Francis in Mosul [1]. Zarif arrived in Baghdad on Wednesday night [1]. "
        "The visit cost 40 million dollars."
    )
    result = verify(answer, [ZARIF, BAGHERI], embed=None, threshold=0.5)
    verdicts = {s.text: s.supported for s in result.sentences}
    assert verdicts["Zarif met Pope Francis in Mosul."] is False
    assert verdicts["Zarif arrived in Baghdad on Wednesday night."] is True
    assert verdicts["The visit cost 40 million dollars."] is False  # cites nothing


def test_citing_the_wrong_passage_is_unsupported() -> None:
    result = verify(
        "Zarif came at the invitation of Ammar al-Hakim [2].",
        [ZARIF, BAGHERI],
        embed=None,
        threshold=0.5,
    )
    assert result.sentences[0].supported is False


def test_marker_after_the_period_belongs_to_the_sentence_before() -> None:
    result = verify(
        "Bagheri met the Iraqi defense minister. [2] Zarif arrived in Baghdad. [1]",
        [ZARIF, BAGHERI],
        embed=None,
        threshold=0.5,
    )
    # Numbered by first mention: passage 2's article is source 1.
    assert [s.cites for s in result.sentences] == [(1,), (2,)]
    assert all(s.supported for s in result.sentences)


def test_refusals_are_recognised() -> None:
    assert is_refusal(REFUSAL)
    assert is_refusal("I'm sorry, the sources do not contain information about Basra.")
    assert not is_refusal("Zarif arrived in Baghdad [1].")


def test_line_notes_of_answers_across_articles_are_checked_against_metadata() -> None:
    """An answer drawn from many articles opens each line with a computed note (outlet,
    date, title, a count); the verifier recomputes it from the cited articles: a right
    note keeps the line supported, a wrong one (another outlet, another day, a wrong
    count) makes it unsupported. Each sentence carries the day it reports."""
    quote = "Zarif met President Abdul Latif Rashid on Thursday."
    right = f"⟨S, February 7, 2025⟩ {quote[:-1]} [1]."
    wrong_outlet = f"⟨Reuters, February 7, 2025⟩ {quote[:-1]} [1]."
    wrong_day = f"⟨S, February 9, 2025⟩ {quote[:-1]} [1]."
    count = "⟨2 articles from 1 named outlet⟩ [1][2]."
    miscount = "⟨3 articles from 1 named outlet⟩ [1][2]."
    for text, supported in [
        (right, True),
        (wrong_outlet, False),
        (wrong_day, False),
        (count, True),
        (miscount, False),
    ]:
        result = verify(text, [ZARIF, BAGHERI], embed=None, threshold=0.5)
        assert [s.supported for s in result.sentences] == [supported], text
        if text == count:  # it rests on metadata: no article sentence is marked for it
            assert result.sentences[0].rests_on == () and not any(c.spans for c in result.citations)
    thursday = verify(
        f"⟨Thursday, February 6, 2025⟩ {quote[:-1]} [1].", [ZARIF], embed=None, threshold=0.5
    )
    assert thursday.sentences[0].supported and thursday.sentences[0].date == "2025-02-06"
    assert verify(right, [ZARIF], embed=None, threshold=0.5).sentences[0].date == "2025-02-06"
