"""Follow-up questions made standalone without a language model.

A follow-up ("What did he discuss with the president?") names nobody; the
earlier turns do. `rewrite_follow_up` carries the earlier questions' subjects
(proper-noun phrases) into a `Query`, which keeps the user's own words apart
from what was carried, so the refusal gate and the extractive answerer can
weigh them differently. With a chat model, `answer.py` condenses with the
`condense` prompt instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .text import stopwords

History = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Query:
    """A question made standalone: the user's own words, and subjects carried from
    earlier turns (searched for, but not required to occur in an answer)."""

    text: str
    carried: tuple[str, ...] = ()

    @property
    def search_text(self) -> str:
        """What retrieval is asked: "What did he discuss? (Zarif, Baghdad)"."""
        return f"{self.text} ({', '.join(self.carried)})" if self.carried else self.text


_PRONOUNS = re.compile(
    r"\b(he|she|they|him|her|them|his|hers|their|it|its|this|that|these|those|there|the visit"
    r"|the meeting|the talks)\b",
    re.I,
)


_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:al-|Al-|bin\s+)?[A-Z][\w’'-]+)*")


_QUESTION_WORDS = frozenset(
    [
        "what",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "how",
        "why",
        "which",
        "did",
        "does",
        "do",
        "is",
        "are",
        "was",
        "were",
        "can",
        "could",
    ]
)


def subjects(text: str) -> list[str]:
    """Proper-noun phrases of a question, without a leading question word or possessive."""
    found = []
    for m in _NAME.finditer(text):
        words = m.group().split()
        if m.start() == 0:
            while words and (words[0].lower() in _QUESTION_WORDS | stopwords()):
                words = words[1:]  # "Which Iraqi" -> "Iraqi"; "The" -> nothing
        phrase = re.sub(r"['’]s$", "", " ".join(words))
        if phrase:
            found.append(phrase)
    return found


def rewrite_follow_up(question: str, history: History, limit: int = 4) -> Query:
    """Deterministic condensation: carry earlier turns' subjects into a follow-up.

    "Who did Zarif meet in Baghdad?" then "What did he discuss with the president?"
    carries ("Zarif", "Baghdad"). Subjects come from the most recent questions first,
    so a third turn still knows who "he" is.
    """
    own = subjects(question)
    if own and not _PRONOUNS.search(question):
        return Query(question)
    carried: list[str] = []
    for previous, _ in reversed(history):
        for name in subjects(previous):
            if name.lower() not in question.lower() and name not in carried:
                carried.append(name)
    return Query(question, tuple(carried[:limit]))
