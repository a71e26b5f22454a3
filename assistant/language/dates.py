"""Dates: the one month table, parsing written dates, and resolving relative ones.

Pure functions, no heavy import at module load. The jobs:
  * `parse_date` / `url_date`: a full date written in text ("March 5, 2024",
    "2024-03-05", "Tuesday, 05 March 2024") or a news URL's path, as ISO; a date
    without a year is never completed by guessing;
  * `spoken_date`: ISO to "March 5, 2024", independent of the process locale;
  * `date_intent`: the year and month a question names, or its "latest"/"earliest";
  * `resolve`: the dates a news sentence speaks of, absolute: "on Saturday" in an
    article published Sunday 2023-12-03 is Saturday, December 2, 2023; "last month"
    is November 2023. Relative expressions are found by the patterns below and
    resolved by `dateparser` against the publication date, preferring the past;
    each result says whether it was derived from the publication date, so a reader
    can be shown what was quoted and what was computed. Without a publication date
    a relative expression resolves to nothing;
  * `event_day`: when what a news sentence reports happened, at the precision the
    sentence gives (a day, else a month or year such as "last month"), else the
    article's date.

Which sentences to resolve, and how to show the result, is the answerer's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

# Spelled out, never calendar.month_name or %B: those follow the process locale.
MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: Month name or abbreviation (lower case) -> month number.
MONTHS = {name: i for i, name in enumerate(MONTH_NAMES, 1)} | {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}

#: Regex alternations, for other modules' patterns.
MONTH = "(?:" + "|".join(MONTH_NAMES) + ")"
WEEKDAY = "(?:" + "|".join(WEEKDAY_NAMES) + ")"

_ANY_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2})"
_WEEKDAY_PREFIX = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"

_DATE_PATTERNS = [
    re.compile(r"(?P<year>(?:19|20)\d{2})[-/.](?P<mnum>\d{1,2})[-/.](?P<day>\d{1,2})"),
    re.compile(_WEEKDAY_PREFIX + _DAY + r"\s+(?:of\s+)?" + _ANY_MONTH + r",?\s+" + _YEAR, re.I),
    re.compile(_WEEKDAY_PREFIX + _ANY_MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR, re.I),
]

# News sites put the publication date in the path: /2024/01/05/, /2024-01-05-…, /20240105/.
_URL_DATE = re.compile(
    r"/(?P<year>(?:19|20)\d{2})(?P<sep>[/-]?)(?P<mnum>0[1-9]|1[0-2])(?P=sep)"
    r"(?P<day>0[1-9]|[12]\d|3[01])(?=[/._-]|$)"
)


def parse_date(text: str) -> str | None:
    """The first full date (with a year) in `text` as ISO, or None."""
    for pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if match and (iso := _to_iso(match)):
            return iso
    return None


def leading_date(line: str) -> tuple[str | None, str]:
    """If `line` starts with a full date: (ISO, the rest of the line); else (None, line)."""
    for pattern in _DATE_PATTERNS:
        match = pattern.match(line)
        if match and (iso := _to_iso(match)):
            return iso, line[match.end() :].lstrip(" ,.-–—|").rstrip()
    return None, line


def url_date(url: str) -> str | None:
    """The publication date a news URL carries in its path, as ISO, or None.

    Only full year-month-day groups count, so /2024/01/ (a section) or an id that
    happens to hold digits is not taken for a date.
    """
    path = re.sub(r"^[a-z]+://[^/]+", "", url.strip(), flags=re.I).split("?", 1)[0]
    for match in _URL_DATE.finditer(path):
        if iso := _to_iso(match):
            return iso
    return None


def _to_iso(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    month = int(groups["mnum"]) if groups.get("mnum") else MONTHS[groups["month"].lower()]
    try:
        return date(int(groups["year"]), month, int(groups["day"])).isoformat()
    except ValueError:
        return None


def to_date(iso: str) -> date | None:
    try:
        return date.fromisoformat(iso)
    except ValueError:
        return None


def spoken_date(iso: str) -> str:
    """'2024-03-05' -> 'March 5, 2024'; anything that is not an ISO date -> ''."""
    day = to_date(iso)
    return _day_words(day) if day else ""


def _day_words(day: date) -> str:
    return f"{MONTH_NAMES[day.month - 1].title()} {day.day}, {day.year}"


# --- relative dates ------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolved:
    """A date expression of a sentence, made absolute."""

    start: int  # the expression's span in the sentence
    end: int
    text: str
    value: date
    granularity: str  # "day", "month" or "year"
    derived: bool  # True when the publication date supplied part of it


# What a news sentence says about when: matched here, resolved by dateparser.
_RELATIVE = re.compile(
    r"\b(?:(?:on|last|this|next)\s+)?" + WEEKDAY + r"(?:\s+(?:night|morning|afternoon|evening))?\b"
    r"|\b(?:yesterday|today|tonight)\b"
    r"|\b(?:last|this)\s+(?:month|year)\b",
    re.I,
)
_MONTH_DAY = re.compile(
    r"\b(?P<month>" + MONTH + r")\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?!,?\s*(?:19|20)\d{2})"
    r"|\b(?P<day2>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month2>" + MONTH + r")\b"
    r"(?!,?\s*(?:19|20)\d{2})",
    re.I,
)
_MONTH_YEAR = re.compile(r"\b(?P<month>" + MONTH + r")\s+(?P<year>(?:19|20)\d{2})\b", re.I)
_FULL = re.compile(
    r"\b" + MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{2}\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + MONTH + r",?\s+(?:19|20)\d{2}\b",
    re.I,
)


def mentions_date(sentence: str) -> bool:
    """Whether the sentence says when something happened (absolutely or relatively)."""
    return bool(
        _RELATIVE.search(sentence)
        or _MONTH_DAY.search(sentence)
        or _MONTH_YEAR.search(sentence)
        or _FULL.search(sentence)
        or re.search(r"\b(?:in|since|by)\s+(?:19|20)\d{2}\b", sentence)
    )


def resolve(sentence: str, published: date | None) -> list[Resolved]:
    """The sentence's date expressions that need the publication date, made absolute.

    Full dates ("March 5, 2024") and month-year ones ("September 2024") need no help
    and are left alone; "on Saturday", "yesterday", "last month" and "March 5" (no
    year) are resolved against `published`, preferring the past. A weekday equal to
    the publication's own means that day (news says "on Sunday" for the day it
    reports; a week earlier would be "last Sunday"). Without `published`, nothing
    resolves: no year is ever guessed.
    """
    if published is None:
        return []
    taken = [m.span() for m in _FULL.finditer(sentence)]
    found: list[Resolved] = []
    for match in _RELATIVE.finditer(sentence):
        if (r := _relative(match, published)) is not None:
            found.append(r)
    for match in _MONTH_DAY.finditer(sentence):
        inside_full = any(a <= match.start() < b for a, b in taken)
        if not inside_full and (r := _month_day(match, published)) is not None:
            found.append(r)
    return sorted(found, key=lambda r: r.start)


def _relative(match: re.Match[str], published: date) -> Resolved | None:
    text = match.group()
    words = text.lower().split()
    granularity = "month" if "month" in words else "year" if "year" in words else "day"
    weekday = next((WEEKDAY_NAMES.index(w) for w in words if w in WEEKDAY_NAMES), None)
    if weekday is not None and words[0] not in {"last", "next"} and weekday == published.weekday():
        value: date | None = published  # "on Sunday" in a Sunday paper: that day
    elif words[0] == "next" or words == ["tonight"]:
        value = published if words == ["tonight"] else None  # the future is not resolved
    else:
        value = _dateparser(" ".join(w for w in words if w != "on"), published)
    if value is None:
        return None
    return Resolved(match.start(), match.end(), text, value, granularity, True)


def _month_day(match: re.Match[str], published: date) -> Resolved | None:
    month = MONTHS[(match.group("month") or match.group("month2")).lower()]
    day = int(match.group("day") or match.group("day2"))
    year = (
        published.year if (month, day) <= (published.month, published.day) else published.year - 1
    )
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return Resolved(match.start(), match.end(), match.group(), value, "day", True)


@lru_cache(maxsize=4096)
def _dateparser(expression: str, published: date) -> date | None:
    import dateparser  # ~0.1 s on first use; only sentences with a date word get here

    base = datetime(published.year, published.month, published.day, 12)
    parsed = dateparser.parse(
        expression,
        languages=["en"],
        settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past"},
    )
    if parsed is None:
        return None
    value = parsed.date()
    if value > published or value < published - timedelta(days=400):
        return None  # resolved into the future, or implausibly far back
    return value


def describe(resolved: Resolved) -> str:
    """The absolute date in words: "Saturday, December 2, 2023", "November 2023"."""
    value = resolved.value
    if resolved.granularity == "year":
        return str(value.year)
    if resolved.granularity == "month":
        return f"{MONTH_NAMES[value.month - 1].title()} {value.year}"
    return f"{WEEKDAY_NAMES[value.weekday()].title()}, {_day_words(value)}"


_LATEST = re.compile(
    r"\b(latest|most recent|newest|last|recently|recent|current|this (?:week|month)|today"
    r"|yesterday)\b",
    re.I,
)
_EARLIEST = re.compile(r"\b(first|earliest|oldest|initial)\b", re.I)


@dataclass(frozen=True)
class DateIntent:
    """What the question says about time."""

    year: int | None = None
    month: int | None = None
    order: str | None = None  # "latest" or "earliest"

    @property
    def prefix(self) -> str:
        """The ISO prefix of the dates in the named period ("2024-03"); "" if none named."""
        if not self.year:
            return ""
        return f"{self.year:04d}" + (f"-{self.month:02d}" if self.month else "")


def date_intent(question: str) -> DateIntent:
    """The year and month a question names (a month only with a year), and whether it asks
    for the latest or earliest."""
    years = re.findall(r"\b((?:19|20)\d{2})\b", question)
    month = next(
        (i for i, m in enumerate(MONTH_NAMES, 1) if re.search(rf"\b{m}\b", question, re.I)), None
    )
    order = (
        "latest" if _LATEST.search(question) else "earliest" if _EARLIEST.search(question) else None
    )
    return DateIntent(int(years[0]) if years else None, month if years else None, order)


def event_day(sentence: str, published: str) -> tuple[str, str, str]:
    """(ISO day, how it is known, the day in words) of what a news sentence reports: a
    day it names ("text"; a relative one, "on Saturday", resolved against `published`:
    "Saturday, December 2, 2023"), else a month or year it names (`named_period`: "in
    September 2024": "2024-09", "September 2024"), else one relative to `published`
    ("last month": "2023-11", "November 2023"; "this year": "2023", "2023"), else the
    article's own date ("report"), else ("", "", "").

    A month or a year is given as ISO of that precision, never padded to a day that was
    not said: "2023-11" sorts before every day of November 2023 and after October's,
    which is all that is known. A day is preferred to a month when a sentence has both.
    """
    found = resolve(sentence, to_date(published))
    for r in found:
        if r.granularity == "day":
            return r.value.isoformat(), "text", describe(r)
    if (named := parse_date(sentence)) and to_date(named):
        return named, "text", spoken_date(named)
    if period := named_period(sentence):  # "in September 2024", "in 2020"
        return period[0], "text", period[1]
    if found:  # no day among them: "last month", "this year"
        return _iso(found[0].value, found[0].granularity), "text", describe(found[0])
    if to_date(published):
        return published, "report", spoken_date(published)
    return "", "", ""


# A month or year a sentence places its event in: "in September 2024", "the September 2024
# visit", "in 2020". Not after words that make it a bound of something else ("since 2020",
# "until March 2024", "by 2025"): those say when something started, ended or is due, not
# when the reported event happened. A bare year needs "in"/"during" ("2020" alone is as
# often a number or a name: "Vision 2030").
_BOUND = re.compile(r"\b(?:since|until|till|by|before|after|from)\s+$", re.I)
_PERIOD_YEAR = re.compile(
    r"\b(?:in|during)\s+(?:early\s+|late\s+|mid-?)?(?P<year>(?:19|20)\d{2})\b", re.I
)


def named_period(sentence: str) -> tuple[str, str] | None:
    """(ISO, words) of the month or year a sentence names for its event, at that
    precision ("2024-09", "September 2024"; "2020", "2020"), or None. A month-year inside
    a full date ("September 5, 2024") is a day, not a month: `parse_date` takes those."""
    full = [m.span() for m in _FULL.finditer(sentence)]
    for match in _MONTH_YEAR.finditer(sentence):
        inside = any(a <= match.start() < b for a, b in full)
        if not inside and not _BOUND.search(sentence[: match.start()]):
            month, year = MONTHS[match.group("month").lower()], int(match.group("year"))
            return f"{year:04d}-{month:02d}", f"{MONTH_NAMES[month - 1].title()} {year}"
    in_year = _PERIOD_YEAR.search(sentence)
    return (in_year.group("year"), in_year.group("year")) if in_year else None


def _iso(value: date, granularity: str) -> str:
    """ISO 8601 at the precision known: "2023-11-02", "2023-11" or "2023"."""
    return {"year": f"{value.year:04d}", "month": f"{value.year:04d}-{value.month:02d}"}.get(
        granularity, value.isoformat()
    )
