"""The extractive answerer: no language model, only sentences quoted from the passages.

Each sentence of the retrieved passages is scored against the question by
embedding similarity and lexical overlap (plus a nudge for the kind of answer
a wh-question wants: a date for "when", a name for "who"). The best few are
kept, near-duplicates dropped, and each is followed by its passage's [n]
marker. Faithful by construction: every answer sentence is a source sentence.
`lacks_answer_type` tells the caller when a question wants a date or a figure
that none of the chosen sentences holds; refusing is the caller's decision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .citations import EmbedFn, entities
from .dates import MONTH as _MONTH
from .dates import WEEKDAY as _WEEKDAY
from .followup import Query
from .phrases import format_marker
from .schema import Passage
from .text import content_stems, sentence_spans

_DATEISH = re.compile(
    rf"\b(?:(?:19|20)\d{{2}}|{_MONTH}|{_WEEKDAY}"
    r"|yesterday|last (?:week|month|year))\b",
    re.I,
)


_DURATION = re.compile(
    r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|several|a few)[- ]"
    r"(?:day|week|month|year|hour|minute)s?\b",
    re.I,
)


@dataclass(frozen=True)
class Candidate:
    n: int  # passage number (1-based)
    text: str
    score: float
    relevance: float  # embedding similarity to the question
    previous: str = ""  # the sentence before it in the passage, for anaphoric openings


# A sentence opening like this leans on the one before it ("He stressed...", "The two ...").
_ANAPHORIC = re.compile(
    r"^(?:[^,.]{1,40},\s*)?"  # an opening phrase: "Beyond bilateral relations, the two ..."
    r"(?:he|she|they|it|his|her|their|its|this|that|these|those|the two|both|the visit"
    r"|the meeting|the talks|the move|the group|the minister)\b",
    re.I,
)


def candidates(query: Query, passages: Sequence[Passage], embed: EmbedFn) -> list[Candidate]:
    """Every usable sentence of the passages, scored against the question."""
    pieces: list[tuple[int, str, str]] = []
    for n, passage in enumerate(passages, 1):
        previous = ""
        for s, e in sentence_spans(passage.text):
            sentence = passage.text[s:e].strip()
            if len(sentence.split()) >= 5 and sentence != passage.title:
                pieces.append((n, sentence, previous))
            previous = sentence
    if not pieces:
        return []
    vectors = embed([query.search_text] + [_window(text, prev) for _, text, prev in pieces])
    sims = vectors[1:] @ vectors[0]
    own = query.text
    q_stems = content_stems(own)
    c_stems = content_stems(" ".join(query.carried)) - q_stems
    weight = len(q_stems) + 0.5 * len(c_stems)
    q_names = entities(own)
    wants = _wants(own)
    out = []
    for (n, text, previous), sim in zip(pieces, sims, strict=True):
        stems = content_stems(_window(text, previous))
        hits = len(q_stems & stems) + 0.5 * len(c_stems & stems)
        overlap = hits / weight if weight else 0.0
        bonus = _answer_type_bonus(wants, text, q_names)
        rank_prior = 0.02 * (len(passages) - n) / max(1, len(passages))
        score = 0.6 * float(sim) + 0.4 * overlap + bonus + rank_prior
        out.append(Candidate(n, text, score, float(sim), previous))
    return sorted(out, key=lambda c: -c.score)


def _window(sentence: str, previous: str) -> str:
    """The text a sentence is judged by: an anaphoric one ("the two officials also
    discussed ...") is read with the sentence before it, which it is quoted with too."""
    return f"{previous} {sentence}" if previous and _ANAPHORIC.match(sentence) else sentence


def _wants(question: str) -> str:
    head = question.strip().lower()
    for word in ("when", "who", "where", "how many", "how much", "how long"):
        if head.startswith(word) or f" {word} " in f" {head[:40]} ":
            return word
    return ""


# A figure, or a number word that counts something ("three days"; "the two countries"
# only points back at known things, so a number word after "the" does not count).
_AMOUNT = re.compile(
    r"\d|(?<!\bthe )\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|dozens?|hundreds?|thousands?|millions?|billions?|trillions?)\b",
    re.I,
)


# Numbers that are part of a date ("October 18", "18 October", "2024") are not amounts.
_DATE_NUMBER = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTH}\b|\b(?:19|20)\d{{2}}\b", re.I
)


def lacks_answer_type(query: Query, chosen: Sequence[Candidate]) -> bool:
    """True when the question asks for a date ("when ...") or an amount ("how many ...",
    "how much ...") and none of the chosen sentences holds one. Quoting the closest
    sentence anyway would look like an answer while answering something else."""
    wants = _wants(query.text)
    texts = [_window(c.text, c.previous) for c in chosen]
    if wants == "when":
        return not any(_DATEISH.search(t) for t in texts)
    if wants in {"how many", "how much"}:
        return not any(_AMOUNT.search(_DATE_NUMBER.sub(" ", t)) for t in texts)
    return False


def _answer_type_bonus(wants: str, sentence: str, q_names: set[str]) -> float:
    if wants == "when" and _DATEISH.search(sentence):
        return 0.08
    if wants in {"how many", "how much"} and re.search(r"\d", sentence):
        return 0.08
    if wants == "how long" and _DURATION.search(sentence):
        return 0.08
    if wants in {"who", "where"} and entities(sentence) - q_names:
        return 0.05
    return 0.0


def select(
    ranked: list[Candidate], embed: EmbedFn, *, limit: int, floor: float = 0.8
) -> list[Candidate]:
    """Top sentences within `floor` of the best score, without near-duplicates."""
    if not ranked:
        return []
    pool = [c for c in ranked[: limit * 4] if c.score >= ranked[0].score * floor]
    vectors = embed([c.text for c in pool])
    chosen: list[int] = []
    for i, cand in enumerate(pool):
        if len(chosen) >= limit:
            break
        if any(_near_duplicate(cand, pool[j], float(vectors[i] @ vectors[j])) for j in chosen):
            continue
        chosen.append(i)
    return [pool[i] for i in chosen]


def _near_duplicate(a: Candidate, b: Candidate, cosine: float) -> bool:
    if cosine > 0.85:
        return True
    sa, sb = content_stems(a.text), content_stems(b.text)
    return bool(sa and sb) and len(sa & sb) / len(sa | sb) > 0.6


def compose(chosen: list[Candidate]) -> str:
    """The answer text: each quoted sentence followed by its marker."""
    parts = []
    quoted = {c.text for c in chosen}
    for cand in chosen:
        if cand.previous and cand.previous not in quoted and _ANAPHORIC.match(cand.text):
            parts.append(_cite(cand.previous, cand.n))  # quote the antecedent too
            quoted.add(cand.previous)
        parts.append(_cite(cand.text, cand.n))
    return " ".join(parts)


def _cite(sentence: str, n: int) -> str:
    """'Text.' -> 'Text [n].' (the marker goes inside the final period)."""
    sentence = sentence.rstrip()
    marker = format_marker(n)
    if sentence[-1:] in ".!?":
        return f"{sentence[:-1]} {marker}{sentence[-1]}"
    return f"{sentence} {marker}"
