"""Verify an answer's citations against the passages it was given, and number its sources.

Pure logic (the embedding function is passed in). Whoever wrote the answer
cited retrieved passages as [1]..[k]; the reader sees articles. Steps:
  1. parse the [n] markers; a marker naming no retrieved passage is removed and
     counted as a phantom, never shown as a citation;
  2. number the cited *articles* 1, 2, 3... in order of first mention and
     rewrite the markers ("[1, 4]" of two passages of one article becomes "[1]");
  3. split the answer into sentences and score each one's support by the
     articles it cites (every passage of theirs the answer used): share of its
     content words found there, share of its names and numbers found there, and
     embedding similarity to the closest sentence; sentences below the threshold
     are marked unsupported;
  4. record, for each answer sentence, the article sentences it rests on (what a
     click on its [n] highlights), and for each source every supporting sentence.
Computed notes between ⟨ ⟩ (a date resolved against an article's publication date,
that date, the outlet) are not scored as quotes: each is recomputed from the cited
articles, and a sentence whose note does not hold is unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..base.phrases import (
    CITATION_PATTERN,
    DERIVED_PATTERN,
    MODEL_REFUSAL_MARKERS,
    OUTLET_NOT_GIVEN,
    REFUSAL,
    REPORT,
    REPORTED_BY,
    REPORTED_ON,
    RESOLVED_DATE,
    SOURCE_LINE,
    UNDATED,
    article_count,
)
from ..base.schema import Citation, Evidence, Passage, SentenceCheck, Span
from ..language.dates import (
    describe,
    event_day,
    named_period,
    parse_date,
    resolve,
    spoken_date,
    to_date,
)
from ..language.text import content_stems, fold, sentence_spans

EmbedFn = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Marker:
    start: int
    end: int
    numbers: tuple[int, ...]


def parse_markers(text: str) -> list[Marker]:
    return [
        Marker(m.start(), m.end(), tuple(int(n) for n in re.findall(r"\d+", m.group(1))))
        for m in CITATION_PATTERN.finditer(text)
    ]


def rewrite_markers(text: str, mapping: Callable[[int], int | None]) -> tuple[str, int]:
    """Each marker's numbers mapped (None drops one). Within a run of adjacent markers a
    number appears once ("[1][4]" of two passages of one article becomes "[1]"); a marker
    left empty disappears. Returns (text, how many numbers were dropped)."""
    out, dropped = _map_markers(text, mapping)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", out)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), dropped


def _map_markers(text: str, mapping: Callable[[int], int | None]) -> tuple[str, int]:
    dropped = 0
    out: list[str] = []
    last = 0
    in_run: set[int] = set()  # numbers already shown by the markers just before
    for marker in parse_markers(text):
        between = text[last : marker.start]
        if between.strip():
            in_run = set()
        mapped = [mapping(n) for n in marker.numbers]
        dropped += sum(m is None for m in mapped)
        kept = [m for m in dict.fromkeys(m for m in mapped if m is not None) if m not in in_run]
        in_run.update(kept)
        out += [between, "[" + ", ".join(map(str, kept)) + "]" if kept else ""]
        last = marker.end
    out.append(text[last:])
    return "".join(out), dropped


class StreamNumbering:
    """Renumbers a streamed answer's passage markers to source (article) numbers as the
    text arrives, in order of first mention, the way `verify` numbers the whole text; a
    marker split across two pieces is held back until it closes."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = passages
        self.numbers: dict[str, int] = {}
        self.pending = ""

    def feed(self, delta: str) -> str:
        text = self.pending + delta
        open_marker = re.search(r"\[[\d,\s]*$", text)
        cut = open_marker.start() if open_marker else len(text)
        self.pending = text[cut:]
        return _map_markers(text[:cut], self._number)[0]

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return _map_markers(rest, self._number)[0]

    def _number(self, n: int) -> int | None:
        if not 1 <= n <= len(self.passages):
            return None  # a phantom: the verifier removes it too
        article = self.passages[n - 1].article_id
        return self.numbers.setdefault(article, len(self.numbers) + 1)


def drop_phantoms(text: str, valid: set[int]) -> tuple[str, int]:
    """Remove markers (or numbers inside a group) naming no passage; return (text, count).

    Removing one can join the brackets around it into a new marker ("[[5]9]" -> "[9]"),
    so passes repeat until none is left; each pass removes at least one, so they end."""
    total = 0
    while True:
        text, dropped = rewrite_markers(text, lambda n: n if n in valid else None)
        total += dropped
        if not dropped:
            return text, total


def is_refusal(text: str) -> bool:
    """The fixed refusal, or a model's own way of saying the sources lack the answer."""
    folded = fold(text)
    if fold(REFUSAL) in folded:
        return True
    return not parse_markers(text) and any(m in folded for m in MODEL_REFUSAL_MARKERS)


_ENTITY = re.compile(r"\b(?:[A-Z][\w’'-]+|\d[\d,.]*)\b")


def entities(sentence: str) -> set[str]:
    """Names and numbers: capitalised words (not sentence-initial) and digits, folded."""
    found = set()
    for m in _ENTITY.finditer(sentence):
        if m.start() == 0 or sentence[: m.start()].strip() in {"", '"', "“"}:
            continue
        found.add(re.sub(r"['’]s$", "", fold(m.group())).strip(".,"))
    return found


@dataclass(frozen=True)
class Verified:
    text: str
    sentences: list[SentenceCheck]
    citations: list[Citation]
    phantoms: int


@dataclass(frozen=True)
class _Source:
    """A cited article: its number and the passages of it the answer cited."""

    n: int
    passages: list[Passage]

    def sentences(self) -> list[tuple[Passage, Span]]:
        """Every sentence of those passages, with its span in passage offsets."""
        return [(p, span) for p in self.passages for span in _passage_sentences(p)]


def verify(
    answer: str,
    passages: Sequence[Passage],
    *,
    embed: EmbedFn | None,
    threshold: float,
) -> Verified:
    """Check every [n] and every sentence of `answer` against `passages` (numbered from 1),
    and renumber the markers by article in order of first mention."""
    text, phantoms = drop_phantoms(answer, set(range(1, len(passages) + 1)))
    sources = _number_articles(text, passages)
    by_passage = {n: s.n for n, s in _passage_sources(text, passages, sources).items()}
    text, _ = rewrite_markers(text, by_passage.get)
    units = _answer_sentences(text)
    sims = _similarities(text, units, sources, embed)
    checks: list[SentenceCheck] = []
    used: dict[int, set[tuple[str, Span]]] = {}  # source n -> (chunk id, passage span)
    best: dict[int, float] = {}  # source n -> its best support of any sentence citing it
    for i, (start, end, cites) in enumerate(units):
        sentence = _strip_markers(text[start:end])
        claim = _quoted_part(sentence)
        scored = [
            (n, *_support(claim, sources[n - 1], sims.get((i, n)))) for n in cites
        ]  # (n, score, passage, span)
        notes_only = not re.search(r"\w", claim)
        if not _notes_hold(sentence, [sources[n - 1] for n in cites]):
            scored = [(n, 0.0, p, span) for n, _, p, span in scored]  # a wrong computed date
        elif notes_only:
            # Only computed notes ("3 articles from 2 named outlets"), each recomputed
            # from the cited articles' metadata above: they hold, so the line is supported.
            scored = [(n, 1.0, p, span) for n, _, p, span in scored]
        for n, score, _, _ in scored:
            best[n] = max(best.get(n, 0.0), score)
        support = max((score for _, score, _, _ in scored), default=0.0)
        rests = [x for x in scored if x[1] >= threshold] or sorted(scored, key=lambda x: -x[1])[:1]
        if notes_only:
            rests = []  # it rests on the articles' metadata, not on any of their sentences
        for n, _, passage, span in rests:
            used.setdefault(n, set()).add((passage.chunk_id, span))
        checks.append(
            SentenceCheck(
                sentence,
                start,
                end,
                cites,
                round(support, 3),
                support >= threshold,
                tuple((n, p.start + a, p.start + b) for n, _, p, (a, b) in rests),
                date=event_day(claim, sources[cites[0] - 1].passages[0].date)[0] if cites else "",
            )
        )
    citations = [
        _citation(source, used.get(source.n, set()), best.get(source.n, 0.0) >= threshold)
        for source in sources
    ]
    return Verified(text, checks, citations, phantoms)


def _number_articles(text: str, passages: Sequence[Passage]) -> list[_Source]:
    """The cited articles, numbered by first mention, each with its cited passages in
    article order."""
    order: dict[str, list[Passage]] = {}
    for marker in parse_markers(text):
        for n in marker.numbers:
            passage = passages[n - 1]
            cited = order.setdefault(passage.article_id, [])
            if passage not in cited:
                cited.append(passage)
    return [
        _Source(i, sorted(cited, key=lambda p: p.start))
        for i, cited in enumerate(order.values(), 1)
    ]


def _passage_sources(
    text: str, passages: Sequence[Passage], sources: list[_Source]
) -> dict[int, _Source]:
    """Passage number -> its article's source, for every passage the text cites."""
    by_article = {s.passages[0].article_id: s for s in sources}
    cited = {n for marker in parse_markers(text) for n in marker.numbers}
    return {n: by_article[passages[n - 1].article_id] for n in cited}


def _answer_sentences(text: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """(start, end, cited numbers) per sentence; a marker after the period belongs before it."""
    spans = sentence_spans(text)
    units: list[tuple[int, int, tuple[int, ...]]] = []
    for idx, (start, end) in enumerate(spans):
        # Markers that open the next sentence ("... Baghdad. [2] He ...") belong to this one.
        nxt = spans[idx + 1][0] if idx + 1 < len(spans) else len(text)
        lead = re.match(r"\s*(?:\[\d+(?:\s*,\s*\d+)*\]\s*)+", text[end:nxt])
        own = text[start:end]
        opening = re.match(r"\s*(?:\[\d+(?:\s*,\s*\d+)*\]\s*)+", own)
        if opening and idx > 0:
            own = own[opening.end() :]  # those markers closed the previous sentence
        cites = [n for m in parse_markers(own) for n in m.numbers]
        if lead:
            cites += [n for m in parse_markers(lead.group()) for n in m.numbers]
        body = _strip_markers(own)
        if not re.search(r"\w", body):
            continue  # a stray marker on its own line
        units.append((start, end, tuple(dict.fromkeys(cites))))
    return units


def _strip_markers(sentence: str) -> str:
    return re.sub(r"\s*" + CITATION_PATTERN.pattern, "", sentence).strip()


def _quoted_part(sentence: str) -> str:
    """The sentence without its computed notes (⟨...⟩): what the articles must support."""
    return DERIVED_PATTERN.sub("", sentence).strip()


def _notes_hold(sentence: str, sources: Sequence[_Source]) -> bool:
    """Every computed note of the sentence is what the cited articles give: a date
    resolved against an article's publication date, that date, its outlet, title, or a
    count of the cited articles and outlets."""
    notes = DERIVED_PATTERN.findall(sentence)
    if not notes:
        return True
    allowed = _allowed_notes(_quoted_part(sentence), sources)
    return all(note.strip() in allowed for note in notes)


def _allowed_notes(claim: str, sources: Sequence[_Source]) -> set[str]:
    """Every note the cited articles' metadata (and the claim's own dates) justify."""
    allowed: set[str] = set()
    if (named := parse_date(claim)) is not None:
        allowed.add(spoken_date(named))
    if period := named_period(claim):
        allowed.add(period[1])
    for source in sources:
        p = source.passages[0]
        for r in resolve(claim, to_date(p.date)):
            allowed |= {RESOLVED_DATE.format(date=describe(r)), describe(r)}
        day = spoken_date(p.date) or UNDATED
        outlet = p.source or OUTLET_NOT_GIVEN
        allowed |= {
            SOURCE_LINE.format(outlet=outlet, date=day),
            REPORT.format(outlet=outlet, date=day, title=p.title),
        }
        allowed.add(REPORTED_ON.format(date=day) if to_date(p.date) else UNDATED)
        if p.source:
            allowed.add(REPORTED_BY.format(outlet=p.source))
    outlets = {s.passages[0].source for s in sources if s.passages[0].source}
    allowed.add(article_count(len(sources), len(outlets)))
    return allowed


def _passage_sentences(passage: Passage) -> list[Span]:
    return sentence_spans(passage.text) or [(0, len(passage.text))]


def _similarities(
    text: str,
    units: list[tuple[int, int, tuple[int, ...]]],
    sources: list[_Source],
    embed: EmbedFn | None,
) -> dict[tuple[int, int], np.ndarray]:
    """Cosine of each answer sentence to each sentence of each source it cites."""
    cited = sorted({n for _, _, cites in units for n in cites})
    if embed is None or not cited:
        return {}
    claims = [_quoted_part(_strip_markers(text[s:e])) for s, e, _ in units]
    pieces = {n: sources[n - 1].sentences() for n in cited}
    flat = [p.text[a:b] for n in cited for p, (a, b) in pieces[n]]
    vectors = embed(claims + flat)
    claim_vecs, piece_vecs = vectors[: len(claims)], vectors[len(claims) :]
    out: dict[tuple[int, int], np.ndarray] = {}
    offset = 0
    for n in cited:
        block = piece_vecs[offset : offset + len(pieces[n])]
        offset += len(pieces[n])
        for i, (_, _, cites) in enumerate(units):
            if n in cites:
                out[(i, n)] = block @ claim_vecs[i]
    return out


def _support(
    sentence: str, source: _Source, sims: np.ndarray | None
) -> tuple[float, Passage, Span]:
    """(support score, passage, best sentence's span in it) of `sentence` by `source`."""
    pieces = source.sentences()
    whole = " ".join(p.text for p in source.passages)
    claim = content_stems(sentence)
    lexical = len(claim & content_stems(whole)) / len(claim) if claim else 0.0
    names = entities(sentence)
    folded = fold(whole)
    name_share = sum(n in folded for n in names) / len(names) if names else 1.0
    per_sentence = [
        len(claim & content_stems(p.text[a:b])) / max(1, len(claim)) for p, (a, b) in pieces
    ]
    j = int(np.argmax(per_sentence))
    semantic = lexical
    if sims is not None and len(sims):
        j_sem = int(np.argmax(sims))
        semantic = float(sims[j_sem])
        if per_sentence[j] < 0.3:
            j = j_sem
    score = 0.5 * (lexical + semantic) * name_share
    return score, pieces[j][0], pieces[j][1]


def _citation(source: _Source, used: set[tuple[str, Span]], supported: bool) -> Citation:
    first = source.passages[0]
    evidence = tuple(
        Evidence(
            p,
            tuple(sorted((p.start + a, p.start + b) for cid, (a, b) in used if cid == p.chunk_id)),
        )
        for p in source.passages
    )
    return Citation(
        n=source.n,
        article_id=first.article_id,
        title=first.title,
        source=first.source,
        date=first.date,
        url=first.url,
        evidence=evidence,
        supported=supported,
    )
