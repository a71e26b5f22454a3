"""Verify an answer's citations against the passages it was given.

Pure logic (the embedding function is passed in). Steps:
  1. parse the [n] markers; a marker naming no retrieved passage is removed and
     counted as a phantom, never shown as a citation;
  2. split the answer into sentences and score each one's support by the
     passages it cites: share of its content words found there, share of its
     names and numbers found there, and embedding similarity to the closest
     passage sentence; sentences below the threshold are marked unsupported;
  3. for each citation, find the passage sentence that best supports the
     answer sentences citing it, and its character span in the article; plus
     the spans of every other passage sentence an answer sentence rests on, so
     an answer quoting two sentences of one passage highlights both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .phrases import CITATION_PATTERN, MODEL_REFUSAL_MARKERS, REFUSAL
from .schema import Citation, Passage, SentenceCheck
from .text import content_stems, fold, sentence_spans

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


def drop_phantoms(text: str, valid: set[int]) -> tuple[str, int]:
    """Remove markers (or numbers inside a group) naming no passage; return (text, count)."""
    removed = 0
    out: list[str] = []
    last = 0
    for marker in parse_markers(text):
        good = [n for n in marker.numbers if n in valid]
        removed += len(marker.numbers) - len(good)
        out.append(text[last : marker.start])
        if good:
            out.append("[" + ", ".join(str(n) for n in good) + "]")
        last = marker.end
    out.append(text[last:])
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", "".join(out))
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), removed


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


def verify(
    answer: str,
    passages: Sequence[Passage],
    *,
    embed: EmbedFn | None,
    threshold: float,
) -> Verified:
    """Check every [n] and every sentence of `answer` against `passages` (numbered from 1)."""
    text, phantoms = drop_phantoms(answer, set(range(1, len(passages) + 1)))
    units = _answer_sentences(text)
    psent = {n: _passage_sentences(p) for n, p in enumerate(passages, 1)}
    sims = _similarities(text, units, passages, psent, embed)
    checks: list[SentenceCheck] = []
    best: dict[int, tuple[float, int]] = {}  # n -> (score, passage sentence index)
    used: dict[int, set[int]] = {}  # n -> every passage sentence some answer sentence rests on
    for i, (start, end, cites) in enumerate(units):
        sentence = _strip_markers(text[start:end])
        support = 0.0
        for n in cites:
            score, j = _support(sentence, passages[n - 1], psent[n], sims.get((i, n)))
            support = max(support, score)
            if score > best.get(n, (-1.0, 0))[0]:
                best[n] = (score, j)
            if score >= threshold:
                used.setdefault(n, set()).add(j)
        checks.append(
            SentenceCheck(sentence, start, end, cites, round(support, 3), support >= threshold)
        )
    citations = [
        _citation(n, passages[n - 1], psent[n], best[n], threshold, used.get(n, set()))
        for n in sorted(best)
    ]
    return Verified(text, checks, citations, phantoms)


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


def _passage_sentences(passage: Passage) -> list[tuple[int, int]]:
    return sentence_spans(passage.text) or [(0, len(passage.text))]


def _similarities(
    text: str,
    units: list[tuple[int, int, tuple[int, ...]]],
    passages: Sequence[Passage],
    psent: dict[int, list[tuple[int, int]]],
    embed: EmbedFn | None,
) -> dict[tuple[int, int], np.ndarray]:
    """Cosine of each answer sentence to each sentence of each passage it cites."""
    cited = sorted({n for _, _, cites in units for n in cites})
    if embed is None or not cited:
        return {}
    claims = [_strip_markers(text[s:e]) for s, e, _ in units]
    pieces = [passages[n - 1].text[s:e] for n in cited for s, e in psent[n]]
    vectors = embed(claims + pieces)
    claim_vecs, piece_vecs = vectors[: len(claims)], vectors[len(claims) :]
    out: dict[tuple[int, int], np.ndarray] = {}
    offset = 0
    for n in cited:
        block = piece_vecs[offset : offset + len(psent[n])]
        offset += len(psent[n])
        for i, (_, _, cites) in enumerate(units):
            if n in cites:
                out[(i, n)] = block @ claim_vecs[i]
    return out


def _support(
    sentence: str, passage: Passage, spans: list[tuple[int, int]], sims: np.ndarray | None
) -> tuple[float, int]:
    """(support score, index of the best passage sentence) of `sentence` by `passage`."""
    claim = content_stems(sentence)
    whole = content_stems(passage.text)
    lexical = len(claim & whole) / len(claim) if claim else 0.0
    names = entities(sentence)
    folded_passage = fold(passage.text)
    name_share = sum(n in folded_passage for n in names) / len(names) if names else 1.0
    per_sentence = [
        len(claim & content_stems(passage.text[s:e])) / max(1, len(claim)) for s, e in spans
    ]
    j = int(np.argmax(per_sentence)) if per_sentence else 0
    semantic = lexical
    if sims is not None and len(sims):
        j_sem = int(np.argmax(sims))
        semantic = float(sims[j_sem])
        if per_sentence[j] < 0.3:
            j = j_sem
    score = 0.5 * (lexical + semantic) * name_share
    return score, j


def _citation(
    n: int,
    passage: Passage,
    spans: list[tuple[int, int]],
    best: tuple[float, int],
    threshold: float,
    used: set[int],
) -> Citation:
    score, j = best
    s, e = spans[min(j, len(spans) - 1)]
    picked = sorted({min(i, len(spans) - 1) for i in used | {j}})
    return Citation(
        n=n,
        passage=passage,
        sentence=passage.text[s:e],
        span=(passage.start + s, passage.start + e),
        supported=score >= threshold,
        spans=tuple((passage.start + spans[i][0], passage.start + spans[i][1]) for i in picked),
    )
