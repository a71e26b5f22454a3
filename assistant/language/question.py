"""What a question asks for, worked out once: the `Question` every later step reads.

A question is first made standalone (`Query`: the user's words, subjects carried from
earlier turns); `analyse` then derives, once, everything the pipeline needs to know
about it: its intent (a plain lookup, or a collection-level kind: a timeline, what is
new, which outlets reported it, a list drawn from every article), the kind of answer a
wh-question wants ("when", "who", "how many"...), the dates it names, the date it asks
"since", and its topic (the question without its intent phrasing). Retrieval, the
refusal gate and the answerers read these fields instead of re-parsing the text.

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

from .dates import MONTHS, WEEKDAY_NAMES, DateIntent, date_intent, parse_date
from .text import fold


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
    intent = _intent(folded, since)
    return Question(
        query=query,
        intent=intent,
        wants=_wants(folded),
        dates=date_intent(query.text),
        since=since,
        topic=topic_of(query.text) if intent.across_articles else query.text,
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
    if full := parse_date(phrase):
        return full
    month = re.match(r"(\w+)\.? ((?:19|20)\d{2})\b", phrase)
    if month and month.group(1) in MONTHS:
        return date(int(month.group(2)), MONTHS[month.group(1)], 1).isoformat()
    if year := re.match(r"((?:19|20)\d{2})\b", phrase):
        return f"{year.group(1)}-01-01"
    if phrase in WEEKDAY_NAMES:
        back = (today.weekday() - WEEKDAY_NAMES.index(phrase)) % 7 or 7
        return (today - timedelta(days=back)).isoformat()
    spans = {"yesterday": 1, "last week": 7, "last month": 30, "last year": 365}
    if phrase in spans:
        return (today - timedelta(days=spans[phrase])).isoformat()
    return ""


def topic_of(text: str) -> str:
    """The question without its intent phrasing and any "since ..." clause: "Which
    outlets reported on the summit?" -> "summit"; empty when nothing is left."""
    remaining = set(_WORD.findall(_SINCE.sub(" ", _plain(text))))
    drop = set(_words()["intent_words"])
    kept = [w for w in _WORD.findall(text) if (f := _plain(w)) in remaining and f not in drop]
    return " ".join(kept)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
