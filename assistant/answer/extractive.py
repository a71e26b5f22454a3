"""The extractive answerer: no language model, only sentences quoted from the passages.

Each sentence of the retrieved passages is scored against the question by
embedding similarity and lexical overlap (plus a nudge for the kind of answer
a wh-question wants: a date for "when", a name for "who"). The best few are
kept, near-duplicates dropped, and each is followed by its passage's [n]
marker. Faithful by construction: every answer sentence is a source sentence.
`lacks_answer_type` tells the caller when a question wants a date or a figure (for
"how many <things>", a count of those things) that none of the chosen sentences holds,
or names a year that none of the quoted articles has; refusing is the caller's decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..base.phrases import REPORTED_BY, REPORTED_ON, RESOLVED_DATE, derived, format_marker
from ..base.schema import Passage
from ..language.dates import MONTH as _MONTH
from ..language.dates import WEEKDAY as _WEEKDAY
from ..language.dates import describe, mentions_date, resolve, spoken_date, to_date
from ..language.question import Question
from ..language.text import content_stems, english, fold, sentence_spans, stem, stopwords
from .citations import EmbedFn, entities

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
    score: float  # embedding similarity and word overlap, blended (the judge's fallback)
    relevance: float  # embedding similarity to the question
    previous: str = ""  # the sentence before it in the passage, for anaphoric openings
    passage: Passage | None = None
    start: int = 0  # where the sentence starts in its passage
    judge: float | None = None  # the cross-encoder's score of the sentence (with antecedent)

    @property
    def window(self) -> str:
        return _window(self.text, self.previous)

    @property
    def order(self) -> tuple[str, int]:
        """(article, offset): sentences of one article sort in article order."""
        p = self.passage
        return (p.article_id, p.start + self.start) if p else ("", self.start)


# A sentence opening like this leans on the one before it ("He stressed...", "The two ...",
# "Beyond bilateral relations, the two ..."): the openings are data/english.yaml's.
_ANAPHORIC = re.compile(
    r"^(?:[^,.]{1,40},\s*)?(?:" + "|".join(english()["anaphoric_openings"]) + r")\b", re.I
)


def candidates(query: Question, passages: Sequence[Passage], embed: EmbedFn) -> list[Candidate]:
    """Every usable sentence of the passages, scored against the question."""
    pieces: list[tuple[int, str, str, int]] = []
    for n, passage in enumerate(passages, 1):
        previous = ""
        for s, e in sentence_spans(passage.text):
            sentence = passage.text[s:e].strip()
            if _quotable(sentence, previous, passage.title):
                pieces.append((n, sentence, previous, s))
            # An antecedent that itself leans on the sentence before it brings that one
            # along ("Zarif met Rashid. For his part, Rashid... . The two also discussed").
            previous = _window(sentence, previous)
    if not pieces:
        return []
    vectors = embed([query.search_text] + [_window(text, prev) for _, text, prev, _ in pieces])
    sims = vectors[1:] @ vectors[0]
    own = query.text
    q_stems = content_stems(own)
    c_stems = content_stems(" ".join(query.carried)) - q_stems
    weight = len(q_stems) + 0.5 * len(c_stems)
    q_names = entities(own)
    wants = query.wants
    about = _about_referent(query, passages)
    out = []
    for (n, text, previous, start), sim in zip(pieces, sims, strict=True):
        stems = content_stems(_window(text, previous))
        hits = len(q_stems & stems) + 0.5 * len(c_stems & stems)
        overlap = hits / weight if weight else 0.0
        bonus = _answer_type_bonus(wants, text, q_names)
        rank_prior = 0.02 * (len(passages) - n) / max(1, len(passages))
        score = 0.6 * float(sim) + 0.4 * overlap + bonus + rank_prior
        if not about[n - 1]:
            score *= _OFF_REFERENT  # "they" are not in this passage at all
        out.append(Candidate(n, text, score, float(sim), previous, passages[n - 1], start))
    return sorted(out, key=lambda c: -c.score)


def _quotable(sentence: str, previous: str, title: str) -> bool:
    """A whole sentence worth quoting: five words or more, not the title, not a fragment
    (it opens like a sentence), and not a "He said..." whose antecedent is unknown."""
    if len(sentence.split()) < 5 or sentence == title:
        return False
    if not re.match(r"[\"'“‘(]?[A-Z0-9]", sentence):
        return False  # "ability." or "and the talks went on": a piece of a sentence
    return bool(previous) or not _ANAPHORIC.match(sentence)


#: A relevance judge: (question, texts) -> one score per text (a cross-encoder's logits,
#: already rounded to the precision decisions are made at).
JudgeFn = Callable[[str, Sequence[str]], np.ndarray]

#: The judge's own decision boundary (logit 0: as likely relevant as not). A sentence
#: below it is never quoted, and an answer whose best sentence is below it is refused.
JUDGE_ANSWERS = 0.0
#: A later sentence of the best sentence's article is quoted only within this many logits
#: of the best one (seed eval: 3, 4 and 6 give the same accuracy; 3 keeps answers short).
JUDGE_MARGIN = 3.0
#: A sentence of another article must be this close to the best and add what the quotes
#: so far lack (seed eval: citation precision 0.873 at 3, 0.897 at 2, 0.926 at 1, with
#: answer accuracy unchanged).
JUDGE_CROSS_MARGIN = 1.0


def judged(
    query: Question,
    ranked: list[Candidate],
    judge: JudgeFn,
    limit: int = 48,
    *,
    step: int = 0,
    margin: float = JUDGE_MARGIN,
) -> list[Candidate]:
    """The best `limit` candidates scored by the judge (each sentence read with its
    antecedent), best first; ties at the judge's precision keep the blended order.

    With `step`, the judge reads them `step` at a time in the blended order and stops
    after a step that held nothing quotable (below `JUDGE_ANSWERS`, or more than `margin`
    under the best so far): quotable sentences come early in that order, and the judge's
    cost is the sentences it reads (docs/scale.md). The unread ones are left out."""
    head = ranked[:limit]
    step = step or len(head)
    marked: list[Candidate] = []
    while len(marked) < len(head):
        part = head[len(marked) : len(marked) + step]
        scores = judge(query.search_text, [c.window for c in part])
        marked += [replace(c, judge=float(s)) for c, s in zip(part, scores, strict=True)]
        best = max(c.judge or 0.0 for c in marked)
        floor = max(JUDGE_ANSWERS, best - margin)
        if not any((s >= floor) for s in scores):
            break
    return sorted(marked, key=lambda c: -(c.judge or 0.0))


#: Score kept by a sentence of a passage that never names who a follow-up's pronoun
#: refers to: "What did they talk about?" after a question about one person must not
#: open with another person's talks.
_OFF_REFERENT = 0.6


def _about_referent(query: Question, passages: Sequence[Passage]) -> list[bool]:
    """Per passage: does it (or its title) name the follow-up's referent (the first
    carried subject)? All True for a question that carries nothing."""
    if not query.carried:
        return [True] * len(passages)
    words = [w for w in fold(query.carried[0]).split() if len(w) > 2]
    return [any(w in fold(f"{p.title} {p.text}") for w in words) for p in passages]


def _window(sentence: str, previous: str) -> str:
    """The text a sentence is judged by: an anaphoric one ("the two officials also
    discussed ...") is read with the sentence before it, which it is quoted with too."""
    return f"{previous} {sentence}" if previous and _ANAPHORIC.match(sentence) else sentence


# A sentence about what is to come (a "when will ..." question wants one).
_FUTURE_WORDS = re.compile(
    r"\b(?:will|would|is expected|are expected|is scheduled|are scheduled|is due|plans? to"
    r"|next|upcoming|expires?)\b",
    re.I,
)


# A figure, or a number word that counts something ("three days"; "the two countries"
# only points back at known things, so a number word after "the" does not count).
_AMOUNT = re.compile(
    r"\d|(?<!\bthe )\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|(?:thir|four|fif|six|seven|eigh|nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty"
    r"|dozens?|hundreds?|thousands?|millions?|billions?|trillions?)\b",
    re.I,
)


# Numbers that are part of a date ("October 18", "18 October", "2024") are not amounts.
_DATE_NUMBER = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTH}\b|\b(?:19|20)\d{{2}}\b", re.I
)


def lacks_answer_type(query: Question, chosen: Sequence[Candidate]) -> bool:
    """True when the question asks for a date ("when ...") or an amount ("how many ...",
    "how much ...") and none of the chosen sentences holds one, or when it names a year
    that none of the quoted passages has. Quoting the closest sentence anyway would look
    like an answer while answering something else."""
    if _outside_named_year(query, chosen):
        return True
    wants = query.wants
    texts = [_window(c.text, c.previous) for c in chosen]
    if wants == "when" and query.future:
        return not any(_DATEISH.search(t) and _FUTURE_WORDS.search(t) for t in texts)
    if wants == "when":
        return not any(_DATEISH.search(t) for t in texts) and not answers_when(query, chosen)
    counted = _counted(query.text) if wants == "how many" else ""
    if counted:
        return not any(_counts(counted, t) for t in texts)
    if wants in {"how many", "how much"}:
        return not any(_AMOUNT.search(_DATE_NUMBER.sub(" ", t)) for t in texts)
    return False


def _outside_named_year(query: Question, chosen: Sequence[Candidate]) -> bool:
    """Whether the question names a year ("Who is the defence minister in 2025?") that
    neither the quoted passages nor their articles' dates have. The gate finds the year in
    any retrieved passage, often another article's date; a quote from an article of
    another or no year answers for a time the reader did not ask about."""
    year = str(query.dates.year or "")
    if not year or not chosen:
        return False
    return not any(year in _text_and_date(c) for c in chosen)


def _text_and_date(cand: Candidate) -> str:
    passage = cand.passage
    return f"{passage.date} {passage.title} {passage.text}" if passage else cand.window


# "how many (of the) <words>": the words after it ("Iranian troops are stationed ...").
_HOW_MANY = re.compile(r"\bhow many\s+(?:of\s+(?:the\s+)?)?([\w\s-]+)")
# How far a count may stand from what it counts: "5,000 Iranian troops", "three of the
# soldiers"; "the troops, numbering 5,000" after it.
_COUNT_BEFORE, _COUNT_AFTER = 3, 2


def _counted(question: str) -> str:
    """The stem of what a "how many" question counts: the last plural noun before the
    first stopword, since "how many" takes a plural ("How many of the soldiers died?" ->
    "soldier", "How many news reports ...?" -> "report"); "" when there is none ("How
    many were killed?")."""
    match = _HOW_MANY.search(fold(question))
    counted = ""
    for word in (match.group(1).split() if match else [])[:4]:
        if word in stopwords():
            break
        if _plural(word):
            counted = stem(word)
    return counted


def _plural(word: str) -> bool:
    """A plural noun by its form: "troops", "casualties", "people" (not "press", "status")."""
    irregular: list[str] = english()["irregular_plurals"]
    return word in irregular or (len(word) > 3 and word.endswith("s") and word[-2] not in "su")


def _counts(counted: str, sentence: str) -> bool:
    """Whether the sentence holds a number counting the thing (by stem) a question asks
    how many of: "spanning three days" answers how many days, not how many troops.
    Numbers of dates ("2024", "October 18") count nothing."""
    tokens = re.findall(r"\w+(?:[.,]\d+)*", fold(_DATE_NUMBER.sub(" ", sentence)))
    for i, token in enumerate(tokens):
        if stem(token) != counted:
            continue
        near = range(max(i - _COUNT_BEFORE, 0), min(i + _COUNT_AFTER + 1, len(tokens)))
        if any(j != i and _is_count(tokens, j) for j in near):
            return True
    return False


def _is_count(tokens: list[str], j: int) -> bool:
    """A figure, or a number word not after "the" ("the two countries" counts nothing)."""
    if any(c.isdigit() for c in tokens[j]):
        return True
    return bool(_AMOUNT.fullmatch(tokens[j])) and (j == 0 or tokens[j - 1] != "the")


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
    return _pick(pool, embed, limit)


def select_judged(
    ranked: list[Candidate],
    embed: EmbedFn,
    query: Question,
    *,
    limit: int,
    margins: tuple[float, float] = (JUDGE_MARGIN, JUDGE_CROSS_MARGIN),
) -> list[Candidate]:
    """The judge's best sentence, then others it also rates as answering (above its
    boundary and within `JUDGE_MARGIN` of the best), without near-duplicates. A sentence
    of another article joins only when it adds what the quotes so far lack: words of
    the question they do not cover, or (asked who, which, where) a new name."""
    answering = [c for c in ranked if (c.judge or 0.0) >= JUDGE_ANSWERS]
    named = _from_named_period(query, _from_named_outlet(query, answering))
    pool = _dated_first(query, named, margins)
    if not pool:
        return []
    best = pool[0].judge or 0.0
    pool = [c for c in pool if (c.judge or 0.0) >= best - margins[0]]

    def joins(cand: Candidate, chosen: list[Candidate]) -> bool:
        first = chosen[0] if chosen else None
        if not first or cand.order[0] == first.order[0]:
            return True
        return _near(cand, first, margins) and _adds(cand, chosen, query)

    return _pick(pool, embed, limit, joins)


def _pick(
    pool: list[Candidate],
    embed: EmbedFn,
    limit: int,
    joins: Callable[[Candidate, list[Candidate]], bool] = lambda _c, _chosen: True,
) -> list[Candidate]:
    """Up to `limit` of the pool, in order, without near-duplicates of those already
    chosen, each also accepted by `joins(candidate, chosen so far)`."""
    vectors = embed([c.text for c in pool])
    chosen: list[int] = []
    for i, cand in enumerate(pool):
        if len(chosen) >= limit:
            break
        if any(_near_duplicate(cand, pool[j], float(vectors[i] @ vectors[j])) for j in chosen):
            continue
        if joins(cand, [pool[j] for j in chosen]):
            chosen.append(i)
    return [pool[i] for i in chosen]


def _from_named_outlet(query: Question, pool: list[Candidate]) -> list[Candidate]:
    """Asked about what a named outlet reported, quote that outlet: asked when Gulan Media
    reported a visit, the judge rates another outlet's sentence about another visit
    highest. (Outlets come from the articles' metadata, so the match is exact.)"""
    asked = fold(query.text)
    named = [c for c in pool if c.passage and c.passage.source and fold(c.passage.source) in asked]
    return named or pool


def _from_named_period(query: Question, pool: list[Candidate]) -> list[Candidate]:
    """Asked what happened in a named month or year, quote articles of that period: asked
    what two men discussed "in March 2024", the judge rates a December 2023 sentence
    saying they were to meet highest. (Dates come from the articles' metadata.)"""
    prefix = query.dates.prefix
    if not prefix:
        return pool
    dated = [c for c in pool if c.passage and c.passage.date.startswith(prefix)]
    return dated or pool


def _dated_first(
    query: Question, pool: list[Candidate], margins: tuple[float, float]
) -> list[Candidate]:
    """Asked "when", only sentences that say when answer: the judge rates "This visit
    follows a series of engagements" above "Zarif visited Iraq on Thursday" for "When did
    Zarif visit Iraq?". Without a dated sentence the pool stays (the report's date may
    bound a past event; `lacks_answer_type` decides)."""
    if query.wants != "when" or query.about_report or not pool:
        return pool
    # A dated sentence far below the best is about another event ("... killed in 2020").
    return [c for c in pool if _DATEISH.search(c.text) and _near(c, pool[0], margins)] or pool


def _near(cand: Candidate, best: Candidate, margins: tuple[float, float]) -> bool:
    """Close enough to the best sentence to be quoted beside it: within the first margin
    (`JUDGE_MARGIN` by default) in the best sentence's own article, within the second
    (`JUDGE_CROSS_MARGIN`) in another."""
    margin = margins[0] if cand.order[0] == best.order[0] else margins[1]
    return (cand.judge or 0.0) >= (best.judge or 0.0) - margin


def _adds(cand: Candidate, chosen: list[Candidate], query: Question) -> bool:
    """Does a sentence answer part of the question the chosen ones do not?"""
    said = " ".join(c.window for c in chosen)
    asked = content_stems(query.text)
    if (asked & content_stems(cand.window)) - content_stems(said):
        return True
    if query.wants in {"who", "where"} or fold(query.text).startswith("which"):
        return bool(entities(cand.text) - entities(said) - entities(query.search_text))
    return False


def _near_duplicate(a: Candidate, b: Candidate, cosine: float) -> bool:
    if cosine > 0.85:
        return True
    sa, sb = content_stems(a.text), content_stems(b.text)
    return bool(sa and sb) and len(sa & sb) / len(sa | sb) > 0.6


def compose(chosen: list[Candidate], annotate: Callable[[Candidate], str] | None = None) -> str:
    """The answer text: the quoted sentences, each followed by its marker; articles in the
    order their best sentence was chosen, sentences of one article in article order, a
    sentence leaning on the one before it quoted with it. `annotate` may mark what was
    computed rather than quoted (a resolved date) inside a sentence."""
    articles = list(dict.fromkeys(c.order[0] for c in chosen))
    ordered = sorted(chosen, key=lambda c: (articles.index(c.order[0]), c.order[1]))
    parts = []
    quoted = {c.text for c in chosen}
    for cand in ordered:
        if cand.previous and _ANAPHORIC.match(cand.text):
            for s, e in sentence_spans(cand.previous):  # quote the antecedents too, each cited
                antecedent = cand.previous[s:e].strip()
                if antecedent not in quoted:
                    parts.append(_cite(antecedent, cand.n))
                    quoted.add(antecedent)
        parts.append(_cite(annotate(cand) if annotate else cand.text, cand.n))
    return " ".join(parts)


def notes_for(query: Question) -> Callable[[Candidate], str] | None:
    """How quoted sentences are annotated for this question: resolved dates for a "when"
    question, the outlet for "which outlet reported ..."; None when nothing applies."""
    wants_when = query.wants == "when"
    wants_outlet = query.asks_outlet
    if not (wants_when or wants_outlet):
        return None
    past = query.past

    def annotate(cand: Candidate) -> str:
        return annotated(cand.text, cand.passage, when=wants_when, past=past, outlet=wants_outlet)

    return annotate


def annotated(
    sentence: str, passage: Passage | None, *, when: bool, past: bool, outlet: bool
) -> str:
    """The sentence with computed notes: after each relative date expression its absolute
    date; for a past "when" question whose quote names no date, the article's date; for
    an outlet question, the outlet. The quote itself is unchanged between the notes."""
    if passage is None:
        return sentence
    published = to_date(passage.date)
    text = sentence
    if when:
        found = resolve(sentence, published)
        for r in reversed(found):
            note = derived(RESOLVED_DATE.format(date=describe(r)))
            text = text[: r.end] + note + text[r.end :]
        if not found and past and published and not mentions_date(sentence):
            text = _before_stop(text, derived(REPORTED_ON.format(date=spoken_date(passage.date))))
    if outlet and passage.source:
        text = _before_stop(text, derived(REPORTED_BY.format(outlet=passage.source)))
    return text


def _before_stop(sentence: str, note: str) -> str:
    body = sentence.rstrip()
    return f"{body[:-1]}{note}{body[-1]}" if body[-1:] in ".!?" else f"{body}{note}"


def answers_when(query: Question, chosen: Sequence[Candidate]) -> bool:
    """A past "when" question is answered by a dated article even when the quote names
    no date (the report's date bounds it); a future one never is."""
    return query.past and any(
        c.passage is not None and to_date(c.passage.date) is not None for c in chosen
    )


def _cite(sentence: str, n: int) -> str:
    """'Text.' -> 'Text [n].' (the marker goes inside the final period)."""
    sentence = sentence.rstrip()
    marker = format_marker(n)
    if sentence[-1:] in ".!?":
        return f"{sentence[:-1]} {marker}{sentence[-1]}"
    return f"{sentence} {marker}"
