"""Refusals a reader would notice: a country's role, a count, a year.

From an exploratory QA pass: "<Country>'s <topic>" was taken for an office and refused,
a title in another word order was not found, any number answered "how many <things>",
and a year found in some other article let an undated one answer for that year.
"""

from __future__ import annotations

import pytest

from assistant.answer.gate import unattributed_roles
from assistant.base.schema import Answer, Passage
from assistant.core import Assistant
from assistant.language.question import analyse

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
