"""The question analysis: each collection-level kind is recognised from its phrasing, and
plain lookups are not mistaken for one (both directions, for every kind); "since ..."
becomes a date; the topic is the question without its intent words."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.language.question import Intent, Query, analyse, since_date, topic_of

TODAY = date(2026, 12, 6)  # a Sunday

KINDS = {
    Intent.TIMELINE: [
        "What happened between the two governments, in order?",
        "Give me a timeline of the port strike.",
        "What is the chronology of the negotiations?",
        "Which came first, the ceasefire or the elections?",
        "In chronological order, what did the ministers agree?",
    ],
    Intent.RECENCY: [
        "What is new since January 2025?",
        "What's new since Monday?",
        "What's the latest on the merger?",
        "What are the latest developments in the trial?",
        "Any recent news about the drought?",
    ],
    Intent.COVERAGE: [
        "Which outlets reported on the summit?",
        "Which news agencies covered the flood?",
        "How many articles reported on the strike?",
        "Who reported on the election results?",
        "Which newspapers wrote about the verdict?",
    ],
    Intent.ENUMERATION: [
        "List the companies that bid for the contract.",
        "Name all the ministers who resigned.",
        "Which officials visited the capital, and when?",
        "Which players were injured, and where?",
    ],
}

LOOKUPS = [
    "Who invited the minister to the capital?",
    "When did the talks begin?",
    "Which news agency reported the minister's trip?",  # one agency named in an article
    "Which minister visited the port?",
    "Which officials met the mayor?",  # a plain "which <plural>" reads as a lookup
    "What is the most recent visit by the delegation?",
    "What has he done since taking office?",  # "since" without a date
    "This week marked 50 years since which milestone?",  # "this week", "since" no date
    "How many days did the visit last?",
    "What did the two leaders discuss in March 2024?",
    "Where did the delegation stay?",
]


@pytest.mark.parametrize(("question", "kind"), [(q, k) for k, qs in KINDS.items() for q in qs])
def test_each_kind_is_recognised_from_its_phrasing(question: str, kind: Intent) -> None:
    assert analyse(question, TODAY).intent is kind
    assert kind.across_articles


@pytest.mark.parametrize("question", LOOKUPS)
def test_lookups_stay_lookups(question: str) -> None:
    analysis = analyse(question, TODAY)
    assert analysis.intent is Intent.LOOKUP
    assert not analysis.intent.across_articles
    assert analysis.topic == question  # a lookup's topic is the question itself


@pytest.mark.parametrize(
    ("question", "since"),
    [
        ("what is new since january 2025?", "2025-01-01"),
        ("what's new since march 5, 2024?", "2024-03-05"),
        ("anything since 2023?", "2023-01-01"),
        ("what is new since monday?", "2026-11-30"),
        ("what happened since friday?", "2026-12-04"),
        ("what's new this week?", "2026-11-30"),
        ("what has changed since yesterday?", "2026-12-05"),
        ("what has he done since then?", ""),
        ("since when has he led the party?", ""),
    ],
)
def test_since_becomes_the_first_day_it_names(question: str, since: str) -> None:
    assert since_date(question, TODAY) == since


def test_the_answer_type_and_dates_come_with_the_analysis() -> None:
    when = analyse("When did the delegation arrive in March 2024?", TODAY)
    assert (when.wants, when.past, when.future) == ("when", True, False)
    assert when.dates.prefix == "2024-03"
    assert analyse("When will the pact expire?", TODAY).future
    assert analyse("On what day of the week did they meet?", TODAY).wants == "when"
    assert analyse("In which year did the treaty lapse?", TODAY).wants == "when"
    assert analyse("Which outlet reported the trip?", TODAY).asks_outlet
    assert analyse("How many outlets reported the trip?", TODAY).counts


def test_the_topic_leaves_the_intent_phrasing_out() -> None:
    assert topic_of("Which outlets reported on the Harbor Board?") == "Harbor Board"
    assert topic_of("What happened between Ruritania and Freedonia, in order?") == (
        "Ruritania Freedonia"
    )
    assert topic_of("What is new since January 2025?") == ""


def test_a_follow_up_is_analysed_in_its_standalone_form() -> None:
    query = Query("What did he discuss, in order?", carried=("Mayor Ortiz",))
    analysis = analyse(query, TODAY)
    assert analysis.intent is Intent.TIMELINE
    assert analysis.search_text.startswith("What did Mayor Ortiz discuss")
    assert analysis.carried == ("Mayor Ortiz",)
