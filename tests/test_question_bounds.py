"""Upper date bounds and the referent of a follow-up's pronoun.

"Before 2024" / "until March 2024" limit the articles by publication date as "since"
does from below, and the year is not taken for the topic; "before the summit" stays a
question about an event. After a who-question, "he" is the person the answer named as
its answer, not whoever its first quoted sentence mentions."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.answer.followup import answer_names, rewrite_follow_up
from assistant.core import Assistant
from assistant.language.question import Intent, analyse

TODAY = date(2026, 12, 6)  # a Sunday

BAGHERI_2023 = "000_096cb9fdbfc8fb30"  # dated 2023-12-03, the one article before 2024


@pytest.mark.parametrize(
    ("question", "until"),
    [
        ("What happened before 2024?", "2023-12-31"),
        ("What happened before March 2024?", "2024-02-29"),
        ("What was agreed prior to March 5, 2024?", "2024-03-04"),
        ("What happened earlier than 2023, in order?", "2022-12-31"),
        ("What happened until 2024 between the two governments?", "2024-12-31"),
        ("Which ministers resigned up to January 2025?", "2025-01-31"),
        ("What happened before Monday?", "2026-11-29"),
        # No date after the word: an event, or a year used as an adjective.
        ("What happened before the ceasefire?", ""),
        ("When did the minister travel abroad before the mayor's visit?", ""),
        ("What happened before the 2024 elections?", ""),
        ("What happened before 2024 elections?", ""),
        ("What has he done until then?", ""),
    ],
)
def test_before_and_until_a_date_become_the_last_day_allowed(question: str, until: str) -> None:
    assert analyse(question, TODAY).until == until


def test_the_bound_is_not_the_topic_nor_the_period_asked_about() -> None:
    bounded = analyse("What happened before 2024 between the two ports?", TODAY)
    assert bounded.intent is Intent.TIMELINE
    assert bounded.topic == "two ports"  # not "2024": articles naming 2024 are not the topic
    assert bounded.dates.year is None  # 2024 is where the answer ends, not its period
    event = analyse("What happened before the ceasefire?", TODAY)
    assert event.intent is Intent.TIMELINE and "ceasefire" in event.topic
    assert analyse("What happened until 2024?", TODAY).intent is Intent.TIMELINE


def test_what_happened_before_a_year_lists_only_older_articles(assistant: Assistant) -> None:
    answer = assistant.ask("What happened before 2024?")
    assert not answer.refused, answer.text
    assert {c.article_id for c in answer.citations} == {BAGHERI_2023}, answer.text
    assert "2024" not in answer.text and "2025" not in answer.text, answer.text
    dated = [s.date for s in answer.sentences if s.date]
    assert dated and all(d < "2024-01-01" for d in dated), dated
    assert answer.note == ""


def test_a_bound_no_article_meets_is_said(assistant: Assistant) -> None:
    answer = assistant.ask("What happened before 2019?")
    assert "No article is dated on or before December 31, 2018" in answer.note


QUDS = "Who heads the Quds Force?"
QUDS_ANSWER = (
    "Iranian Foreign Minister Abbas Araghchi met with Iraq’s National Security Advisor "
    "Qasim al-Araji in Tehran [1]. This meeting coincided with reports of Ismail Qaani, "
    "head of the Quds Force, also engaging with al-Araji [1]."
)


def test_the_referent_is_the_name_the_answering_sentence_gives() -> None:
    assert answer_names(QUDS, QUDS_ANSWER)[0] == "Ismail Qaani"
    follow = rewrite_follow_up("When did he meet al-Araji?", [(QUDS, QUDS_ANSWER)])
    assert follow.search_text.startswith("When did Ismail Qaani meet al-Araji?")


def test_without_a_better_sentence_the_first_one_names_the_referent() -> None:
    answer = "Defense Minister Juma Inad arrived in the capital [1]. Talks followed [1]."
    assert answer_names("Which minister visited the capital?", answer) == ["Juma Inad"]
    tie = "Mayor Ana Ortiz opened the port [1]. Governor Luis Vega opened the port too [1]."
    assert answer_names("Who opened the port?", tie)[0] == "Ana Ortiz"


def test_he_after_who_heads_means_the_head(assistant: Assistant) -> None:
    first = assistant.ask(QUDS)
    # The answer opens with another man's meeting; the head is named in a later sentence.
    assert "Qaani" in first.text and "Qaani" not in first.text.split(" [1]")[0], first.text
    follow = assistant.ask("When did he meet al-Araji?", history=[(first.question, first.text)])
    assert "Qaani" in follow.standalone_question, follow.standalone_question
    assert "Araghchi" not in follow.standalone_question, follow.standalone_question
