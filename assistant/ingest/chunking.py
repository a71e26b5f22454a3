"""Sentence-aware chunking sized to the embedding model's window.

Packs whole sentences into chunks of at most `max_tokens` word pieces (counted
with the embedding model's own tokenizer, passed in as `count_tokens`), so no
chunk is silently truncated by the model. Consecutive chunks share a small
overlap of whole trailing sentences. Every chunk keeps its character offsets
in the article text, which the web page uses to highlight exact spans.
A sentence longer than the window is cut at word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ..base.schema import Article, Chunk
from ..language.dates import spoken_date
from ..language.text import approx_tokens, sentence_spans

TokenCounter = Callable[[Sequence[str]], list[int]]

#: Bumped whenever the chunking rules change: part of the collection fingerprint.
CHUNKER_VERSION = "s1"

#: A header longer than this many word pieces is cut, so the body keeps most of the window.
_MAX_HEADER_TOKENS = 48


def chunk_article(
    article: Article,
    *,
    max_tokens: int,
    overlap_tokens: int,
    count_tokens: TokenCounter = approx_tokens,
) -> list[Chunk]:
    """Split `article.text` into chunks of whole sentences; offsets index `article.text`."""
    text = article.text
    units = _units(text, max_tokens, count_tokens)
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while j < len(units) and (used + units[j][2] <= max_tokens or j == i):
            used += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(article.id, len(chunks), text[start:end], start, end))
        if j >= len(units):
            break
        i = _overlap_start(units, i, j, overlap_tokens, max_tokens)
    return chunks


def chunk_header(title: str, date: str) -> str:
    """What the embedded text of every chunk starts with: the article's title and date.

    A chunk deep in an article often never names its subject ("The minister said...");
    the title and date give every chunk that context (contextual chunk headers). Only
    the embedding sees the header: the stored passage stays the article's own text,
    so citations and highlighted spans are unchanged.
    """
    parts = [" ".join(title.split()), spoken_date(date)]
    return " | ".join(p for p in parts if p)


def fit_header(header: str, count_tokens: TokenCounter) -> tuple[str, int]:
    """The header cut to at most 48 word pieces (a run-on title keeps its start), and
    the word pieces it takes from the window, counting the line break after it."""
    if not header:
        return "", 0
    size = count_tokens([header])[0]
    while size > _MAX_HEADER_TOKENS:
        header = header[: int(len(header) * _MAX_HEADER_TOKENS / size) - 1].rsplit(" ", 1)[0]
        size = count_tokens([header])[0]
    return header, size + 1


def _overlap_start(
    units: list[tuple[int, int, int]], i: int, j: int, overlap: int, max_tokens: int
) -> int:
    """Index of the first unit of the next chunk: back off over trailing units within
    `overlap`, but never so far that unit `j` (the first new one) no longer fits beside
    them: a next chunk made only of overlap would repeat text and add nothing."""
    back, k = 0, j
    room = max_tokens - units[j][2]
    while k - 1 > i and back + units[k - 1][2] <= min(overlap, room):
        back += units[k - 1][2]
        k -= 1
    return k


def _units(text: str, max_tokens: int, count: TokenCounter) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of each sentence, long sentences cut to fit the window."""
    spans = sentence_spans(text)
    sizes = count([text[s:e] for s, e in spans]) if spans else []
    units: list[tuple[int, int, int]] = []
    for (start, end), size in zip(spans, sizes, strict=True):
        if size <= max_tokens:
            units.append((start, end, size))
        else:
            units.extend(_cut_long(text, start, end, size, max_tokens, count))
    return units


def _cut_long(
    text: str, start: int, end: int, size: int, max_tokens: int, count: TokenCounter
) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence at word boundaries into window-sized pieces."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    pieces = max(2, -(-size // max_tokens) + 1)
    per = -(-len(words) // pieces)
    out: list[tuple[int, int, int]] = []
    for k in range(0, len(words), per):
        group = words[k : k + per]
        s, e = group[0][0], group[-1][1]
        n = count([text[s:e]])[0]
        if n > max_tokens and len(group) > 1:
            out.extend(_cut_long(text, s, e, n, max_tokens, count))
        else:
            out.append((s, e, n))
    return out
