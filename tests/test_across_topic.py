"""Answers across the collection follow the topic's distinctive part, not the terms that
every article shares (`answer/across.py`: `relevant_articles`, `Topic`, the line quoted
for each article). Hand-built articles for the rules, then the seed articles end to end."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from assistant.answer import across
from assistant.answer.citations import verify
from assistant.answer.extractive import Candidate
from assistant.base.schema import Passage
from assistant.core import Assistant
from assistant.language.dates import event_day
from assistant.language.question import Intent, analyse

# Four reports on the relations of two (fictional) countries: both names are in every
# one; fishing rights are in two of them, the trade treaty in one.
ARTICLES = {
    "a1": (
        "2024-01-10",
        "North Gazette",
        [
            "Ruritania and Freedonia held talks in Strelsau on Monday.",
            "Fishing boats stayed in port while the talks went on.",
            "The ministers agreed to share fishing rights in the northern bay.",
        ],
    ),
    "a2": (
        "2024-02-10",
        "South Herald",
        [
            "Freedonia's president visited Ruritania for two days.",
            "Both governments signed a trade treaty on Tuesday.",
            "Counterterrorism was also on the agenda.",
        ],
    ),
    "a3": (
        "2024-03-10",
        "East Courier",
        [
            "Ruritania and Freedonia exchanged ambassadors.",
            "Officials of both countries settled the dispute over fishing rights.",
            "Colonel Sapt will lead the new embassy of Freedonia.",
        ],
    ),
    "a4": (
        "2024-04-10",
        "West Post",
        [
            "Ruritania hosted Freedonia's foreign minister.",
            "The ministers discussed tourism and culture.",
        ],
    ),
}
#: What the judge gives each sentence: every one of them looks relevant to a question
#: about the two countries (as the real judge rates a beat's sentences), the ones on the
#: asked subject more; an incidental mention of the subject is rated as not answering.
JUDGE = {
    "Fishing boats stayed in port while the talks went on.": -2.0,
    "The ministers agreed to share fishing rights in the northern bay.": 4.0,
    "Officials of both countries settled the dispute over fishing rights.": 3.5,
    "Both governments signed a trade treaty on Tuesday.": 4.5,
}


def _evidence() -> tuple[list[Passage], list[Candidate]]:
    passages, ranked = [], []
    for n, (article, (day, outlet, sentences)) in enumerate(ARTICLES.items(), 1):
        text = " ".join(sentences)
        passage = Passage(f"{article}#0", article, text, f"{outlet} report", day, outlet, "", 0, 0)
        passages.append(passage)
        for sentence in sentences:
            judge = JUDGE.get(sentence, 1.0)
            start = text.index(sentence)
            ranked.append(
                Candidate(n, sentence, judge, 0.5, passage=passage, start=start, judge=judge)
            )
    ranked.sort(key=lambda c: -(c.judge or 0.0))
    return passages, ranked


def _unrelated(texts: Sequence[str]) -> np.ndarray:
    """Embeddings under which no two sentences are the same event."""
    return np.eye(len(texts), dtype=np.float32)


def _answer(question: str) -> tuple[list[str], str]:
    query = analyse(question)
    passages, ranked = _evidence()
    articles = across.relevant_articles(query, passages, ranked)
    return articles, across.compose(query, passages, ranked, _unrelated, articles)


def test_a_timeline_on_a_subject_quotes_the_articles_on_it_not_their_openings() -> None:
    articles, text = _answer("In order, what did Ruritania and Freedonia say about fishing rights?")
    assert articles == ["a1", "a3"]  # the two names are in all four: they pick none out
    lines = text.splitlines()
    assert len(lines) == 2
    # a1's line is its first sentence on the subject the judge does not reject: neither
    # its opening nor the passing mention of fishing boats.
    assert "agreed to share fishing rights" in lines[0] and "January 10, 2024" in lines[0]
    assert "settled the dispute over fishing rights" in lines[1]


def test_who_reported_a_story_lists_only_the_reports_that_mention_it() -> None:
    articles, text = _answer("Which outlets reported on the Ruritania and Freedonia trade treaty?")
    assert articles == ["a2"]
    assert "South Herald" in text and "signed a trade treaty" in text
    assert not any(outlet in text for outlet in ("North Gazette", "East Courier", "West Post"))


def _quotes(text: str) -> list[str]:
    """The quoted sentence of each line, without its note and markers."""
    return [line.split("⟩")[1].split(" [")[0].strip() for line in text.splitlines()]


def test_only_a_topic_made_of_shared_names_takes_every_article_and_its_opening() -> None:
    articles, text = _answer("What happened between Ruritania and Freedonia, in order?")
    assert articles == ["a1", "a2", "a3", "a4"]
    assert _quotes(text) == [ARTICLES[a][2][0].rstrip(".") for a in ("a1", "a2", "a3", "a4")]
    # the same beat asked about a subject some articles hold: those, on the subject
    articles, text = _answer("In order, what did Ruritania and Freedonia say about tourism?")
    assert articles == ["a4"] and _quotes(text) == ["The ministers discussed tourism and culture"]


def test_a_subject_written_as_a_solid_compound_counts() -> None:
    articles, text = _answer("In order, what did Ruritania and Freedonia say about terrorism?")
    assert articles == ["a2"] and _quotes(text) == ["Counterterrorism was also on the agenda"]
    # a short word is not looked for inside longer ones ("pact" in "impact")
    assert not across._holds("pact", "The impact was felt in both capitals.")


def test_a_line_names_the_name_that_singles_out_the_story() -> None:
    """A shared name ("Freedonia") in an article's opening does not make the opening
    the line on a story the other name marks."""
    query = analyse("Give me a timeline of Colonel Sapt's work for Freedonia.")
    assert query.intent is Intent.TIMELINE
    articles, text = _answer("Give me a timeline of Colonel Sapt's work for Freedonia.")
    assert articles == ["a3"]
    assert _quotes(text) == ["Colonel Sapt will lead the new embassy of Freedonia"]


def test_seed_timeline_on_a_subject_follows_the_subject(assistant: Assistant) -> None:
    everything = assistant.ask("What happened between Iran and Iraq, in order?")
    assert len({c.article_id for c in everything.citations}) == 5
    answer = assistant.ask("In order, what did Iran and Iraq say about fighting terrorism?")
    assert answer.intent == "timeline" and not answer.refused
    lines = answer.text.splitlines()
    assert len(lines) >= 2 and len({c.article_id for c in answer.citations}) >= 2
    assert all("terror" in line.lower() or "fight" in line.lower() for line in lines)
    # the article openings the topic-blind timeline quoted
    assert "arrived in Baghdad on Saturday" not in answer.text


def test_seed_coverage_of_a_story_in_one_article_lists_that_report(assistant: Assistant) -> None:
    answer = assistant.ask("Who reported on the Iran-Iraq security pact?")
    assert answer.intent == "coverage" and not answer.refused
    assert [c.article_id for c in answer.citations] == ["002_4e74a2d79910187a"]
    assert "jpost.com" in answer.text and "security pact" in answer.text


def test_a_month_a_sentence_gives_places_its_line_in_that_month() -> None:
    """ "Last month" in a report of February 7 is January: the line says so (no day is
    made up) and sits before the report's own day, after December's events."""
    said = "The prime minister had travelled to Freedonia last month."
    assert event_day(said, "2025-02-07") == ("2025-01", "text", "January 2025")
    assert event_day("The treaty was signed earlier this year.", "2024-03-05")[:2] == (
        "2024",
        "text",
    )
    december = _passage("d", "2024-12-20", "The ministers met in Strelsau on December 18, 2024.")
    february = _passage("f", "2025-02-07", f"The ambassador arrived on Thursday. {said}")
    passages = [february, december]
    ranked = [
        Candidate(1, said, 1.0, 0.5, passage=february, start=february.text.index(said)),
        Candidate(2, december.text, 1.0, 0.5, passage=december),
    ]
    query = analyse("In order, what did Ruritania and Freedonia do?")
    lines = across.compose(query, passages, ranked, _unrelated, ["f", "d"]).splitlines()
    assert lines[0].startswith("⟨December 18, 2024⟩")
    assert lines[1].startswith("⟨January 2025⟩") and "last month" in lines[1]
    checked = verify("\n".join(lines), passages, embed=None, threshold=0.5)
    assert all(s.supported for s in checked.sentences)
    assert [s.date for s in checked.sentences] == ["2024-12-18", "2025-01"]


def _passage(article: str, day: str, text: str) -> Passage:
    return Passage(f"{article}#0", article, text, "Report", day, "Outlet", "", 0, len(text))


def test_a_month_or_year_a_sentence_names_places_its_line_there() -> None:
    """ "In September 2024" and "in 2020" say when the event was, whatever the report's date:
    the line is placed and labelled there, and the verifier accepts the label. A year that
    bounds something else ("since 2020", "by 2025") or is a name ("Vision 2030") is no
    event date: the report's own date stays."""
    assert event_day("He first visited in September 2024.", "2025-02-07") == (
        "2024-09",
        "text",
        "September 2024",
    )
    assert event_day("Both were killed in 2020.", "2024-03-05") == ("2020", "text", "2020")
    for undated in ("The pact has held since 2020.", "Trade is to double by 2025.", "Vision 2030."):
        assert event_day(undated, "2025-02-07")[1] == "report", undated
    assert event_day("Talks resumed on September 5, 2024.", "2025-02-07")[0] == "2024-09-05"
    killed = "Both generals were killed in 2020."
    visit = "The president made his first visit in September 2024."
    old = _passage("o", "2024-03-05", f"The envoy spoke on Tuesday. {killed}")
    new = _passage("n", "2025-02-07", f"The talks went on. {visit}")
    ranked = [
        Candidate(1, visit, 1.0, 0.5, passage=new, start=new.text.index(visit)),
        Candidate(2, killed, 1.0, 0.5, passage=old, start=old.text.index(killed)),
    ]
    query = analyse("In order, what did Ruritania and Freedonia do?")
    lines = across.compose(query, [new, old], ranked, _unrelated, ["n", "o"]).splitlines()
    assert lines[0].startswith("⟨2020⟩") and lines[1].startswith("⟨September 2024⟩"), lines
    checked = verify("\n".join(lines), [new, old], embed=None, threshold=0.5)
    assert all(s.supported for s in checked.sentences)


def test_seed_timeline_line_carries_the_month_its_sentence_names(assistant: Assistant) -> None:
    answer = assistant.ask("Timeline of Pezeshkian visits")
    assert answer.intent == "timeline" and not answer.refused
    first = answer.text.splitlines()[0]
    assert first.startswith("⟨September 2024⟩") and "in September 2024" in first, answer.text
    assert all(c.supported for c in answer.citations)


def test_a_timeline_of_one_report_lists_the_days_it_gives_in_order() -> None:
    """One report of a visit over several days: its answering sentences that name the
    topic and give a day of their own become lines of their own, in date order; a dated
    sentence about someone else, or one the judge rates as not answering, does not."""
    text = (
        "The envoy Ivanka Moreau visited Strelsau on Thursday, holding talks with officials. "
        "Moreau arrived in Strelsau on Wednesday night. "
        "The king had visited the port in September 2024. "
        "Moreau left Strelsau for the coast on Friday."
    )
    report = _passage("r", "2025-02-07", text)
    said = [s for s in text.split(". ") if s]
    sentences = [s if s.endswith(".") else s + "." for s in said]
    judged = [6.0, 5.0, 4.0, -2.0]  # the Friday sentence: not answering
    ranked = [
        Candidate(1, s, 1.0, 0.5, passage=report, start=text.index(s), judge=j)
        for s, j in zip(sentences, judged, strict=True)
    ]
    query = analyse("What was the chronology of Moreau's visit to Strelsau?")
    assert query.intent is Intent.TIMELINE
    lines = across.compose(query, [report], ranked, _unrelated, ["r"]).splitlines()
    assert [ln.split("⟩")[0] for ln in lines] == [
        "⟨Wednesday, February 5, 2025",
        "⟨Thursday, February 6, 2025",
    ], lines
    checked = verify("\n".join(lines), [report], embed=None, threshold=0.5)
    assert all(s.supported for s in checked.sentences)


def test_seed_chronology_of_one_visit_gives_its_days(assistant: Assistant) -> None:
    answer = assistant.ask("What was the chronology of Zarif's visit to Iraq?")
    assert answer.intent == "timeline" and not answer.refused
    lines = answer.text.splitlines()
    assert len(lines) >= 2 and lines[0].startswith("⟨Wednesday, February 5, 2025⟩"), lines
    assert "arrived in Baghdad" in lines[0] and "Thursday" in lines[1]
    assert all(c.supported for c in answer.citations)
