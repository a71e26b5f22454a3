"""What a question asks for, worked out once: the `Question` every later step reads.

A question is first made standalone (`Query`: the user's words, subjects carried from
earlier turns); `analyse` then derives, once, everything the pipeline needs to know
about it: its intent (a plain lookup, or a collection-level kind: a timeline, what is
new, which outlets reported it, a list drawn from every article), the kind of answer a
wh-question wants ("when", "who", "how many"...), the dates it names, the date it asks
"since", the last date it allows ("before 2024", "until March 2024"), and its topic (the
question without its intent phrasing or date bounds). Retrieval, the refusal gate and the
answerers read these fields instead of re-parsing the text.

The phrasings are data (`data/question_words.yaml`), about how English questions are
put, never about what any article says. Making follow-ups standalone is
`answer/followup.py`'s; acting on the analysis is the retriever's and the answerers'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from .dates import MONTHS, WEEKDAY_NAMES, DateIntent, date_intent, parse_date, to_date
from .text import fold, stopwords


class Intent(StrEnum):
    """What kind of answer the question needs."""

    LOOKUP = "lookup"  # one fact, from the passages that state it
    TIMELINE = "timeline"  # events in date order, each dated and cited
    RECENCY = "recency"  # what is new since a date, newest first
    COVERAGE = "coverage"  # which outlets reported it, when, how many
    ENUMERATION = "enumeration"  # every item the articles name, each cited to its own

    @property
    def across_articles(self) -> bool:
        """Answered from every relevant article rather than from the best passage."""
        return self is not Intent.LOOKUP


@dataclass(frozen=True)
class Query:
    """A question made standalone: the user's own words, and subjects carried from
    earlier turns (searched for, but not required to occur in an answer); the first
    carried subject is who the question's pronoun most likely means."""

    text: str
    carried: tuple[str, ...] = ()
    #: The earlier question re-asked with this one's question word, when this one only
    #: points back at it: "Who did Zarif meet?", "When was that?" -> "When did Zarif meet?"
    re_asked: str = ""

    @property
    def search_text(self) -> str:
        """What retrieval and the relevance judges are asked: the question with its first
        pronoun replaced by the referent, the other carried subjects after it:
        "What did he discuss with the president?" -> "What did Zarif discuss with the
        president? (Baghdad)"."""
        if self.re_asked:
            others = [n for n in self.carried if n.lower() not in self.re_asked.lower()]
            return f"{self.re_asked} ({', '.join(others)})" if others else self.re_asked
        if not self.carried:
            return self.text
        text, used = _substitute(self.text, self.carried[0])
        rest = self.carried[1:] if used else self.carried
        return f"{text} ({', '.join(rest)})" if rest else text


_SUBJECT_PRONOUN = re.compile(r"\b(he|she|they|him|her|them)\b(?!['’]s)", re.I)
_POSSESSIVE_PRONOUN = re.compile(r"\b(his|their)\b", re.I)


def _substitute(question: str, referent: str) -> tuple[str, bool]:
    """The question with its first personal pronoun replaced by `referent` (a possessive
    by "referent's"); (question, False) when it has none."""
    match = _SUBJECT_PRONOUN.search(question)
    possessive = _POSSESSIVE_PRONOUN.search(question)
    if possessive and (not match or possessive.start() < match.start()):
        start, end, name = possessive.start(), possessive.end(), f"{referent}'s"
    elif match:
        start, end, name = match.start(), match.end(), referent
    else:
        return question, False
    return question[:start] + name + question[end:], True


@dataclass(frozen=True)
class Question:
    """The analysis of one standalone question; computed by `analyse`, read everywhere."""

    query: Query
    intent: Intent = Intent.LOOKUP
    #: The answer type a wh-question wants: "when", "who", "where", "how many",
    #: "how much", "how long", or "".
    wants: str = ""
    #: The year/month the question names and whether it asks for the latest or earliest.
    dates: DateIntent = field(default_factory=DateIntent)
    #: "since <date>" as an ISO date (recency questions), else "".
    since: str = ""
    #: The last ISO date an article may carry, from "before <date>" (the day before it
    #: starts) or "until <date>" (its last day), else "".
    until: str = ""
    #: The question's words without its intent phrasing: what the answer is about.
    topic: str = ""
    counts: bool = False  # "how many articles/outlets"
    future: bool = False  # "when will ..."
    past: bool = False  # "when did/was ..."
    about_report: bool = False  # "when did X report ..."
    asks_outlet: bool = False  # "which outlet reported ..."

    @property
    def text(self) -> str:
        return self.query.text

    @property
    def search_text(self) -> str:
        return self.query.search_text

    @property
    def carried(self) -> tuple[str, ...]:
        return self.query.carried


@cache
def _words() -> dict[str, Any]:
    path = resources.files("assistant.language") / "data" / "question_words.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


@cache
def _pattern(key: str) -> re.Pattern[str]:
    """One compiled alternation of a word list (whole words, folded text)."""
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in _words()[key]) + r")\b")


@cache
def _intent_patterns() -> tuple[tuple[Intent, re.Pattern[str]], ...]:
    return tuple(
        (Intent(kind), re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in phrases) + r")"))
        for kind, phrases in _words()["intents"].items()
    )


def analyse(query: Query | str, today: date | None = None) -> Question:
    """Everything later steps need to know about the question, derived once. `today`
    anchors "since Monday" and "this week" (the real date by default)."""
    if isinstance(query, str):
        query = Query(query)
    folded = _plain(query.text)
    since = since_date(folded, today or date.today())
    until = until_date(folded, today or date.today())
    intent = _intent(folded, since)
    return Question(
        query=query,
        intent=intent,
        wants=_wants(folded),
        # A period named only as the bound ("before 2024") is outside the answer's period:
        # preferring its articles would answer the opposite of the question.
        dates=date_intent(_without_bound(query.text, today or date.today())),
        since=since,
        until=until,
        topic=topic_of(query.text, today) if intent.across_articles else query.text,
        counts=folded.startswith("how many") or " how many " in folded,
        future=bool(_pattern("future_question").search(folded)),
        past=bool(_pattern("past_question").search(folded)),
        about_report=bool(_pattern("about_report").search(folded)),
        asks_outlet=bool(_pattern("outlet_question").search(folded)),
    )


def _plain(text: str) -> str:
    """Folded, with typographic apostrophes made plain and runs of spaces squeezed."""
    return re.sub(r"\s+", " ", fold(text).replace("’", "'")).strip()


def _intent(folded: str, since: str) -> Intent:
    for kind, pattern in _intent_patterns():
        match = pattern.search(folded)
        if not match:
            continue
        if (
            kind is Intent.RECENCY
            and match.group().startswith("since")
            and not (since and _since_clause(folded))
        ):
            continue  # "since taking office", "since which ...": not a date to start from
        return kind
    return Intent.LOOKUP


def _wants(folded: str) -> str:
    """The answer type, from the question's first words (a clause later on, "... and
    when", belongs to an enumeration, which dates every item anyway)."""
    head = folded[:40]
    if _pattern("date_question").search(head):
        return "when"
    for kind, phrases in _words()["wants"].items():
        if any(re.search(rf"(?:^|\s){p}\b", head) for p in phrases):
            return str(kind)
    return ""


# "since march 5, 2024" keeps its year; a comma before anything else ends the phrase.
_SINCE = re.compile(
    r"\bsince (?:the )?(?P<what>[\w ,'-]+?)(?:\?|$|,(?! ?(?:19|20)\d{2})| and | in order)"
)


def since_date(folded: str, today: date) -> str:
    """The ISO date a "since ..." or "this week" question starts from, or ""."""
    if re.search(r"\bthis week\b", folded):
        return (today - timedelta(days=today.weekday())).isoformat()
    if re.search(r"\b(?:this|the past) month\b", folded):
        return today.replace(day=1).isoformat()
    return _start_of(clause, today) if (clause := _since_clause(folded)) else ""


def _since_clause(folded: str) -> str:
    """What follows "since" when it can name a date ("january 2025", "monday"), or ""."""
    match = _SINCE.search(folded)
    if not match or _pattern("not_since").search(folded):
        return ""
    return match.group("what").strip()


def _start_of(phrase: str, today: date) -> str:
    """The first day a date phrase names: "january 2025" -> 2025-01-01, "2024" ->
    2024-01-01, "monday" -> the latest Monday before today, "march 5, 2024" -> itself."""
    period = _period(phrase, today)
    return period[0].isoformat() if period else ""


def _period(phrase: str, today: date) -> tuple[date, date] | None:
    """The first and last day a date phrase names ("january 2025" -> January 1 and 31,
    2025; "2024" -> the year; a day, a weekday or "last week" -> that one day), or None."""
    if (full := parse_date(phrase)) and (day := to_date(full)):
        return day, day
    month = re.match(r"(\w+)\.? ((?:19|20)\d{2})\b", phrase)
    if month and month.group(1) in MONTHS:
        first = date(int(month.group(2)), MONTHS[month.group(1)], 1)
        return first, (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    if year := re.match(r"((?:19|20)\d{2})\b", phrase):
        return date(int(year.group(1)), 1, 1), date(int(year.group(1)), 12, 31)
    if phrase in WEEKDAY_NAMES:
        back = (today.weekday() - WEEKDAY_NAMES.index(phrase)) % 7 or 7
        return today - timedelta(days=back), today - timedelta(days=back)
    spans = {"yesterday": 1, "last week": 7, "last month": 30, "last year": 365}
    if phrase in spans:
        return today - timedelta(days=spans[phrase]), today - timedelta(days=spans[phrase])
    return None


# What can follow "before" / "until" as a date: an ISO date, a written day or month with
# its year, a year, a weekday, "yesterday", "last week/month/year". `_period` checks that
# the word in the month or weekday slot is one.
_DATE_PHRASE = (
    r"\d{4}-\d{1,2}-\d{1,2}"
    r"|(?:\d{1,2}(?:st|nd|rd|th)? (?:of )?)?[a-z]+\.?(?: \d{1,2}(?:st|nd|rd|th)?)?,? (?:19|20)\d{2}"
    r"|(?:19|20)\d{2}|[a-z]+day|yesterday|last (?:week|month|year)"
)


@cache
def _bound_pattern() -> re.Pattern[str]:
    """ "before <date>" (group `before`) or "until <date>" (group `through`), the date in
    group `what`, and the word after it (`next`), on folded text."""
    before = "|".join(_words()["until_before"])
    through = "|".join(_words()["until_through"])
    return re.compile(
        rf"\b(?:(?P<before>{before})|(?P<through>{through})) (?P<what>{_DATE_PHRASE})\b(?!')"
        r"(?: (?P<next>[a-z']+))?"
    )


def until_date(folded: str, today: date) -> str:
    """The last ISO date a "before <date>" or "until <date>" question allows, or "":
    "before 2024" -> 2023-12-31 (strictly before the period starts), "until march 2024"
    -> 2024-03-31 (the period named is included). "Before the summit" names no date."""
    found = _bound(folded, today)
    return found[1] if found else ""


def _bound(folded: str, today: date) -> tuple[re.Match[str], str] | None:
    """The "before/until <date>" phrase of a folded question and its last ISO date."""
    for match in _bound_pattern().finditer(folded):
        period = _period(match.group("what"), today)
        # "before 2024 elections": the year names an event, not when the articles end
        # (a content word follows it); "before 2024 in iraq" is a date.
        if period is None or ((after := match.group("next")) and after not in stopwords()):
            continue
        last = period[0] - timedelta(days=1) if match.group("before") else period[1]
        return match, last.isoformat()
    return None


def _without_bound(text: str, today: date) -> str:
    """The question without its "before/until <date>" phrase (`text` when it has none)."""
    folded = _plain(text)
    found = _bound(folded, today)
    if not found:
        return text
    match = found[0]
    return folded[: match.start()] + " " + folded[match.end("what") :]


def topic_of(text: str, today: date | None = None) -> str:
    """The question without its intent phrasing, any "since ..." clause and any "before
    <date>": "Which outlets reported on the summit?" -> "summit"; empty when nothing is
    left."""
    bounded = _without_bound(text, today or date.today())
    remaining = set(_WORD.findall(_SINCE.sub(" ", _plain(bounded))))
    drop = set(_words()["intent_words"])
    kept = [w for w in _WORD.findall(text) if (f := _plain(w)) in remaining and f not in drop]
    return " ".join(kept)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
