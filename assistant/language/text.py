"""Sentence splitting with character offsets, and small text helpers.

Pure functions used by chunking, the extractive answerer, the citation verifier
and the BM25 index, so all of them agree on what a sentence and a word are.
Sentence boundaries come from BlingFire (a fast rule-based segmenter);
paragraphs (line breaks) always end a sentence, because headings and list items
carry no final period. Words are folded (case, accents), stopword-free
(NLTK's English list, as bm25s ships it) and Snowball-stemmed (PyStemmer).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

_POSSESSIVE = re.compile(r"'s\b")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """English stopwords: NLTK's list as bm25s ships it, plus news fillers."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | frozenset(english()["news_stopwords"])


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`; paragraphs never share a sentence."""
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text):
        chunk = para.group()
        if not chunk.strip():
            continue
        base = para.start()
        for start, end in _split_paragraph(chunk):
            piece = chunk[start:end]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece.rstrip())
            if trail > lead:
                spans.append((base + start + lead, base + start + trail))
    return spans


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def _split_paragraph(text: str) -> list[tuple[int, int]]:
    import blingfire

    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    return [(int(s), int(e)) for s, e in offsets or [(0, len(text))]]


def fold(text: str) -> str:
    """Lower-case, accent-free form for matching ("Al-Sudani" ~ "al-sudani")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """Folded words, possessives dropped ("Iraq’s" -> "iraq")."""
    return _WORD.findall(_POSSESSIVE.sub("", fold(text).replace("’", "'")))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stopwords, no one-letter tokens."""
    stop = stopwords()
    return [w for w in words(text) if w not in stop and len(w) > 1]


def meaning_words(text: str) -> list[str]:
    """Content words less the light verbs, or all content words if only those are left."""
    found = content_words(text)
    light = frozenset(english()["light_verbs"])
    kept = [w for w in found if stem(w) not in light]
    return kept or found


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer  # PyStemmer: the Snowball English stemmer, the one bm25s supports

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a folded word; irregular past forms first."""
    irregular: dict[str, str] = english()["irregular_verbs"]
    return str(_stemmer().stemWord(irregular.get(word, word)))  # type: ignore[attr-defined]


def content_stems_list(text: str) -> list[str]:
    """Stems of the content words, in order (what the BM25 index counts)."""
    return [stem(w) for w in content_words(text)]


def content_stems(text: str) -> set[str]:
    return set(content_stems_list(text))


def approx_tokens(texts: Sequence[str]) -> list[int]:
    """A tokenizer-free estimate (word pieces ~ 1.3 per word) for tests and fallbacks."""
    return [int(len(re.findall(r"\w+|[^\w\s]", t)) * 1.3) + 1 for t in texts]


@lru_cache(maxsize=1)
def english() -> dict[str, Any]:
    """The English word lists of `data/english.yaml`, read once."""
    import yaml

    path = resources.files("assistant.language") / "data" / "english.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data
