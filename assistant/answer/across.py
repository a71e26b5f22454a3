"""Answers drawn from every relevant article: timelines, what is new, who reported it, lists.

A lookup is answered from the best passage's sentences; the collection-level intents
(`language.question.Intent`) need one line per article (or per event), each dated and
cited: a timeline in date order, what is new newest first, the outlets that reported a
story with the date and title of each report, the items every article names. This
module builds those lines from judged sentences, offline; which articles take part
(`relevant_articles`) is decided here too, by the names and words of the question's
topic, weighing only the part of the topic that tells the retrieved articles apart
(`Topic`), and each article's line is its first sentence on that part. Retrieving the
passages and judging the sentences are the caller's.

Every line starts with a computed note (⟨...⟩, `base.phrases`) saying where it sits: the
date a sentence gives (resolved against its article's date when relative), the article's
own date otherwise ("reported on ..."), or "undated"; the verifier recomputes each note
from the cited articles' metadata.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..base.phrases import (
    OUTLET_NOT_GIVEN,
    REPORT,
    REPORTED_ON,
    SOURCE_LINE,
    UNDATED,
    article_count,
    derived,
    format_marker,
)
from ..base.schema import Passage
from ..language.dates import event_day, spoken_date
from ..language.question import Intent, Question
from ..language.text import content_stems, fold, meaning_words
from ..language.text import words as folded_words
from .citations import EmbedFn, entities
from .extractive import JUDGE_ANSWERS, JUDGE_MARGIN, Candidate
from .gate import absent_names, coverage

#: At most this many lines (articles or events) in one answer.
MAX_LINES = 12
#: An enumeration quotes up to this many sentences of one article (each must add a name).
ITEMS_PER_ARTICLE = 2
#: A timeline quotes up to this many sentences of one article: its line, then answering
#: ones that date an event of their own (a day, month or year the text gives that no line
#: of the article has yet), so one report of a visit over several days reads as its days
#: in order instead of one line.
EVENTS_PER_ARTICLE = 3
#: Two sentences closer than this (cosine) on the same day are one event.
SAME_EVENT = 0.8


@dataclass(frozen=True)
class Line:
    """One line of the answer: where it sits in time, the note shown first, the quote."""

    day: str  # ISO date the line is ordered by; "" when undated
    note: str  # the computed note that opens the line
    text: str  # the quoted sentence
    cites: tuple[int, ...]  # passage numbers
    stems: frozenset[str]


@dataclass(frozen=True)
class Composed:
    text: str  # the answer ("" when no article is relevant)
    note: str  # why the answer is what it is (shown beside it), or ""


def relevant_articles(
    question: Question, passages: Sequence[Passage], ranked: Sequence[Candidate]
) -> list[str]:
    """Ids of the articles that bear on the question's topic, in the order of their first
    passage: the topic's names occur in them (other names of a country and close
    spellings count; a question offering alternatives, "which came first, A's visit or
    B's?", needs half of them: an article on each answers it), or without names, most
    of the topic's words; an enumeration's must also hold a sentence the judge rates as
    answering. When every name of the topic is in (nearly) every article retrieved, the
    names tell no article from another: a timeline, what is new and who reported it then
    also need most of the topic's distinctive words (`Topic`)."""
    names = topic_names(question)
    words = meaning_words(question.topic) if not names else []
    allowed = len(names) // 2 if re.search(r"\bor\b", fold(question.text)) else 0
    best = _best_judge(ranked)
    own_passages = _by_article(passages)
    topic = Topic.of(question, own_passages)
    kept = []
    for article, own in own_passages.items():
        if names and len(absent_names(names, own)) > allowed:
            continue
        if words and max(coverage(words, p.text) for p in own) < 0.5:
            continue
        if topic.words and max(_share_held(topic.words, p.text) for p in own) < 0.5:
            continue
        if question.intent is Intent.ENUMERATION and best.get(article, -1e9) < JUDGE_ANSWERS:
            continue
        kept.append(article)
    return kept


#: A topic term found in at least this share of the retrieved articles is "everywhere":
#: articles on one beat share its vocabulary (its places, "officials", "meetings"), and
#: one that lacks such a term most often words it differently, so its absence is no sign
#: of being off topic. (Seed collection: the beat's two countries are in 5 of 5
#: articles, "officials" in 4; the words that single out one story, in 1 to 3 of 5.)
EVERYWHERE = 0.75


@dataclass(frozen=True)
class Topic:
    """What singles out the articles on a question's topic among those retrieved.

    Retrieval brings back articles that share the question's words, so a term of the
    topic that (nearly) all of them hold tells none of them apart: the two countries of
    a beat about their relations, the beat's own words. When the topic's names are all
    of that kind, its remaining words are what it is about ("what did A and B say about
    <a subject>?", "who reported on the A-B <agreement>?"): `words` are those found in
    some retrieved articles but not nearly all. When some names are not everywhere,
    those names (`names`) single out the story instead: a name is the surest sign of
    one. Both are empty for a list (the judge picks its articles) and when every term is
    everywhere ("what happened between A and B?": all of it is on topic).
    """

    names: tuple[str, ...] = ()  # the topic's names that tell articles apart
    words: tuple[str, ...] = ()  # its other words that do, when no name does

    @classmethod
    def of(cls, question: Question, by_article: dict[str, list[Passage]]) -> Topic:
        names = topic_names(question)
        if question.intent is Intent.ENUMERATION or len(by_article) < 2:
            return cls()
        if telling := tuple(n for n in names if _distinctive(_share_named(n, by_article))):
            return cls(names=telling)
        candidates = [w for w in meaning_words(question.topic) if w not in names]
        return cls(words=tuple(w for w in candidates if _distinctive(_share_worded(w, by_article))))


#: A topic word this long also counts inside a compound that ends with it: English
#: writes prefixed compounds solid ("counterattack", "nonproliferation"), and an article
#: on the subject may only have those. Shorter words would match inside unrelated ones.
COMPOUND_TAIL = 6


def _holds(word: str, text: str) -> bool:
    """Whether `text` has `word` (by stem, spelling variants, another name of a country)
    or, for a long word, a compound ending with it."""
    if coverage([word], text) > 0:
        return True
    return len(word) >= COMPOUND_TAIL and any(
        len(w) > len(word) and w.endswith(word) for w in folded_words(text)
    )


def _share_held(topic_words: Sequence[str], text: str) -> float:
    return sum(_holds(w, text) for w in topic_words) / len(topic_words) if topic_words else 0.0


def _distinctive(share: float) -> bool:
    """A term some retrieved articles hold and not nearly all: it tells them apart."""
    return 0 < share < EVERYWHERE


def _share_named(name: str, by_article: dict[str, list[Passage]]) -> float:
    """Share of the articles whose passages name `name` (in any known form)."""
    return sum(not absent_names([name], own) for own in by_article.values()) / len(by_article)


def _share_worded(word: str, by_article: dict[str, list[Passage]]) -> float:
    """Share of the articles whose passages hold `word` (by stem, spelling variants)."""
    held = sum(any(_holds(word, p.text) for p in own) for own in by_article.values())
    return held / len(by_article)


def topic_names(question: Question) -> list[str]:
    """The names and numbers of the question that belong to its topic (not its "since
    January 2025"): found in the whole question, where they are not sentence-initial."""
    topic = fold(question.topic)
    return sorted(n for n in entities(question.text) if n and n in topic)


def compose(
    question: Question,
    passages: Sequence[Passage],
    ranked: Sequence[Candidate],
    embed: EmbedFn,
    articles: Sequence[str],
) -> str:
    """The answer text for a collection-level question over the relevant `articles`."""
    numbers = {p.chunk_id: n for n, p in enumerate(passages, 1)}
    topic = Topic.of(question, _by_article(passages))
    picked = _picks(question, ranked, set(articles), topic)
    if question.intent is Intent.COVERAGE:
        return _coverage_text(question, picked, numbers)
    if question.intent is Intent.RECENCY:
        lines = [_line(c, numbers, _source_note(c.passage)) for c in picked]
        lines.sort(key=lambda ln: ln.day, reverse=True)  # newest first
        return _render(lines[:MAX_LINES])
    lines = _merge([_line(c, numbers) for c in picked], embed)
    dated = sorted((ln for ln in lines if ln.day), key=lambda ln: ln.day)
    return _render([*dated, *(ln for ln in lines if not ln.day)][:MAX_LINES])


def _picks(
    question: Question, ranked: Sequence[Candidate], articles: set[str], topic: Topic
) -> list[Candidate]:
    """One sentence per relevant article (an enumeration: up to `ITEMS_PER_ARTICLE`
    answering ones, each adding a name), articles in the order of their best sentence."""
    by_article: dict[str, list[Candidate]] = {}
    for cand in sorted(ranked, key=_judged_first):
        if cand.passage and cand.passage.article_id in articles:
            by_article.setdefault(cand.passage.article_id, []).append(cand)
    names = topic_names(question)
    out = []
    for own in by_article.values():
        if question.intent is Intent.ENUMERATION:
            out += [own[0], *_more_items(own, question)]
            continue
        first = _on_topic(own, topic) or _lede(own, question, names)
        out.append(first)
        if question.intent is Intent.TIMELINE:
            out += _dated_events(own, first, lambda c: _about(c, topic, names))
    return out


def _dated_events(
    own: list[Candidate], first: Candidate, about: Callable[[Candidate], bool]
) -> list[Candidate]:
    """Further sentences of one article for a timeline: ones the judge rates as answering
    (best first) that stand on their own, are `about` the topic (an answering sentence on
    someone else's event is context, not this story's chronology) and date an event to a
    day, month or year the text gives and the article's lines so far do not have
    (`EVENTS_PER_ARTICLE`)."""
    assert first.passage is not None  # candidates always come from a passage
    seen = {event_day(first.text, first.passage.date)[0]}
    extra: list[Candidate] = []
    for cand in own:
        if len(extra) + 1 >= EVENTS_PER_ARTICLE:
            break
        if cand is first or cand.window != cand.text or (cand.judge or -1e9) < JUDGE_ANSWERS:
            continue
        if not about(cand):
            continue
        assert cand.passage is not None
        day, known, _ = event_day(cand.text, cand.passage.date)
        if known == "text" and day not in seen:
            extra.append(cand)
            seen.add(day)
    return extra


def _about(cand: Candidate, topic: Topic, names: Sequence[str]) -> bool:
    """Whether a sentence is on the topic by its own words: every distinctive name of the
    topic, else one of its distinctive words (`Topic`), else every name of the topic. Strict
    on names: an extra line must be this story's ("A's visit or B's?" adds no third
    visit to the same city)."""
    if topic.words and not topic.names:
        return _share_held(topic.words, cand.text) > 0
    folded = fold(cand.text)
    return all(n in folded for n in (topic.names or names))


def _on_topic(own: list[Candidate], topic: Topic) -> Candidate | None:
    """An article's first sentence (in article order) on the topic's distinctive part
    (`Topic`), None when the topic has none: what the opening reports is the beat's
    news, not necessarily this story (a subject an article takes up after opening with
    a visit). A distinctive name marks a sentence as on topic; a distinctive word may be
    incidental, so the judge must not reject that sentence either (first the ones that
    stand on their own, then any naming the word)."""
    if topic.names:
        named = [c for c in own if c.window == c.text and _names(c.text, topic.names)]
        return min(named, key=lambda c: c.order[1], default=None)
    if not topic.words:
        return None
    worded = [c for c in own if _share_held(topic.words, c.text) > 0]
    answering = [
        c for c in worded if c.window == c.text and (c.judge is None or c.judge >= JUDGE_ANSWERS)
    ]
    return min(answering or worded, key=lambda c: c.order[1], default=None)


def _names(text: str, names: Sequence[str]) -> bool:
    return any(n in fold(text) for n in names)


def _lede(own: list[Candidate], question: Question, names: Sequence[str]) -> Candidate:
    """What an article reports, for a timeline, what is new or who reported it, when the
    topic has no distinctive part (`_on_topic`): its first sentence (in article order)
    that stands on its own and names the topic (news puts what happened first). A topic
    without names is matched by the judge instead; a question with no topic ("what is
    new?") takes the first sentence. Its best sentence when none qualifies."""
    by_judge = not names and bool(meaning_words(question.topic))

    def fits(cand: Candidate) -> bool:
        named = not names or any(n in fold(cand.window) for n in names)
        judged = not by_judge or cand.judge is None or cand.judge >= JUDGE_ANSWERS
        return cand.window == cand.text and named and judged

    return min((c for c in own if fits(c)), key=lambda c: c.order[1], default=own[0])


def _more_items(own: list[Candidate], question: Question) -> list[Candidate]:
    """Further answering sentences of one article that name someone the ones before do not."""
    best = own[0].judge or 0.0
    said = entities(own[0].window) | entities(question.text)
    extra: list[Candidate] = []
    for cand in own[1:]:
        if len(extra) + 1 >= ITEMS_PER_ARTICLE:
            break
        if (cand.judge or -1e9) < max(JUDGE_ANSWERS, best - JUDGE_MARGIN):
            break
        if new := entities(cand.text) - said:
            extra.append(cand)
            said |= new
    return extra


def _judged_first(cand: Candidate) -> tuple[bool, float, float]:
    return (cand.judge is None, -(cand.judge or 0.0), -cand.score)


def _line(cand: Candidate, numbers: dict[str, int], note: str = "") -> Line:
    assert cand.passage is not None  # candidates always come from a passage
    day, when = event_date(cand.text, cand.passage)
    return Line(
        day=day,
        note=note or when,
        text=cand.text,
        cites=(numbers[cand.passage.chunk_id],),
        stems=frozenset(content_stems(cand.text)),
    )


def event_date(sentence: str, passage: Passage) -> tuple[str, str]:
    """(ISO day, note) of what a sentence reports (`dates.event_day`); the note says how
    the day is known: "March 5, 2024" (the sentence says so), "reported on March 5,
    2024" (the article's date), or "undated"."""
    day, known, words = event_day(sentence, passage.date)
    if known == "report":
        return day, REPORTED_ON.format(date=words)
    return (day, words) if known else ("", UNDATED)


def _source_note(passage: Passage | None) -> str:
    assert passage is not None
    return SOURCE_LINE.format(
        outlet=passage.source or OUTLET_NOT_GIVEN, date=spoken_date(passage.date) or UNDATED
    )


def _merge(lines: list[Line], embed: EmbedFn) -> list[Line]:
    """One line per event: a sentence of another article on the same day saying nearly
    the same thing joins the first line with its citation."""
    if len(lines) < 2:
        return lines
    vectors = embed([ln.text for ln in lines])
    merged: list[tuple[int, Line]] = []
    for i, line in enumerate(lines):
        for j, (k, kept) in enumerate(merged):
            same = float(vectors[i] @ vectors[k]) >= SAME_EVENT or _overlap(line, kept) > 0.6
            if line.day and line.day == kept.day and same:
                cites = tuple(dict.fromkeys(kept.cites + line.cites))
                merged[j] = (k, Line(kept.day, kept.note, kept.text, cites, kept.stems))
                break
        else:
            merged.append((i, line))
    return [line for _, line in merged]


def _overlap(a: Line, b: Line) -> float:
    return len(a.stems & b.stems) / len(a.stems | b.stems) if a.stems and b.stems else 0.0


def _coverage_text(question: Question, picked: Sequence[Candidate], numbers: dict[str, int]) -> str:
    """Per article (oldest first), its outlet, date and title, then its best sentence;
    asked "how many", a first line counting the articles and outlets."""
    ordered = sorted(picked, key=lambda c: (c.passage.date if c.passage else "", c.order))
    lines = []
    for cand in ordered[:MAX_LINES]:
        p = cand.passage
        assert p is not None
        note = REPORT.format(
            outlet=p.source or OUTLET_NOT_GIVEN,
            date=spoken_date(p.date) or UNDATED,
            title=p.title,
        )
        lines.append(_line(cand, numbers, note))
    text = _render(lines)
    if question.counts and lines:
        outlets = {c.passage.source for c in ordered if c.passage and c.passage.source}
        count = article_count(len(ordered), len(outlets))
        cites = "".join(format_marker(ln.cites[0]) for ln in lines)
        text = f"{derived(count).strip()} {cites}.\n{text}"
    return text


def _render(lines: Sequence[Line]) -> str:
    return "\n".join(_render_line(ln) for ln in lines)


def _render_line(line: Line) -> str:
    """ "⟨note⟩ Sentence [1][3]." (the markers go inside the final period)."""
    body = line.text.rstrip()
    marks = "".join(format_marker(n) for n in line.cites)
    end = body[-1] if body[-1:] in ".!?" else "."
    core = body[:-1] if body[-1:] in ".!?" else body
    return f"{derived(line.note).strip()} {core} {marks}{end}"


def _by_article(passages: Sequence[Passage]) -> dict[str, list[Passage]]:
    out: dict[str, list[Passage]] = {}
    for p in passages:
        out.setdefault(p.article_id, []).append(p)
    return out


def _best_judge(ranked: Sequence[Candidate]) -> dict[str, float]:
    best: dict[str, float] = {}
    for c in ranked:
        if c.passage is not None and c.judge is not None:
            best[c.passage.article_id] = max(best.get(c.passage.article_id, -1e9), c.judge)
    return best
