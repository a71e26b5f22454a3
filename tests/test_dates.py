"""Dates: written dates parsed, relative ones resolved against the publication date,
never a guessed year, and the same words in every locale."""

from __future__ import annotations

import locale
from datetime import date

import pytest

from assistant.language.dates import describe, mentions_date, resolve, spoken_date

SUNDAY = date(2023, 12, 3)  # a Sunday
FRIDAY = date(2025, 2, 7)


@pytest.mark.parametrize(
    ("sentence", "published", "expected"),
    [
        ("Bagheri arrived in Baghdad on Saturday.", SUNDAY, "Saturday, December 2, 2023"),
        ("Zarif visited Iraq on Thursday, holding talks.", FRIDAY, "Thursday, February 6, 2025"),
        ("Zarif arrived on Wednesday night.", FRIDAY, "Wednesday, February 5, 2025"),
        # The publication's own weekday is that day: news says "on Sunday" for today.
        ("The talks ended on Sunday.", SUNDAY, "Sunday, December 3, 2023"),
        ("Al-Sudani had traveled to Iran last month.", FRIDAY, "January 2025"),
        ("The ministers met yesterday.", SUNDAY, "Saturday, December 2, 2023"),
        # A day and month without a year takes the latest one on or before publication.
        ("On October 18 the embargo was lifted.", SUNDAY, "Wednesday, October 18, 2023"),
        ("He visited on December 20.", SUNDAY, "Tuesday, December 20, 2022"),
    ],
)
def test_relative_dates_resolve_against_the_publication_date(
    sentence: str, published: date, expected: str
) -> None:
    found = resolve(sentence, published)
    assert len(found) == 1
    r = found[0]
    assert describe(r) == expected and r.derived
    assert sentence[r.start : r.end] == r.text  # the span points at the expression


@pytest.mark.parametrize(
    "sentence",
    [
        "The visit, spanning three days, began.",
        "Iraq deployed 2,000 troops under Resolution 2231.",
        "They signed the pact on March 5, 2024.",  # already absolute: nothing to resolve
        "Pezeshkian visited Baghdad in September 2024.",
    ],
)
def test_numbers_and_absolute_dates_are_not_resolved(sentence: str) -> None:
    assert resolve(sentence, SUNDAY) == []


def test_no_publication_date_means_no_guess() -> None:
    assert resolve("He arrived on Saturday and left last month.", None) == []


def test_mentions_date_tells_dated_sentences_apart() -> None:
    assert mentions_date("He arrived on Saturday.")
    assert mentions_date("Pezeshkian visited Baghdad in September 2024.")
    assert mentions_date("The pact was signed in 2020.")
    assert not mentions_date("Both sides reaffirmed their commitment to cooperation.")


def test_spoken_date_ignores_the_process_locale() -> None:
    original = locale.setlocale(locale.LC_TIME)
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"):
        try:
            locale.setlocale(locale.LC_TIME, name)
        except locale.Error:
            continue
        try:
            assert spoken_date("2024-03-05") == "March 5, 2024"
        finally:
            locale.setlocale(locale.LC_TIME, original)
    assert spoken_date("unknown") == ""
