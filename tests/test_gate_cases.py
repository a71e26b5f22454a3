"""Refusals a reader would notice: a country's role, a count, a year.

From an exploratory QA pass: "<Country>'s <topic>" was taken for an office and refused,
a title in another word order was not found, any number answered "how many <things>",
and a year found in some other article let an undated one answer for that year.
"""

from __future__ import annotations

import pytest

from assistant.answer import extractive
from assistant.answer.gate import unattributed_roles
from assistant.base.phrases import REFUSAL
from assistant.base.schema import Answer, Passage
from assistant.core import Assistant
from assistant.language.question import analyse

BAGHERI_2023 = "000_096cb9fdbfc8fb30"
INAD = "004_55e5600d96472930"

TEXT = (
    "Canadian Foreign Minister Ana Ruiz met Mexico's trade envoy. The chief of staff of "
    "the Mexican army thanked Canada for its help. Ruiz praised Mexico's safety record."
)


def _passage(text: str, date: str = "2024-01-01") -> Passage:
    return Passage("a#0", "a", text, "Talks", date, "", "", 0, len(text))


def _cited(answer: Answer) -> set[str]:
    return {c.article_id for c in answer.citations}


@pytest.mark.parametrize(
    ("question", "unattributed"),
    [
        # A topic of the country, not an office: nothing to attribute.
        ("What did Ruiz say about Canada's safety and trade?", []),
        # The title in another order, the country as an adjective after "of the".
        ("What did Mexico's army chief of staff thank Canada for?", []),
        ("Who is Mexico's trade envoy?", []),
        # What the check is for: another country's officeholder is no answer.
        ("What did Canada's army chief say?", ["canada's army chief"]),
        ("Who is Mexico's foreign minister?", ["mexico's foreign minister"]),
    ],
)
def test_only_an_office_of_the_country_asked_about_needs_attributing(
    question: str, unattributed: list[str]
) -> None:
    assert unattributed_roles(analyse(question), [_passage(TEXT)]) == unattributed


def test_a_countrys_topic_is_answered_not_refused(assistant: Assistant) -> None:
    # "Iraq's safety" was checked as if it were an office, and the question refused.
    answer = assistant.ask("What did Khatami say about Iraq's safety and reconstruction?")
    assert not answer.refused, answer.text
    assert "reconstruction" in answer.text
    assert _cited(answer) == {INAD}


def test_a_title_in_another_word_order_is_that_countrys(assistant: Assistant) -> None:
    # The article says "The Chief of Staff of the Iraqi Army expressed gratitude ...".
    answer = assistant.ask("What did Iraq's army chief of staff thank Iran for?")
    assert not answer.refused, answer.text
    assert "gratitude" in answer.text
    assert all(s.supported for s in answer.sentences)


@pytest.mark.parametrize(
    ("question", "sentence", "lacks"),
    [
        ("How many Iranian troops are in Iraq?", "The visit, spanning three days, began.", True),
        ("How many Iranian troops are in Iraq?", "Some 5,000 Iranian troops are there.", False),
        ("How many of the soldiers died?", "Three of the soldiers died in the attack.", False),
        ("How many troops left?", "The troops, numbering 2,500, left in May.", False),
        ("How many troops left?", "The two armies' troops left on May 4, 2024.", True),
        ("How many people were hurt?", "Forty people were hurt.", False),
        ("How many news reports came out?", "Two reports came out.", False),
        ("How many were killed?", "Five died.", False),  # nothing named to count
    ],
)
def test_how_many_things_wants_a_count_of_those_things(
    question: str, sentence: str, lacks: bool
) -> None:
    chosen = [extractive.Candidate(1, sentence, 1.0, 1.0)]
    assert extractive.lacks_answer_type(analyse(question), chosen) is lacks


def test_a_count_of_something_else_is_no_answer(assistant: Assistant) -> None:
    # The top sentence counts the days of a visit; no article counts troops.
    answer = assistant.ask("How many Iranian troops are stationed in Iraq?")
    assert answer.refused and answer.text == REFUSAL, answer.text


@pytest.mark.parametrize(
    ("date", "text", "lacks"),
    [
        ("2024-03-05", "Inad is the defence minister.", True),
        ("", "Inad is the defence minister.", True),
        ("2025-02-07", "Inad is the defence minister.", False),
        ("", "In 2025 Inad is the defence minister.", False),
    ],
)
def test_a_year_asked_about_must_be_the_quoted_articles(date: str, text: str, lacks: bool) -> None:
    query = analyse("Who is the defence minister in 2025?")
    chosen = [extractive.Candidate(1, text, 1.0, 1.0, passage=_passage(text, date))]
    assert extractive.lacks_answer_type(query, chosen) is lacks


def test_a_year_found_only_in_another_article_is_no_answer(assistant: Assistant) -> None:
    # Only one article is dated 2025, and it names no Iraqi defence minister; the one
    # that does is undated and gives no year.
    answer = assistant.ask("Who is Iraq's defence minister in 2025?")
    assert answer.refused and answer.text == REFUSAL, answer.text
