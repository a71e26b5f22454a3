"""The refusal gate: does anything retrieved answer the question at all?

Four checks that each must pass (`passes`): every name or number the user asked about
occurs in a passage (`missing_names`); a role asked of a country is that country's in
some passage (`unattributed_roles`); a passage close in meaning shares most of the
question's words (light verbs left out: "took part", "held"); and, with the judge, some
sentence rates as answering. (The judge alone let on-topic questions through that no
sentence answers: seed eval refusal accuracy 0.905 alone, 0.952 with the name and word
checks, 0.988 with the role check too, 1.0 once the word check stopped refusing "took
part ... held" for "discussions".) Retrieving and judging are the caller's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from ..base.schema import Passage
from ..language.aliases import attributes_role, country_roles, mentions_alias
from ..language.dates import spoken_date
from ..language.question import Question
from ..language.text import fold, meaning_words, stem
from .citations import entities
from .extractive import JUDGE_ANSWERS


def passes(
    query: Question,
    passages: Sequence[Passage],
    *,
    closeness: Sequence[float],
    best_judge: float | None,
    threshold: float,
) -> bool:
    """True when the passages may answer: names present, roles attributed, a passage
    close in meaning (`closeness` >= `threshold`) that covers most of the question's
    words, and the judge's best sentence (if judged) at or above its boundary."""
    if not passages:
        return False
    if missing_names(query, passages):  # "the population of Basra": no Basra
        # Even a confident judge does not outweigh a missing name: it rated "Zarif also
        # met with al-Sudani" 5.3 for "Did Zarif meet Erdogan?" and a sentence about
        # Qaani 7.1 for "Did Araghchi meet Erdogan in Tehran?".
        return False
    if unattributed_roles(query, passages):  # Iran's foreign minister for Iraq's
        return False
    asked = meaning_words(query.text) or meaning_words(query.search_text)
    covered = max((coverage(asked, p.text) for p in passages), default=0.0)
    if max(closeness, default=0.0) < threshold or covered <= 0.5:
        return False
    return best_judge is None or best_judge >= JUDGE_ANSWERS


def missing_names(query: Question, passages: Sequence[Passage]) -> list[str]:
    """Names and numbers of the user's own words that no passage (text, title, outlet,
    date) has; names carried from earlier turns passed this check before.

    Spelling variants of longer names count as present ("Shamkhani" ~ "Shamhani"), so
    do other names of a country ("American" ~ "US"), and dates match the passages'
    metadata ("March 2024" ~ 2024-03-05).
    """
    return absent_names(sorted(entities(query.text)), passages)


def absent_names(names: Sequence[str], passages: Sequence[Passage]) -> list[str]:
    """The parts of `names` (folded) that none of the passages has, in any known form."""
    found = fold(
        " ".join(f"{p.title} {p.source} {_spoken_date(p.date)} {p.text}" for p in passages)
    )
    vocabulary = set(re.findall(r"\w+", found))
    missing = []
    for name in names:
        for part in re.split(r"[-\s]+", name):
            if part and part not in found and not _known_as(part, found, vocabulary):
                missing.append(part)
    return missing


def unattributed_roles(query: Question, passages: Sequence[Passage]) -> list[str]:
    """Roles of a country the user asked about ("Iraq's foreign minister") that no passage
    gives to that country. The judge rated "Iranian Foreign Minister Abbas Araghchi met
    with Iraq's National Security Advisor" 6.9 for "What is the name of Iraq's foreign
    minister?": both words are there, but the minister is another country's."""
    roles = country_roles(query.text)
    if not roles:
        return []
    found = fold(" ".join(f"{p.title}. {p.text}" for p in passages))
    return [f"{c}'s {' '.join(r)}" for c, r in roles if not attributes_role(c, r, found)]


def coverage(asked: list[str], text: str) -> float:
    """Share of the question's content words (by stem) that a passage has, counting
    spelling variants and other names of a country as had."""
    found = fold(text)
    vocabulary = set(re.findall(r"\w+", found))
    stems = {stem(w) for w in vocabulary}
    by_stem = {stem(w): w for w in asked}
    hits = sum(s in stems or _known_as(w, found, vocabulary) for s, w in by_stem.items())
    return hits / len(by_stem) if by_stem else 0.0


def _known_as(word: str, found: str, vocabulary: set[str]) -> bool:
    """A word absent as written that the text has in another form."""
    return _close_spelling(word, vocabulary) or mentions_alias(word, found)


def _close_spelling(word: str, vocabulary: set[str]) -> bool:
    if len(word) < 6 or word.isdigit():
        return False
    return bool(difflib.get_close_matches(word, vocabulary, n=1, cutoff=0.85))


def _spoken_date(iso: str) -> str:
    """'2024-03-05' -> '2024-03-05 March 5, 2024' so month names in questions match."""
    return f"{iso} {spoken_date(iso)}"
