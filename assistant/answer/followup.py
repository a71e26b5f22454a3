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

from ..language.question import Query
from ..language.text import content_stems, stopwords

History = Sequence[tuple[str, str]]


# Words that point back at an earlier turn's subject. (Noun phrases such as "the visit"
# were here too; without them the seed eval's follow-ups score the same: removed.)
_PRONOUNS = re.compile(
    r"\b(he|she|they|him|her|them|his|hers|their|it|its|this|that|these|those|there)\b",
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
    """Deterministic condensation: carry the current topic's subjects into a follow-up.

    "Who did Zarif meet in Baghdad?" then "What did he discuss with the president?"
    carries ("Zarif", "Baghdad"). The topic is the most recent earlier question that
    named subjects of its own, so a third turn still knows who "he" is, and a topic
    change ("And who did Bagheri meet?") leaves the older subjects behind. When that
    question asked for a person ("Which minister visited Tehran?"), the names its
    answer gave are carried too: first when the person was the question's subject
    ("Which minister visited Tehran?": "he" next is that minister), after the
    question's own subjects when it asked about someone's object ("Who did Zarif
    meet?": "he" next is still Zarif).
    """
    if again := asked_again(question, history):
        return again
    own = subjects(question)
    if own and not _PRONOUNS.search(question):
        return Query(question)
    later: list[str] = []  # subjects of follow-ups between the topic and this question
    for previous, answer in reversed(history):
        named = subjects(previous)
        if not named or _PRONOUNS.search(previous):
            later += named  # itself a follow-up: the topic is further back
            continue
        people = answer_names(previous, answer) if _PERSON_QUESTION.match(previous) else []
        subject_question = not _OBJECT_QUESTION.match(previous)
        found = [*people, *named] if subject_question else [*named, *people]
        carried = _carry([*found, *later], question, limit)
        return Query(question, carried, "" if later else re_ask(question, previous))
    return Query(question, _carry(later, question, limit))


# "And on Zarif?", "What about Zarif?", "How about the Iraqi side?": the earlier question
# asked again about someone else. Only a short phrase of names follows.
_ELLIPSIS = re.compile(
    r"^\s*(?:(?:and|but)\s+)?(?:(?:what|how)\s+about\s+|and\s+)"
    r"(?:(?:on|for|about|with|by|of|from)\s+)?(?P<rest>[^?]{1,60}?)\s*\??\s*$",
    re.I,
)


def asked_again(question: str, history: History) -> Query | None:
    """An elliptical follow-up made whole: "Which outlets reported on Bagheri?", then "And
    on Zarif?" is "Which outlets reported on Zarif?", so it keeps the earlier question's
    frame (what was asked, and so its intent), not just a name. Only when the follow-up
    is names alone and the earlier question (the last one not itself elliptical) has one
    subject to swap: with two ("Who did A meet in B?") which one is meant is a guess."""
    match = _ELLIPSIS.match(question)
    rest = match.group("rest") if match else ""
    new = subjects(rest)
    leftover = set(re.findall(r"[\w’'-]+", rest.lower())) - set(" ".join(new).lower().split())
    if not new or leftover - stopwords():
        return None
    for previous, _ in reversed(history):
        if _ELLIPSIS.match(previous):
            continue  # itself elliptical: its frame is further back
        old = subjects(previous)
        if len(old) != 1 or old[0] not in previous:
            return None
        return Query(previous.replace(old[0], rest.strip(), 1))  # "Zarif and Bagheri" too
    return None


# "When was that?", "Where did it happen?": the question is about the earlier one's event.
_EVENT_FOLLOW_UP = re.compile(
    r"^\s*(?:and\s+)?(when|where|why)\s+(?:was|is|did|does)\s+(?:that|it|this)"
    r"(?:\s+happen)?\s*\??\s*$",
    re.I,
)


def re_ask(question: str, previous: str) -> str:
    """The earlier question asked again with this one's question word when this one only
    points back at its event ("Who did Zarif meet in Baghdad?", "When was that?" ->
    "When did Zarif meet in Baghdad?"); "" otherwise. Only an earlier question about an
    object has a clause to re-ask ("Who heads the Quds Force?" has none)."""
    event = _EVENT_FOLLOW_UP.match(question)
    if not event or not _OBJECT_QUESTION.match(previous):
        return ""
    return f"{event.group(1).capitalize()} {_OBJECT_QUESTION.sub('', previous.strip(), count=1)}"


def _carry(names: list[str], question: str, limit: int) -> tuple[str, ...]:
    return tuple([n for n in dict.fromkeys(names) if n.lower() not in question.lower()][:limit])


_PERSON_QUESTION = re.compile(r"^\s*(?:and\s+)?(?:who|whom|which\s+\w+(?:\s+\w+)?)\b", re.I)
# A wh-word followed by an auxiliary asks about the object ("Who did Zarif meet?"); one
# followed by the verb itself asks for the subject ("Who heads the Quds Force?").
_OBJECT_QUESTION = re.compile(
    r"^\s*(?:and\s+)?(?:who|whom|what|which(?:\s+\w+){0,2}?)\s+"
    r"(?=(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could)\b)",
    re.I,
)


def answer_names(question: str, answer: str, limit: int = 2) -> list[str]:
    """Names the answering sentence of an answer gives that its question did not: who
    the answer is about ("Iraqi Defense Minister Juma Inad arrived..." -> "Juma Inad").
    The answering sentence is the one sharing most of the question's words ("Ismail
    Qaani, head of the Quds Force" for "Who heads the Quds Force?"), the first on a tie:
    an extractive answer may open with context before the sentence that answers."""
    said = re.split(r"(?<=[.!?])\s+", re.sub(r"\s*\[\d+(?:,\s*\d+)*\]", "", answer.strip()))
    asked = {w.lower() for name in subjects(question) for w in name.split()}
    best = max(said, key=lambda sentence: _shared(question, sentence))
    return _names(best, asked)[:limit] or _names(said[0], asked)[:limit]


def _shared(question: str, sentence: str) -> int:
    """How many of the question's content words (stemmed) the sentence has."""
    return len(content_stems(question) & content_stems(sentence))


def _names(sentence: str, asked: set[str]) -> list[str]:
    """The people a sentence names, less the words of the names asked about."""
    out = []
    for name in subjects(sentence):
        words = [w for w in name.split() if w.lower() not in asked]
        if len(words) >= 2:  # a person's name; a lone capitalised word is often an adjective
            out.append(" ".join(words[-2:]))  # the name itself, not its title
    return out
